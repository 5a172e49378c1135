"""A minimal model store: serves model files and manifests over HTTP (stdlib only).

    python -m mmllm.model_store --dir /models --port 8000

GET /models/<name>.pth, GET /models/<name>.manifest.json, GET /health; 404 otherwise.
"""

from __future__ import annotations

import argparse
import json
import logging
import re
import shutil
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from mmllm.logs import setup_logging

log = logging.getLogger("mmllm.model_store")
ROUTE = re.compile(r"^/models/([A-Za-z0-9_-]+)\.(pth|manifest\.json)$")  # no path traversal


def make_server(directory: str | Path, host: str = "0.0.0.0", port: int = 8000
                ) -> ThreadingHTTPServer:
    root = Path(directory)

    class Handler(BaseHTTPRequestHandler):
        def _send(self, status: int, body: bytes, content_type: str) -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self) -> None:  # noqa: N802 (http.server naming)
            path = self.path.split("?", 1)[0]
            if path == "/health":
                self._send(200, b'{"status":"ok"}', "application/json")
                return
            match = ROUTE.match(path)
            file = root / f"{match.group(1)}.{match.group(2)}" if match else None
            if file is None or not file.is_file():
                self._send(404, json.dumps({"error": f"not found: {path}"}).encode(),
                           "application/json")
                return
            kind = "application/json" if file.suffix == ".json" else "application/octet-stream"
            with open(file, "rb") as fh:
                self.send_response(200)
                self.send_header("Content-Type", kind)
                self.send_header("Content-Length", str(file.stat().st_size))
                self.end_headers()
                shutil.copyfileobj(fh, self.wfile)

        def log_message(self, fmt: str, *args: object) -> None:
            log.info(fmt % args, extra={"client": self.client_address[0]})

    return ThreadingHTTPServer((host, port), Handler)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m mmllm.model_store")
    parser.add_argument("--dir", required=True, help="directory holding <name>.pth + manifest")
    parser.add_argument("--host", default="0.0.0.0")
    parser.add_argument("--port", type=int, default=8000)
    args = parser.parse_args(argv)
    setup_logging()
    server = make_server(args.dir, args.host, args.port)
    log.info("Model store serving %s on %s:%d", args.dir, args.host, args.port)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
