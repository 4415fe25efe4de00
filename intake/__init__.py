"""People's requests: owners report a problem from their page (with photos), front-desk staff record a call or a
walk-in, integrations create orders through the API with an idempotency key. All become work orders in the same
loop as device faults: routing, SLA timers, escalation, notices, follow-up and the owner's rating."""
