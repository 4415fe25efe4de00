"""Rule evaluation over the message stream: pure logic, no I/O.

``observe`` takes each valid ``DeviceMessage`` and returns fire / clear ``Signal``s; ``tick`` returns the signals
that only the passing of time produces (silence, a count window running out). Whether a signal opens a work order,
bumps an occurrence or resolves one is decided by ``alerts.service`` against the persisted alert state.

Per device and channel, a message with the same device time as the last one is a redelivery and an older one is out
of order: both are ignored here (they must not count twice). An older one is accepted only when the last one's time
was ahead of its arrival and this one arrived later: a device clock that ran ahead and was corrected. Signals carry
an order time that is the device's time, never later than arrival, and strictly rising per device and channel, so
a fault stamped by a fast clock cannot look newer than the clear that followed it.
"""

from __future__ import annotations

import heapq
from collections import deque
from dataclasses import dataclass, field

from alerts.config import (
    AnalyticsRule,
    Rule,
)
from devices.kinds import KINDS, Kind
from gateway.contract import DeviceMessage
from gateway.topics import Channel

_NAMES_UNIT = {kind for kind, spec in KINDS.items() if spec.names_unit}


@dataclass(frozen=True, slots=True)
class DeviceRef:
    device_id: str
    site: str
    building: str
    kind: Kind
    unit: str | None = None
    medium: str | None = None


@dataclass(frozen=True, slots=True)
class Signal:
    rule: Rule
    device: DeviceRef
    fire: bool
    at_ms: int
    detail: str | None = None


@dataclass
class _DeviceMemory:
    ref: DeviceRef
    last_seen_ms: int = 0
    last_ts: dict[Channel, int] = field(default_factory=dict)  # order time of the newest message (strictly rising)
    last_raw: dict[Channel, int] = field(default_factory=dict)  # its device ts: an equal one is a redelivery
    last_received: dict[Channel, int] = field(default_factory=dict)  # its arrival
    at_ms: int = 0  # order time of the message being judged: the time of the signals it produces
    since: dict[str, int] = field(default_factory=dict)  # duration rules: condition true since
    previous: dict[str, float] = field(default_factory=dict)  # delta rules: last value
    window: dict[str, deque[int]] = field(default_factory=dict)  # count rules: matching event times
    armed: dict[str, int] = field(default_factory=dict)  # timer rules: the due time of its entry in the heap


LOSS = {"offline", "absence"}  # rule types that say a device is lost (one alert per device, whichever fires first)

# which channels can move each rule type
_CHANNELS_OF: dict[str, set[Channel]] = {
    "absence": set(Channel), "offline": set(Channel), "event": {Channel.EVENT}, "count": {Channel.EVENT},
    "threshold": {Channel.TELEMETRY}, "duration": {Channel.TELEMETRY}, "delta": {Channel.TELEMETRY},
}


class Evaluator:
    def __init__(self, rules: list[Rule]) -> None:
        self.rules = [r for r in rules if not isinstance(r, AnalyticsRule)]
        self._by_kind: dict[Kind, list[Rule]] = {k: [r for r in self.rules if r.kind is k] for k in Kind}
        self._by_channel: dict[tuple[Kind, Channel], list[Rule]] = {
            (k, c): [r for r in self._by_kind[k] if c in _CHANNELS_OF[r.type]] for k in Kind for c in Channel}
        self._devices: dict[str, _DeviceMemory] = {}
        self._active: set[tuple[str, str]] = set()  # (rule id, device id) currently firing
        self._lost: dict[str, str] = {}  # device id -> the loss rule (offline / absence) firing for it
        self._retired: frozenset[str] = frozenset()  # rejected or decommissioned in the register: no rules run
        # timers by due time: (due ms, device id, rule id) for absence and count-window rules, so a tick looks at
        # what is due instead of walking every device (stale entries are skipped when they come up)
        self._timers: list[tuple[int, str, str]] = []
        self._absence: dict[Kind, list[Rule]] = {k: [r for r in self._by_kind[k] if r.type == "absence"]
                                                 for k in Kind}
        self._by_id: dict[str, Rule] = {r.id: r for r in self.rules}

    # --- state shared with the persisted alerts ---
    def restore(self, devices: list[DeviceRef], firing: set[tuple[str, str]], last_seen_ms: dict[str, int]) -> None:
        """Seed memory after a restart from the database (known devices, firing alerts, last contact)."""
        for ref in devices:
            memory = self._devices[ref.device_id] = _DeviceMemory(ref, last_seen_ms.get(ref.device_id, 0))
            self._arm_absence(memory)
        self._active = set(firing)
        for rule_id, device_id in firing:  # a firing count rule clears once its window is quiet
            memory = self._devices.get(device_id)
            if memory is not None and rule_id in self._by_id and self._by_id[rule_id].type == "count":
                self._arm(memory, rule_id, 0)
        loss = {r.id for r in self.rules if r.type in LOSS}
        self._lost = {device: rule for rule, device in firing if rule in loss}

    def retire(self, device_ids: frozenset[str]) -> None:
        """The register's rejected and decommissioned devices: their rules stop (absence timers included)."""
        for device_id in device_ids - self._retired:
            self._devices.pop(device_id, None)
        self._retired = device_ids

    def is_active(self, rule_id: str, device_id: str) -> bool:
        return (rule_id, device_id) in self._active

    def device(self, device_id: str) -> DeviceRef | None:
        memory = self._devices.get(device_id)
        return memory.ref if memory else None

    # --- stream ---
    def observe(self, msg: DeviceMessage) -> list[Signal]:
        if msg.topic.device_id in self._retired:
            return []
        memory = self._remember(msg)
        if memory is None:
            return []
        signals: list[Signal] = []
        for rule in self._by_channel[(msg.kind, msg.channel)]:
            if rule.media and memory.ref.medium not in rule.media:
                continue
            signal = self._apply(rule, memory, msg)
            if signal is not None:
                signals.append(signal)
        return signals

    def tick(self, now_ms: int) -> list[Signal]:
        """The timers that are due: silence (absence rules) and quiet count windows."""
        signals: list[Signal] = []
        while self._timers and self._timers[0][0] <= now_ms:
            due, device_id, rule_id = heapq.heappop(self._timers)
            memory = self._devices.get(device_id)
            if memory is None or memory.armed.get(rule_id) != due:
                continue  # retired, or a stale entry (the timer was re-armed)
            del memory.armed[rule_id]
            rule = self._by_id[rule_id]
            if rule.media and memory.ref.medium not in rule.media:
                continue
            if rule.type == "absence":
                later = memory.last_seen_ms + int(rule.after_s * 1000) + 1
                if later > now_ms:  # heard from since it was armed
                    self._arm(memory, rule_id, later)
                    continue
                silent_ms = now_ms - memory.last_seen_ms
                # the due time, not now: every engine that saw the same messages gives the signal the same time,
                # so one judged twice (a site moving between engines) is applied once
                signals += self._edge(rule, memory, True, due, f"silent for {silent_ms // 1000} s")
            elif self.is_active(rule_id, device_id):  # a count rule: clears after a whole quiet window
                times = memory.window.get(rule_id)
                if times and now_ms - times[-1] <= rule.window_s * 1000:
                    self._arm(memory, rule_id, times[-1] + int(rule.window_s * 1000) + 1)
                    continue
                signals += self._edge(rule, memory, False, due, "quiet for a whole window")
        return signals

    def _arm(self, memory: _DeviceMemory, rule_id: str, due: int) -> None:
        memory.armed[rule_id] = due
        heapq.heappush(self._timers, (due, memory.ref.device_id, rule_id))

    def _arm_absence(self, memory: _DeviceMemory) -> None:
        """Every absence rule of the device's kind has a timer while the device has been heard from."""
        if memory.last_seen_ms:
            for rule in self._absence[memory.ref.kind]:
                if rule.id not in memory.armed:
                    self._arm(memory, rule.id, memory.last_seen_ms + int(rule.after_s * 1000) + 1)

    def external(self, rule: Rule, ref: DeviceRef, fire: bool, at_ms: int, detail: str | None) -> list[Signal]:
        """A verdict reached outside the stream (analytics over history), with the same edge semantics."""
        memory = self._devices.setdefault(ref.device_id, _DeviceMemory(ref))
        return self._edge(rule, memory, fire, at_ms, detail)

    # --- internals ---
    def _remember(self, msg: DeviceMessage) -> _DeviceMemory | None:
        t = msg.topic
        memory = self._devices.get(t.device_id)
        payload = msg.payload
        unit = medium = None
        if t.kind in _NAMES_UNIT and t.channel is not Channel.STATUS:  # e.g. a meter's telemetry and events
            unit, medium = payload.unit, payload.medium
        if memory is None:
            memory = _DeviceMemory(DeviceRef(t.device_id, t.site, t.building, t.kind, unit, medium))
            self._devices[t.device_id] = memory
        elif medium and (memory.ref.medium != medium or memory.ref.unit != unit):
            memory.ref = DeviceRef(t.device_id, t.site, t.building, t.kind, unit, medium)
        memory.last_seen_ms = max(memory.last_seen_ms, msg.received_ms)
        self._arm_absence(memory)  # a dictionary look-up per absence rule when armed already
        channel, raw = t.channel, memory.last_raw.get(t.channel)
        if raw is not None and msg.ts_ms <= raw:
            if msg.ts_ms == raw:
                return None  # a redelivery: already judged
            trusted = raw <= memory.last_received[channel]  # the previous ts was not ahead of its arrival
            if trusted or msg.received_ms <= memory.last_received[channel]:
                return None  # out of order: older than what was judged
        # order time: the device's, never later than arrival, and strictly rising (a clock running ahead is
        # clamped to arrival; messages arriving within one millisecond keep their order)
        memory.at_ms = max(msg.order_ms, memory.last_ts.get(channel, -1) + 1)
        memory.last_ts[channel], memory.last_raw[channel] = memory.at_ms, msg.ts_ms
        memory.last_received[channel] = msg.received_ms
        return memory

    def _edge(self, rule: Rule, memory: _DeviceMemory, fire: bool, at_ms: int, detail: str | None) -> list[Signal]:
        key = (rule.id, memory.ref.device_id)
        if fire == (key in self._active):
            return []
        if rule.type in LOSS:  # offline and silent are one fault of a device: the first to fire stands for both
            device = memory.ref.device_id
            if fire and self._lost.setdefault(device, rule.id) != rule.id:
                return []
            if not fire and self._lost.get(device) == rule.id:
                del self._lost[device]
        (self._active.add if fire else self._active.discard)(key)
        return [Signal(rule, memory.ref, fire, at_ms, detail)]

    def _apply(self, rule: Rule, memory: _DeviceMemory, msg: DeviceMessage) -> Signal | None:
        """Dispatch on ``rule.type`` and ``msg.channel`` (strings), not ``isinstance``: pydantic's metaclass makes
        isinstance checks slow, and this runs for every message."""
        p, ts, kind = msg.payload, memory.at_ms, rule.type
        out: list[Signal] = []
        if kind == "absence":
            if msg.channel is not Channel.STATUS or p.online:  # "I am offline" is no sign of life
                out = self._edge(rule, memory, False, ts, "reporting again")
        elif kind == "offline":
            if msg.channel is Channel.STATUS:
                out = self._edge(rule, memory, not p.online, ts, "status: online" if p.online else "status: offline")
            else:
                out = self._edge(rule, memory, False, ts, "sending data again")
        elif kind == "event":
            if p.event in rule.events:
                if p.active:  # a repeat while firing still goes out: it counts as an occurrence
                    self._active.add((rule.id, memory.ref.device_id))
                    out = [Signal(rule, memory.ref, True, ts, p.event)]
                else:
                    out = self._edge(rule, memory, False, ts, f"{p.event} cleared")
        elif kind == "count":
            if p.event == rule.event and p.active:
                times = memory.window.setdefault(rule.id, deque())
                times.append(ts)
                while times and ts - times[0] > rule.window_s * 1000:
                    times.popleft()
                if len(times) >= rule.count:
                    out = self._edge(rule, memory, True, ts, f"{len(times)} x {rule.event} in {rule.window_s:.0f} s")
                    if rule.id not in memory.armed:
                        self._arm(memory, rule.id, ts + int(rule.window_s * 1000) + 1)
        else:
            out = self._telemetry_rule(rule, memory, msg)
        return out[0] if out else None

    def _telemetry_rule(self, rule: Rule, memory: _DeviceMemory, msg: DeviceMessage) -> list[Signal]:
        ts, at = msg.ts_ms, memory.at_ms  # device time for durations, order time for the signals
        value = getattr(msg.payload, rule.field, None)
        if value is None:
            return []
        if rule.type == "threshold":
            if rule.above is not None:
                if value > rule.above:
                    return self._edge(rule, memory, True, at, f"{rule.field}={value} > {rule.above}")
                if value <= rule.clear_at:
                    return self._edge(rule, memory, False, at, f"{rule.field}={value}")
            else:
                if value < rule.below:
                    return self._edge(rule, memory, True, at, f"{rule.field}={value} < {rule.below}")
                if value >= rule.clear_at:
                    return self._edge(rule, memory, False, at, f"{rule.field}={value}")
            return []
        if rule.type == "duration":
            if value == rule.equals:
                since = memory.since.setdefault(rule.id, ts)
                held_s = (ts - since) / 1000
                if held_s >= rule.for_s:
                    return self._edge(rule, memory, True, at, f"{rule.field}={value} for {held_s:.0f} s")
                return []
            memory.since.pop(rule.id, None)
            return self._edge(rule, memory, False, at, f"{rule.field}={value}")
        if rule.type == "delta":
            previous = memory.previous.get(rule.id)
            memory.previous[rule.id] = float(value)
            if previous is None:
                return []
            delta = float(value) - previous
            bad = (rule.below is not None and delta < rule.below) or (rule.above is not None and delta > rule.above)
            return self._edge(rule, memory, bad, at, f"{rule.field} changed by {delta:+.3f}")
        return []
