"""External dependencies: PostgreSQL, Redis and the container's memory limit.

Both network dependencies sit behind a Gate: while a dependency is down, request handlers fail
fast instead of waiting on timeouts, and only probes (background monitor, /health) may try to
reconnect, at most once per RETRY_SECONDS.
"""

from __future__ import annotations

import logging
import math
import os
import socket
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar

import psycopg
import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from mmllm.config import PostgresConfig, RedisConfig
from mmllm.metrics import Metrics

log = logging.getLogger("mmllm.deps")
T = TypeVar("T")
RETRY_SECONDS = 1.0

SCHEMA = ("""
CREATE TABLE IF NOT EXISTS inference_records (
    request_id uuid PRIMARY KEY,
    task text NOT NULL,
    status text NOT NULL,
    latency_ms double precision,
    image_sha256 text,
    created_at timestamptz NOT NULL DEFAULT now()
)""", """
CREATE TABLE IF NOT EXISTS inference_dead_letters (
    id text PRIMARY KEY,  -- the record's request_id, or sha256:<hash> of an unreadable entry
    payload text NOT NULL,  -- the outbox entry, as JSON
    error text NOT NULL,
    failed_at timestamptz NOT NULL DEFAULT now()
)""")
INSERT = """
INSERT INTO inference_records (request_id, task, status, latency_ms, image_sha256, created_at)
VALUES (%(request_id)s, %(task)s, %(status)s, %(latency_ms)s, %(image_sha256)s, %(created_at)s)
ON CONFLICT (request_id) DO NOTHING"""
DEAD_LETTER = """
INSERT INTO inference_dead_letters (id, payload, error) VALUES (%s, %s, %s)
ON CONFLICT (id) DO NOTHING"""


class Unavailable(Exception):
    """A dependency is down (or known to be down); the message says why."""


class Rejected(Exception):
    """PostgreSQL refused the data itself (a constraint or data error): a retry cannot help."""


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split()) or type(exc).__name__


class Gate:
    """Up/down state of a dependency; while down, lets one probe through per interval."""

    def __init__(self, interval: float = RETRY_SECONDS) -> None:
        self.up = True
        self.error = ""
        self._interval = interval
        self._last_try = -math.inf
        self._lock = threading.Lock()

    def allow(self, probe: bool) -> bool:
        with self._lock:
            if self.up:
                return True
            now = time.monotonic()
            if not probe or now - self._last_try < self._interval:
                return False
            self._last_try = now  # this caller is the probe; others keep failing fast
            return True

    def failed(self, error: str) -> bool:
        """Record a failure; True if the dependency was up until now."""
        with self._lock:
            was_up, self.up, self.error = self.up, False, error
            self._last_try = time.monotonic()
            return was_up

    def succeeded(self) -> bool:
        """Record a success; True if the dependency was down until now."""
        with self._lock:
            was_down, self.up, self.error = not self.up, True, ""
            return was_down


class Database:
    """A small PostgreSQL connection pool with fail-fast behaviour while the database is down."""

    def __init__(self, cfg: PostgresConfig, metrics: Metrics, pool_size: int = 8) -> None:
        self._cfg = cfg
        self._metrics = metrics
        self.gate = Gate()
        self._idle: list[psycopg.Connection] = []
        self._lock = threading.Lock()
        self._slots = threading.BoundedSemaphore(pool_size)
        self._workers = ThreadPoolExecutor(max_workers=pool_size, thread_name_prefix="db")
        # Health probes have their own connection and thread: behind a queue of slow inference
        # writes they would report the queue, not the database. Concurrent probes share one.
        self._prober = ThreadPoolExecutor(max_workers=1, thread_name_prefix="db-probe")
        self._probe: Future[None] | None = None
        self._probe_deadline = 0.0  # when the probe in flight has taken too long
        self._probe_conn: psycopg.Connection | None = None
        # Connecting may take connect_timeout; allow one more second for the query itself.
        self._op_timeout = max(2, math.ceil(cfg.connect_timeout_seconds)) + 1.0

    def _connect(self, create_schema: bool = True) -> psycopg.Connection:
        cfg = self._cfg
        timeout_ms = int(cfg.connect_timeout_seconds * 1000)
        conn = psycopg.connect(
            host=cfg.host, port=cfg.port, user=cfg.user, password=cfg.password,
            dbname=cfg.database, application_name="mmllm", autocommit=True,
            connect_timeout=max(2, math.ceil(cfg.connect_timeout_seconds)),  # libpq minimum: 2
            # Bound queries and dead peers too, not just connecting (a partition would otherwise
            # hang a request until the kernel gives up on the TCP connection).
            options=f"-c statement_timeout={max(timeout_ms, 1000)}",
            tcp_user_timeout=max(timeout_ms, 1000), keepalives=1, keepalives_idle=5,
            keepalives_interval=2, keepalives_count=2,
        )
        if create_schema:  # also recreates the tables if the database came back empty
            _create_schema(conn)
        return conn

    def _down(self, exc: BaseException, attempt: bool) -> None:
        error = _one_line(exc)
        self.gate.failed(error)
        with self._lock:
            stale, self._idle = self._idle, []
        for conn in stale:
            conn.close()
        if attempt:
            self._metrics.db_connections_failed.inc()
        self._metrics.dependency_up.labels("postgres").set(0)
        log.error("Database connection error: %s", error,
                  extra={"postgres_host": self._cfg.host, "postgres_port": self._cfg.port})

    def _take(self, probe: bool) -> psycopg.Connection:
        if not self.gate.allow(probe):
            raise Unavailable(self.gate.error or "database is down")
        with self._lock:
            if self._idle:
                return self._idle.pop()
        try:
            return self._connect()
        except psycopg.Error as exc:
            self._down(exc, attempt=True)
            raise Unavailable(_one_line(exc)) from exc

    def _up(self) -> None:
        if self.gate.succeeded():
            log.info("Database connection restored", extra={"postgres_host": self._cfg.host})
        self._metrics.dependency_up.labels("postgres").set(1)

    @contextmanager
    def connection(self, probe: bool = False) -> Iterator[psycopg.Connection]:
        """A pooled connection; raises Unavailable (never hangs) when the database is down."""
        if not self._slots.acquire(timeout=1.0):
            raise Unavailable("all database connections are busy")
        try:
            conn = self._take(probe)
            try:
                yield conn
            except (psycopg.OperationalError, psycopg.InterfaceError) as exc:
                conn.close()
                self._down(exc, attempt=False)
                raise Unavailable(_one_line(exc)) from exc
            except BaseException:
                conn.close()
                raise
            self._up()
            with self._lock:
                self._idle.append(conn)
        finally:
            self._slots.release()

    def _bounded(self, operation: Callable[[psycopg.Connection], T], probe: bool) -> T:
        """Run `operation` on a pooled connection, waiting at most _op_timeout for it.

        A paused server never answers, yet its kernel still ACKs TCP, so neither socket nor
        server-side timeouts fire; the caller stops waiting and the worker finishes later.
        """
        def run() -> T:
            with self.connection(probe) as conn:
                return operation(conn)

        future = self._workers.submit(run)
        try:
            return future.result(timeout=self._op_timeout)
        except FutureTimeout:
            error = TimeoutError(f"no answer from the database within {self._op_timeout:.0f} s")
            self._down(error, attempt=False)
            raise Unavailable(str(error)) from None

    def insert(self, records: list[dict], probe: bool = False) -> None:
        """Insert records in one transaction; duplicates (same request_id) are ignored.
        Raises Rejected, and writes none of them, if PostgreSQL refuses one as data."""

        def write(conn: psycopg.Connection) -> str:
            try:
                try:
                    self._write(conn, records)
                except psycopg.errors.UndefinedTable:
                    _create_schema(conn)  # table dropped while we were running
                    self._write(conn, records)
            except (psycopg.DataError, psycopg.IntegrityError) as exc:
                return _one_line(exc)
            return ""

        error = self._bounded(write, probe)
        if error:
            raise Rejected(error)

    def dead_letter(self, key: str, payload: str, error: str, probe: bool = False) -> bool:
        """Keep an outbox entry PostgreSQL refused; False if `key` was kept before (a replay)."""

        def write(conn: psycopg.Connection) -> bool:
            try:
                return conn.execute(DEAD_LETTER, (key, payload, error)).rowcount == 1
            except psycopg.errors.UndefinedTable:
                _create_schema(conn)
                return conn.execute(DEAD_LETTER, (key, payload, error)).rowcount == 1

        return self._bounded(write, probe)

    @staticmethod
    def _write(conn: psycopg.Connection, records: list[dict]) -> None:
        # Outbox records went through JSON: restore the column types explicitly.
        rows = [{**r, "request_id": uuid.UUID(str(r["request_id"])),
                 "created_at": datetime.fromisoformat(r["created_at"])} for r in records]
        with conn.transaction(), conn.cursor() as cur:
            cur.executemany(INSERT, rows)

    def _ping(self) -> None:
        """SELECT 1 on the probe's own connection (reconnecting at most once per interval)."""
        if not self.gate.allow(probe=True):
            raise Unavailable(self.gate.error or "database is down")
        conn, connected = self._probe_conn, False
        try:
            if conn is None or conn.closed:
                connected = True  # a failed connect is a failed connection attempt: counted
                # No schema queries: libpq's connect_timeout bounds the whole connect, while a
                # query on a server that hangs would hold the probe before it can be aborted.
                conn = self._connect(create_schema=False)
                self._probe_conn = conn
            conn.execute("SELECT 1")
        except psycopg.Error as exc:
            if conn is not None:
                conn.close()
            self._probe_conn = None
            self._down(exc, attempt=connected)
            raise Unavailable(_one_line(exc)) from exc
        self._up()

    def check(self) -> dict[str, Any]:
        started = time.perf_counter()
        with self._lock:
            if self._probe is None or self._probe.done():
                self._probe = self._prober.submit(self._ping)
                self._probe_deadline = time.monotonic() + self._op_timeout
            probe, deadline = self._probe, self._probe_deadline
        try:
            # A check that joins a probe in flight waits only for what is left of its time.
            probe.result(timeout=max(0.0, deadline - time.monotonic()))
        except FutureTimeout:
            error = f"no answer from the database within {self._op_timeout:.0f} s"
            self._abort_probe()
            self._down(TimeoutError(error), attempt=False)
            return {"status": "fail", "error": f"database unavailable: {error}"}
        except (Unavailable, psycopg.Error) as exc:
            return {"status": "fail", "error": f"database unavailable: {_one_line(exc)}"}
        return {"status": "ok", "latency_ms": round((time.perf_counter() - started) * 1000, 2)}

    def _abort_probe(self) -> None:
        """Cut the probe's connection: a server that ACKs but never answers (paused, or a link
        that drops data without closing) would hold SELECT 1, and with it every later probe and
        reconnection attempt, until TCP gives up. The probe then fails and the next reconnects."""
        conn = self._probe_conn
        if conn is None or conn.closed:
            return
        try:
            with socket.socket(fileno=os.dup(conn.pgconn.socket)) as sock:
                sock.shutdown(socket.SHUT_RDWR)
        except (OSError, psycopg.Error):
            pass  # already closed: the probe is failing by itself

    def close(self) -> None:
        self._workers.shutdown(wait=False, cancel_futures=True)
        self._prober.shutdown(wait=False, cancel_futures=True)
        with self._lock:
            idle, self._idle = self._idle, []
        for conn in idle:
            conn.close()


def _create_schema(conn: psycopg.Connection) -> None:
    for statement in SCHEMA:
        try:
            conn.execute(statement)
        except psycopg.errors.UniqueViolation:
            pass  # another connection created it concurrently


class RedisLink:
    """A Redis client behind a Gate; every command goes through call()."""

    def __init__(self, cfg: RedisConfig, metrics: Metrics) -> None:
        self._cfg = cfg
        self._metrics = metrics
        self.gate = Gate()
        # No retries: a down Redis must cost one fast failure, not several slow ones.
        self.client = redis.Redis(host=cfg.host, port=cfg.port, socket_connect_timeout=1.0,
                                  socket_timeout=1.0, retry=Retry(NoBackoff(), 0))

    def call(self, command: Callable[[redis.Redis], Any], probe: bool = False) -> Any:
        if not self.gate.allow(probe):
            raise Unavailable(self.gate.error or "redis is down")
        try:
            result = command(self.client)
        except (redis.ConnectionError, redis.TimeoutError) as exc:
            if self.gate.failed(_one_line(exc)):
                log.error("Redis connection error: %s", _one_line(exc),
                          extra={"redis_host": self._cfg.host, "redis_port": self._cfg.port})
            self._metrics.dependency_up.labels("redis").set(0)
            raise Unavailable(_one_line(exc)) from exc
        except redis.RedisError as exc:  # e.g. OOM or MISCONF: Redis is up but refuses writes
            raise Unavailable(_one_line(exc)) from exc
        if self.gate.succeeded():
            log.info("Redis connection restored", extra={"redis_host": self._cfg.host})
        self._metrics.dependency_up.labels("redis").set(1)
        return result

    def check(self) -> dict[str, Any]:
        started = time.perf_counter()
        try:
            self.call(lambda c: c.ping(), probe=True)
        except Unavailable as exc:
            return {"status": "fail", "error": f"redis unavailable: {exc}"}
        return {"status": "ok", "latency_ms": round((time.perf_counter() - started) * 1000, 2)}


class ResultCache:
    """Inference results in Redis with a TTL; silently skipped while Redis is down."""

    def __init__(self, link: RedisLink, ttl_seconds: int) -> None:
        self._link = link
        self._ttl = ttl_seconds

    def get(self, key: str) -> str | None:
        try:
            value = self._link.call(lambda c: c.get(key))
        except Unavailable:
            return None
        return value.decode() if value is not None else None

    def set(self, key: str, value: str) -> None:
        try:
            self._link.call(lambda c: c.set(key, value, ex=self._ttl))
        except Unavailable:
            pass


def process_rss_bytes() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    return 0


def cgroup_memory_limit() -> int:
    """The container memory limit in bytes (cgroup v2, then v1); 0 if there is none."""
    for path in ("/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory/memory.limit_in_bytes"):
        try:
            text = Path(path).read_text().strip()
        except OSError:
            continue
        if text == "max" or not text.isdigit() or int(text) >= 1 << 60:  # v1 "no limit" is huge
            return 0
        return int(text)
    return 0
