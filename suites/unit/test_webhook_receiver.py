"""The Alertmanager webhook receiver stores, filters and clears notifications."""

from __future__ import annotations

import importlib.util
import threading
import time
from collections.abc import Iterator
from http.server import ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest

RECEIVER = Path(__file__).resolve().parents[2] / "target" / "images" / "webhook" / "receiver.py"


@pytest.fixture
def receiver() -> Iterator[str]:
    spec = importlib.util.spec_from_file_location("webhook_receiver", RECEIVER)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    server = ThreadingHTTPServer(("127.0.0.1", 0), module.Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def payload(alertname: str) -> dict:
    return {"status": "firing", "receiver": "test", "alerts": [
        {"status": "firing", "labels": {"alertname": alertname, "severity": "critical"}}]}


def test_store_filter_clear(receiver: str) -> None:
    started = time.time()
    assert httpx.post(f"{receiver}/alerts", json=payload("ModelServiceDown")).status_code == 200
    middle = time.time()
    assert httpx.post(f"{receiver}/alerts", json=payload("HighMemoryUsage")).status_code == 200
    everything = httpx.get(f"{receiver}/notifications").json()
    assert len(everything) == 2 and everything[0]["received_at"] >= started
    named = httpx.get(f"{receiver}/notifications", params={"alertname": "ModelServiceDown"})
    assert [p["alerts"][0]["labels"]["alertname"] for p in named.json()] == ["ModelServiceDown"]
    recent = httpx.get(f"{receiver}/notifications", params={"since": middle}).json()
    assert [p["alerts"][0]["labels"]["alertname"] for p in recent] == ["HighMemoryUsage"]
    assert httpx.delete(f"{receiver}/notifications").json() == {"deleted": 2}
    assert httpx.get(f"{receiver}/notifications").json() == []
    assert httpx.get(f"{receiver}/health").status_code == 200
    assert httpx.post(f"{receiver}/alerts", content=b"not json").status_code == 400


def test_still_paged_is_each_alerts_last_status(receiver: str) -> None:
    """An alert is still paged until a later notification resolves it; another alert's
    resolution does not clear it."""
    from fixtures.clients import WebhookClient

    def notify(status: str, alertname: str, fingerprint: str) -> None:
        httpx.post(f"{receiver}/alerts", json={"status": status, "alerts": [
            {"status": status, "fingerprint": fingerprint,
             "labels": {"alertname": alertname}}]}).raise_for_status()

    webhook = WebhookClient(receiver)
    assert webhook.still_paged() == []
    notify("firing", "DatabaseConnectionFailure", "a1")
    notify("firing", "StrayWarning", "b2")
    notify("resolved", "StrayWarning", "b2")
    assert webhook.still_paged() == ["DatabaseConnectionFailure"]
    notify("resolved", "DatabaseConnectionFailure", "a1")
    assert webhook.still_paged() == []
