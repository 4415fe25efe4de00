"""A deterministic fleet of simulated devices of every registered kind that produce contract-valid messages, with
every fault injectable by name. How a kind's telemetry looks is the kind's own (``devices/kinds/<kind>.py``).

``Fleet`` only builds messages (topic, payload dict, retain flag); ``simulator.publisher`` sends them. Given the
same seed and the same clock readings, a fleet produces the same messages.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field

from devices.kinds import ALL, KINDS, DeviceKind, Kind
from gateway.topics import Channel

Message = tuple[str, dict, bool]  # topic, payload, retain

ANY_KIND_FAULTS = {"offline", "stale"}  # any device can go offline (last will) or silent


def faults_of(kind: Kind) -> set[str]:
    """Every fault a device of this kind can be given: its event codes, its telemetry faults, going silent."""
    spec = KINDS[kind]
    return set(spec.events) | set(spec.simulation.faults) | ANY_KIND_FAULTS


def fault_catalogue() -> dict[str, list[str]]:
    """Every injectable fault name per device kind (what ``--fault`` accepts)."""
    return {kind.value: sorted(faults_of(kind)) for kind in KINDS}


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
    state: dict = field(default_factory=dict)  # the kind's physical state (floor, register, ...)

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
        elevators: int | None = None,
        doors: int | None = None,
        meters: int | None = None,
        per_building: dict[str, int] | list[tuple[str, int]] | None = None,
        seed: int = 0,
        prefix: str = "community",
    ) -> None:
        """Each building gets every kind's default count (``DeviceKind.simulation.per_building``), changed by
        ``per_building`` (kind name -> count) or the shorthands ``elevators``, ``doors`` (access) and ``meters``."""
        self.prefix = prefix
        self.rng = random.Random(seed)
        self.devices: list[SimDevice] = []
        counts = {k.name: k.simulation.per_building for k in ALL}
        counts.update(dict(per_building or {}))
        for name, count in (("elevator", elevators), ("access", doors), ("meter", meters)):
            if count is not None:
                counts[name] = count
        for s in range(1, sites + 1):
            for b in range(1, buildings + 1):
                for spec in ALL:
                    for index in range(counts.get(spec.name, 0)):
                        self.devices.append(self._device(spec, f"site{s}", f"b{b}", f"s{s}b{b}", index))
        self.by_id = {d.device_id: d for d in self.devices}
        self._cursor = 0

    def _device(self, spec: DeviceKind, site: str, building: str, short: str, index: int) -> SimDevice:
        setup = dict(spec.simulation.setup(self.rng, index))
        device_id = f"{short}-{spec.simulation.id_prefix}{index + 1}"
        return SimDevice(site, building, Kind(spec.name), device_id, medium=setup.get("medium"),
                         unit=setup.get("unit"), state=dict(setup.get("state", {})))

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
        payload.update(KINDS[device.kind].simulation.telemetry(self.rng, device))
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
        if KINDS[device.kind].names_unit:  # as real meters do: an event says which medium and flat it concerns
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
        return self._announce(fault, device, now_ms, active=False)

    def _device_for(self, fault: str, kind: Kind | None) -> SimDevice:
        for device in self.devices:
            if (kind is None or device.kind is kind) and fault in faults_of(device.kind):
                return device
        raise UnknownFault(f"unknown fault {fault!r}; known: {fault_catalogue()}")

    @staticmethod
    def _check(fault: str, device: SimDevice) -> None:
        if fault not in faults_of(device.kind):
            raise UnknownFault(f"{device.kind.value} {device.device_id} has no fault {fault!r}; "
                               f"known: {sorted(faults_of(device.kind))}")

    def _announce(self, fault: str, device: SimDevice, now_ms: int, *, active: bool) -> list[Message]:
        if fault == "offline":
            return [self.heartbeat(device, now_ms)]
        simulation = KINDS[device.kind].simulation
        if simulation.announce is not None:
            special = simulation.announce(fault, active)
            if special:
                return [self.event(device, code, now_ms, **detail) for code, detail in special]
        if fault in KINDS[device.kind].events:
            return [self.event(device, fault, now_ms, active=active, **simulation.event_detail(device))]
        return []
