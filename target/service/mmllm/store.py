"""Inference records: PostgreSQL first, a durable outbox while it is down, and a drainer.

Outbox order of preference: the Redis list `inference:outbox`, then an append-only JSONL file.
The drainer copies outbox records into PostgreSQL and removes them only after the commit; the
primary key (request_id) plus ON CONFLICT DO NOTHING makes replays harmless, so several app
replicas may drain the same Redis list.

An entry PostgreSQL refuses as data (a constraint or data error), or one that cannot be read as a
record at all, would block the drain forever: it goes to the table inference_dead_letters with
its error instead (keyed by request_id, so a replay is ignored there too), is counted in
inference_outbox_dead_letters_total, and the drain goes on.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import threading
import time
import uuid
from datetime import datetime
from pathlib import Path

import psycopg

from mmllm.deps import Database, RedisLink, Rejected, Unavailable
from mmllm.metrics import Metrics

log = logging.getLogger("mmllm.store")
OUTBOX_KEY = "inference:outbox"
FIELDS = {"request_id", "task", "status", "latency_ms", "image_sha256", "created_at"}
TYPES = {"task": (str,), "status": (str,), "latency_ms": (int, float, type(None)),
         "image_sha256": (str, type(None)), "created_at": (str,)}
BATCH = 500
# Free space the file outbox needs to keep records through an outage of both stores (about
# 30,000 records); below it /health reports the disk, before a record is refused for it.
MIN_FREE_BYTES = 8 * 1024 * 1024


class RecordError(Exception):
    """The record could be written neither to PostgreSQL nor to any outbox."""


class Outbox:
    def __init__(self, link: RedisLink, directory: str | Path, metrics: Metrics) -> None:
        self._link = link
        self._metrics = metrics
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
        data = (line + "\n").encode()
        with self._lock:
            fd = os.open(self._file, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
            try:
                start = os.fstat(fd).st_size
                try:
                    written = 0
                    while written < len(data):
                        written += os.write(fd, data[written:])
                    os.fsync(fd)  # the client gets a 200: the record must survive a crash
                except OSError:
                    # A full disk can take half a line: cut it off, or the next record would
                    # be glued to it and dead-lettered as unreadable.
                    os.ftruncate(fd, start)
                    raise
            finally:
                os.close(fd)
            self._file_pending += 1
        return "file"

    def check_space(self) -> dict:
        """The disk check: room for the file outbox on the data volume."""
        try:
            stat = os.statvfs(self._dir)
        except OSError as exc:
            return {"status": "fail", "error": f"disk: {self._dir} unreadable: {exc}"}
        free = stat.f_bavail * stat.f_frsize
        if free < MIN_FREE_BYTES:
            return {"status": "fail",
                    "error": f"disk nearly full: {free / 2**20:.1f} MiB free for {self._dir}, "
                             f"under the {MIN_FREE_BYTES // 2**20} MiB the outbox keeps for an "
                             "outage of PostgreSQL and Redis"}
        return {"status": "ok", "free_bytes": free}

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
            entries = [line for line in path.read_bytes().splitlines() if line.strip()]
            for start in range(0, len(entries), BATCH):
                self._store(db, entries[start : start + BATCH])
            path.unlink()
            moved += len(entries)
            with self._lock:
                self._file_pending = max(0, self._file_pending - len(entries))
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
            self._store(db, items)  # raises Unavailable: items stay in the outbox

            def remove(c, items=items):  # LREM by value: safe with concurrent drainers
                pipe = c.pipeline(transaction=False)
                for item in items:
                    pipe.lrem(OUTBOX_KEY, 1, item)
                return pipe.execute()

            try:
                self._link.call(remove)
            except Unavailable:
                break  # already committed; a later replay is ignored by ON CONFLICT
            moved += len(items)
        return moved

    def _store(self, db: Database, entries: list[bytes]) -> None:
        """Write entries to PostgreSQL in one transaction; if it refuses the batch, one by one,
        dead-lettering each entry it refuses. Raises Unavailable (then nothing is lost)."""
        records = []
        for entry in entries:
            try:
                records.append(_parse(entry))
            except ValueError as exc:
                text = entry.decode("utf-8", "backslashreplace")
                self._dead_letter(db, f"sha256:{hashlib.sha256(entry).hexdigest()}",
                                  json.dumps(text), f"unreadable outbox entry: {exc}")
        try:
            if records:
                db.insert(records, probe=True)
        except Rejected:
            for record in records:
                try:
                    db.insert([record], probe=True)
                except Rejected as exc:
                    self._dead_letter(db, str(record["request_id"]), json.dumps(record), str(exc))

    def _dead_letter(self, db: Database, key: str, payload: str, error: str) -> None:
        error = error.replace("\x00", "\\x00")  # PostgreSQL text cannot hold NUL
        if db.dead_letter(key, payload, error, probe=True):
            self._metrics.outbox_dead_letters.inc()
        log.error("Outbox entry dead-lettered: %s", error, extra={"dead_letter_id": key})


def _parse(line: bytes) -> dict:
    """An outbox entry as a record with every field and type the table needs; ValueError if not."""
    try:
        record = json.loads(line)
    except (ValueError, RecursionError) as exc:
        raise ValueError(f"not JSON: {exc}") from None
    if not isinstance(record, dict) or not FIELDS <= record.keys():
        raise ValueError(f"not a record with the fields {sorted(FIELDS)}")
    for name, types in TYPES.items():
        if not isinstance(record[name], types) or isinstance(record[name], bool):
            raise ValueError(f"field {name!r} has the wrong type")
    try:
        uuid.UUID(str(record["request_id"]))
        datetime.fromisoformat(record["created_at"])
    except ValueError as exc:
        raise ValueError(f"bad request_id or created_at: {exc}") from None
    return record


class Recorder:
    def __init__(self, db: Database, outbox: Outbox) -> None:
        self.db = db
        self.outbox = outbox
        # Why PostgreSQL, reachable, refuses to store records (a permission, a missing column):
        # records then pile up in the outbox, and /health says so. Cleared by the next write.
        self.write_error = ""

    def _refused(self, exc: BaseException) -> None:
        error = " ".join(str(exc).split())
        if error != self.write_error:
            log.error("PostgreSQL refuses inference records: %s", error)
        self.write_error = error

    def save(self, record: dict) -> str:
        """Write to PostgreSQL, or to the outbox if it is down. Returns where it went."""
        if self.db.gate.up:  # known down: skip straight to the outbox, keep latency low
            try:
                self.db.insert([record])
                self.write_error = ""
                return "postgres"
            except Unavailable:
                pass
            except Rejected as exc:  # the drain will dead-letter a refused one
                log.error("Inference record write failed, using outbox: %s", exc)
            except psycopg.Error as exc:
                log.error("Inference record write failed, using outbox: %s", exc)
                self._refused(exc)
        try:
            return self.outbox.append(record)
        except OSError as exc:
            log.error("Inference record lost: outbox write failed: %s", exc)
            raise RecordError(str(exc)) from exc

    def drain(self) -> int:
        """Called by the background monitor every second. Never raises for PostgreSQL's sake:
        the monitor's other duties (model checks, metrics) must go on while records wait."""
        if not self.db.gate.up:
            return 0
        try:
            moved = self.outbox.drain(self.db)
        except Unavailable:
            return 0
        except psycopg.Error as exc:  # reachable, but refusing writes: the records stay
            self._refused(exc)
            return 0
        if moved:
            self.write_error = ""
            log.info("Moved %d outbox records to PostgreSQL", moved, extra={"records": moved})
        return moved

    def check(self) -> dict:
        """The database check, failing too while PostgreSQL refuses to store records."""
        result = self.db.check()
        if result["status"] == "ok" and self.write_error:
            return {"status": "fail", "error": "database refuses inference records: "
                                               f"{self.write_error}"}
        return result
