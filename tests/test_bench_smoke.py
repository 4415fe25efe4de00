"""Benchmarks run in CI only in smoke mode, through the one command that runs them all: every script must work
end to end, report every figure the benchmark issue asks for, and find no loss."""

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
    for layout in ("all", "split", "ingest"):
        assert f"check [{layout}]: InfluxDB holds 4000 points for 4000 published; dead letters 0" in out
        assert f"drain [{layout}] run 1/1: 2000 of 2000 queued messages" in out
    assert out.count("ours / bare = ") == 3
    for layout in ("all", "split"):
        assert f"[{layout}] background asked 200 msg/s" in out
    assert out.count("orders 10/10, notifications 10/10") == 2
    assert "memory: the alerts process grew" in out and "KiB per device" in out
    assert out.count("us CPU/msg") == 4  # two fleet sizes x (ingest, alerts)
    assert "soak  [split] ingest:" in out and "soak  [split] alerts:" in out
    assert "storm: 120 devices of 1 site (3 buildings) offline at once" in out
    assert "orders for the storm: 1 incident(s) holding 120 devices; other orders 0" in out
    assert out.count("trapped passengers, ") == 2 and "(n=3)" in out
    assert "onboarding: 200 households, 400 owners, 1000 devices" in out and "onboarding result: import" in out
    assert "timers: 1000 devices; a quiet tick takes" in out
    assert (ROOT / "var/bench/latest.txt").read_text() == out
