"""Inference records: PostgreSQL first, a durable outbox while it is down, and a drainer.

Outbox order of preference: the Redis list `inference:outbox`, then an append-only JSONL file.
The drainer copies outbox records into PostgreSQL and removes them only after the commit; the
primary key (request_id) plus ON CONFLICT DO NOTHING makes replays harmless, so several app
replicas may drain the same Redis list.
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time
import uuid
from datetime import datetime
from pathlib import Path

import psycopg

from mmllm.deps import Database, RedisLink, Unavailable

log = logging.getLogger("mmllm.store")
OUTBOX_KEY = "inference:outbox"
FIELDS = {"request_id", "task", "status", "latency_ms", "image_sha256", "created_at"}
BATCH = 500


class RecordError(Exception):
    """The record could be written neither to PostgreSQL nor to any outbox."""


class Outbox:
    def __init__(self, link: RedisLink, directory: str | Path) -> None:
        self._link = link
        self._dir = Path(directory)
        self._file = self._dir / "outbox.jsonl"
        self._lock = threading.Lock()
        self._redis_pending = 0
        try:
            self._dir.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            log.warning("Outbox directory %s unavailable: %s", self._dir, exc)
        self._file_pending = sum(self._count(p) for p in self._files())

    def _files(self) -> list[Path]:
        draining = sorted(self._dir.glob("outbox-*.draining"))
        return draining + ([self._file] if self._file.exists() else [])

    @staticmethod
    def _count(path: Path) -> int:
        with open(path, "rb") as fh:
            return sum(1 for line in fh if line.strip())

    def append(self, record: dict) -> str:
        """Store a record durably; returns 'redis' or 'file'. Raises OSError if both fail."""
        line = json.dumps(record, separators=(",", ":"))
        try:
            self._link.call(lambda c: c.rpush(OUTBOX_KEY, line))
            return "redis"
        except Unavailable:
            pass
        with self._lock, open(self._file, "a", encoding="utf-8") as fh:
            fh.write(line + "\n")
            fh.flush()
            os.fsync(fh.fileno())  # the client gets a 200: the record must survive a crash
            self._file_pending += 1
        return "file"

    def pending(self) -> int:
        try:
            self._redis_pending = self._link.call(lambda c: c.llen(OUTBOX_KEY))
        except Unavailable:
            pass  # keep the last known length
        return self._redis_pending + self._file_pending

    def drain(self, db: Database) -> int:
        """Move outbox records into PostgreSQL; raises Unavailable if the database fails."""
        return self._drain_files(db) + self._drain_redis(db)

    def _drain_files(self, db: Database) -> int:
        with self._lock:
            # Rotate so new appends go to a fresh file while we work on this one.
            if self._file.exists() and self._file.stat().st_size:
                self._file.rename(self._dir / f"outbox-{time.time_ns()}.draining")
        moved = 0
        for path in sorted(self._dir.glob("outbox-*.draining")):
            records = [r for r in map(_parse, path.read_bytes().splitlines()) if r is not None]
            for start in range(0, len(records), BATCH):
                db.insert(records[start : start + BATCH], probe=True)
            path.unlink()
            moved += len(records)
            with self._lock:
                self._file_pending = max(0, self._file_pending - len(records))
        return moved

    def _drain_redis(self, db: Database, max_batches: int = 20) -> int:
        moved = 0
        for _ in range(max_batches):  # bounded work per tick
            try:
                items = self._link.call(lambda c: c.lrange(OUTBOX_KEY, 0, BATCH - 1))
            except Unavailable:
                break
            if not items:
                break
            records = [r for r in map(_parse, items) if r is not None]
            if records:
                db.insert(records, probe=True)  # raises Unavailable: items stay in the outbox

            def remove(c, items=items):  # LREM by value: safe with concurrent drainers
                pipe = c.pipeline(transaction=False)
                for item in items:
                    pipe.lrem(OUTBOX_KEY, 1, item)
                return pipe.execute()

            try:
                self._link.call(remove)
            except Unavailable:
                break  # already committed; a later replay is ignored by ON CONFLICT
            moved += len(records)
        return moved


def _parse(line: bytes) -> dict | None:
    line = line.strip()
    if not line:
        return None
    try:
        record = json.loads(line)
        if isinstance(record, dict) and FIELDS <= record.keys():
            uuid.UUID(str(record["request_id"]))
            datetime.fromisoformat(record["created_at"])
            return record
    except (ValueError, TypeError):
        pass
    log.error("Dropping unreadable outbox entry: %r", line[:200])
    return None


class Recorder:
    def __init__(self, db: Database, outbox: Outbox) -> None:
        self.db = db
        self.outbox = outbox

    def save(self, record: dict) -> str:
        """Write to PostgreSQL, or to the outbox if it is down. Returns where it went."""
        if self.db.gate.up:  # known down: skip straight to the outbox, keep latency low
            try:
                self.db.insert([record])
                return "postgres"
            except Unavailable:
                pass
            except psycopg.Error as exc:
                log.error("Inference record write failed, using outbox: %s", exc)
        try:
            return self.outbox.append(record)
        except OSError as exc:
            log.error("Inference record lost: outbox write failed: %s", exc)
            raise RecordError(str(exc)) from exc

    def drain(self) -> int:
        """Called by the background monitor every second."""
        if not self.db.gate.up:
            return 0
        try:
            moved = self.outbox.drain(self.db)
        except Unavailable:
            return 0
        if moved:
            log.info("Moved %d outbox records to PostgreSQL", moved, extra={"records": moved})
        return moved
