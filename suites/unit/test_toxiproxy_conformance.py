"""The project's Toxiproxy server speaks the official API and its toxics really act on a link.

Every test drives the server through the toxiproxy-python client (raw HTTP only where the
client has no call) and measures the toxics on a real TCP echo link on 127.0.0.1. The same
tests run against the official server when TOXIPROXY_IMAGE names an image Docker can pull;
otherwise that variant is skipped with the reason.

Time tolerances are wide for a noisy 2-core machine, yet every bound excludes the toxic
being a no-op (a plain proxied round trip takes well under a millisecond here).
"""

from __future__ import annotations

import os
import shutil
import socket
import socketserver
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from toxiproxy import Toxiproxy
from toxiproxy.api import APIConsumer
from toxiproxy.exceptions import InvalidToxic, NotFound, ProxyExists
from toxiproxy.proxy import Proxy

pytestmark = pytest.mark.unit

SERVER = (Path(__file__).resolve().parents[2] / "target" / "images" / "toxiproxy"
          / "toxiproxy_server.py")
PROJECT_LABEL = "io.gameday.project=gameday"  # so a sweep removes a leftover official container
PING = b"ping-0123456789abcdef"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# ---- the echo upstream ---------------------------------------------------------------------
class EchoServer(socketserver.ThreadingTCPServer):
    """Echoes every byte back; remembers when each chunk arrived (monotonic clock)."""

    daemon_threads = True
    allow_reuse_address = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), EchoHandler)
        self.lock = threading.Lock()
        self.arrivals: list[tuple[float, int]] = []

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.server_address[1]}"

    def record(self, size: int) -> None:
        with self.lock:
            self.arrivals.append((time.monotonic(), size))

    def clear(self) -> None:
        with self.lock:
            self.arrivals.clear()

    def first_arrival(self, timeout: float = 3.0) -> float:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self.lock:
                if self.arrivals:
                    return self.arrivals[0][0]
            time.sleep(0.001)
        raise AssertionError("the echo server received nothing")

    def received(self) -> int:
        with self.lock:
            return sum(size for _, size in self.arrivals)


class EchoHandler(socketserver.BaseRequestHandler):
    server: EchoServer

    def handle(self) -> None:
        try:
            while data := self.request.recv(65536):
                self.server.record(len(data))
                self.request.sendall(data)
        except OSError:
            pass


@pytest.fixture(scope="module")
def echo() -> Iterator[EchoServer]:
    server = EchoServer()
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server
    server.shutdown()
    server.server_close()


# ---- the server under test -----------------------------------------------------------------
@dataclass(frozen=True)
class Server:
    kind: str
    port: int

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


def wait_ready(server: Server, alive: Callable[[], bool], timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not alive():
            raise RuntimeError(f"the {server.kind} toxiproxy server exited at start")
        try:
            if httpx.get(f"{server.url}/version", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            time.sleep(0.05)
    raise TimeoutError(f"the {server.kind} toxiproxy server did not answer in {timeout:.0f}s")


def _project_server(tmp: Path) -> Iterator[Server]:
    server = Server("project", free_port())
    log = (tmp / "toxiproxy.log").open("wb")
    process = subprocess.Popen(
        [sys.executable, str(SERVER), "-host", "127.0.0.1", "-port", str(server.port)],
        stdout=log, stderr=subprocess.STDOUT)
    try:
        wait_ready(server, lambda: process.poll() is None)
        yield server
    finally:
        process.terminate()
        try:
            process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=5)
        log.close()


def _official_server() -> Iterator[Server]:
    image = os.environ.get("TOXIPROXY_IMAGE", "")
    if not image:
        pytest.skip("TOXIPROXY_IMAGE is unset: no official toxiproxy image to compare with")
    docker = shutil.which("docker")
    if docker is None:
        pytest.skip(f"TOXIPROXY_IMAGE={image} but there is no docker CLI")
    present = subprocess.run([docker, "image", "inspect", image], capture_output=True)
    if present.returncode:
        pulled = subprocess.run([docker, "pull", image], capture_output=True, text=True,
                                timeout=300)
        if pulled.returncode:
            reason = (pulled.stderr.strip().splitlines() or ["no output"])[-1]
            pytest.skip(f"TOXIPROXY_IMAGE={image} cannot be pulled: {reason}")
    server = Server("official", free_port())
    started = subprocess.run(
        [docker, "run", "-d", "--rm", "--network", "host", "--label", PROJECT_LABEL, image,
         "-host=127.0.0.1", f"-port={server.port}"],
        capture_output=True, text=True, timeout=60)
    if started.returncode:
        pytest.fail(f"docker run {image} failed: {started.stderr.strip()}")
    container = started.stdout.strip()

    def alive() -> bool:
        state = subprocess.run([docker, "inspect", "-f", "{{.State.Running}}", container],
                               capture_output=True, text=True)
        return state.stdout.strip() == "true"

    try:
        wait_ready(server, alive)
        yield server
    finally:
        subprocess.run([docker, "rm", "-f", container], capture_output=True, timeout=60)


@pytest.fixture(scope="module", params=["project", "official"])
def toxiproxy_server(request: pytest.FixtureRequest,
                     tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    if request.param == "project":
        yield from _project_server(tmp_path_factory.mktemp("toxiproxy"))
    else:
        yield from _official_server()


@pytest.fixture
def toxi(toxiproxy_server: Server) -> Iterator[Toxiproxy]:
    """The client, pointed at the server under test; every proxy is removed afterwards."""
    client = Toxiproxy()
    client.update_api_consumer("127.0.0.1", toxiproxy_server.port)
    yield client
    base = toxiproxy_server.url
    httpx.post(f"{base}/reset", timeout=5)
    for name in httpx.get(f"{base}/proxies", timeout=5).json():
        httpx.delete(f"{base}/proxies/{name}", timeout=5)


# ---- helpers ---------------------------------------------------------------------------------
def port_of(proxy: Proxy) -> int:
    return int(proxy.listen.rsplit(":", 1)[1])


def connect(proxy: Proxy, timeout: float = 3.0) -> socket.socket:
    return socket.create_connection(("127.0.0.1", port_of(proxy)), timeout=timeout)


def round_trip(sock: socket.socket, payload: bytes = PING) -> float:
    """Seconds from sending `payload` to having all of it back."""
    started = time.monotonic()
    sock.sendall(payload)
    got = b""
    while len(got) < len(payload):
        part = sock.recv(65536)
        assert part, f"closed after {len(got)} of {len(payload)} bytes"
        got += part
    assert got == payload
    return time.monotonic() - started


def median_rtt(sock: socket.socket, samples: int = 7) -> float:
    return statistics.median(round_trip(sock) for _ in range(samples))


def read_until_closed(sock: socket.socket, limit: float = 3.0) -> tuple[bytes, int, str]:
    """(data, number of reads, 'eof' or 'reset') once the proxy closes the connection."""
    sock.settimeout(limit)
    chunks: list[bytes] = []
    while True:
        try:
            part = sock.recv(65536)
        except ConnectionResetError:
            return b"".join(chunks), len(chunks), "reset"
        if not part:
            return b"".join(chunks), len(chunks), "eof"
        chunks.append(part)


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.1f} ms"


# ---- the API ---------------------------------------------------------------------------------
def test_create_list_get_delete(toxi: Toxiproxy, toxiproxy_server: Server,
                                echo: EchoServer) -> None:
    proxy = toxi.create(upstream=echo.address, name="crud")
    host, port = proxy.listen.rsplit(":", 1)
    assert host == "127.0.0.1" and int(port) > 0, "127.0.0.1:0 resolves to the real port"
    assert proxy.enabled is True and proxy.upstream == echo.address
    assert set(toxi.proxies()) == {"crud"}
    assert toxi.get_proxy("crud").listen == proxy.listen
    shown = httpx.get(f"{toxiproxy_server.url}/proxies/crud").json()
    assert {key: shown[key] for key in ("name", "listen", "upstream", "enabled", "toxics")} == {
        "name": "crud", "listen": proxy.listen, "upstream": echo.address, "enabled": True,
        "toxics": []}
    with connect(proxy) as sock:
        assert round_trip(sock) < 1
    assert proxy.destroy() is True
    assert toxi.proxies() == {}
    with pytest.raises(NotFound):
        proxy.destroy()
    with pytest.raises(ConnectionRefusedError):
        connect(proxy).close()


def test_disable_closes_connections_and_enable_restores(toxi: Toxiproxy,
                                                        echo: EchoServer) -> None:
    proxy = toxi.create(upstream=echo.address, name="switch")
    sock = connect(proxy)
    round_trip(sock)
    proxy.disable()
    assert toxi.get_proxy("switch").enabled is False
    data, _, how = read_until_closed(sock)
    sock.close()
    assert data == b"" and how in ("eof", "reset"), "disabling drops open connections"
    with pytest.raises(ConnectionRefusedError):
        connect(proxy).close()
    proxy.enable()
    assert toxi.get_proxy("switch").enabled is True
    assert toxi.get_proxy("switch").listen == proxy.listen, "re-enabled on the same port"
    with connect(proxy) as sock:
        assert round_trip(sock) < 1


def test_update_moves_the_proxy(toxi: Toxiproxy, toxiproxy_server: Server,
                                echo: EchoServer) -> None:
    proxy = toxi.create(upstream=echo.address, name="mover")
    sock = connect(proxy)
    round_trip(sock)
    new_listen = f"127.0.0.1:{free_port()}"
    response = httpx.post(f"{toxiproxy_server.url}/proxies/mover",
                          json={"listen": new_listen, "upstream": echo.address})
    assert response.status_code == 200
    assert response.json()["listen"] == new_listen and response.json()["enabled"] is True
    data, _, _ = read_until_closed(sock)
    sock.close()
    assert data == b"", "changing listen restarts the proxy and drops its connections"
    with socket.create_connection(("127.0.0.1", int(new_listen.rsplit(":", 1)[1])), 3) as moved:
        assert round_trip(moved) < 1


def test_errors_map_to_the_client_exceptions(toxi: Toxiproxy, toxiproxy_server: Server,
                                             echo: EchoServer) -> None:
    base = toxiproxy_server.url
    proxy = toxi.create(upstream=echo.address, name="errors")
    with pytest.raises(ProxyExists):  # 409 from the server (the client's create checks first)
        APIConsumer.post("/proxies", json={"name": "errors", "upstream": echo.address,
                                           "listen": "127.0.0.1:0"})
    proxy.add_toxic(type="latency", attributes={"latency": 1})
    with pytest.raises(ProxyExists):  # 409: toxic latency_downstream already exists
        proxy.add_toxic(type="latency", attributes={"latency": 2})
    with pytest.raises(InvalidToxic):  # 400: unknown type
        proxy.add_toxic(type="no_such_toxic")
    with pytest.raises(InvalidToxic):  # 400: bad stream
        proxy.add_toxic(type="latency", stream="sideways", name="sideways")
    with pytest.raises(NotFound):
        proxy.destroy_toxic("no_such_toxic")
    with pytest.raises(NotFound):
        APIConsumer.get("/proxies/no_such_proxy")
    with pytest.raises(NotFound):
        APIConsumer.post("/proxies/no_such_proxy/toxics", json={"type": "latency"})

    bad_json = httpx.post(f"{base}/proxies", content=b"{not json")
    assert bad_json.status_code == 400
    assert bad_json.json()["status"] == 400 and bad_json.json()["error"]
    missing = httpx.post(f"{base}/proxies", json={"name": "no_upstream"})
    assert missing.status_code == 400 and "upstream" in missing.json()["error"]
    assert httpx.get(f"{base}/proxies/nope").json() == {"error": "proxy not found",
                                                         "status": 404}
    assert httpx.get(f"{base}/proxies/errors/toxics/nope").json() == {
        "error": "toxic not found", "status": 404}
    conflict = httpx.post(f"{base}/proxies/errors/toxics",
                          json={"type": "latency", "attributes": {"latency": 1}})
    assert conflict.json() == {"error": "toxic already exists", "status": 409}
    bad_type = httpx.post(f"{base}/proxies/errors/toxics", json={"type": "no_such_toxic"})
    assert bad_type.json() == {"error": "invalid toxic type", "status": 400}


def test_toxic_create_list_get_update_delete(toxi: Toxiproxy, toxiproxy_server: Server,
                                             echo: EchoServer) -> None:
    base = f"{toxiproxy_server.url}/proxies/toxics_crud/toxics"
    proxy = toxi.create(upstream=echo.address, name="toxics_crud")
    proxy.add_toxic(type="latency", attributes={"latency": 50, "jitter": 5})
    proxy.add_toxic(type="limit_data", stream="upstream", name="cap", toxicity=0.5,
                    attributes={"bytes": 10})
    toxics = proxy.toxics()
    assert set(toxics) == {"latency_downstream", "cap"}, "default name is <type>_<stream>"
    latency = toxics["latency_downstream"]
    assert (latency.type, latency.stream, latency.toxicity) == ("latency", "downstream", 1)
    assert latency.attributes == {"latency": 50, "jitter": 5}
    assert [toxic["name"] for toxic in httpx.get(base).json()] == ["cap", "latency_downstream"]
    assert httpx.get(f"{base}/cap").json() == {
        "name": "cap", "type": "limit_data", "stream": "upstream", "toxicity": 0.5,
        "attributes": {"bytes": 10}}

    updated = httpx.post(f"{base}/latency_downstream", json={"attributes": {"latency": 80}})
    assert updated.status_code == 200
    assert updated.json()["attributes"] == {"latency": 80, "jitter": 5}, "partial update"
    assert updated.json()["toxicity"] == 1
    updated = httpx.post(f"{base}/latency_downstream", json={"toxicity": 0.25})
    assert updated.json()["toxicity"] == 0.25
    assert updated.json()["attributes"] == {"latency": 80, "jitter": 5}
    shown = httpx.get(f"{toxiproxy_server.url}/proxies/toxics_crud").json()
    assert {toxic["name"] for toxic in shown["toxics"]} == {"cap", "latency_downstream"}

    assert proxy.destroy_toxic("cap") is True
    assert set(proxy.toxics()) == {"latency_downstream"}
    with pytest.raises(NotFound):
        proxy.destroy_toxic("cap")


def test_reset_enables_proxies_and_removes_toxics(toxi: Toxiproxy, echo: EchoServer) -> None:
    proxy = toxi.create(upstream=echo.address, name="resettable")
    proxy.add_toxic(type="latency", attributes={"latency": 500})
    proxy.add_toxic(type="timeout", stream="upstream", attributes={"timeout": 0})
    proxy.disable()
    assert toxi.reset() is True
    again = toxi.get_proxy("resettable")
    assert again.enabled is True and again.toxics() == {}
    with connect(proxy) as sock:
        assert median_rtt(sock, 3) < 0.2


def test_populate_creates_keeps_and_replaces(toxi: Toxiproxy, toxiproxy_server: Server,
                                             echo: EchoServer) -> None:
    url = f"{toxiproxy_server.url}/populate"
    listen_a, listen_b = f"127.0.0.1:{free_port()}", f"127.0.0.1:{free_port()}"
    wanted = [{"name": "pop_a", "listen": listen_a, "upstream": echo.address},
              {"name": "pop_b", "listen": listen_b, "upstream": echo.address,
               "enabled": False}]
    created = httpx.post(url, json=wanted)
    assert created.status_code == 201
    proxies = {proxy["name"]: proxy for proxy in created.json()["proxies"]}
    assert proxies["pop_a"]["listen"] == listen_a and proxies["pop_a"]["enabled"] is True
    assert proxies["pop_b"]["enabled"] is False
    assert set(toxi.proxies()) == {"pop_a", "pop_b"}

    with socket.create_connection(("127.0.0.1", int(listen_a.rsplit(":", 1)[1])), 3) as sock:
        round_trip(sock)
        again = httpx.post(url, json=wanted)
        assert again.status_code == 201
        round_trip(sock)  # an unchanged proxy is left alone: its connection survives

    elsewhere = f"127.0.0.1:{free_port()}"
    replaced = httpx.post(url, json=[{"name": "pop_b", "listen": listen_b,
                                      "upstream": elsewhere}])
    assert replaced.status_code == 201
    assert replaced.json()["proxies"][0]["upstream"] == elsewhere
    assert toxi.get_proxy("pop_b").upstream == elsewhere and toxi.get_proxy("pop_b").enabled

    assert httpx.post(url, json=[{"name": "no_upstream"}]).status_code == 400
    assert httpx.post(url, content=b"not json").status_code == 400
    assert set(toxi.proxies()) == {"pop_a", "pop_b"}, "a rejected populate changes nothing"


def test_version(toxi: Toxiproxy, toxiproxy_server: Server) -> None:
    assert toxi.running() is True
    assert toxi.version()
    response = httpx.get(f"{toxiproxy_server.url}/version")
    assert response.status_code == 200 and response.json()["version"]


# ---- the toxics on a real link ---------------------------------------------------------------
def test_latency_adds_the_stated_delay(toxi: Toxiproxy, echo: EchoServer) -> None:
    proxy = toxi.create(upstream=echo.address, name="slow")
    with connect(proxy) as sock:
        baseline = median_rtt(sock)
    proxy.add_toxic(type="latency", attributes={"latency": 100})
    with connect(proxy) as sock:
        delayed = median_rtt(sock)
    print(f"latency 100 ms: baseline {ms(baseline)}, median round trip {ms(delayed)}")
    assert baseline < 0.02
    assert 0.075 <= delayed <= 0.125, f"median {ms(delayed)}, want 100 +- 25 ms"


def test_latency_jitter_stays_in_bounds_and_varies(toxi: Toxiproxy, echo: EchoServer) -> None:
    proxy = toxi.create(upstream=echo.address, name="jittery")
    proxy.add_toxic(type="latency", attributes={"latency": 100, "jitter": 40})
    with connect(proxy) as sock:
        samples = [round_trip(sock) for _ in range(12)]
    low, high, middle = min(samples), max(samples), statistics.median(samples)
    print(f"latency 100 +- 40 ms: min {ms(low)}, median {ms(middle)}, max {ms(high)}")
    assert low >= 0.055 and high <= 0.19, "every round trip within 100 +- 40 ms (+ slack)"
    assert 0.07 <= middle <= 0.13
    assert high - low >= 0.02, "jitter varies the delay"


def test_stream_direction_latency(toxi: Toxiproxy, echo: EchoServer) -> None:
    """upstream delays client -> server (the echo sees the request late); downstream delays
    server -> client (the echo sees it at once, the client gets the answer late)."""
    proxy = toxi.create(upstream=echo.address, name="direction")
    figures: dict[str, tuple[float, float]] = {}
    for stream in ("upstream", "downstream"):
        proxy.add_toxic(type="latency", stream=stream, attributes={"latency": 100})
        arrivals, rtts = [], []
        with connect(proxy) as sock:
            for _ in range(5):
                echo.clear()
                started = time.monotonic()
                rtts.append(round_trip(sock))
                arrivals.append(echo.first_arrival() - started)
        proxy.destroy_toxic(f"latency_{stream}")
        figures[stream] = (statistics.median(arrivals), statistics.median(rtts))
    print("latency 100 ms by stream (echo arrival, round trip): "
          + ", ".join(f"{s} {ms(a)} / {ms(r)}" for s, (a, r) in figures.items()))
    up_arrival, up_rtt = figures["upstream"]
    down_arrival, down_rtt = figures["downstream"]
    assert 0.075 <= up_arrival <= 0.125 and 0.075 <= up_rtt <= 0.13
    assert down_arrival <= 0.03 and 0.075 <= down_rtt <= 0.125


def test_bandwidth_caps_throughput(toxi: Toxiproxy, echo: EchoServer) -> None:
    proxy = toxi.create(upstream=echo.address, name="narrow")
    proxy.add_toxic(type="bandwidth", attributes={"rate": 100})  # KB/s
    payload = os.urandom(50_000)
    with connect(proxy) as sock:
        elapsed = round_trip(sock, payload)
    rate = len(payload) / 1000 / elapsed
    print(f"bandwidth 100 KB/s: 50 kB in {ms(elapsed)} = {rate:.0f} KB/s")
    assert 0.4 <= elapsed <= 1.0, f"{rate:.0f} KB/s, want about 100 (50-125)"


def test_timeout_stops_data_and_closes_after_the_timeout(toxi: Toxiproxy,
                                                         echo: EchoServer) -> None:
    proxy = toxi.create(upstream=echo.address, name="stall")
    proxy.add_toxic(type="timeout", attributes={"timeout": 300})
    echo.clear()
    started = time.monotonic()
    with connect(proxy) as sock:
        sock.sendall(PING)
        data, _, how = read_until_closed(sock)
    elapsed = time.monotonic() - started
    print(f"timeout 300 ms: closed ({how}) after {ms(elapsed)} with {len(data)} bytes")
    assert data == b"", "no data gets through"
    assert 0.25 <= elapsed <= 1.0, f"closed after {ms(elapsed)}, want about 300 ms"
    assert echo.received() == len(PING), "the upstream direction is untouched"


def test_timeout_zero_holds_the_connection_open(toxi: Toxiproxy, echo: EchoServer) -> None:
    proxy = toxi.create(upstream=echo.address, name="hold")
    proxy.add_toxic(type="timeout", attributes={"timeout": 0})
    echo.clear()
    with connect(proxy) as sock:
        sock.sendall(PING)
        sock.settimeout(0.6)
        with pytest.raises(TimeoutError):  # neither data nor a close
            sock.recv(65536)
    assert echo.received() == len(PING)


def test_reset_peer_resets_the_connection(toxi: Toxiproxy, echo: EchoServer) -> None:
    proxy = toxi.create(upstream=echo.address, name="rst")
    proxy.add_toxic(type="reset_peer", attributes={"timeout": 200})
    with connect(proxy) as sock:
        started = time.monotonic()
        sock.sendall(PING)
        with pytest.raises(ConnectionResetError):
            sock.settimeout(3)
            while sock.recv(65536):
                pass
        elapsed = time.monotonic() - started
    print(f"reset_peer 200 ms: ConnectionResetError after {ms(elapsed)}")
    assert 0.15 <= elapsed <= 1.0


def test_slow_close_delays_the_close(toxi: Toxiproxy, echo: EchoServer) -> None:
    proxy = toxi.create(upstream=echo.address, name="lingering")
    timings = {}
    for delay in (0, 400):
        if delay:
            proxy.add_toxic(type="slow_close", attributes={"delay": delay})
        with connect(proxy) as sock:
            assert round_trip(sock) < 0.1, "data is not delayed"
            started = time.monotonic()
            sock.shutdown(socket.SHUT_WR)  # the echo closes in turn; its close comes back
            _, _, how = read_until_closed(sock)
            timings[delay] = time.monotonic() - started
        assert how == "eof"
    print(f"slow_close 400 ms: close seen after {ms(timings[400])} "
          f"(without the toxic {ms(timings[0])})")
    assert timings[0] < 0.2
    assert 0.35 <= timings[400] <= 1.2


def test_limit_data_closes_after_n_bytes(toxi: Toxiproxy, echo: EchoServer) -> None:
    proxy = toxi.create(upstream=echo.address, name="capped")
    proxy.add_toxic(type="limit_data", attributes={"bytes": 1000})
    payload = os.urandom(3000)
    with connect(proxy) as sock:
        sock.sendall(payload)
        data, _, how = read_until_closed(sock)
    print(f"limit_data 1000 B: received {len(data)} bytes, then {how}")
    assert data == payload[:1000] and how == "eof"


def test_stream_direction_limit_data(toxi: Toxiproxy, echo: EchoServer) -> None:
    """An upstream limit cuts what the server receives, not just what the client sees."""
    proxy = toxi.create(upstream=echo.address, name="capped_up")
    proxy.add_toxic(type="limit_data", stream="upstream", attributes={"bytes": 100})
    echo.clear()
    with connect(proxy) as sock:
        sock.sendall(os.urandom(300))
        data, _, how = read_until_closed(sock)
    time.sleep(0.2)
    assert len(data) <= 100 and how in ("eof", "reset")
    assert echo.received() == 100


def test_slicer_splits_data_into_several_reads(toxi: Toxiproxy, echo: EchoServer) -> None:
    proxy = toxi.create(upstream=echo.address, name="sliced")
    payload = os.urandom(200)
    reads = {}
    for sliced in (False, True):
        if sliced:
            proxy.add_toxic(type="slicer", attributes={
                "average_size": 10, "size_variation": 4, "delay": 3000})  # delay in us
        with connect(proxy) as sock:
            sock.sendall(payload)
            got, count = b"", 0
            while len(got) < len(payload):
                part = sock.recv(65536)
                assert part
                got, count = got + part, count + 1
        assert got == payload
        reads[sliced] = count
    print(f"slicer 10 +- 4 B every 3 ms: 200 bytes in {reads[True]} reads "
          f"(without it {reads[False]})")
    assert reads[True] >= 5


def test_toxicity_zero_means_no_effect(toxi: Toxiproxy, toxiproxy_server: Server,
                                      echo: EchoServer) -> None:
    proxy = toxi.create(upstream=echo.address, name="lucky")
    proxy.add_toxic(type="latency", toxicity=0.0, attributes={"latency": 300})
    for _ in range(3):  # toxicity is drawn per connection: none of them is affected
        with connect(proxy) as sock:
            assert median_rtt(sock, 3) < 0.1
    httpx.post(f"{toxiproxy_server.url}/proxies/lucky/toxics/latency_downstream",
               json={"toxicity": 1.0})
    with connect(proxy) as sock:
        assert median_rtt(sock, 3) >= 0.25


def test_toxics_change_open_connections(toxi: Toxiproxy, toxiproxy_server: Server,
                                        echo: EchoServer) -> None:
    proxy = toxi.create(upstream=echo.address, name="live")
    with connect(proxy) as sock:
        before = median_rtt(sock, 3)
        proxy.add_toxic(type="latency", attributes={"latency": 150})
        added = median_rtt(sock, 3)
        httpx.post(f"{toxiproxy_server.url}/proxies/live/toxics/latency_downstream",
                   json={"attributes": {"latency": 50}})
        updated = median_rtt(sock, 3)
        proxy.destroy_toxic("latency_downstream")
        removed = median_rtt(sock, 3)
    print(f"same connection: {ms(before)} -> add 150 ms {ms(added)} -> update to 50 ms "
          f"{ms(updated)} -> removed {ms(removed)}")
    assert before < 0.03 and removed < 0.03
    assert 0.12 <= added <= 0.2
    assert 0.03 <= updated <= 0.09
