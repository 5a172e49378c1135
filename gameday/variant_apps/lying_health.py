"""A deliberately broken service for the broken-variant tests: /health and /ready always say
healthy, whatever is true. Mounted into the app container and run instead of `python -m mmllm`.
Never part of the product."""

from __future__ import annotations

import json

import mmllm.app
from mmllm import __main__ as entrypoint

real_create_app = mmllm.app.create_app


class LyingHealth:
    def __init__(self, app) -> None:
        self.app = app

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] == "http" and scope["path"] in ("/health", "/ready"):
            body = json.dumps({"status": "healthy", "checks": {}}).encode()
            await send({"type": "http.response.start", "status": 200,
                        "headers": [(b"content-type", b"application/json")]})
            await send({"type": "http.response.body", "body": body})
            return
        await self.app(scope, receive, send)


mmllm.app.create_app = lambda config: LyingHealth(real_create_app(config))
raise SystemExit(entrypoint.main())
