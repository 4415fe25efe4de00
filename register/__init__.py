"""The asset register: sites, buildings, households, and the bulk import / export that fills it (with owners and
devices); the MQTT credentials bound to it."""
