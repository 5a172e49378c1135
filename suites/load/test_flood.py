"""A flood of the largest images the service accepts: it answers 200 or 503 with Retry-After,
never runs out of memory, and still answers afterwards.

The images are the costliest valid ones for the deployed limits (target/config/production.yml):
as many pixels as `server.max_image_pixels` allows, as a progressive CMYK JPEG (the decoder keeps
every coefficient: the largest decode the service does) just under `server.max_image_bytes`,
each one different (a comment segment with its number), so that the result cache answers none.
More clients than the service admits (`max_concurrent_inferences + max_queued_inferences`) send
them at once, then at a bounded rate, for a bounded time.
"""

from __future__ import annotations

import base64
import io
import itertools
import math
import re
import threading
import time
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import numpy as np
import pytest
import yaml
from PIL import Image

from faults.cache_release import with_comment
from fixtures import monitoring
from fixtures.container_state import Life

pytestmark = [pytest.mark.stack, pytest.mark.load]

SERVER = yaml.safe_load(
    (Path(__file__).resolve().parents[2] / "target" / "config" / "production.yml").read_text()
)["server"]
CAPACITY = SERVER["max_concurrent_inferences"] + SERVER["max_queued_inferences"]
CLIENTS = 2 * CAPACITY  # twice what the service admits, all at once
RATE = 12.0  # requests per second after the first burst (the service decodes about 5 per second)
MAX_REQUESTS = 160
MAX_SECONDS = 25.0
STATUS = re.compile(rb'^model_inference_requests_total\{status="(\w+)",task="\w+"\} (\S+)', re.M)


def largest_valid_jpeg(max_bytes: int, max_pixels: int) -> bytes:
    """A progressive CMYK JPEG of at most `max_pixels` pixels (4:3) and at most `max_bytes`
    bytes, as large as a quality step allows: noise, so that every coefficient is coded."""
    width = int(math.sqrt(max_pixels * 4 / 3))
    height = max_pixels // width
    noise = np.random.default_rng(12).integers(0, 256, (height, width, 4), dtype=np.uint8)
    image = Image.fromarray(noise, "CMYK")
    for quality in range(30, 0, -3):
        buffer = io.BytesIO()
        image.save(buffer, "JPEG", quality=quality, progressive=True)
        # room for the comment segment each request adds
        if len(buffer.getvalue()) + 64 <= max_bytes:
            return buffer.getvalue()
    raise AssertionError(f"no {width}x{height} JPEG fits in {max_bytes} bytes")


@dataclass(frozen=True)
class Answer:
    status: int  # 0: no HTTP answer (connection error)
    retry_after: str | None
    error: str


def inference_counts(app: str) -> Counter[str]:
    """model_inference_requests_total by status (every task; a refusal comes before the body
    is read, so its task is "unknown"), from /metrics."""
    counts: Counter[str] = Counter()
    for status, value in STATUS.findall(httpx.get(f"{app}/metrics", timeout=10).content):
        counts[status.decode()] += float(value)
    return counts


def gauge(text: str, name: str) -> float:
    return next(float(line.split()[1]) for line in text.splitlines()
                if line.startswith(f"{name} "))


class MemoryWatch:
    """The app's resident memory, as /metrics reports it, sampled while the flood runs."""

    def __init__(self, app: str) -> None:
        self.app, self.peak, self.limit = app, 0.0, 0.0
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self.run, daemon=True)

    def run(self) -> None:
        with httpx.Client(timeout=5) as http:
            while not self.stop.is_set():
                try:
                    text = http.get(f"{self.app}/metrics").text
                    self.peak = max(self.peak, gauge(text, "process_resident_memory_bytes"))
                    self.limit = gauge(text, "app_memory_limit_bytes")
                except (httpx.HTTPError, StopIteration):
                    pass  # a figure only: a missed sample is not a finding
                self.stop.wait(0.25)

    def __enter__(self) -> MemoryWatch:
        self.thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop.set()
        self.thread.join(timeout=10)


def flood(app: str, headers: dict[str, str], jpeg: bytes) -> tuple[list[Answer], float]:
    """CLIENTS threads; the first CLIENTS requests go at once, the rest at RATE per second,
    until MAX_REQUESTS are sent or MAX_SECONDS pass. Returns the answers and the duration."""
    numbers = itertools.count()
    lock = threading.Lock()
    started = time.monotonic()
    deadline = started + MAX_SECONDS
    answers: list[Answer] = []

    def client() -> None:
        with httpx.Client(timeout=60, headers={**headers,
                                               "Content-Type": "application/json"}) as http:
            while True:
                with lock:
                    number = next(numbers)
                if number >= MAX_REQUESTS:
                    return
                at = started + max(0, number - CLIENTS) / RATE
                if at >= deadline:
                    return
                time.sleep(max(0.0, at - time.monotonic()))  # the bounded rate, not a wait
                body = (b'{"task": "captioning", "image": "'
                        + base64.b64encode(with_comment(jpeg, f"flood request {number}")) + b'"}')
                try:
                    response = http.post(f"{app}/model/inference", content=body)
                    answer = Answer(response.status_code, response.headers.get("retry-after"),
                                    response.text[:200] if response.status_code != 200 else "")
                except httpx.HTTPError as error:
                    answer = Answer(0, None, f"{type(error).__name__}: {error}")
                with lock:
                    answers.append(answer)

    with ThreadPoolExecutor(CLIENTS) as pool:
        for future in [pool.submit(client) for _ in range(CLIENTS)]:
            future.result()
    return answers, time.monotonic() - started


@contextmanager
def monitor_sends_no_inference(stack) -> Iterator[None]:
    """The service's counters below must hold the flood's answers alone: the deployment's
    synthetic monitor, another client of /model/inference, keeps probing only the health
    routes meanwhile (a restart of about a second; its alert waits 2 minutes)."""
    released = monitoring.load_health_checks()
    stack.set_health_checks({**{k: v for k, v in released.items() if k != "golden"},
                             "probes": [p for p in released["probes"]
                                        if p["path"] != "/model/inference"]})
    try:
        yield
    finally:
        stack.set_health_checks(released)


def test_a_flood_of_the_largest_images_gets_503s_and_no_oom_kill(stack) -> None:
    with monitor_sends_no_inference(stack):
        flood_and_judge(stack)


def flood_and_judge(stack) -> None:
    app = stack.endpoints.app
    jpeg = largest_valid_jpeg(SERVER["max_image_bytes"], SERVER["max_image_pixels"])
    width, height = Image.open(io.BytesIO(jpeg)).size
    assert width * height <= SERVER["max_image_pixels"] < (width + 1) * (height + 1)
    before, counted_before = Life.of(stack.container("app-prod")), inference_counts(app)
    rss_before = gauge(httpx.get(f"{app}/metrics", timeout=10).text,
                       "process_resident_memory_bytes")

    with MemoryWatch(app) as memory:
        answers, seconds = flood(app, stack.endpoints.headers(), jpeg)

    statuses = Counter(a.status for a in answers)
    print(f"flood: {len(answers)} requests of {len(jpeg) / 2**20:.1f} MiB JPEGs in {seconds:.1f}s "
          f"from {CLIENTS} clients (admission {CAPACITY}): {dict(sorted(statuses.items()))}; "
          f"RSS {rss_before / 2**20:.0f} MiB before, peak {memory.peak / 2**20:.0f} MiB "
          f"of a {memory.limit / 2**20:.0f} MiB limit")
    odd = [a for a in answers if a.status not in (200, 503)]
    assert not odd, f"answers other than 200 and 503: {Counter(odd).most_common(5)}"
    refused = [a for a in answers if a.status == 503]
    assert refused, "no 503: the flood never went past the admission limit, nothing was proven"
    assert all(a.retry_after and a.retry_after.isdigit() for a in refused), \
        Counter(a.retry_after for a in refused)
    assert all("overloaded" in a.error for a in refused), Counter(a.error for a in refused)
    assert statuses[200] >= SERVER["max_concurrent_inferences"], statuses  # it kept serving
    # The same process lived through it: no OOM kill, no restart.
    after = Life.of(stack.container("app-prod"))
    assert after.same_process_as(before) == []
    assert httpx.get(f"{app}/health", timeout=10).status_code == 200
    # Every refusal counted as overloaded (not as an error that pages), every 200 as success.
    counted = inference_counts(app)
    assert counted["overloaded"] - counted_before["overloaded"] == len(refused)
    assert counted["success"] - counted_before["success"] == statuses[200]
    assert counted["error"] == counted_before["error"]
