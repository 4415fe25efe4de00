"""Logging set-up for every command: one format, our loggers at INFO (DEBUG with -v), chatty libraries quieter."""

from __future__ import annotations

import logging

QUIET = ("httpx", "alembic", "fontTools", "matplotlib")


def configure(verbose: bool = False) -> None:
    logging.basicConfig(level=logging.DEBUG if verbose else logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    for noisy in QUIET:
        logging.getLogger(noisy).setLevel(logging.WARNING)
