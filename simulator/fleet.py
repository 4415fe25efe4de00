"""A deterministic fleet of simulated devices (elevators, access doors, meters) that produce contract-valid
messages, with every fault from the design brief injectable by name.

``Fleet`` only builds messages (topic, payload dict, retain flag); ``simulator.publisher`` sends them. Given the
same seed and the same clock readings, a fleet produces the same messages.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field

from gateway.contract import AccessEvent, ElevatorEvent, MeterEvent
from gateway.topics import Channel, Kind

Message = tuple[str, dict, bool]  # topic, payload, retain

# Faults that change telemetry or presence rather than (only) sending an event.
TELEMETRY_FAULTS: dict[Kind | None, set[str]] = {
    Kind.METER: {"night_leak", "reading_backwards", "reading_jump", "stale", "zero_consumption"},
    Kind.ACCESS: {"denied_burst", "door_held_open", "stale"},
    Kind.ELEVATOR: {"stale"},
    None: {"offline"},  # any kind
}
EVENT_FAULTS: dict[Kind, set[str]] = {
    Kind.ELEVATOR: {e.value for e in ElevatorEvent},
    Kind.ACCESS: {e.value for e in AccessEvent},
    Kind.METER: {e.value for e in MeterEvent},
}


def fault_catalogue() -> dict[str, list[str]]:
    """Every injectable fault name per device kind (what ``--fault`` accepts)."""
    return {
        kind.value: sorted(EVENT_FAULTS[kind] | TELEMETRY_FAULTS[kind] | TELEMETRY_FAULTS[None]) for kind in Kind
    }


class UnknownFault(ValueError):
    pass


@dataclass
class SimDevice:
    site: str
    building: str
    kind: Kind
    device_id: str
    medium: str | None = None
    unit: str | None = None
    faults: set[str] = field(default_factory=set)
    seq: dict[str, int] = field(default_factory=dict)
    last_ts: int = 0
    # physical state
    floor: int = 1
    reading: float = 0.0
    open_s: float = 0.0

    def topic(self, prefix: str, channel: Channel) -> str:
        return f"{prefix}/{self.site}/{self.building}/{self.kind.value}/{self.device_id}/{channel.value}"

    def next_seq(self, channel: Channel) -> int:
        value = self.seq.get(channel.value, 0) + 1
        self.seq[channel.value] = value
        return value

    def stamp(self, now_ms: int) -> int:
        """Strictly increasing per device, so no two points of a series share a timestamp."""
        self.last_ts = max(now_ms, self.last_ts + 1)
        return self.last_ts

    @property
    def silent(self) -> bool:
        return bool(self.faults & {"offline", "stale"})


class Fleet:
    def __init__(
        self,
        *,
        sites: int = 1,
        buildings: int = 2,
        elevators: int = 2,
        doors: int = 2,
        meters: int = 4,
        seed: int = 0,
        prefix: str = "community",
    ) -> None:
        self.prefix = prefix
        self.rng = random.Random(seed)
        self.devices: list[SimDevice] = []
        media = ("water", "electricity", "gas", "heat")
        for s in range(1, sites + 1):
            for b in range(1, buildings + 1):
                site, building = f"site{s}", f"b{b}"
                for e in range(1, elevators + 1):
                    self.devices.append(SimDevice(site, building, Kind.ELEVATOR, f"s{s}b{b}-el{e}"))
                for d in range(1, doors + 1):
                    self.devices.append(SimDevice(site, building, Kind.ACCESS, f"s{s}b{b}-door{d}"))
                for m in range(1, meters + 1):
                    unit = f"{(m - 1) // 2 + 1:02d}{(m - 1) % 2 + 1:02d}"  # 0101, 0102, 0201, ...
                    medium = media[(m - 1) % len(media)]
                    self.devices.append(SimDevice(site, building, Kind.METER, f"s{s}b{b}-m{m}",
                                                  medium=medium, unit=unit,
                                                  reading=round(self.rng.uniform(10, 5000), 3)))
        self.by_id = {d.device_id: d for d in self.devices}
        self._cursor = 0

    # --- selecting ---
    def device(self, device_id: str) -> SimDevice:
        try:
            return self.by_id[device_id]
        except KeyError:
            raise UnknownFault(f"no simulated device {device_id!r}") from None

    def first(self, kind: Kind) -> SimDevice:
        return next(d for d in self.devices if d.kind is kind)

    # --- steady traffic ---
    def next_telemetry(self, now_ms: int) -> Message | None:
        """Telemetry of the next device in round-robin order; None when every device is silent."""
        for _ in range(len(self.devices)):
            device = self.devices[self._cursor]
            self._cursor = (self._cursor + 1) % len(self.devices)
            if not device.silent:
                return self.telemetry(device, now_ms)
        return None

    def round(self, now_ms: int) -> list[Message]:
        """One telemetry message from every device that is not silent."""
        return [self.telemetry(d, now_ms) for d in self.devices if not d.silent]

    def telemetry(self, device: SimDevice, now_ms: int) -> Message:
        payload = {"ts": device.stamp(now_ms), "seq": device.next_seq(Channel.TELEMETRY)}
        payload.update(_TELEMETRY[device.kind](self, device))
        return device.topic(self.prefix, Channel.TELEMETRY), payload, False

    def heartbeat(self, device: SimDevice, now_ms: int) -> Message:
        payload = {"online": "offline" not in device.faults, "ts": device.stamp(now_ms),
                   "seq": device.next_seq(Channel.STATUS), "uptime_s": round(now_ms / 1000 % 86_400, 1),
                   "rssi_dbm": float(self.rng.randint(-90, -40))}
        return device.topic(self.prefix, Channel.STATUS), payload, True

    def heartbeats(self, now_ms: int) -> list[Message]:
        return [self.heartbeat(d, now_ms) for d in self.devices if "offline" not in d.faults]

    def event(self, device: SimDevice, code: str, now_ms: int, *, active: bool = True, **detail: object) -> Message:
        payload = {"ts": device.stamp(now_ms), "seq": device.next_seq(Channel.EVENT), "event": code,
                   "active": active, **detail}
        if device.kind is Kind.METER:  # as real meters do: an event says which medium and flat it concerns
            payload |= {"medium": device.medium, "unit": device.unit}
        return device.topic(self.prefix, Channel.EVENT), payload, False

    # --- faults ---
    def inject(self, fault: str, device_id: str | None = None, *, now_ms: int,
               kind: Kind | None = None) -> list[Message]:
        """Start a fault on a device (default: the first device of a kind that has it); returns the messages
        that announce it right away (events, an offline status). Telemetry faults show in later telemetry."""
        device = self.device(device_id) if device_id else self._device_for(fault, kind)
        self._check(fault, device)
        device.faults.add(fault)
        return self._announce(fault, device, now_ms, active=True)

    def clear(self, fault: str, device_id: str | None = None, *, now_ms: int,
              kind: Kind | None = None) -> list[Message]:
        device = self.device(device_id) if device_id else self._device_for(fault, kind)
        self._check(fault, device)
        device.faults.discard(fault)
        if fault == "door_held_open":
            device.open_s = 0.0
        return self._announce(fault, device, now_ms, active=False)

    def _device_for(self, fault: str, kind: Kind | None) -> SimDevice:
        for device in self.devices:
            if (kind is None or device.kind is kind) and fault in _faults_of(device.kind):
                return device
        raise UnknownFault(f"unknown fault {fault!r}; known: {fault_catalogue()}")

    @staticmethod
    def _check(fault: str, device: SimDevice) -> None:
        if fault not in _faults_of(device.kind):
            raise UnknownFault(f"{device.kind.value} {device.device_id} has no fault {fault!r}; "
                               f"known: {sorted(_faults_of(device.kind))}")

    def _announce(self, fault: str, device: SimDevice, now_ms: int, *, active: bool) -> list[Message]:
        if fault == "offline":
            return [self.heartbeat(device, now_ms)]
        if fault == "denied_burst":
            return [self.event(device, AccessEvent.ACCESS_DENIED.value, now_ms, credential=f"card-{i}")
                    for i in range(5)] if active else []
        if fault in EVENT_FAULTS[device.kind]:
            detail = {"floor": device.floor} if device.kind is Kind.ELEVATOR else {}
            return [self.event(device, fault, now_ms, active=active, **detail)]
        return []


def _faults_of(kind: Kind) -> set[str]:
    return EVENT_FAULTS[kind] | TELEMETRY_FAULTS[kind] | TELEMETRY_FAULTS[None]


def _elevator(fleet: Fleet, d: SimDevice) -> dict:
    stuck = d.faults & {"passengers_trapped", "stopped_outside_door_zone", "power_loss", "out_of_service"}
    if stuck:
        return {"running": False, "floor": d.floor, "direction": "stopped", "speed_mps": 0.0, "door": "closed",
                "load_pct": 35.0 if "passengers_trapped" in stuck else 0.0,
                "leveled": not (stuck & {"passengers_trapped", "stopped_outside_door_zone"}),
                "mode": "out_of_service" if "out_of_service" in stuck else "normal"}
    rng = fleet.rng
    running = rng.random() < 0.6
    direction = rng.choice(("up", "down")) if running else "stopped"
    if running:
        d.floor = max(1, min(30, d.floor + (1 if direction == "up" else -1)))
    speed = 2.5 if "overspeed" in d.faults else round(rng.uniform(0.5, 1.75), 2) if running else 0.0
    return {"running": running, "floor": d.floor, "direction": direction, "speed_mps": speed,
            "door": "open" if "door_open_while_running" in d.faults else ("closed" if running else
                                                                       rng.choice(("open", "closed"))),
            "load_pct": round(rng.uniform(0, 80), 1), "leveled": not running, "mode": "normal"}


def _access(fleet: Fleet, d: SimDevice) -> dict:
    if d.faults & {"door_held_open", "door_forced_open"}:
        d.open_s += 30.0
        return {"door": "open", "locked": False, "open_s": d.open_s}
    return {"door": "closed", "locked": True, "open_s": 0.0}


def _meter(fleet: Fleet, d: SimDevice) -> dict:
    rng = fleet.rng
    if "zero_consumption" in d.faults:
        flow = 0.0
    else:
        flow = round(rng.uniform(0.0, 0.6), 4) if rng.random() < 0.3 else 0.0
        if "night_leak" in d.faults:
            flow = round(flow + 0.05, 4)  # never drops to zero: minimum night flow > 0
        if "reverse_flow" in d.faults:
            flow = -abs(flow) - 0.02
    if "reading_backwards" in d.faults:
        d.reading = max(0.0, d.reading - 1.0)
    elif "reading_jump" in d.faults:
        d.reading += 10_000.0
        d.faults.discard("reading_jump")  # a jump happens once
    else:
        d.reading += max(flow, 0.0) / 60
    return {"medium": d.medium, "unit": d.unit, "reading": round(d.reading, 4), "flow": flow,
            "battery_pct": 8.0 if "low_battery" in d.faults else 87.0,
            "valve": "open" if d.medium in ("water", "gas") else None}


_TELEMETRY = {Kind.ELEVATOR: _elevator, Kind.ACCESS: _access, Kind.METER: _meter}
