"""Onboarding a community: import 2,000 households, 4,000 owners and 10,000 devices into PostgreSQL from register
files, as `community import` does (CSV, Chinese headers, GB18030), then import the same files again (nothing to
change) and export the devices; issue the devices' MQTT credentials and write Mosquitto's files.

Starts its own PostgreSQL (and Mosquitto, InfluxDB: the shared private stack). Prints seconds per step.
Target (issue 13): the whole import under 30 s on this machine.

Usage: python bench/onboarding.py [--households 2000] [--smoke]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd
from harness import private_stack

from community.schema import migrate
from core.db import make_engine, session_factory
from register import credentials
from register.imports import export_frame, importer, run_import

NOW = datetime(2026, 11, 25, tzinfo=UTC)


def community(households: int) -> dict[str, pd.DataFrame]:
    """``households`` flats in buildings of 100, two owners each, five devices per flat (water, electricity and gas
    meters, and per building's share an elevator and an access door)."""
    flats = [(f"b{i // 100 + 1}", f"{(i % 100) // 4 + 1:02d}{i % 4 + 1:02d}") for i in range(households)]
    devices = []
    for n, (building, unit) in enumerate(flats):
        for medium in ("water", "electricity", "gas"):
            devices.append({"device_id": f"m-{building}-{unit}-{medium[0]}", "site": "site1", "building": building,
                            "kind": "meter", "medium": medium, "household": unit, "name": f"{unit} {medium} meter"})
        devices.append({"device_id": f"el-{building}-{n % 100}", "site": "site1", "building": building,
                        "kind": "elevator", "name": f"elevator {n % 100}", "registration_code": f"3110{n:08d}"})
        devices.append({"device_id": f"ac-{building}-{n % 100}", "site": "site1", "building": building,
                        "kind": "access", "name": f"door {n % 100}", "contractor_phone": "4008100000"})
    return {
        "sites": pd.DataFrame([{"site_id": "site1", "name": "阳光花园", "timezone": "Asia/Shanghai"}]),
        "households": pd.DataFrame([{"site_id": "site1", "building_id": b, "building_name": f"{b[1:]}号楼",
                                     "unit": u, "holder": f"户主{i}", "phone": f"137{i:08d}"}
                                    for i, (b, u) in enumerate(flats)]),
        "owners": pd.DataFrame([{"phone": f"13{8 + k}{i:08d}", "name": f"业主{i}-{k}", "site": "site1",
                                 "building": b, "unit": u} for i, (b, u) in enumerate(flats) for k in (0, 1)]),
        "devices": pd.DataFrame(devices),
    }


def files(frames: dict[str, pd.DataFrame], directory: Path) -> dict[str, Path]:
    out = {}
    for what, frame in frames.items():
        headers = {c.field: c.zh for c in importer(what).columns}
        out[what] = directory / f"{what}.zh.csv"
        out[what].write_bytes(frame.rename(columns=headers).to_csv(index=False).encode("gb18030"))
    return out


def timed(label: str, action):  # noqa: ANN001, ANN201
    start = time.perf_counter()
    result = action()
    seconds = time.perf_counter() - start
    print(f"  {label:44s} {seconds:6.2f} s", flush=True)
    return result, seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--households", type=int, default=2000)
    parser.add_argument("--smoke", action="store_true", help="200 households")
    args = parser.parse_args()
    households = 200 if args.smoke else args.households
    with tempfile.TemporaryDirectory(prefix="bench-onboarding-") as tmp_name:
        tmp = Path(tmp_name)
        stack = private_stack(tmp)
        try:
            engine = make_engine(stack.postgres.create_database("bench_onboarding"))
            migrate(engine)
            sessions = session_factory(engine)
            paths = files(community(households), tmp)
            sizes = {what: len(pd.read_csv(p, encoding="gb18030")) for what, p in paths.items()}
            print(f"onboarding: {sizes['households']} households, {sizes['owners']} owners, {sizes['devices']} "
                  f"devices (CSV, Chinese headers, GB18030) into PostgreSQL")
            total = 0.0
            for what, path in paths.items():
                report, seconds = timed(f"import {what} ({sizes[what]} rows)",
                                        lambda w=what, p=path: run_import(sessions, w, p.read_bytes(), p.name, now=NOW))
                assert report.applied and report.created == sizes[what], report.summary()
                total += seconds
            print(f"  {'import, all four files':44s} {total:6.2f} s (target < 30 s)")
            again = 0.0
            for what, path in paths.items():
                report, seconds = timed(f"import {what} again (nothing changes)",
                                        lambda w=what, p=path: run_import(sessions, w, p.read_bytes(), p.name, now=NOW))
                assert report.unchanged == sizes[what], report.summary()
                again += seconds
            with sessions() as session:
                frame, _ = timed("export devices (.xlsx)", lambda: export_frame("devices", session, lang="zh")
                                 .to_excel(tmp / "devices.xlsx", index=False))
            with sessions.begin() as session:
                (issued, _refused), _ = timed("issue MQTT credentials", lambda: credentials.issue(session, NOW))
                timed("write passwd-devices, passwd-service, acl",
                      lambda: credentials.write_files(credentials.render(session), tmp / "mosquitto"))
            print(f"onboarding result: import {total:.1f} s, again {again:.1f} s, {len(issued)} credentials")
            engine.dispose()
        finally:
            stack.down()


if __name__ == "__main__":
    main()
