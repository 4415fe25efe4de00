"""Work orders: one per fault (or request), with SLA timers, a lifecycle, an audit trail and ticket metrics."""
