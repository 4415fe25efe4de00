"""MQTT credentials bound to the register: each active device gets a broker user named after it (its username is
its device id and, on the device listener, its only client id), allowed to publish only under its own topic
subtree ``<prefix>/<site>/<building>/<kind>/<device_id>/#``. The service's processes get users of their own (read
every device topic, publish notices and order feeds), and so may bridges that publish for many devices (a vendor's
cloud platform, the simulator).

Written as Mosquitto's files (docs/onboarding.md): ``passwd-devices`` and ``passwd-service`` (Mosquitto's own
``$7$`` PBKDF2-SHA512 format, so ``mosquitto_passwd`` is not needed) and one ``acl``. The broker loads them again on
SIGHUP, keeping every connection and session. A password exists in clear only once: in the new-credentials file
written for handing over to installers; the database keeps its hash.
"""

from __future__ import annotations

import base64
import csv
import hashlib
import os
import secrets
import signal
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from devices.models import RETIRED, Device, DeviceStatus
from register.models import MqttCredential

ITERATIONS = 101  # what mosquitto_passwd 2.0 writes
SERVICE_USERS = ("community-service",)
DEVICE, SERVICE, BRIDGE = "device", "service", "bridge"


@dataclass(frozen=True)
class Issued:
    username: str
    role: str
    password: str
    device_id: str | None
    topic: str | None  # what it may publish under


@dataclass(frozen=True)
class Rendered:
    passwd_devices: str
    passwd_service: str
    acl: str
    devices: int
    services: int


def mosquitto_hash(password: str, salt: bytes | None = None, iterations: int = ITERATIONS) -> str:
    """``$7$<iterations>$<salt>$<hash>``: PBKDF2-HMAC-SHA512, base64, as Mosquitto 2 reads it."""
    salt = salt or secrets.token_bytes(12)
    digest = hashlib.pbkdf2_hmac("sha512", password.encode(), salt, iterations)
    return f"$7${iterations}${base64.b64encode(salt).decode()}${base64.b64encode(digest).decode()}"


def device_topic(prefix: str, device: Device) -> str:
    return f"{prefix}/{device.site}/{device.building}/{device.kind}/{device.device_id}/#"


def issue(session: Session, now: datetime, *, service_users: tuple[str, ...] = SERVICE_USERS,
          bridge_users: tuple[str, ...] = (), prefix: str = "community",
          reserved_prefix: str = "community-") -> tuple[list[Issued], list[str]]:
    """Give every active device, service user and bridge without a credential a new one; revoke those of retired
    devices. Returns the new credentials and the devices refused (their id could pass for a service client id)."""
    held = {c.username: c for c in session.scalars(select(MqttCredential))}
    issued, refused = [], []
    wanted = [(u, SERVICE, None) for u in service_users] + [(u, BRIDGE, f"{prefix}/#") for u in bridge_users]
    others = set(service_users) | set(bridge_users)
    for device in session.scalars(select(Device).where(Device.status == DeviceStatus.ACTIVE.value)):
        if device.device_id.startswith(reserved_prefix) or device.device_id in others:
            refused.append(f"{device.device_id}: named like a service user or client id ({reserved_prefix}...)")
        else:
            wanted.append((device.device_id, DEVICE, device_topic(prefix, device)))
    for username, role, topic in wanted:
        if username not in held or held[username].revoked or held[username].role != role:
            issued.append(_new(session, held, username, role, now, topic))
    retired = set(session.scalars(select(Device.device_id).where(Device.status.in_(RETIRED))))
    for credential in held.values():
        if credential.device_id in retired:
            credential.revoked = True
    return issued, refused


def _new(session: Session, held: dict, username: str, role: str, now: datetime, topic: str | None) -> Issued:
    password = secrets.token_urlsafe(18)
    credential = held.get(username) or MqttCredential(username=username)
    credential.role, credential.device_id = role, username if role == DEVICE else None
    credential.password_hash, credential.issued_at, credential.revoked = mosquitto_hash(password), now, False
    session.add(credential)
    return Issued(username, role, password, credential.device_id, topic)


def render(session: Session, *, prefix: str = "community", notify_prefixes: tuple[str, ...] = (
        "community-notices", "community-notify")) -> Rendered:
    """The password files and the ACL for what the register holds now (devices on the device listener; the
    service's users and bridges on the service listener)."""
    live = list(session.scalars(select(MqttCredential).where(MqttCredential.revoked.is_(False))
                                .order_by(MqttCredential.username)))
    devices = {d.device_id: d for d in session.scalars(select(Device).where(
        Device.device_id.in_([c.device_id for c in live if c.device_id]), Device.status == DeviceStatus.ACTIVE.value))}
    device_creds = [c for c in live if c.role == DEVICE and c.device_id in devices]
    service_creds = [c for c in live if c.role == SERVICE]
    bridge_creds = [c for c in live if c.role == BRIDGE]
    acl = ["# generated by `community credentials` from the register: do not edit, regenerate",
           "# the service's processes read every device topic and publish notices and order feeds"]
    for c in service_creds:
        acl += ["", f"user {c.username}", f"topic read {prefix}/#",
                *(f"topic readwrite {p}/#" for p in notify_prefixes), "topic read $SYS/#"]
    acl += ["", "# bridges publish for many devices (a vendor's cloud, the simulator)"]
    for c in bridge_creds:
        acl += ["", f"user {c.username}", f"topic write {prefix}/#"]
    acl += ["", "# each device: only its own topic subtree (its client id is its username on the device listener)"]
    for c in device_creds:
        acl += ["", f"user {c.username}", f"topic write {device_topic(prefix, devices[c.device_id])}"]
    return Rendered(
        passwd_devices="".join(f"{c.username}:{c.password_hash}\n" for c in device_creds),
        passwd_service="".join(f"{c.username}:{c.password_hash}\n" for c in service_creds + bridge_creds),
        acl="\n".join(acl) + "\n", devices=len(device_creds), services=len(service_creds) + len(bridge_creds))


def write_files(rendered: Rendered, directory: Path) -> list[Path]:
    """Replace the broker's files atomically (a reload never reads half a file); owner and group may read."""
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for name, text in (("passwd-devices", rendered.passwd_devices), ("passwd-service", rendered.passwd_service),
                       ("acl", rendered.acl)):
        written.append(_atomic_write(directory / name, text))
    return written


def write_issued(issued: list[Issued], directory: Path, now: datetime) -> Path:
    """The new passwords, once, for the installers (CSV, owner-only permissions)."""
    path = directory / f"new-credentials-{now:%Y%m%dT%H%M%S}.csv"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", newline="", encoding="utf-8-sig") as out:
        writer = csv.writer(out)
        writer.writerow(["username", "role", "password", "device_id", "publish_under"])
        for item in issued:
            writer.writerow([item.username, item.role, item.password, item.device_id or "", item.topic or ""])
    return path


def _atomic_write(path: Path, text: str) -> Path:
    tmp = path.with_name(f".{path.name}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o640)  # group: the broker's user
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        out.write(text)
    os.replace(tmp, path)
    return path


def reload_broker(pid: int) -> None:
    """Mosquitto re-reads password files and ACLs on SIGHUP; connections and sessions stay."""
    os.kill(pid, signal.SIGHUP)
