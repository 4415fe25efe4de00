"""Owner notices: a fault on a shared facility tells its building, a fault on a flat's meter tells that flat, and
a follow-up says when it is fixed. Stored for the API and pages, and published on MQTT."""
