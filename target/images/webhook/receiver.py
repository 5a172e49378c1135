#!/usr/bin/env python3
"""Alertmanager webhook receiver that remembers what it was sent (stdlib only).

    python receiver.py [--host 0.0.0.0] [--port 9095]

POST /alerts             store the payload with "received_at" (unix time, float)
GET  /notifications      list payloads; filters: ?alertname=NAME&since=UNIX_TIME
DELETE /notifications    clear
GET  /health
"""

from __future__ import annotations

import argparse
import json
import threading
import time
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

_lock = threading.Lock()
_notifications: list[dict] = []


def _alertnames(payload: dict) -> list[str]:
    alerts = payload.get("alerts")
    label_sets = [a.get("labels") for a in alerts if isinstance(a, dict)] \
        if isinstance(alerts, list) else []
    label_sets.append(payload.get("commonLabels"))
    names = {ls.get("alertname") for ls in label_sets if isinstance(ls, dict)}
    return sorted(n for n in names if isinstance(n, str))


def _log(message: str, **fields: object) -> None:
    entry = {"ts": datetime.now(UTC).isoformat(timespec="milliseconds"), "level": "INFO",
             "logger": "webhook", "message": message, **fields}
    print(json.dumps(entry), flush=True)


class Handler(BaseHTTPRequestHandler):
    def _json(self, status: int, body: object) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_POST(self) -> None:  # noqa: N802 (http.server naming)
        if urlsplit(self.path).path != "/alerts":
            return self._json(404, {"error": "not found"})
        try:
            length = int(self.headers.get("Content-Length") or 0)
            payload = json.loads(self.rfile.read(length))
            if not isinstance(payload, dict):
                raise ValueError("payload is not a JSON object")
        except ValueError as exc:
            return self._json(400, {"error": f"invalid payload: {exc}"})
        payload["received_at"] = time.time()
        with _lock:
            _notifications.append(payload)
        _log("notification received", status=payload.get("status"),
             alertnames=_alertnames(payload), receiver=payload.get("receiver"),
             alerts=len(payload["alerts"]) if isinstance(payload.get("alerts"), list) else 0)
        self._json(200, {"status": "stored"})

    def do_GET(self) -> None:  # noqa: N802
        url = urlsplit(self.path)
        if url.path == "/health":
            return self._json(200, {"status": "ok"})
        if url.path != "/notifications":
            return self._json(404, {"error": "not found"})
        query = parse_qs(url.query)
        try:
            since = float(query["since"][0]) if "since" in query else None
        except ValueError:
            return self._json(400, {"error": "since must be a unix time (float)"})
        name = query.get("alertname", [None])[0]
        with _lock:
            items = list(_notifications)
        items = [p for p in items if (since is None or p["received_at"] >= since)
                 and (name is None or name in _alertnames(p))]
        self._json(200, items)

    def do_DELETE(self) -> None:  # noqa: N802
        if urlsplit(self.path).path != "/notifications":
            return self._json(404, {"error": "not found"})
        with _lock:
            count = len(_notifications)
            _notifications.clear()
        self._json(200, {"deleted": count})

    def log_message(self, fmt: str, *args: object) -> None:
        pass  # one JSON line per notification is logged instead


def main() -> None:
    parser = argparse.ArgumentParser(description="Alertmanager webhook receiver")
    parser.add_argument("--host", default="0.0.0.0")
    parser.add_argument("--port", type=int, default=9095)
    args = parser.parse_args()
    server = ThreadingHTTPServer((args.host, args.port), Handler)
    _log(f"webhook receiver listening on {args.host}:{args.port}")
    server.serve_forever()


if __name__ == "__main__":
    main()
