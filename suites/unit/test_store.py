"""Outbox and dependency gate behaviour, without real databases."""

from __future__ import annotations

import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

import pytest
from mmllm.config import RedisConfig
from mmllm.deps import Gate, RedisLink, Unavailable
from mmllm.metrics import Metrics
from mmllm.store import Outbox

from .conftest import closed_port


class FakeDatabase:
    def __init__(self, fail: bool = False) -> None:
        self.rows: dict[str, dict] = {}
        self.fail = fail
        self.gate = Gate()

    def insert(self, records: list[dict], probe: bool = False) -> None:
        if self.fail:
            raise Unavailable("database is down")
        for record in records:
            self.rows.setdefault(record["request_id"], record)  # like ON CONFLICT DO NOTHING


def record() -> dict:
    return {"request_id": str(uuid.uuid4()), "task": "captioning", "status": "success",
            "latency_ms": 1.5, "image_sha256": "ab" * 32,
            "created_at": datetime.now(UTC).isoformat()}


@pytest.fixture
def outbox(tmp_path: Path) -> Outbox:
    redis_down = RedisLink(RedisConfig(host="127.0.0.1", port=closed_port()), Metrics())
    return Outbox(redis_down, tmp_path / "outbox")


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


def test_unreadable_outbox_lines_are_skipped(outbox: Outbox, tmp_path: Path) -> None:
    outbox.append(record())
    with open(tmp_path / "outbox" / "outbox.jsonl", "a") as fh:
        fh.write('{"request_id": "half a line\n')
    db = FakeDatabase()
    assert outbox.drain(db) == 1 and len(db.rows) == 1


def test_gate_allows_one_probe_per_interval() -> None:
    gate = Gate(interval=0.2)
    assert gate.allow(probe=False)
    gate.failed("boom")
    assert not gate.allow(probe=False) and not gate.allow(probe=True)
    time.sleep(0.25)
    assert gate.allow(probe=True)
    assert not gate.allow(probe=True)  # the next probe waits for another interval
    assert gate.succeeded() and gate.allow(probe=False)
