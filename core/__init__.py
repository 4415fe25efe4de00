"""The floor under every domain: settings, database plumbing, counters, request limits, logging, the clock.

Nothing here imports a domain package (gateway, ingest, devices, alerts, ...); every domain may import from here.
"""
