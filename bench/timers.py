"""The alert engine's timers (silence, quiet count windows) at scale: what one tick costs (the engine ticks every
second) with N quiet devices, and how long the ticks take that fire every device's silence at once.

No servers: the evaluator alone, fed through the real contract decoder. Prints milliseconds.
Usage: python bench/timers.py [--devices 100000] [--smoke]
"""

from __future__ import annotations

import argparse
import json
import time

from alerts.config import load_config
from alerts.evaluator import Evaluator
from gateway.contract import decode

NOW = 1_795_000_000_000


def message(device: str):  # noqa: ANN201 - a DeviceMessage
    payload = {"ts": NOW, "seq": 1, "running": True, "floor": 3, "direction": "up", "speed_mps": 1.5,
               "door": "closed", "load_pct": 40, "leveled": False}
    return decode(f"community/site1/b1/elevator/{device}/telemetry", json.dumps(payload).encode(),
                  prefix="community", now_ms=NOW)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--devices", type=int, default=100_000)
    parser.add_argument("--smoke", action="store_true", help="1,000 devices")
    args = parser.parse_args()
    devices = 1_000 if args.smoke else args.devices
    evaluator = Evaluator(load_config().rules)
    for n in range(devices):
        evaluator.observe(message(f"el{n}"))
    start = time.perf_counter()
    for second in range(1, 61):  # a quiet minute: nothing is due
        evaluator.tick(NOW + second * 1000)
    quiet = (time.perf_counter() - start) / 60 * 1000
    start = time.perf_counter()
    fired = evaluator.tick(NOW + 3_600_000)  # an hour later every device is silent
    loud = (time.perf_counter() - start) * 1000
    print(f"timers: {devices} devices; a quiet tick takes {quiet:.3f} ms; the tick where all fall silent "
          f"{loud:.0f} ms ({len(fired)} signals)")


if __name__ == "__main__":
    main()
