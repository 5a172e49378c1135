"""Recent uploads in memory: the decoded image data of recent inference requests.

A mobile client often sends the same photo several times in a row (captioning, then OCR, then
questions about it). The image data of recent requests is kept here by the digest of its base64
text, so that a repeat skips base64 decoding and validation. The cache is bounded in bytes
(server.upload_cache_mb; 0 turns it off), drops the least recently used image first, and its
size is the gauge app_upload_cache_bytes: it is resident memory, and counts against the
container's limit like any other.
"""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict

from prometheus_client import Gauge


class UploadCache:
    def __init__(self, max_bytes: int, gauge: Gauge) -> None:
        self.max_bytes = max_bytes
        self._gauge = gauge
        self._items: OrderedDict[str, bytes] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()  # inference runs in a thread pool
        gauge.set(0)

    @staticmethod
    def key(text: str) -> str:
        return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()

    def get(self, key: str) -> bytes | None:
        with self._lock:
            raw = self._items.get(key)
            if raw is not None:
                self._items.move_to_end(key)
            return raw

    def put(self, key: str, raw: bytes) -> None:
        if len(raw) > self.max_bytes:
            return
        with self._lock:
            old = self._items.pop(key, None)
            self._bytes -= len(old) if old is not None else 0
            self._items[key] = raw
            self._bytes += len(raw)
            while self._bytes > self.max_bytes:
                _, dropped = self._items.popitem(last=False)
                self._bytes -= len(dropped)
            self._gauge.set(self._bytes)

    @property
    def size(self) -> int:
        return self._bytes
