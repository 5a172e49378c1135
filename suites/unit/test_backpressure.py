"""Backpressure: bounded inference work, bounded decoding, and timeouts for slow clients.

The app runs in uvicorn with the options `python -m mmllm` uses, and is reached over real sockets.
"""

from __future__ import annotations

import concurrent.futures
import io
import json
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest
import yaml
from PIL import Image

from .conftest import AUTH, SERVICE_DIR, TEST_API_KEY
from .test_app import RED_CIRCLE

MIB = 1024 * 1024
DECODE_BUDGET = 100 * MIB  # per request, see target/config/production.yml
PRODUCTION = SERVICE_DIR.parent / "config" / "production.yml"
AUTH_LINE = f"Authorization: Bearer {TEST_API_KEY}\r\n".encode()


def connect(url: str) -> socket.socket:
    parts = urlsplit(url)
    return socket.create_connection((parts.hostname, parts.port), timeout=5)


def start_slow_post(url: str, declared: int = 1000) -> socket.socket:
    """A client that sends its headers and a few bytes of a body, then nothing."""
    sock = connect(url)
    sock.sendall(b"POST /model/inference HTTP/1.1\r\nHost: test\r\n" + AUTH_LINE
                 + b"Content-Type: application/json\r\n"
                 + f"Content-Length: {declared}\r\n\r\n".encode() + b'{"task": "capt')
    return sock


def read_response(sock: socket.socket) -> tuple[int, dict[str, str], bytes]:
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        if not chunk:
            break
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = dict(line.split(": ", 1) for line in lines[1:] if ": " in line)
    length = int(headers.get("content-length", "0"))
    while len(body) < length:
        chunk = sock.recv(65536)
        if not chunk:
            break
        body += chunk
    return int(lines[0].split()[1]), {k.lower(): v for k, v in headers.items()}, body


def metric(url: str, line_start: str) -> float:
    for line in httpx.get(f"{url}/metrics", timeout=5).text.splitlines():
        if line.startswith(line_start + " "):
            return float(line.rsplit(" ", 1)[1])
    raise AssertionError(f"no metric line {line_start}")


def wait_for(condition: Callable[[], bool], timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not reached in time"
        time.sleep(0.02)


def infer(url: str) -> httpx.Response:
    return httpx.post(f"{url}/model/inference", json={"image": RED_CIRCLE, "task": "captioning"},
                      headers=AUTH, timeout=10)


def test_past_running_plus_queued_the_answer_is_503_with_retry_after_at_once(live_server) -> None:
    url = live_server(max_concurrent_inferences=1, max_queued_inferences=1)
    slow = [start_slow_post(url) for _ in range(2)]
    wait_for(lambda: metric(url, "model_inference_in_flight") == 2)

    started = time.monotonic()
    response = infer(url)
    assert time.monotonic() - started < 1.0
    assert response.status_code == 503, response.text
    assert response.headers["retry-after"] == "1"
    assert "overloaded" in response.json()["error"]
    assert metric(url, 'model_inference_requests_total{status="overloaded",task="unknown"}') == 1
    for task in ("captioning", "ocr", "vqa", "unknown"):  # not an error: HighErrorRate stays calm
        assert metric(url, f'model_inference_requests_total{{status="error",task="{task}"}}') == 0

    for sock in slow:
        sock.close()  # the service counts them as incomplete and frees their places
    wait_for(lambda: metric(url, "model_inference_in_flight") == 0)
    assert infer(url).status_code == 200
    assert metric(url, 'model_inference_errors_total{reason="incomplete_body",task="unknown"}') == 2


def test_queued_requests_wait_for_a_running_slot_and_are_answered(live_server) -> None:
    url = live_server(max_concurrent_inferences=1, max_queued_inferences=3)
    with httpx.Client(timeout=30, headers=AUTH) as client:
        with concurrent.futures.ThreadPoolExecutor(4) as pool:
            codes = list(pool.map(
                lambda _: client.post(f"{url}/model/inference",
                                      json={"image": RED_CIRCLE, "task": "ocr"}).status_code,
                range(4)))
    assert codes == [200] * 4


def test_a_slow_body_gets_408_and_frees_its_place(live_server) -> None:
    url = live_server(max_concurrent_inferences=1, max_queued_inferences=0,
                      body_read_timeout_seconds=0.5)
    sock = start_slow_post(url)
    started = time.monotonic()
    status, _, body = read_response(sock)
    sock.close()
    assert status == 408 and 0.4 < time.monotonic() - started < 3
    assert "not received within 0.5 seconds" in json.loads(body)["error"]
    assert metric(url, 'model_inference_errors_total{reason="body_timeout",task="unknown"}') == 1
    assert metric(url, 'model_inference_requests_total{status="rejected",task="unknown"}') == 1
    assert infer(url).status_code == 200


def test_an_idle_keep_alive_connection_is_closed(live_server) -> None:
    url = live_server(keep_alive_timeout_seconds=0.3)
    sock = connect(url)
    sock.sendall(b"GET /alive HTTP/1.1\r\nHost: test\r\n\r\n")
    assert read_response(sock)[0] == 200
    started = time.monotonic()
    sock.settimeout(3)
    assert sock.recv(1024) == b""  # closed by the server, long before the client's timeout
    assert time.monotonic() - started < 2
    sock.close()


def test_production_limits_fit_in_the_memory_limit() -> None:
    """The sizing written in production.yml: every admitted request at its budget stays below
    HighMemoryUsage (80% of the 1 GiB limit), on top of the measured ~87 MiB after start."""
    server = yaml.safe_load(PRODUCTION.read_text())["server"]
    body = server["max_image_bytes"] * 4 // 3 + 64 * 1024
    request = 3 * body + server["max_image_bytes"]  # chunks, joined, text; the image bytes
    peak = (87 * MIB + server["max_concurrent_inferences"] * (request + DECODE_BUDGET)
            + server["max_queued_inferences"] * body)
    assert peak < 0.8 * 1024 * MIB, peak / MIB
    assert server["max_image_pixels"] * 8 <= DECODE_BUDGET  # 8 bytes per pixel at worst


def largest(max_pixels: int) -> tuple[int, int]:
    """The largest 4:3 image within the pixel limit."""
    height = int((max_pixels * 3 / 4) ** 0.5)
    return max_pixels // height, height


def _gradient_image(size: tuple[int, int], mode: str) -> Image.Image:
    base = Image.linear_gradient("L").resize(size)
    rgb = Image.merge("RGB", (base, base.transpose(Image.Transpose.FLIP_LEFT_RIGHT), base))
    return Image.merge("RGBA", (*rgb.split(), base)) if mode == "RGBA" else rgb.convert(mode)


PEAK_SCRIPT = """
import io, sys
from PIL import Image
from mmllm.app import _decode_image
from mmllm.model import to_pixels
import base64
text = base64.b64encode(open(sys.argv[1], "rb").read()).decode()
def peak_kib():
    for line in open("/proc/self/status"):
        if line.startswith("VmHWM"):
            return int(line.split()[1])
open("/proc/self/clear_refs", "w").write("5")  # reset the peak
before = peak_kib()
raw, img = _decode_image(text, 8 * 1024 * 1024, int(sys.argv[2]))
to_pixels(img)
print((peak_kib() - before) * 1024)
"""


@pytest.mark.parametrize(("mode", "fmt", "options"), [
    ("RGBA", "PNG", {}),
    ("CMYK", "JPEG", {"progressive": True, "subsampling": 0, "quality": 95}),  # the worst case
    ("RGB", "JPEG", {"progressive": True, "subsampling": 0, "quality": 95}),
], ids=["rgba-png", "progressive-cmyk-jpeg", "progressive-rgb-jpeg"])
def test_the_largest_accepted_image_decodes_within_the_budget(tmp_path: Path, mode: str,
                                                              fmt: str, options: dict) -> None:
    if not Path("/proc/self/clear_refs").exists():
        pytest.skip("needs Linux /proc to measure peak memory")
    max_pixels = yaml.safe_load(PRODUCTION.read_text())["server"]["max_image_pixels"]
    path = tmp_path / f"largest.{fmt.lower()}"
    buf = io.BytesIO()
    _gradient_image(largest(max_pixels), mode).save(buf, fmt, **options)
    path.write_bytes(buf.getvalue())
    out = subprocess.run([sys.executable, "-c", PEAK_SCRIPT, str(path), str(max_pixels)],
                         capture_output=True, text=True, cwd=SERVICE_DIR, timeout=120)
    assert out.returncode == 0, out.stderr
    assert int(out.stdout) <= DECODE_BUDGET, f"{int(out.stdout) / MIB:.1f} MiB"

