"""The load a scenario runs under, in its own process (locust patches the interpreter with gevent).

    python -m gameday.traffic_worker --host URL --rate 50 --seconds 300 --out FILE

Real inferences on distinct images at a fixed rate, plus health checks, driven by Locust as a
library. Every request is recorded (when, what, status, latency, request id) and written to
--out as JSON lines when the run ends: after --seconds at the latest, or at SIGTERM. Traffic goes
only to --host, which must be a loopback address.
"""

from __future__ import annotations

import argparse
import base64
import io
import json
import random
import signal
import sys
import time
from pathlib import Path
from urllib.parse import urlparse

import gevent
from locust import FastHttpUser, constant_throughput, task
from locust.env import Environment
from PIL import Image, ImageDraw

from fixtures.clients import first_key
from gameday.traffic import CLIENT_TIMEOUT, READY, USERS

RECORDS: list[dict] = []
ANSWERED: list[float] = []  # when the first inference was answered
HEALTH_RATE = 5.0  # health checks per second, beside the inferences


def distinct_png(seed: int) -> str:
    """A small PNG no other request sends (so that no answer comes from the cache)."""
    rng = random.Random(seed)
    image = Image.new("RGB", (32, 32), tuple(rng.randrange(256) for _ in range(3)))
    x, y = rng.randrange(4, 16), rng.randrange(4, 16)
    ImageDraw.Draw(image).ellipse((x, y, x + 12, y + 12),
                                  fill=tuple(rng.randrange(256) for _ in range(3)))
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return base64.b64encode(buffer.getvalue()).decode()


def record(endpoint: str, started: float, status: int, error: str | None,
           request_id: str | None = None) -> None:
    if endpoint == "inference" and status == 200 and not ANSWERED:
        ANSWERED.append(started)
        print(READY, flush=True)  # the parent's baseline may start
    RECORDS.append({"at": started, "endpoint": endpoint, "status": status, "error": error,
                    "ms": round((time.time() - started) * 1000, 2), "request_id": request_id})


class Traffic(FastHttpUser):
    abstract = True
    network_timeout = CLIENT_TIMEOUT  # then counted as a connection error
    connection_timeout = CLIENT_TIMEOUT
    headers: dict[str, str] = {}
    keys_file: str | None = None  # line 1 is the API key, re-read for every request

    def _headers(self) -> dict[str, str]:
        """A client that follows key rotations: line 1 of the keys file, as it is now."""
        key = first_key(Path(self.keys_file)) if self.keys_file else None
        return {**self.headers, "Authorization": f"Bearer {key}"} if key else self.headers

    def _call(self, endpoint: str, method: str, path: str, **kwargs: object) -> None:
        started = time.time()
        with self.client.request(method, path, headers=self._headers(), catch_response=True,
                                 name=endpoint, **kwargs) as response:
            status = response.status_code or 0
            request_id = None
            if endpoint == "inference" and status == 200:
                try:
                    request_id = response.json().get("request_id")
                except ValueError:
                    request_id = None
            error = None if status else type(response.error).__name__
            record(endpoint, started, status, error, request_id)
            response.success()  # judged by the analysis, not by locust


class Inference(Traffic):
    fixed_count = USERS

    @task
    def infer(self) -> None:
        image = distinct_png(random.getrandbits(48))
        self._call("inference", "POST", "/model/inference",
                   json={"image": image, "task": "captioning"})


class Health(Traffic):
    fixed_count = 1
    wait_time = constant_throughput(HEALTH_RATE)

    @task
    def health(self) -> None:
        self._call("health", "GET", "/health")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", required=True)
    parser.add_argument("--rate", type=float, default=50.0, help="inferences per second")
    parser.add_argument("--seconds", type=float, required=True, help="stop after this long")
    parser.add_argument("--out", required=True)
    parser.add_argument("--header", action="append", default=[], metavar="NAME:VALUE")
    parser.add_argument("--api-keys-file", help="send line 1 of this file as the Bearer key, "
                        "re-read for every request (a client that follows key rotations)")
    args = parser.parse_args(argv)
    if urlparse(args.host).hostname not in ("127.0.0.1", "localhost", "::1"):
        print(f"refusing to send load to {args.host}: loopback only", file=sys.stderr)
        return 2
    headers = dict(h.split(":", 1) for h in args.header)
    Traffic.headers = {k.strip(): v.strip() for k, v in headers.items()}
    Traffic.keys_file = args.api_keys_file
    Inference.wait_time = constant_throughput(args.rate / USERS)
    env = Environment(user_classes=[Inference, Health], host=args.host)
    runner = env.create_local_runner()
    runner.start(user_count=USERS + 1, spawn_rate=USERS + 1)
    gevent.signal_handler(signal.SIGTERM, runner.quit)
    gevent.spawn_later(args.seconds, runner.quit)
    runner.greenlet.join()
    with open(args.out, "w") as out:
        for entry in RECORDS:
            out.write(json.dumps(entry) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
