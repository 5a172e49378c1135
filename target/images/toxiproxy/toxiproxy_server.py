#!/usr/bin/env python3
"""A Toxiproxy-compatible TCP fault proxy: standard library only, one asyncio loop.

It answers the HTTP API of Shopify's toxiproxy 2.x (the one the toxiproxy clients speak) and
applies its stream toxics in user space, because this kernel has no netem:

    latency     latency, jitter (ms)        each chunk leaves `latency +/- jitter` after it arrived
    bandwidth   rate (KB/s, 1 KB = 1000 B)  paced in slices of at most 100 ms worth of data
    slow_close  delay (ms)                  the close is passed on `delay` after the source closed
    timeout     timeout (ms)                data is dropped; the link closes after `timeout`
                                            (0: never, data is dropped until the toxic goes)
    reset_peer  timeout (ms)                on the first data, wait `timeout`, then close both
                                            sockets with SO_LINGER 0 (the peers get a RST)
    limit_data  bytes                       pass `bytes` bytes, then close
    slicer      average_size, size_variation (bytes), delay (us)
                                            cut each chunk into small writes, `delay` apart
    noop        -                           pass everything through

A connection is two links (upstream: client -> server, downstream: server -> client); each link
is a chain of stages, one per toxic of its direction, joined by queues. A toxic's `toxicity` is
the probability that it acts on a link: drawn when the stage starts (connection start, toxic
added or updated). Adding, updating and removing toxics changes the chains of the open
connections too; a removed stage passes on what it held, so no data is lost or reordered.

Run: toxiproxy_server.py [-host HOST] [-port PORT] [-config proxies.json] [-seed N]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import os
import random
import signal
import socket
import struct
import sys
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote, urlsplit

VERSION = "2.12.0-gameday"
READ_SIZE = 32 * 1024  # bytes read from a socket at a time (what Go's io.Copy uses)
HIGH_WATER = 1024 * 1024  # bytes a link buffers before it stops reading its source
MAX_BODY = 8 * 1024 * 1024
HTTP_IDLE_SECONDS = 60.0
# Paced toxics (bandwidth, slicer) may run this far behind schedule before they stop catching
# up: a timer fires up to a millisecond late, and those errors must not add up.
CATCH_UP = 0.005

log = logging.getLogger("toxiproxy")

# Every toxic type and its attributes with their defaults (all integers, as in the Go server).
TOXIC_ATTRIBUTES: dict[str, dict[str, int]] = {
    "noop": {},
    "latency": {"latency": 0, "jitter": 0},
    "bandwidth": {"rate": 0},
    "slow_close": {"delay": 0},
    "timeout": {"timeout": 0},
    "reset_peer": {"timeout": 0},
    "limit_data": {"bytes": 0},
    "slicer": {"average_size": 0, "size_variation": 0, "delay": 0},
}
STREAMS = ("upstream", "downstream")


class ApiError(Exception):
    """An error the API answers with `{"error": message, "status": status}`."""

    def __init__(self, message: str, status: int) -> None:
        super().__init__(message)
        self.message = message
        self.status = status

    def body(self) -> dict[str, Any]:
        return {"error": self.message, "status": self.status}


def bad_body(detail: str) -> ApiError:
    return ApiError(f"bad request body: {detail}", 400)


def missing_field(detail: str) -> ApiError:
    return ApiError(f"missing required field: {detail}", 400)


PROXY_NOT_FOUND = ApiError("proxy not found", 404)
PROXY_EXISTS = ApiError("proxy already exists", 409)
TOXIC_NOT_FOUND = ApiError("toxic not found", 404)
TOXIC_EXISTS = ApiError("toxic already exists", 409)
INVALID_STREAM = ApiError("stream was invalid, can be either upstream or downstream", 400)
INVALID_TOXIC_TYPE = ApiError("invalid toxic type", 400)


# ---- addresses ---------------------------------------------------------------------------
def split_address(address: str) -> tuple[str, int]:
    """'host:port', '[v6]:port' or ':port' -> (host, port); ValueError when malformed."""
    host, sep, port_text = address.rpartition(":")
    if not sep or not port_text.isdigit() or int(port_text) > 65535:
        raise ValueError(f"address {address!r}: expected host:port")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    return host, int(port_text)


def format_address(sockname: tuple[Any, ...]) -> str:
    host, port = sockname[0], sockname[1]
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


async def bind_listener(listen: str) -> tuple[socket.socket, str]:
    """A listening socket for `listen` and the address it really got (port 0 resolved)."""
    try:
        host, port = split_address(listen)
    except ValueError as error:
        raise ApiError(f"listen tcp {listen}: {error}", 500) from None
    loop = asyncio.get_running_loop()
    if host in ("", "::"):
        candidates = [(socket.AF_INET6, ("::", port, 0, 0)), (socket.AF_INET, ("0.0.0.0", port))]
    else:
        try:
            infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except OSError as error:
            raise ApiError(f"listen tcp {listen}: {error}", 500) from None
        infos.sort(key=lambda info: info[0] != socket.AF_INET)  # IPv4 first, as Go does
        candidates = [(info[0], info[4]) for info in infos]
    failure: OSError | None = None
    for family, sockaddr in candidates:
        sock = socket.socket(family, socket.SOCK_STREAM)
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            if family == socket.AF_INET6 and sockaddr[0] == "::":
                sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
            sock.bind(sockaddr)
            sock.listen(128)
            sock.setblocking(False)
        except OSError as error:
            sock.close()
            failure = error
            continue
        return sock, format_address(sock.getsockname())
    raise ApiError(f"listen tcp {listen}: {failure or 'no address'}", 500)


def set_linger_zero(writer: asyncio.StreamWriter) -> None:
    """Make the next close of this socket send a RST instead of a FIN."""
    sock = writer.get_extra_info("socket")
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))


# ---- toxics ------------------------------------------------------------------------------
@dataclass
class Toxic:
    name: str
    type: str
    stream: str
    toxicity: float
    attributes: dict[str, int]

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "type": self.type, "stream": self.stream,
                "toxicity": self.toxicity, "attributes": dict(self.attributes)}


def _require_object(body: Any) -> dict[str, Any]:
    if not isinstance(body, dict):
        raise bad_body("expected a JSON object")
    return body


def _string(body: dict[str, Any], key: str, default: str) -> str:
    value = body.get(key, default)
    if value is None:
        return default
    if not isinstance(value, str):
        raise bad_body(f"field {key!r} must be a string")
    return value


def _toxicity(value: Any, default: float) -> float:
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise bad_body("field 'toxicity' must be a number")
    return float(value)


def _attributes(toxic_type: str, given: Any, base: dict[str, int]) -> dict[str, int]:
    """`base` updated with the known attributes in `given` (unknown keys are ignored)."""
    if given is None:
        return dict(base)
    if not isinstance(given, dict):
        raise bad_body("field 'attributes' must be an object")
    merged = dict(base)
    for key in TOXIC_ATTRIBUTES[toxic_type]:
        if key not in given:
            continue
        value = given[key]
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        if isinstance(value, bool) or not isinstance(value, int):
            raise bad_body(f"attribute {key!r} of a {toxic_type} toxic must be an integer")
        merged[key] = value
    return merged


def parse_new_toxic(body: Any, existing: Callable[[str], Toxic | None]) -> Toxic:
    """A toxic from a create request, checked in the order the Go server checks."""
    body = _require_object(body)
    stream = _string(body, "stream", "downstream").lower()
    toxic_type = _string(body, "type", "")
    name = _string(body, "name", "")
    toxicity = _toxicity(body.get("toxicity"), 1.0)
    if stream not in STREAMS:
        raise INVALID_STREAM
    name = name or f"{toxic_type}_{stream}"
    if toxic_type not in TOXIC_ATTRIBUTES:
        raise INVALID_TOXIC_TYPE
    if existing(name) is not None:
        raise TOXIC_EXISTS
    attributes = _attributes(toxic_type, body.get("attributes"), TOXIC_ATTRIBUTES[toxic_type])
    return Toxic(name, toxic_type, stream, toxicity, attributes)


# ---- the data path -----------------------------------------------------------------------
@dataclass
class Chunk:
    data: bytes
    stamp: float  # loop time when it entered the link (or left the previous latency)


@dataclass
class End:
    """The source closed (or a toxic closed the link); `reset` closes with a RST."""

    reset: bool = False


Item = Chunk | End


class Stage:
    """One toxic applied to one link: reads its input queue, writes to the next queue."""

    def __init__(self, link: Link, toxic: Toxic) -> None:
        self.link = link
        self.toxic = toxic
        self.input: asyncio.Queue[Item] = asyncio.Queue()
        self.output: asyncio.Queue[Item] = link.sink
        self.held: Item | None = None  # taken from the input, not yet passed on
        self.state: dict[str, int] = {}  # per connection, survives updates (limit_data)
        self.closed = False
        self.active = False
        self.task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self.active = random.random() < self.toxic.toxicity
        runner = RUNNERS[self.toxic.type] if self.active else run_noop
        attributes = dict(self.toxic.attributes)
        self.task = asyncio.get_running_loop().create_task(self._run(runner, attributes))

    async def _run(self, runner: Runner, attributes: dict[str, int]) -> None:
        try:
            await runner(self, attributes)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("toxic %s failed; closing its link", self.toxic.name)
            self.close()

    async def take(self) -> Item:
        return await self.input.get()

    def emit(self, item: Item) -> None:
        if self.closed:
            self.drop(item)
        else:
            self.output.put_nowait(item)

    def drop(self, item: Item) -> None:
        if isinstance(item, Chunk):
            self.link.release(len(item.data))

    def close(self, reset: bool = False) -> None:
        if not self.closed:
            self.closed = True
            self.output.put_nowait(End(reset))

    def interrupt(self) -> None:
        """Stop the running toxic at once; whatever it held goes on, unharmed."""
        if self.task is not None:
            self.task.cancel()
            self.task = None
        if self.held is not None:
            held, self.held = self.held, None
            if isinstance(held, End):
                self.close(held.reset)
            else:
                self.emit(held)

    def flush(self) -> None:
        """Pass on everything queued, without the toxic (the stage is being removed)."""
        while not self.input.empty():
            item = self.input.get_nowait()
            if isinstance(item, End):
                self.close(item.reset)
            else:
                self.emit(item)


Runner = Callable[[Stage, dict[str, int]], Awaitable[None]]


async def run_noop(stage: Stage, _: dict[str, int]) -> None:
    while True:
        item = await stage.take()
        if isinstance(item, End):
            stage.close(item.reset)
            return
        stage.emit(item)


async def run_latency(stage: Stage, attrs: dict[str, int]) -> None:
    loop = asyncio.get_running_loop()
    latency, jitter = attrs["latency"], attrs["jitter"]
    while True:
        item = await stage.take()
        if isinstance(item, End):
            stage.close(item.reset)
            return
        delay = latency + (random.randint(-jitter, jitter) if jitter > 0 else 0)
        wait = item.stamp + delay / 1000 - loop.time()
        if wait > 0:
            stage.held = item
            await asyncio.sleep(wait)
            stage.held = None
        item.stamp = loop.time()
        stage.emit(item)


async def run_bandwidth(stage: Stage, attrs: dict[str, int]) -> None:
    loop = asyncio.get_running_loop()
    rate = attrs["rate"]  # KB/s == bytes per millisecond
    free_at = loop.time()  # when the pipe has sent everything passed on so far
    while True:
        item = await stage.take()
        if isinstance(item, End):
            stage.close(item.reset)
            return
        if rate <= 0:
            stage.emit(item)
            continue
        data, piece = item.data, rate * 100  # at most 100 ms worth of data per write
        while data:
            part, rest = data[:piece], data[piece:]
            free_at = max(free_at, loop.time() - CATCH_UP) + len(part) / (rate * 1000)
            stage.held = Chunk(data, item.stamp)
            if free_at > loop.time():
                await asyncio.sleep(free_at - loop.time())
            stage.held = None
            stage.emit(Chunk(part, item.stamp))
            data = rest


async def run_slow_close(stage: Stage, attrs: dict[str, int]) -> None:
    while True:
        item = await stage.take()
        if isinstance(item, End):
            stage.held = item
            await asyncio.sleep(max(attrs["delay"], 0) / 1000)
            stage.held = None
            stage.close(item.reset)
            return
        stage.emit(item)


async def run_timeout(stage: Stage, attrs: dict[str, int]) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + attrs["timeout"] / 1000 if attrs["timeout"] > 0 else None
    while True:
        try:
            async with asyncio.timeout_at(deadline):
                item = await stage.take()
        except TimeoutError:
            stage.close()
            return
        if isinstance(item, End):
            stage.close(item.reset)
            return
        stage.drop(item)  # data never gets through


async def run_reset_peer(stage: Stage, attrs: dict[str, int]) -> None:
    item = await stage.take()  # the timer starts with the first data (or the close)
    stage.drop(item)
    await asyncio.sleep(max(attrs["timeout"], 0) / 1000)
    stage.close(reset=True)


async def run_limit_data(stage: Stage, attrs: dict[str, int]) -> None:
    limit = attrs["bytes"]
    while True:
        item = await stage.take()
        if isinstance(item, End):
            stage.close(item.reset)
            return
        sent = stage.state.get("sent", 0)
        allowed = item.data[: max(limit - sent, 0)]
        if len(allowed) < len(item.data):
            stage.link.release(len(item.data) - len(allowed))
        if allowed:
            stage.emit(Chunk(allowed, item.stamp))
            stage.state["sent"] = sent = sent + len(allowed)
        if sent >= limit:
            stage.close()
            return


def slice_sizes(length: int, average: int, variation: int) -> list[int]:
    """Sizes that add up to `length`: halve near the middle (+/- variation) until a piece is
    no more than `variation` above `average` (so no bias towards small first or last pieces)."""
    if length <= max(average, 0) + max(variation, 0) or length <= 1:
        return [length]
    offset = random.randint(-variation, variation) if variation > 0 else 0
    middle = min(max(length // 2 + offset, 1), length - 1)
    return slice_sizes(middle, average, variation) + slice_sizes(length - middle, average,
                                                                 variation)


async def run_slicer(stage: Stage, attrs: dict[str, int]) -> None:
    loop = asyncio.get_running_loop()
    average, variation = max(attrs["average_size"], 1), max(attrs["size_variation"], 0)
    delay = max(attrs["delay"], 0) / 1_000_000
    due = loop.time()  # when the last slice may leave
    while True:
        item = await stage.take()
        if isinstance(item, End):
            stage.close(item.reset)
            return
        data = item.data
        due = max(due, loop.time() - CATCH_UP)
        for size in slice_sizes(len(data), average, variation):
            part, data = data[:size], data[size:]
            stage.emit(Chunk(part, item.stamp))
            due += delay
            if due > loop.time():
                stage.held = Chunk(data, item.stamp) if data else None
                await asyncio.sleep(due - loop.time())
                stage.held = None


RUNNERS: dict[str, Runner] = {
    "noop": run_noop,
    "latency": run_latency,
    "bandwidth": run_bandwidth,
    "slow_close": run_slow_close,
    "timeout": run_timeout,
    "reset_peer": run_reset_peer,
    "limit_data": run_limit_data,
    "slicer": run_slicer,
}


class Link:
    """One direction of a connection: source socket -> stages -> destination socket."""

    def __init__(self, connection: Connection, direction: str) -> None:
        self.connection = connection
        self.direction = direction
        self.sink: asyncio.Queue[Item] = asyncio.Queue()
        self.entry: asyncio.Queue[Item] = self.sink
        self.stages: list[Stage] = []
        self.buffered = 0
        self.space = asyncio.Event()
        self.space.set()
        self.finished = False

    def release(self, size: int) -> None:
        self.buffered -= size
        if self.buffered <= HIGH_WATER // 2:
            self.space.set()

    def add(self, toxic: Toxic) -> None:
        stage = Stage(self, toxic)
        if self.stages:
            self.stages[-1].output = stage.input
        else:
            self.entry = stage.input
        self.stages.append(stage)
        stage.start()

    def _find(self, name: str) -> int:
        return next(i for i, stage in enumerate(self.stages) if stage.toxic.name == name)

    def update(self, toxic: Toxic) -> None:
        stage = self.stages[self._find(toxic.name)]
        stage.toxic = toxic
        if not stage.closed:
            stage.interrupt()  # restarts with the new attributes and a new toxicity draw
        if not stage.closed:
            stage.start()

    def remove(self, name: str) -> None:
        index = self._find(name)
        stage = self.stages[index]
        if stage.closed:
            if stage.task is not None:
                stage.task.cancel()
            while not stage.input.empty():
                stage.drop(stage.input.get_nowait())
        else:
            stage.interrupt()
            if stage.active and stage.toxic.type == "timeout":
                stage.close()  # as in toxiproxy: removing a timeout toxic closes its links
            stage.flush()
        if index:
            self.stages[index - 1].output = stage.output
        else:
            self.entry = stage.output
        del self.stages[index]

    async def pump_in(self, reader: asyncio.StreamReader) -> None:
        loop = asyncio.get_running_loop()
        with contextlib.suppress(ConnectionError, OSError):
            while True:
                data = await reader.read(READ_SIZE)
                if not data:
                    break
                self.buffered += len(data)
                self.entry.put_nowait(Chunk(data, loop.time()))
                while self.buffered > HIGH_WATER:
                    self.space.clear()
                    await self.space.wait()
        self.entry.put_nowait(End())

    async def pump_out(self, writer: asyncio.StreamWriter) -> None:
        reset = False
        try:
            while True:
                item = await self.sink.get()
                if isinstance(item, End):
                    reset = item.reset
                    break
                writer.write(item.data)
                await writer.drain()
                self.release(len(item.data))
        except (ConnectionError, OSError):
            pass
        finally:
            self.finished = True
            self.connection.close_side(writer, reset)
            self.connection.link_finished()

    def cancel(self) -> None:
        for stage in self.stages:
            if stage.task is not None:
                stage.task.cancel()


class Connection:
    """A client and its upstream socket, joined by an upstream and a downstream link."""

    def __init__(self, proxy: Proxy, client: tuple[asyncio.StreamReader, asyncio.StreamWriter],
                 upstream: tuple[asyncio.StreamReader, asyncio.StreamWriter]) -> None:
        self.proxy = proxy
        self.client_reader, self.client_writer = client
        self.upstream_reader, self.upstream_writer = upstream
        self.links = {"upstream": Link(self, "upstream"), "downstream": Link(self, "downstream")}
        self.tasks: list[asyncio.Task[None]] = []
        self.closed = False

    def start(self, toxics: list[Toxic]) -> None:
        for toxic in toxics:
            self.links[toxic.stream].add(toxic)
        up, down = self.links["upstream"], self.links["downstream"]
        loop = asyncio.get_running_loop()
        self.tasks = [
            loop.create_task(up.pump_in(self.client_reader)),
            loop.create_task(up.pump_out(self.upstream_writer)),
            loop.create_task(down.pump_in(self.upstream_reader)),
            loop.create_task(down.pump_out(self.client_writer)),
        ]

    def close_side(self, writer: asyncio.StreamWriter, reset: bool) -> None:
        if reset:  # like SO_LINGER 0 on both sockets of the link in toxiproxy
            set_linger_zero(self.client_writer)
            set_linger_zero(self.upstream_writer)
            writer.transport.abort()
        elif not writer.transport.is_closing():
            writer.close()

    def link_finished(self) -> None:
        if all(link.finished for link in self.links.values()):
            self.close()

    def close(self) -> None:
        """Drop both sockets and stop every task of this connection."""
        if self.closed:
            return
        self.closed = True
        self.proxy.connections.discard(self)
        for writer in (self.client_writer, self.upstream_writer):
            writer.transport.abort()
        current = asyncio.current_task()
        for task in self.tasks:
            if task is not current:
                task.cancel()
        for link in self.links.values():
            link.cancel()


# ---- proxies -----------------------------------------------------------------------------
class Proxy:
    def __init__(self, name: str, listen: str, upstream: str) -> None:
        self.name = name
        self.listen = listen
        self.upstream = upstream
        self.enabled = False
        self.toxics: list[Toxic] = []
        self.connections: set[Connection] = set()
        self.server: asyncio.Server | None = None

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "listen": self.listen, "upstream": self.upstream,
                "enabled": self.enabled, "toxics": [t.to_json() for t in self.ordered_toxics()]}

    def ordered_toxics(self) -> list[Toxic]:
        """Upstream toxics first, then downstream ones, each in the order they were added."""
        return sorted(self.toxics, key=lambda toxic: STREAMS.index(toxic.stream))

    def find_toxic(self, name: str) -> Toxic | None:
        return next((toxic for toxic in self.toxics if toxic.name == name), None)

    async def start(self) -> None:
        if self.enabled:
            return
        sock, resolved = await bind_listener(self.listen)
        self.server = await asyncio.start_server(self._accept, sock=sock)
        self.listen = resolved
        self.enabled = True
        log.info("started proxy %s listen=%s upstream=%s", self.name, self.listen, self.upstream)

    def stop(self) -> None:
        if not self.enabled:
            return
        self.enabled = False
        if self.server is not None:
            self.server.close()
            self.server = None
        for connection in list(self.connections):
            connection.close()
        log.info("stopped proxy %s", self.name)

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        server = self.server
        try:
            host, port = split_address(self.upstream)
            upstream = await asyncio.open_connection(host, port)
        except (OSError, ValueError) as error:
            log.warning("proxy %s: upstream %s unreachable: %s", self.name, self.upstream, error)
            writer.transport.abort()
            return
        if not self.enabled or self.server is not server:  # stopped while we dialled
            writer.transport.abort()
            upstream[1].transport.abort()
            return
        connection = Connection(self, (reader, writer), upstream)
        self.connections.add(connection)
        connection.start(self.ordered_toxics())

    def add_toxic(self, toxic: Toxic) -> None:
        self.toxics.append(toxic)
        for connection in list(self.connections):
            connection.links[toxic.stream].add(toxic)

    def update_toxic(self, toxic: Toxic) -> None:
        self.toxics = [toxic if t.name == toxic.name else t for t in self.toxics]
        for connection in list(self.connections):
            connection.links[toxic.stream].update(toxic)

    def remove_toxic(self, toxic: Toxic) -> None:
        self.toxics = [t for t in self.toxics if t.name != toxic.name]
        for connection in list(self.connections):
            connection.links[toxic.stream].remove(toxic.name)


def _proxy_fields(body: Any, where: str = "") -> tuple[str, str, str, bool | None]:
    body = _require_object(body)
    name = _string(body, "name", "")
    listen = _string(body, "listen", "") or "127.0.0.1:0"
    upstream = _string(body, "upstream", "")
    enabled = body.get("enabled")
    if enabled is not None and not isinstance(enabled, bool):
        raise bad_body("field 'enabled' must be a boolean")
    if not name:
        raise missing_field(f"name{where}")
    if not upstream:
        raise missing_field(f"upstream{where}")
    return name, listen, upstream, enabled


# ---- the HTTP API ------------------------------------------------------------------------
@dataclass
class Response:
    status: int
    body: Any = None
    content_type: str = "application/json"
    headers: dict[str, str] = field(default_factory=dict)


REASONS = {200: "OK", 201: "Created", 204: "No Content", 400: "Bad Request", 403: "Forbidden",
           404: "Not Found", 405: "Method Not Allowed", 409: "Conflict",
           413: "Payload Too Large", 500: "Internal Server Error"}


def decode(body: bytes) -> Any:
    if not body.strip():
        raise bad_body("EOF")
    try:
        return json.loads(body)
    except (ValueError, UnicodeDecodeError) as error:
        raise bad_body(str(error)) from None


class Api:
    def __init__(self) -> None:
        self.proxies: dict[str, Proxy] = {}
        self.lock = asyncio.Lock()

    # -- proxies
    def get_proxy(self, name: str) -> Proxy:
        proxy = self.proxies.get(name)
        if proxy is None:
            raise PROXY_NOT_FOUND
        return proxy

    async def create_proxy(self, body: Any) -> Response:
        name, listen, upstream, enabled = _proxy_fields(body)
        if name in self.proxies:
            raise PROXY_EXISTS
        proxy = Proxy(name, listen, upstream)
        if enabled is not False:
            await proxy.start()
        self.proxies[name] = proxy
        return Response(201, proxy.to_json())

    async def update_proxy(self, proxy: Proxy, body: Any) -> Response:
        body = _require_object(body)
        listen = _string(body, "listen", proxy.listen)
        upstream = _string(body, "upstream", proxy.upstream)
        enabled = body.get("enabled", proxy.enabled)
        if not isinstance(enabled, bool):
            raise bad_body("field 'enabled' must be a boolean")
        if listen != proxy.listen or upstream != proxy.upstream:
            proxy.stop()  # moving a proxy drops its connections
            proxy.listen, proxy.upstream = listen, upstream
        if enabled:
            await proxy.start()
        else:
            proxy.stop()
        return Response(200, proxy.to_json())

    def delete_proxy(self, proxy: Proxy) -> Response:
        proxy.stop()
        del self.proxies[proxy.name]
        return Response(204)

    async def reset(self) -> Response:
        for proxy in self.proxies.values():
            await proxy.start()
            for toxic in list(proxy.toxics):
                proxy.remove_toxic(toxic)
        return Response(204)

    async def populate(self, body: Any) -> tuple[list[Proxy], ApiError | None]:
        """Create or replace the listed proxies; a proxy whose listen and upstream are unchanged
        is left alone. Everything is checked before anything changes."""
        if not isinstance(body, list):
            raise bad_body("expected a JSON array of proxies")
        wanted: list[tuple[str, str, str, bool]] = []
        for number, entry in enumerate(body, start=1):
            name, listen, upstream, enabled = _proxy_fields(entry, f" at proxy {number}")
            if any(name == other[0] for other in wanted):
                raise bad_body(f"duplicate proxy name {name!r}")
            wanted.append((name, listen, upstream, enabled is not False))
        done: list[Proxy] = []
        for name, listen, upstream, enabled in wanted:
            existing = self.proxies.get(name)
            if existing is not None:
                if existing.listen == listen and existing.upstream == upstream:
                    done.append(existing)
                    continue
                existing.stop()
                del self.proxies[name]
            proxy = Proxy(name, listen, upstream)
            try:
                if enabled:
                    await proxy.start()
            except ApiError as error:
                return done, error
            self.proxies[name] = proxy
            done.append(proxy)
        return done, None

    # -- toxics
    def get_toxic(self, proxy: Proxy, name: str) -> Toxic:
        toxic = proxy.find_toxic(name)
        if toxic is None:
            raise TOXIC_NOT_FOUND
        return toxic

    def create_toxic(self, proxy: Proxy, body: Any) -> Response:
        toxic = parse_new_toxic(body, proxy.find_toxic)
        proxy.add_toxic(toxic)
        log.info("proxy %s: added toxic %s", proxy.name, toxic.to_json())
        return Response(200, toxic.to_json())

    def update_toxic(self, proxy: Proxy, name: str, body: Any) -> Response:
        toxic = self.get_toxic(proxy, name)
        body = _require_object(body)
        updated = Toxic(toxic.name, toxic.type, toxic.stream,
                        _toxicity(body.get("toxicity"), toxic.toxicity),
                        _attributes(toxic.type, body.get("attributes"), toxic.attributes))
        proxy.update_toxic(updated)
        log.info("proxy %s: updated toxic %s", proxy.name, updated.to_json())
        return Response(200, updated.to_json())

    def delete_toxic(self, proxy: Proxy, name: str) -> Response:
        proxy.remove_toxic(self.get_toxic(proxy, name))
        log.info("proxy %s: removed toxic %s", proxy.name, name)
        return Response(204)

    # -- routing
    async def dispatch(self, method: str, path: str, body: bytes) -> Response:
        parts = [unquote(part) for part in path.strip("/").split("/")] if path.strip("/") else []
        if method == "PATCH":
            method = "POST"  # PATCH is the newer spelling of the update endpoints
        async with self.lock:
            try:
                return await self._route(method, parts, body)
            except ApiError as error:
                return Response(error.status, error.body())

    async def _route(self, method: str, parts: list[str], body: bytes) -> Response:
        match parts:
            case ["version"]:
                self._allow(method, "GET")
                return Response(200, {"version": VERSION})
            case ["reset"]:
                self._allow(method, "POST")
                return await self.reset()
            case ["populate"]:
                self._allow(method, "POST")
                proxies, error = await self.populate(decode(body))
                payload: dict[str, Any] = error.body() if error else {}
                payload["proxies"] = [proxy.to_json() for proxy in proxies]
                return Response(error.status if error else 201, payload)
            case ["proxies"]:
                self._allow(method, "GET", "POST")
                if method == "GET":
                    return Response(200, {n: p.to_json() for n, p in self.proxies.items()})
                return await self.create_proxy(decode(body))
            case ["proxies", name]:
                self._allow(method, "GET", "POST", "DELETE")
                proxy = self.get_proxy(name)
                if method == "GET":
                    return Response(200, proxy.to_json())
                if method == "DELETE":
                    return self.delete_proxy(proxy)
                return await self.update_proxy(proxy, decode(body))
            case ["proxies", name, "toxics"]:
                self._allow(method, "GET", "POST")
                proxy = self.get_proxy(name)
                if method == "GET":
                    return Response(200, [t.to_json() for t in proxy.ordered_toxics()])
                return self.create_toxic(proxy, decode(body))
            case ["proxies", name, "toxics", toxic_name]:
                self._allow(method, "GET", "POST", "DELETE")
                proxy = self.get_proxy(name)
                if method == "GET":
                    return Response(200, self.get_toxic(proxy, toxic_name).to_json())
                if method == "DELETE":
                    return self.delete_toxic(proxy, toxic_name)
                return self.update_toxic(proxy, toxic_name, decode(body))
        raise ApiError("404 page not found", 404)

    @staticmethod
    def _allow(method: str, *allowed: str) -> None:
        if method not in allowed:
            raise ApiError(f"method {method} not allowed", 405)

    # -- HTTP/1.1 on asyncio streams
    async def handle_http(self, reader: asyncio.StreamReader,
                          writer: asyncio.StreamWriter) -> None:
        try:
            while await self._one_request(reader, writer):
                pass
        except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, ConnectionError,
                TimeoutError, ValueError):
            pass
        finally:
            writer.close()

    async def _one_request(self, reader: asyncio.StreamReader,
                           writer: asyncio.StreamWriter) -> bool:
        async with asyncio.timeout(HTTP_IDLE_SECONDS):
            line = await reader.readline()
        if not line.strip():
            return False
        method, target, version = line.decode("latin-1").split()
        headers: dict[str, str] = {}
        while True:
            header = await reader.readline()
            if header in (b"\r\n", b"\n", b""):
                break
            key, _, value = header.decode("latin-1").partition(":")
            headers[key.strip().lower()] = value.strip()
        body = b""
        if headers.get("expect", "").lower() == "100-continue":
            writer.write(b"HTTP/1.1 100 Continue\r\n\r\n")
        if headers.get("transfer-encoding", "").lower() == "chunked":
            body = await self._read_chunked(reader)
        elif "content-length" in headers:
            length = int(headers["content-length"])
            if length > MAX_BODY:
                await self._respond(writer, Response(413, ApiError("body too large", 413).body()),
                                    keep_alive=False)
                return False
            body = await reader.readexactly(length)
        connection = headers.get("connection", "").lower()
        keep_alive = connection != "close" if version == "HTTP/1.1" else connection == "keep-alive"
        if headers.get("user-agent", "").startswith("Mozilla/"):
            response = Response(403, "User agent not allowed\n", "text/plain; charset=utf-8")
        else:
            response = await self.dispatch(method.upper(), urlsplit(target).path, body)
        if response.status >= 400:
            log.info("%s %s -> %d", method, target, response.status)
        await self._respond(writer, response, keep_alive)
        return keep_alive

    @staticmethod
    async def _read_chunked(reader: asyncio.StreamReader) -> bytes:
        body = bytearray()
        while True:
            size = int((await reader.readline()).split(b";")[0].strip() or b"0", 16)
            if size == 0:
                while (await reader.readline()) not in (b"\r\n", b"\n", b""):
                    pass
                return bytes(body)
            body += await reader.readexactly(size)
            await reader.readline()
            if len(body) > MAX_BODY:
                raise ValueError("body too large")

    @staticmethod
    async def _respond(writer: asyncio.StreamWriter, response: Response, keep_alive: bool) -> None:
        if response.body is None:
            payload = b""
        elif isinstance(response.body, str):
            payload = response.body.encode()
        else:
            payload = json.dumps(response.body).encode() + b"\n"
        lines = [f"HTTP/1.1 {response.status} {REASONS.get(response.status, 'Unknown')}"]
        if response.status != 204:
            lines += [f"Content-Type: {response.content_type}", f"Content-Length: {len(payload)}"]
        lines += [f"{key}: {value}" for key, value in response.headers.items()]
        lines.append(f"Connection: {'keep-alive' if keep_alive else 'close'}")
        writer.write(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + payload)
        await writer.drain()

    async def populate_file(self, path: str) -> None:
        try:
            with open(path, encoding="utf-8") as handle:
                body = json.load(handle)
        except (OSError, ValueError) as error:
            log.error("config %s unreadable: %s", path, error)
            return
        async with self.lock:
            try:
                proxies, error = await self.populate(body)
            except ApiError as failure:
                proxies, error = [], failure
        if error is not None:
            log.error("populating from %s failed: %s", path, error.message)
        log.info("populated %d proxies from %s", len(proxies), path)

    def shutdown(self) -> None:
        for proxy in self.proxies.values():
            proxy.stop()


async def serve(host: str, port: int, config: str | None) -> None:
    api = Api()
    if config:
        await api.populate_file(config)
    server = await asyncio.start_server(api.handle_http, host or None, port,
                                        reuse_address=True)
    addresses = ", ".join(format_address(s.getsockname()) for s in server.sockets)
    log.info("Starting Toxiproxy HTTP server on %s (version %s)", addresses, VERSION)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    try:
        await stop.wait()
    finally:
        server.close()
        api.shutdown()
    log.info("stopped")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0], allow_abbrev=False)
    parser.add_argument("-host", "--host", default="localhost",
                        help="host for the API to listen on (default localhost)")
    parser.add_argument("-port", "--port", type=int, default=8474,
                        help="port for the API to listen on (default 8474)")
    parser.add_argument("-config", "--config", default="",
                        help="JSON file with a list of proxies to create at start")
    parser.add_argument("-seed", "--seed", type=int, default=None,
                        help="seed for toxicity, jitter and slicer randomness")
    args = parser.parse_args(argv)
    level = getattr(logging, os.environ.get("LOG_LEVEL", "INFO").upper(), logging.INFO)
    logging.basicConfig(level=level if isinstance(level, int) else logging.INFO,
                        stream=sys.stderr, format="%(asctime)s %(levelname)s %(message)s")
    if args.seed is not None:
        random.seed(args.seed)
    asyncio.run(serve(args.host, args.port, args.config or None))
    return 0


if __name__ == "__main__":
    sys.exit(main())
