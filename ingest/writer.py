"""Batching InfluxDB writer with retries, a durable spool, and acknowledgement only after durability.

Every item arrives with an ``ack`` callback (the MQTT PUBACK). The writer calls it only after the item is
durable: written to InfluxDB, written to the local spool (fsynced), or stored as a dead letter. So a crash at
any point loses nothing the broker considers delivered; the broker redelivers the rest.

Batches are flushed when they reach ``max_points`` or when their oldest item is ``max_delay_s`` old. While the
spool holds anything, new batches join the spool's tail, so replay keeps arrival order.
"""

from __future__ import annotations

import json
import logging
import queue
import threading
import time
from pathlib import Path

from core.metrics import Counters
from gateway.contract import DeviceMessage
from gateway.deadletter import DeadLetter, DeadLetterStore
from gateway.envelope import Envelope
from ingest.encode import to_line
from ingest.influx import InfluxFull, InfluxRejected, InfluxUnavailable, InfluxV1Client
from ingest.lineprotocol import Point
from ingest.spool import DurableSpool

log = logging.getLogger(__name__)


_STOP = object()


class IngestWriter:
    def __init__(
        self,
        influx: InfluxV1Client,
        spool: DurableSpool,
        dead_letters: DeadLetterStore,
        counters: Counters,
        *,
        max_points: int = 5000,
        max_delay_s: float = 0.25,
        retries: int = 3,
        fallback_dir: Path | None = None,
        max_replay_backoff_s: float = 10.0,
    ) -> None:
        self.influx = influx
        self.spool = spool
        self.dead_letters = dead_letters
        self.counters = counters
        self.max_points = max_points
        self.max_delay_s = max_delay_s
        self.retries = retries
        self.fallback_dir = fallback_dir or spool.directory.parent
        self.max_replay_backoff_s = max_replay_backoff_s
        self._queue: queue.SimpleQueue = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._replay_at = 0.0
        self._import_at = 0.0
        self.fallback_waiting = self._count_fallback()  # dead letters in the fallback file (a restart counts them)
        self._replay_backoff = 0.5

    # --- lifecycle ---
    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="ingest-writer", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 30.0) -> None:
        """Flush what is queued (to InfluxDB or the spool) and stop."""
        if self._thread:
            self._queue.put(_STOP)
            self._thread.join(timeout)
            self._thread = None

    def submit(self, envelope: Envelope) -> None:
        self._queue.put(envelope)

    def submit_point(self, point: Point) -> None:
        """A point produced by the service itself (ticket metrics, KPIs): encoded, batched and spooled like
        readings; counted apart (``service_points``), as it was never received."""
        self.counters.add(service_points=1)
        self._queue.put(Envelope(point))

    @property
    def queued(self) -> int:
        return self._queue.qsize()

    # --- loop ---
    def _run(self) -> None:
        batch: list[Envelope] = []
        deadline = 0.0
        while True:
            # Poll rather than block while a batch fills: a blocked consumer is woken (and takes the GIL) for every
            # message; polling every 10 ms takes them in bulk. Idle, it blocks (nothing to contend with).
            if batch:
                time.sleep(min(0.01, max(0.0, deadline - time.monotonic())))
                try:
                    got = self._queue.get_nowait()
                except queue.Empty:
                    got = None
            else:
                try:
                    got = self._queue.get(timeout=0.5)
                except queue.Empty:
                    got = None
            if got is _STOP:
                self._drain_into(batch)
                self._flush_safely(batch)
                return
            if got is not None:
                if not batch:
                    deadline = time.monotonic() + self.max_delay_s
                batch.append(got)
                self._drain_into(batch, limit=self.max_points)
            if batch and (len(batch) >= self.max_points or time.monotonic() >= deadline):
                self._flush_safely(batch)
                batch = []
            if not batch and len(self.spool) and time.monotonic() >= self._replay_at:
                self.replay()
            if not batch and self.fallback_waiting and time.monotonic() >= self._import_at:
                self.import_fallback()

    def _drain_into(self, batch: list[Envelope], limit: int | None = None) -> None:
        """Take what is already queued without blocking (cheap batching under load)."""
        while limit is None or len(batch) < limit:
            try:
                got = self._queue.get_nowait()
            except queue.Empty:
                return
            if got is _STOP:
                self._queue.put(_STOP)
                return
            batch.append(got)

    def _flush_safely(self, batch: list[Envelope]) -> None:
        if not batch:
            return
        try:
            self.flush(batch)
        except Exception:  # never let the writer thread die; unacked items come back from the broker
            log.exception("flush of %d items failed; they stay unacknowledged", len(batch))

    # --- flushing ---
    def flush(self, batch: list[Envelope]) -> None:
        messages = [e.item for e in batch if isinstance(e.item, DeviceMessage)]
        letters = [e.item for e in batch if isinstance(e.item, DeadLetter)]
        lines = [to_line(m) for m in messages] + [e.item.to_line() for e in batch if isinstance(e.item, Point)]
        if lines:
            self._store_lines(lines)
        if messages:
            lag = time.time() * 1000 - min(m.received_ms for m in messages)
            self.counters.set(last_write_lag_ms=round(lag, 1))
        if letters:
            self._store_dead_letters(letters)
            self.counters.add(dead_lettered=len(letters))
        for envelope in batch:
            if envelope.ack is not None:
                envelope.ack()

    def _store_lines(self, lines: list[str]) -> None:
        if len(self.spool):
            self._spool(lines)
            return
        try:
            self._write_with_retries(lines)
        except InfluxFull as err:
            log.error("InfluxDB refuses new series (%s): raise the limit in its configuration ([data] "
                      "max-values-per-tag / max-series-per-database, 0 = none; docs/operations.md); spooling %d "
                      "points until then", err, len(lines))
            self.counters.add(influx_full=1)
            self._spool(lines)
        except InfluxUnavailable as err:
            log.warning("InfluxDB unavailable (%s); spooling %d points", err, len(lines))
            self._spool(lines)

    def _spool(self, lines: list[str]) -> None:
        self.spool.append(lines)
        self.counters.add(spooled=len(lines))

    def _write_with_retries(self, lines: list[str]) -> None:
        delay = 0.1
        for attempt in range(self.retries + 1):
            try:
                rejected = self._write_bisecting(lines)
                self.counters.add(written=len(lines) - rejected)
                return
            except InfluxUnavailable as err:
                self.counters.add(write_failures=1)
                if attempt == self.retries or isinstance(err, InfluxFull):  # a limit is not lifted in a second
                    raise
                time.sleep(delay)
                delay *= 3

    def _write_bisecting(self, lines: list[str]) -> int:
        """Write; when InfluxDB refuses the batch (4xx), split it to find and dead-letter the bad points only.

        InfluxDB 1.x drops a whole batch on one field-type conflict, so without this one bad point would
        take thousands of good ones with it.
        Returns how many points were refused.
        """
        try:
            self.influx.write_lines(lines)
            return 0
        except InfluxRejected as err:
            if len(lines) == 1:
                self.counters.add(rejected_by_influx=1, dead_lettered=1)
                self._store_dead_letters([DeadLetter.of("(influxdb write)", lines[0].encode(), str(err),
                                                        int(time.time() * 1000))])
                return 1
            middle = len(lines) // 2
            return self._write_bisecting(lines[:middle]) + self._write_bisecting(lines[middle:])

    def replay(self) -> None:
        """Send spooled batches oldest first; stop at the first failure and back off."""
        for path, lines in self.spool.batches():
            try:
                rejected = self._write_bisecting(lines)
            except InfluxUnavailable as err:
                self._replay_at = time.monotonic() + self._replay_backoff
                log.info("replay paused (%s); next try in %.1f s", err, self._replay_backoff)
                self._replay_backoff = min(self._replay_backoff * 2, self.max_replay_backoff_s)
                return
            self.spool.remove(path, len(lines))
            self.counters.add(replayed=len(lines), written=len(lines) - rejected)
        self._replay_backoff = 0.5

    @property
    def fallback_file(self) -> Path:
        return self.fallback_dir / "dead-letters-fallback.jsonl"

    def _count_fallback(self) -> int:
        """Letters in the fallback file and in one left half-imported (a crash mid-import)."""
        count = 0
        for path in (self.fallback_file, self.fallback_file.with_suffix(".importing")):
            try:
                with open(path, encoding="utf-8") as handle:
                    count += sum(1 for line in handle if line.strip())
            except FileNotFoundError:
                pass
        return count

    def _store_dead_letters(self, letters: list[DeadLetter]) -> None:
        """Dead letters go to the database; if it is down, to a JSON-lines file beside the spool, imported into the
        database once it is back (``import_fallback``)."""
        try:
            self.dead_letters.add_many(letters)
        except Exception as err:  # noqa: BLE001 - any database failure
            log.error("dead-letter store failed (%s); appending %d to fallback file", err, len(letters))
            self.fallback_dir.mkdir(parents=True, exist_ok=True)
            with open(self.fallback_file, "a", encoding="utf-8") as handle:
                handle.writelines(json.dumps(letter.to_json()) + "\n" for letter in letters)
            self.fallback_waiting += len(letters)

    def import_fallback(self) -> int:
        """Move the fallback file's dead letters into the database, once: the file is renamed before reading (new
        letters start a new file meanwhile), deleted after the commit, and put back if the database is still away.
        Returns how many were imported."""
        importing = self.fallback_file.with_suffix(".importing")
        if not importing.exists():
            try:
                self.fallback_file.rename(importing)
            except FileNotFoundError:
                self.fallback_waiting = 0
                return 0
        with open(importing, encoding="utf-8") as handle:
            letters = [DeadLetter.from_json(json.loads(line)) for line in handle if line.strip()]
        try:
            self.dead_letters.add_many(letters)
        except Exception as err:  # noqa: BLE001 - still away: try again later, the letters stay on disk
            log.info("dead letters stay in the fallback file (%s); retrying in 5 s", err)
            self._import_at = time.monotonic() + 5.0
            return 0
        importing.unlink()
        self.fallback_waiting = self._count_fallback()
        log.info("imported %d dead letters from the fallback file", len(letters))
        return len(letters)
