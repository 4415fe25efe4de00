"""The peer a user would pick instead for MQTT -> InfluxDB: Node-RED with node-red-contrib-influxdb, installed from
the npm registry into ``var/bench/node-red`` on first use and started by this script. Used by
``bench/ingest_rate.py``. Two flows:

- ``batched``, as its users build it for volume: ``mqtt in -> function (topic to point) -> join (1,000 messages or
  0.25 s) -> influxdb batch`` (one HTTP write per 1,000 points, the same batching as ours);
- ``per-message``: ``mqtt in -> function -> influxdb out`` (one HTTP write per message), kept as a second row.

A settings file adds a logger that writes the millisecond Node-RED's MQTT node reports "Connected to broker", so
Node-RED is timed from its connection like every other contender.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
from pathlib import Path

import httpx

HOME = Path(__file__).resolve().parents[1] / "var" / "bench" / "node-red"
PACKAGES = ["node-red@4", "node-red-contrib-influxdb@0.7"]  # Node-RED 5 needs Node.js 22; Debian has 20

# Same mapping as ingest/lineprotocol.py: measurement from the topic's kind, low-cardinality tags, device time.
FUNCTION = """
const t = msg.topic.split('/');
const p = msg.payload;
const tags = {site: t[1], building: t[2], device: t[4]};
if (p.medium) tags.medium = p.medium;
if (p.unit) tags.unit = p.unit;
const fields = {};
for (const [k, v] of Object.entries(p)) {
  if (k !== 'ts' && k !== 'medium' && k !== 'unit' && v !== null) fields[k] = v;
}
fields.time = new Date(p.ts);
msg.measurement = t[3];
msg.payload = [fields, tags];
return msg;
"""

BATCH_FUNCTION = FUNCTION.replace(
    "fields.time = new Date(p.ts);\nmsg.measurement = t[3];\nmsg.payload = [fields, tags];",
    "msg.payload = {measurement: t[3], tags: tags, fields: fields, timestamp: p.ts};")

SETTINGS = """
const fs = require('fs');
module.exports = {
  flowFile: 'flows.json',
  logging: {
    console: {level: 'info', metrics: false, audit: false},
    connect: {level: 'info', metrics: false, audit: false, handler: function () {
      return function (msg) {
        if (String(msg.msg).indexOf('Connected to broker') >= 0) fs.appendFileSync(%s, Date.now() + '\\n');
      };
    }},
  },
};
"""


def install() -> Path:
    """npm install once; returns the node-red executable."""
    binary = HOME / "node_modules" / ".bin" / "node-red"
    if binary.exists():
        return binary
    if not shutil.which("npm"):
        raise RuntimeError("npm not found: the Node-RED comparison needs Node.js and npm")
    HOME.mkdir(parents=True, exist_ok=True)
    print(f"installing {' '.join(PACKAGES)} from npm into {HOME} ...", flush=True)
    subprocess.run(["npm", "install", "--no-audit", "--no-fund", "--loglevel=error", *PACKAGES], cwd=HOME,
                   check=True, capture_output=True)
    return binary


def flow(mqtt_port: int, influx_url: str, database: str, prefix: str, mode: str = "batched") -> list[dict]:
    host, port = influx_url.removeprefix("http://").split(":")
    nodes = [
        {"id": "tab", "type": "tab", "label": "bench"},
        {"id": "broker", "type": "mqtt-broker", "name": "bench", "broker": "127.0.0.1", "port": str(mqtt_port),
         "clientid": "nodered-bench", "autoConnect": True, "usetls": False, "protocolVersion": "4",
         "keepalive": "60", "cleansession": False, "autoUnsubscribe": False},
        {"id": "influx", "type": "influxdb", "hostname": host, "port": port, "protocol": "http",
         "database": database, "name": "bench", "usetls": False, "influxdbVersion": "1.x"},
        {"id": "in", "type": "mqtt in", "z": "tab", "topic": f"{prefix}/+/+/+/+/+", "qos": "1",
         "datatype": "json", "broker": "broker", "nl": False, "rap": False, "inputs": 0, "wires": [["fn"]]},
    ]
    if mode == "per-message":
        return nodes + [
            {"id": "fn", "type": "function", "z": "tab", "func": FUNCTION, "outputs": 1, "wires": [["out"]]},
            {"id": "out", "type": "influxdb out", "z": "tab", "influxdb": "influx", "measurement": "",
             "precision": "ms", "retentionPolicy": "", "database": "", "wires": []},
        ]
    return nodes + [
        {"id": "fn", "type": "function", "z": "tab", "func": BATCH_FUNCTION, "outputs": 1, "wires": [["joiner"]]},
        {"id": "joiner", "type": "join", "z": "tab", "mode": "custom", "build": "array", "property": "payload",
         "propertyType": "msg", "count": "1000", "timeout": "0.25", "joiner": "\\n", "joinerType": "str",
         "accumulate": False, "reduceRight": False, "wires": [["batcher"]]},
        {"id": "batcher", "type": "influxdb batch", "z": "tab", "influxdb": "influx", "precision": "ms",
         "retentionPolicy": "", "wires": []},
    ]


class NodeRed:
    def __init__(self, workdir: Path, mqtt_port: int, influx_url: str, database: str, prefix: str,
                 mode: str = "batched") -> None:
        self.binary = install()
        self.dir = workdir
        self.dir.mkdir(parents=True, exist_ok=True)
        (self.dir / "flows.json").write_text(json.dumps(flow(mqtt_port, influx_url, database, prefix, mode)))
        self.connects = self.dir / "connected-at.txt"
        (self.dir / "settings.js").write_text(SETTINGS % json.dumps(str(self.connects)))
        self.port = _free_port()
        self.process: subprocess.Popen | None = None

    def start(self, timeout: float = 60) -> None:
        log = open(self.dir / "node-red.log", "ab")
        self.process = subprocess.Popen(
            [str(self.binary), "--userDir", str(self.dir), "--port", str(self.port), "--settings",
             str(self.dir / "settings.js"), "flows.json"],
            cwd=self.dir, stdout=log, stderr=subprocess.STDOUT, env={**os.environ, "NODE_RED_ENABLE_PROJECTS": "0"})
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"http://127.0.0.1:{self.port}/", timeout=1).status_code < 500:
                    time.sleep(1.0)  # flows start just after the editor answers
                    return
            except httpx.HTTPError:
                time.sleep(0.2)
        raise RuntimeError(f"Node-RED did not start; see {self.dir / 'node-red.log'}")

    def connected_at(self) -> float | None:
        """Epoch seconds of Node-RED's latest MQTT connection, as its logger wrote it."""
        try:
            return int(self.connects.read_text().split()[-1]) / 1000
        except (FileNotFoundError, IndexError):
            return None

    def stop(self) -> None:
        if self.process:
            self.process.terminate()
            self.process.wait(20)
            self.process = None


def _free_port() -> int:
    from devtools.localservices import free_port

    return free_port()
