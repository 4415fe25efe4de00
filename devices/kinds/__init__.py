"""The registry of device kinds: every module in this package that defines ``KIND`` is one kind.

Adding a kind = adding ``devices/kinds/<name>.py`` (its contract, events, InfluxDB encoding, skills, simulator) and
``devices/kinds/<name>.yaml`` (its default rules); nothing else names it. ``Kind`` and ``Skill`` are enums built
from the registry, so an unknown kind or skill fails where it is parsed (a topic, a rule file), never later.
"""

from __future__ import annotations

import importlib
import pkgutil
from enum import StrEnum

from devices.kinds.base import DeviceKind

TRADES = ("elevator", "access", "plumbing", "electrical", "gas", "heating", "metering", "cleaning", "security",
          "customer_service")
"""Skills on-call plans know even when no kind's rules use them yet."""


def discover(path: list[str], package: str) -> list[DeviceKind]:
    """Import every module of the package at ``path``; each must define ``KIND``, named after the module."""
    found = []
    for module in pkgutil.iter_modules(path):
        if module.name == "base" or module.name.startswith("_"):
            continue
        kind = getattr(importlib.import_module(f"{package}.{module.name}"), "KIND", None)
        if not isinstance(kind, DeviceKind):
            raise ImportError(f"{package}.{module.name} defines no KIND = DeviceKind(...)")
        if kind.name != module.name:
            raise ImportError(f"{package}.{module.name} declares kind {kind.name!r}: name the module after its kind")
        found.append(kind)
    return sorted(found, key=lambda k: (k.order, k.name))


ALL: list[DeviceKind] = discover(__path__, __name__)
Kind = StrEnum("Kind", [(k.name.upper(), k.name) for k in ALL])
Skill = StrEnum("Skill", [(s.upper(), s) for s in dict.fromkeys([*TRADES, *(s for k in ALL for s in k.skills)])])
KINDS: dict[Kind, DeviceKind] = {Kind(k.name): k for k in ALL}


class UnknownKind(LookupError):
    pass


def kind(name: str) -> DeviceKind:
    """The registered kind of this name; ``UnknownKind`` names the known ones."""
    try:
        return KINDS[Kind(name)]
    except ValueError:
        raise UnknownKind(f"unknown device kind {name!r}; known: {[k.name for k in ALL]}") from None


__all__ = ["ALL", "KINDS", "DeviceKind", "Kind", "Skill", "UnknownKind", "kind"]
