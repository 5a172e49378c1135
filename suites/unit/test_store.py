"""Outbox and dependency gate behaviour, without real databases.

FakeDatabase stands in for PostgreSQL with the two behaviours the outbox relies on: a primary key
with ON CONFLICT DO NOTHING on both tables, and refusing a record as data (Rejected) or being
down (Unavailable).
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest
from mmllm.config import RedisConfig
from mmllm.deps import Gate, RedisLink, Rejected, Unavailable
from mmllm.metrics import Metrics
from mmllm.store import Outbox

from .conftest import closed_port


class FakeDatabase:
    def __init__(self, fail: bool = False,
                 refuse: Callable[[dict], str | None] = lambda record: None) -> None:
        self.rows: dict[str, dict] = {}
        self.dead_letters: dict[str, tuple[str, str]] = {}
        self.fail = fail
        self.refuse = refuse  # the error PostgreSQL would give for a record, or None
        self.gate = Gate()

    def insert(self, records: list[dict], probe: bool = False) -> None:
        if self.fail:
            raise Unavailable("database is down")
        errors = [error for error in map(self.refuse, records) if error]
        if errors:
            raise Rejected(errors[0])  # the whole transaction is rolled back
        for record in records:
            self.rows.setdefault(record["request_id"], record)  # like ON CONFLICT DO NOTHING

    def dead_letter(self, key: str, payload: str, error: str, probe: bool = False) -> bool:
        if self.fail:
            raise Unavailable("database is down")
        if key in self.dead_letters:
            return False
        self.dead_letters[key] = (payload, error)
        return True


def record() -> dict:
    return {"request_id": str(uuid.uuid4()), "task": "captioning", "status": "success",
            "latency_ms": 1.5, "image_sha256": "ab" * 32,
            "created_at": datetime.now(UTC).isoformat()}


@pytest.fixture
def metrics() -> Metrics:
    return Metrics()


@pytest.fixture
def outbox(tmp_path: Path, metrics: Metrics) -> Outbox:
    redis_down = RedisLink(RedisConfig(host="127.0.0.1", port=closed_port()), metrics)
    return Outbox(redis_down, tmp_path / "outbox", metrics)


def dead_letters_total(metrics: Metrics) -> float:
    return metrics.registry.get_sample_value("inference_outbox_dead_letters_total")


def test_file_outbox_keeps_records_until_the_database_takes_them(outbox: Outbox,
                                                                 tmp_path: Path) -> None:
    records = [record() for _ in range(3)]
    assert [outbox.append(r) for r in records] == ["file"] * 3
    assert outbox.pending() == 3
    with pytest.raises(Unavailable):
        outbox.drain(FakeDatabase(fail=True))
    assert outbox.pending() == 3  # nothing removed before a commit
    db = FakeDatabase()
    assert outbox.drain(db) == 3
    assert set(db.rows) == {r["request_id"] for r in records}
    assert outbox.pending() == 0 and not list((tmp_path / "outbox").glob("outbox-*"))


def test_unreadable_outbox_lines_are_dead_lettered(outbox: Outbox, tmp_path: Path,
                                                   metrics: Metrics) -> None:
    outbox.append(record())
    with open(tmp_path / "outbox" / "outbox.jsonl", "a") as fh:
        fh.write('{"request_id": "half a line\n')
        fh.write(json.dumps({**record(), "task": {"not": "text"}}) + "\n")
    db = FakeDatabase()
    assert outbox.drain(db) == 3 and len(db.rows) == 1
    assert len(db.dead_letters) == 2 and dead_letters_total(metrics) == 2
    errors = sorted(error for _, error in db.dead_letters.values())
    assert errors[0].startswith("unreadable outbox entry: field 'task' has the wrong type")
    assert errors[1].startswith("unreadable outbox entry: not JSON")
    assert all(key.startswith("sha256:") for key in db.dead_letters)
    assert outbox.pending() == 0


def test_a_record_postgres_refuses_goes_to_the_dead_letters_and_the_drain_goes_on(
        outbox: Outbox, metrics: Metrics) -> None:
    records = [record() for _ in range(5)]
    bad = records[2]["request_id"]
    for r in records:
        outbox.append(r)
    db = FakeDatabase(refuse=lambda r: 'new row violates check constraint "latency_ms_positive"'
                      if r["request_id"] == bad else None)
    assert outbox.drain(db) == 5
    assert set(db.rows) == {r["request_id"] for r in records} - {bad}
    payload, error = db.dead_letters[bad]
    assert json.loads(payload) == records[2] and "check constraint" in error
    assert dead_letters_total(metrics) == 1
    assert outbox.pending() == 0  # nothing blocks the outbox any more


def test_a_replayed_dead_letter_is_kept_and_counted_once(outbox: Outbox, metrics: Metrics
                                                         ) -> None:
    """A drain interrupted after the dead-letter insert replays the entry: the request id keeps
    it idempotent in both tables."""
    refused = record()
    db = FakeDatabase(refuse=lambda r: "invalid input syntax")
    for _ in range(2):
        outbox.append(refused)
        outbox.drain(db)
    assert list(db.dead_letters) == [refused["request_id"]]
    assert dead_letters_total(metrics) == 1 and db.rows == {}


def test_nothing_is_dead_lettered_while_the_database_is_down(outbox: Outbox,
                                                             metrics: Metrics) -> None:
    outbox.append(record())
    with pytest.raises(Unavailable):
        outbox.drain(FakeDatabase(fail=True, refuse=lambda r: "refused"))
    assert outbox.pending() == 1 and dead_letters_total(metrics) == 0


def test_gate_allows_one_probe_per_interval() -> None:
    gate = Gate(interval=0.2)
    assert gate.allow(probe=False)
    gate.failed("boom")
    assert not gate.allow(probe=False) and not gate.allow(probe=True)
    time.sleep(0.25)
    assert gate.allow(probe=True)
    assert not gate.allow(probe=True)  # the next probe waits for another interval
    assert gate.succeeded() and gate.allow(probe=False)


# Run in a child process: RLIMIT_FSIZE is the kernel's own way to make a write stop short and
# then fail (EFBIG), as a disk that fills mid-record does with ENOSPC.
_FULL_DISK_CHILD = """
import json, resource, signal, sys
from pathlib import Path
from mmllm.config import RedisConfig
from mmllm.deps import RedisLink
from mmllm.metrics import Metrics
from mmllm.store import Outbox

directory, port, first, second = Path(sys.argv[1]), int(sys.argv[2]), sys.argv[3], sys.argv[4]
metrics = Metrics()
outbox = Outbox(RedisLink(RedisConfig(host="127.0.0.1", port=port), metrics), directory, metrics)
outbox.append(json.loads(first))
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a failed write, not a killed process
room = (directory / "outbox.jsonl").stat().st_size + 40  # less than a record: a torn write
resource.setrlimit(resource.RLIMIT_FSIZE, (room, resource.RLIM_INFINITY))
try:
    outbox.append(json.loads(second))
    print("acknowledged")
except OSError as exc:
    print(f"refused: {exc.strerror}")
print(outbox.pending())
"""


def test_a_record_the_disk_cannot_hold_is_refused_and_leaves_no_torn_line(
        tmp_path: Path) -> None:
    import subprocess
    import sys

    first, second = record(), record()
    directory = tmp_path / "outbox"
    service = Path(__file__).resolve().parents[2] / "target" / "service"
    child = subprocess.run(
        [sys.executable, "-c", _FULL_DISK_CHILD, str(directory), str(closed_port()),
         json.dumps(first), json.dumps(second)],
        capture_output=True, text=True, timeout=60, env={"PYTHONPATH": str(service)})
    assert child.returncode == 0, child.stderr
    assert child.stdout.split("\n")[:2] == ["refused: File too large", "1"]
    lines = (directory / "outbox.jsonl").read_text().splitlines()
    assert [json.loads(line)["request_id"] for line in lines] == [first["request_id"]]
