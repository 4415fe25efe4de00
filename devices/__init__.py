"""Devices: the kinds of device the service knows (``devices.kinds``, a registry with one module per kind) and the
device registry table (the newest state of every device heard from)."""
