"""The demo's community as a company would hand it over: register files (in the templates' Chinese format) written
from the simulated fleet, then imported the way `community import` does, so the demo's devices are known by name
and place before they send anything."""

from __future__ import annotations

import re
from datetime import datetime
from pathlib import Path

import pandas as pd
from sqlalchemy.orm import sessionmaker

from register.imports import ImportReport, importer, run_import
from simulator.fleet import Fleet

MEDIUM_ZH = {"water": "水表", "electricity": "电表", "gas": "燃气表", "heat": "热表"}
KIND_ZH = {"elevator": "电梯", "access": "门禁", "fire_pump": "消防泵"}


def _number(text: str) -> str:
    found = re.findall(r"\d+", text)
    return found[-1] if found else "1"


def register_frames(fleet: Fleet) -> dict[str, pd.DataFrame]:
    """sites, households, owners and devices of the fleet (English field names)."""
    sites = sorted({d.site for d in fleet.devices})
    households = sorted({(d.site, d.building, d.unit) for d in fleet.devices if d.unit} |
                        {(s, "b1", "0101") for s in sites})
    devices = []
    for d in fleet.devices:
        building = f"{_number(d.building)}号楼"
        if d.kind.value == "meter":
            name, location = f"{building}{d.unit or ''} {MEDIUM_ZH.get(d.medium or '', '表')}", "管道井"
        else:
            name = f"{building}{_number(d.device_id)}号{KIND_ZH.get(d.kind.value, d.kind.value)}"
            location = {"elevator": "井道", "access": "单元入口"}.get(d.kind.value, "设备间")
        devices.append({"device_id": d.device_id, "site": d.site, "building": d.building, "kind": d.kind.value,
                        "medium": d.medium, "name": name, "location": location, "household": d.unit,
                        "contractor": "演示维保公司", "contractor_phone": "4008200000", "status": "active"})
    return {
        "sites": pd.DataFrame([{"site_id": s, "name": f"演示小区{_number(s)}", "timezone": "Asia/Shanghai",
                                "manager": "孙经理", "manager_phone": "13800000000"} for s in sites]),
        "households": pd.DataFrame([{"site_id": s, "building_id": b, "building_name": f"{_number(b)}号楼",
                                     "unit": u, "holder": f"业主{u}"} for s, b, u in households]),
        "owners": pd.DataFrame([{"phone": f"139{i:08d}", "name": f"业主{u}", "site": s, "building": b, "unit": u}
                                for i, (s, b, u) in enumerate(households, start=1)]),
        "devices": pd.DataFrame(devices),
    }


def write_and_import(fleet: Fleet, sessions: sessionmaker, directory: Path, now: datetime) -> dict[str, ImportReport]:
    """Write the files with the Chinese templates' headers, then import them in order."""
    directory.mkdir(parents=True, exist_ok=True)
    reports = {}
    for what, frame in register_frames(fleet).items():
        headers = {c.field: c.zh for c in importer(what).columns}
        path = directory / f"{what}.zh.csv"
        path.write_bytes(frame.rename(columns=headers).to_csv(index=False).encode("gb18030"))
        reports[what] = run_import(sessions, what, path.read_bytes(), path.name, now=now)
    return reports
