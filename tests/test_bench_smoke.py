"""Benchmarks run in CI only in smoke mode, through the one command that runs them all: every script must work
end to end, report every figure the benchmark issue asks for, and find no loss."""

import re
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.integration


def test_scripts_bench_smoke_runs_every_benchmark_and_reports_every_figure():
    result = subprocess.run([str(ROOT / "scripts/bench"), "--smoke"], capture_output=True, text=True,
                            timeout=900, check=False, cwd=ROOT)
    out = result.stdout
    assert result.returncode == 0, out[-4000:] + result.stderr[-3000:]
    for name in ("c-sub", "paho", "codec", "ingest", "ingest2", "all"):  # every contender timed, nothing lost
        assert re.search(rf"^  {name} +[\d,]+ msg/s  \(2000 of 2000 in ", out, re.MULTILINE), name
    assert "LOST" not in out and "median of 1 drains of 2,000 queued QoS 1 messages, connect -> last point" in out
    assert out.count("lost 0") == 6
    for layout in ("all", "split"):
        assert f"[{layout}] background asked 200 msg/s" in out
    assert out.count("orders 10/10, notifications 10/10") == 2
    assert "memory: the alert engines (alerts-0of2, alerts-1of2) grew" in out and "KiB per device" in out
    assert out.count("us CPU/msg") == 6  # two fleet sizes x (ingest, two alert engines)
    assert out.count("s): publish -> order ") == 2 and out.count("; orders 10/10") == 2
    assert "soak  [partitioned] ingest:" in out and "soak  [partitioned] alerts-1of2:" in out
    assert "storm: 120 devices of 1 site (3 buildings) offline at once" in out
    assert "orders for the storm: 1 incident(s) holding 120 devices; other orders 0" in out
    assert out.count("trapped passengers, ") == 2 and "(n=3)" in out
    assert "onboarding: 200 households, 400 owners, 1000 devices" in out and "onboarding result: import" in out
    assert "timers: 1000 devices; a quiet tick takes" in out
    assert (ROOT / "var/bench/latest.txt").read_text() == out
