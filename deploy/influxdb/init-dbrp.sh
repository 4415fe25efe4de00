#!/bin/sh
# Map bucket "community" to v1 database "community" (retention policy "autogen") so /write and /query work.
set -e
bucket_id=$(influx bucket list --name community --hide-headers | cut -f1)
influx v1 dbrp create --db community --rp autogen --bucket-id "$bucket_id" --default
