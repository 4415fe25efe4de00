"""Alarm storms: a power cut or a network failure takes hundreds of devices offline at once. That is one incident
for the building (or the site), one notice to its owners and one page to on-call, never one order per device.

``StormGate`` is pure logic (no I/O), fed by the alert engine with every *loss* signal (offline / silent, see
``alerts.evaluator.LOSS``):

- a device lost where an incident is open joins it at once (``Attach``);
- otherwise the loss is held for ``window_s``: when enough devices of one building are held (and the first of
  them ``settle_s`` ago, so a site-wide cut arriving over a few seconds shows as one), they become one building
  incident (``Open``), and when that happens in enough buildings of a site at once, one site incident;
  a loss still alone when its window ends is applied as the device's own fault (``Apply``);
- a device back before its window ended is forgotten (nothing to report); one back from an incident leaves it
  (``Detach``); an incident whose devices all stayed back for ``hold_s`` resolves (``Resolve``), so a flapping
  supply does not send owners a notice per flap.

The engine turns the actions into database work in bounded chunks, off the path that judges urgent events.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field

from alerts.config import StormPolicy
from alerts.evaluator import Signal

WHOLE_SITE = "*"


def incident_key(site: str, building: str) -> str:
    """The incident order's open key (``building`` is ``*`` for a whole site)."""
    return f"storm:{site}/{building}"


@dataclass(frozen=True, slots=True)
class Apply:
    signal: Signal


@dataclass(frozen=True, slots=True)
class Open:
    key: str
    site: str
    building: str  # WHOLE_SITE for a site incident
    signals: tuple[Signal, ...]


@dataclass(frozen=True, slots=True)
class Attach:
    key: str
    signals: tuple[Signal, ...]


@dataclass(frozen=True, slots=True)
class Detach:
    key: str
    signal: Signal


@dataclass(frozen=True, slots=True)
class Resolve:
    key: str


Action = Apply | Open | Attach | Detach | Resolve


@dataclass
class _Held:
    signal: Signal
    since_ms: int


@dataclass
class StormGate:
    policy: StormPolicy
    held: dict[str, dict[str, _Held]] = field(default_factory=lambda: defaultdict(dict))  # site -> device -> loss
    incidents: dict[tuple[str, str], str] = field(default_factory=dict)  # (site, building or *) -> key
    members: dict[str, str] = field(default_factory=dict)  # device -> incident key
    back_since: dict[str, int] = field(default_factory=dict)  # incident key -> when its last device came back
    lost: dict[str, int] = field(default_factory=lambda: defaultdict(int))  # incident key -> devices still lost

    def restore(self, incidents: dict[tuple[str, str], str], members: dict[str, str], now_ms: int) -> None:
        """After a restart: the open incidents and the devices still lost in them (from the database)."""
        self.incidents = dict(incidents)
        self.members = dict(members)
        for key in members.values():
            self.lost[key] += 1
        self.back_since = {key: now_ms for key in incidents.values() if not self.lost[key]}

    def incident_for(self, site: str, building: str) -> str | None:
        return self.incidents.get((site, WHOLE_SITE)) or self.incidents.get((site, building))

    def offer(self, signal: Signal, now_ms: int) -> list[Action]:
        """A loss signal (fire or clear) arrives; returns what to do now (possibly nothing yet)."""
        device, site = signal.device.device_id, signal.device.site
        if signal.fire:
            key = self.incident_for(site, signal.device.building)
            if key is not None:
                self._join(key, device)
                return [Attach(key, (signal,))]
            self.held[site][device] = _Held(signal, now_ms)
            return []
        if self.held[site].pop(device, None) is not None:
            return []  # lost and back within the window: nothing happened worth an order
        key = self.members.pop(device, None)
        if key is not None:
            self.lost[key] -= 1
            if self.lost[key] <= 0:
                self.back_since[key] = now_ms
            return [Detach(key, signal)]
        return [Apply(signal)]

    def due(self, now_ms: int) -> list[Action]:
        """What the passing of time decides: incidents to open, lone losses to apply, incidents to resolve."""
        actions: list[Action] = []
        for site in [s for s, held in self.held.items() if held]:
            actions += self._judge(site, now_ms)
        hold_ms = self.policy.hold_s * 1000
        for key, since in list(self.back_since.items()):
            if now_ms - since >= hold_ms:
                del self.back_since[key]
                self.lost.pop(key, None)
                self.incidents = {where: k for where, k in self.incidents.items() if k != key}
                actions.append(Resolve(key))
        return actions

    def resolved_elsewhere(self, key: str) -> None:
        """Staff resolved the incident by hand: forget it (its devices' next losses start afresh)."""
        self.incidents = {where: k for where, k in self.incidents.items() if k != key}
        self.members = {device: k for device, k in self.members.items() if k != key}
        self.back_since.pop(key, None)
        self.lost.pop(key, None)

    # --- internals ---
    def _judge(self, site: str, now_ms: int) -> list[Action]:
        held = self.held[site]
        by_building: dict[str, list[_Held]] = defaultdict(list)
        for entry in held.values():
            by_building[entry.signal.device.building].append(entry)
        settle_ms = min(self.policy.settle_s, self.policy.window_s) * 1000
        crowded = [b for b, entries in by_building.items() if len(entries) >= self.policy.building_devices]
        stormy = [b for b in crowded if now_ms - min(e.since_ms for e in by_building[b]) >= settle_ms]
        actions: list[Action] = []
        if stormy and len(crowded) >= self.policy.site_buildings:
            actions.append(self._open(site, WHOLE_SITE, list(held.values())))
            held.clear()
            return actions
        for building in stormy:
            actions.append(self._open(site, building, by_building[building]))
            for entry in by_building[building]:
                held.pop(entry.signal.device.device_id, None)
        window_ms = self.policy.window_s * 1000
        for device, entry in list(held.items()):
            if now_ms - entry.since_ms >= window_ms:
                del held[device]
                actions.append(Apply(entry.signal))
        return actions

    def _open(self, site: str, building: str, entries: list[_Held]) -> Open:
        key = incident_key(site, building)
        self.incidents[(site, building)] = key
        for entry in entries:
            self._join(key, entry.signal.device.device_id)
        return Open(key, site, building, tuple(e.signal for e in entries))

    def _join(self, key: str, device: str) -> None:
        if self.members.get(device) != key:
            self.members[device] = key
            self.lost[key] += 1
        self.back_since.pop(key, None)
