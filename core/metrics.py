"""Process-wide counters served on /healthz and /stats.

Plain ints. ``add`` and ``set`` take a lock because several threads update some counters; a counter that only one
thread ever updates (``received`` and ``decoded``, on the MQTT thread) is incremented directly, which is what the
hot path can afford.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field, fields


@dataclass
class Counters:
    received: int = 0
    decoded: int = 0
    dead_lettered: int = 0
    written: int = 0  # points stored in InfluxDB: readings and the service's own points
    service_points: int = 0  # the service's own points (ticket metrics, KPIs) handed to the writer
    spooled: int = 0
    replayed: int = 0
    rejected_by_influx: int = 0
    write_failures: int = 0
    influx_full: int = 0  # batches refused because InfluxDB's series limits were reached (spooled)
    last_write_lag_ms: float = 0.0
    mqtt_connected: bool = False
    mqtt_connects: int = 0
    mqtt_connected_at: float = 0.0  # epoch seconds of the latest connection (benchmarks time from it)
    started_at: float = field(default_factory=time.time)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    def add(self, **deltas: int) -> None:
        with self._lock:
            for name, delta in deltas.items():
                setattr(self, name, getattr(self, name) + delta)

    def set(self, **values: object) -> None:
        with self._lock:
            for name, value in values.items():
                setattr(self, name, value)

    def snapshot(self) -> dict[str, object]:
        with self._lock:
            data = {f.name: getattr(self, f.name) for f in fields(self) if not f.name.startswith("_")}
        data["uptime_s"] = round(time.time() - self.started_at, 1)
        return data
