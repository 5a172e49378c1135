"""The upload cache: bounded in bytes, least recently used out first, its size on /metrics."""

from __future__ import annotations

import base64

import pytest
from fastapi.testclient import TestClient
from mmllm import testimages
from mmllm.metrics import Metrics
from mmllm.uploads import UploadCache


def _gauge(metrics: Metrics) -> float:
    return metrics.registry.get_sample_value("app_upload_cache_bytes")


def test_the_cache_never_holds_more_than_its_bound() -> None:
    metrics = Metrics()
    cache = UploadCache(10, metrics.upload_cache)
    for name in "abcd":
        cache.put(name, name.encode() * 4)
    assert cache.size == 8 and _gauge(metrics) == 8
    assert cache.get("a") is None and cache.get("b") is None  # the oldest went first
    assert cache.get("c") == b"cccc" and cache.get("d") == b"dddd"


def test_a_recently_used_image_stays() -> None:
    cache = UploadCache(8, Metrics().upload_cache)
    cache.put("a", b"aaaa")
    cache.put("b", b"bbbb")
    assert cache.get("a") == b"aaaa"  # now the most recent
    cache.put("c", b"cccc")
    assert cache.get("a") == b"aaaa" and cache.get("b") is None


def test_an_image_larger_than_the_cache_is_not_kept_and_zero_turns_it_off() -> None:
    cache = UploadCache(0, Metrics().upload_cache)
    cache.put("a", b"a")
    assert cache.get("a") is None and cache.size == 0


def test_a_repeated_upload_is_answered_from_the_cache(client: TestClient,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    image = base64.b64encode(testimages.red_circle_png()).decode()
    decoded: list[int] = []
    real_decode = base64.b64decode

    def counting_decode(*args: object, **kwargs: object) -> bytes:
        decoded.append(1)
        return real_decode(*args, **kwargs)

    monkeypatch.setattr(base64, "b64decode", counting_decode)
    for _ in range(2):
        response = client.post("/model/inference", json={"image": image, "task": "captioning"})
        assert response.status_code == 200, response.text
    assert len(decoded) == 1, "the repeated upload was decoded again, not taken from the cache"
    metrics = client.get("/metrics").text
    line = next(x for x in metrics.splitlines() if x.startswith("app_upload_cache_bytes "))
    assert float(line.split()[1]) == len(testimages.red_circle_png())
