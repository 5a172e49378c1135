"""memory-climb: a release raises the service's upload cache, then the day's photos fill it.

The release is a valid config/production.yml with one setting raised (by default
server.upload_cache_mb, from the released 32 MiB to 864 MiB of the container's 1 GiB, which
with the service's own ~130 MiB puts it at about 97%), written to the config volume and applied
by restarting app-prod, as bad-config deploys its file. Then clients upload distinct phone
photos (JPEGs of `side` x `side` pixels, each with its own comment segment, as each photo has
its own metadata): the cache keeps every one until it holds its new bound, and that memory
stays resident. The photos are a bounded burst from the test process, `concurrency` at a time;
every one answered 200 is an acknowledged inference that must be stored. Revert and residue
are bad-config's: the released file back, and app-prod restarted if it was not.
"""

from __future__ import annotations

import base64
import concurrent.futures
import io
import re
import struct
from dataclasses import dataclass
from dataclasses import field as default

import httpx
import numpy as np
from PIL import Image

from faults.bad_config import BadConfig
from faults.base import InjectionFailed
from fixtures.stack import Stack

MEMORY = ("process_resident_memory_bytes", "app_memory_limit_bytes", "app_upload_cache_bytes")


def photo(side: int, seed: int = 7) -> bytes:
    """A JPEG of camera-like noise (it compresses as poorly as a real photo's detail)."""
    pixels = np.random.default_rng(seed).integers(0, 256, (side, side, 3), dtype=np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="JPEG", quality=90)
    return buffer.getvalue()


def with_comment(jpeg: bytes, text: str) -> bytes:
    """The same JPEG with a COM segment after SOI: another file, the same picture."""
    data = text.encode()
    return jpeg[:2] + b"\xff\xfe" + struct.pack(">H", len(data) + 2) + data + jpeg[2:]


@dataclass
class CacheRelease(BadConfig):
    field: str = "server.upload_cache_mb"
    value: object = 864
    photos: int = 406
    side: int = 1600
    concurrency: int = 2
    description: str = ("A release raised the upload cache to most of the container's memory "
                        "limit; distinct photos filled it and the memory stayed resident.")
    acknowledged_ids: list[str] = default(default_factory=list)

    def _memory(self, client: httpx.Client) -> dict[str, float]:
        text = client.get("/metrics").text
        return {name: float(m.group(1)) for name in MEMORY
                if (m := re.search(rf"^{name} (\S+)$", text, re.MULTILINE))}

    def _upload(self, client: httpx.Client, image: bytes) -> int | str:
        body = {"image": base64.b64encode(image).decode(), "task": "captioning"}
        try:
            answer = client.post("/model/inference", json=body)
        except httpx.HTTPError as error:
            return type(error).__name__
        if answer.status_code == 200:
            self.acknowledged_ids.append(answer.json()["request_id"])
        return answer.status_code

    def inject(self, stack: Stack) -> str:
        released = self.release_and_wait_ready(stack)  # the file, the restart, ready
        base = photo(self.side)
        with httpx.Client(base_url=stack.endpoints.app, timeout=30,
                          headers=stack.endpoints.headers()) as client:
            before = self._memory(client)
            with concurrent.futures.ThreadPoolExecutor(self.concurrency) as pool:
                codes = list(pool.map(
                    lambda i: self._upload(client, with_comment(base, f"photo {i}")),
                    range(self.photos)))
            after = self._memory(client)
        answered = {code: codes.count(code) for code in sorted(set(codes), key=str)}
        if codes.count(200) < self.photos // 2:
            raise InjectionFailed(f"the photos were not taken: answers {answered}")
        mib = {name: round(value / 2**20) for name, value in after.items()}
        return (f"{released}; {self.photos} photos of {len(base) / 2**20:.1f} MiB sent, "
                f"answers {answered}; memory before {before.get(MEMORY[0], 0) / 2**20:.0f} "
                f"MiB, after (MiB): {mib}")
