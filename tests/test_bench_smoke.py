"""Benchmarks run in CI only in smoke mode: the script must work end to end and find no loss."""

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.integration


def test_ingest_bench_smoke_runs_and_reports_no_loss():
    result = subprocess.run([sys.executable, str(ROOT / "bench/ingest_rate.py"), "--smoke"],
                            capture_output=True, text=True, timeout=300, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "check: InfluxDB holds 4000 points for 4000 published" in result.stdout


def test_fault_latency_bench_smoke_sees_every_order_and_notification():
    result = subprocess.run([sys.executable, str(ROOT / "bench/fault_latency.py"), "--smoke"],
                            capture_output=True, text=True, timeout=300, check=False)
    assert result.returncode == 0, result.stdout + result.stderr[-3000:]
    assert "orders 10/10, notifications 10/10" in result.stdout
