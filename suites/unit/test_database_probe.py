"""The database health probe (mmllm.deps.Database.check) against a server that accepts TCP
connections and never answers, as a hung or partitioned PostgreSQL does: every check fails
within its bound and names the database, concurrent checks share one probe (one connection
attempt), and the failed attempt is counted for DatabaseConnectionFailure."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest
from mmllm.config import PostgresConfig
from mmllm.deps import Database
from mmllm.metrics import Metrics


class SilentServer:
    """Accepts connections, reads nothing, answers nothing; counts what it accepted."""

    def __init__(self) -> None:
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.accepted: list[socket.socket] = []
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.accepted.append(conn)

    def close(self) -> None:
        self.sock.close()
        for conn in self.accepted:
            conn.close()


@pytest.fixture
def silent() -> Iterator[SilentServer]:
    server = SilentServer()
    yield server
    server.close()


def failed_attempts(metrics: Metrics) -> float:
    return metrics.registry.get_sample_value("db_connections_failed_total") or 0.0


def test_a_hung_database_fails_the_check_within_its_bound(silent: SilentServer) -> None:
    metrics = Metrics()
    db = Database(PostgresConfig(host="127.0.0.1", port=silent.port, password="x",
                                 connect_timeout_seconds=2.0), metrics)
    try:
        started = time.monotonic()
        result = db.check()
        took = time.monotonic() - started
        assert result["status"] == "fail" and "database unavailable" in result["error"]
        assert took < 3.5, f"the check took {took:.1f}s"  # op timeout: 2 s connect + 1 s
        assert failed_attempts(metrics) == 1  # DatabaseConnectionFailure counts these
    finally:
        db.close()


def test_concurrent_checks_share_one_probe(silent: SilentServer) -> None:
    metrics = Metrics()
    db = Database(PostgresConfig(host="127.0.0.1", port=silent.port, password="x",
                                 connect_timeout_seconds=2.0), metrics)
    try:
        with ThreadPoolExecutor(max_workers=6) as pool:
            results = list(pool.map(lambda _: db.check(), range(6)))
        assert all(r["status"] == "fail" for r in results)
        assert len(silent.accepted) == 1, "each check opened its own connection"
    finally:
        db.close()
