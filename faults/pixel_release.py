"""cpu-saturation: a release raises the pixel limit, and clients start sending what it admits.

The release is a valid config/production.yml with server.max_image_pixels raised (from the
released 12 MP to 25 MP, "for the new phone cameras"), written to the config volume and applied
by restarting app-prod, as bad-config deploys its file. Then a client app starts uploading
full-resolution 24 MP PNG screenshots, `clients` at a time, each one distinct (a tEXt chunk of
its own), so that no answer comes from a cache: each is decoded in full and shrunk, a quarter
of a second of CPU on an idle core, and the service's process saturates. The uploads go on
until the fault is reverted (at most `max_seconds`): the recovery is judged under them. Under
the released limit the same uploads are refused at their header (413), and a client shows the
refusal to its user and uploads again a second later, which costs little.
Every upload answered 200 is an acknowledged inference that must be stored. Revert stops the
uploads, then does what bad-config's does: the released file back, app-prod restarted.
"""

from __future__ import annotations

import base64
import collections
import io
import struct
import threading
import time
import zlib
from dataclasses import dataclass
from dataclasses import field as default

import httpx
import numpy as np
from PIL import Image

from faults.bad_config import BadConfig
from fixtures.clients import wait_until
from fixtures.stack import Stack


def screenshot(width: int, height: int, seed: int = 3) -> bytes:
    """A PNG of gradients with a row of detail every 16: large in pixels, a few MiB on disk."""
    y = np.linspace(0, 255, height, dtype=np.float32)[:, None]
    x = np.linspace(0, 255, width, dtype=np.float32)[None, :]
    pixels = np.stack([y + 0 * x, x + 0 * y, (x + y) / 2], axis=2).astype(np.uint8)
    rows = pixels[::16]
    pixels[::16] = np.random.default_rng(seed).integers(0, 256, rows.shape, dtype=np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="PNG", compress_level=1)
    return buffer.getvalue()


def with_text(png: bytes, text: str) -> bytes:
    """The same PNG with a tEXt chunk after IHDR: another file, the same picture."""
    data = b"Comment\x00" + text.encode()
    chunk = struct.pack(">I", len(data)) + b"tEXt" + data
    chunk += struct.pack(">I", zlib.crc32(chunk[4:]))
    end_of_ihdr = 8 + 4 + 4 + 13 + 4
    return png[:end_of_ihdr] + chunk + png[end_of_ihdr:]


@dataclass
class Uploads:
    """`clients` threads uploading distinct copies of one large image, each until stopped or
    `seconds` have passed; every upload answered 200 is an acknowledged inference."""

    clients: int
    seconds: float
    acknowledged_ids: list[str] = default(default_factory=list)
    answers: collections.Counter = default(default_factory=collections.Counter)
    _lock: threading.Lock = default(default_factory=threading.Lock)
    _stop: threading.Event = default(default_factory=threading.Event)
    _threads: list[threading.Thread] = default(default_factory=list)

    def start(self, stack: Stack, image: bytes) -> int:
        """Start the clients; the number of answers once the first came back."""
        self._stop.clear()
        self._threads = [threading.Thread(target=self._client, args=(stack, image, i),
                                          daemon=True, name=f"uploads-{i}")
                         for i in range(self.clients)]
        for thread in self._threads:
            thread.start()
        return wait_until(lambda: sum(self.answered().values()), timeout=30,
                          what="a first answer to the uploads")

    def stop(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=35)

    def running(self) -> bool:
        return any(thread.is_alive() for thread in self._threads)

    def answered(self) -> dict[int | str, int]:
        with self._lock:  # the client threads add keys while others read
            return dict(self.answers)

    def _client(self, stack: Stack, image: bytes, index: int) -> None:
        deadline = time.monotonic() + self.seconds
        with httpx.Client(base_url=stack.endpoints.app, timeout=30,
                          headers=stack.endpoints.headers()) as client:
            n = 0
            while not self._stop.is_set() and time.monotonic() < deadline:
                n += 1
                body = base64.b64encode(with_text(image, f"client {index} upload {n}")).decode()
                try:
                    answer = client.post("/model/inference",
                                         json={"image": body, "task": "captioning"})
                except httpx.HTTPError as error:
                    self._count(type(error).__name__)
                    self._stop.wait(0.5)
                    continue
                self._count(answer.status_code)
                if answer.status_code == 200:
                    self.acknowledged_ids.append(answer.json()["request_id"])
                else:  # a refusal is shown to the user, an overload waits for Retry-After
                    self._stop.wait(1.0)

    def _count(self, answer: int | str) -> None:
        with self._lock:
            self.answers[answer] += 1


@dataclass
class PixelRelease(BadConfig):
    field: str = "server.max_image_pixels"
    value: object = 25_000_000
    width: int = 6000
    height: int = 4000
    clients: int = 4
    max_seconds: float = 180.0
    description: str = ("A release raised the pixel limit and a client app started uploading "
                        "full-resolution screenshots; decoding them saturated the CPU.")
    uploads: Uploads | None = None

    @property
    def acknowledged_ids(self) -> list[str]:
        return self.uploads.acknowledged_ids if self.uploads else []

    def inject(self, stack: Stack) -> str:
        image = screenshot(self.width, self.height)
        released = self.release_and_wait_ready(stack)
        self.uploads = Uploads(self.clients, self.max_seconds)
        first = self.uploads.start(stack, image)
        return (f"{released}; {self.clients} clients upload {self.width}x{self.height} PNGs of "
                f"{len(image) / 2**20:.1f} MiB; {first} answered so far: "
                f"{self.uploads.answered()}")

    def revert(self, stack: Stack) -> None:
        if self.uploads:
            self.uploads.stop()
        super().revert(stack)
