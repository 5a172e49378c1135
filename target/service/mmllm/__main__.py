"""Entry point: `python -m mmllm`; config from $MMLLM_CONFIG or /app/config/production.yml."""

from __future__ import annotations

import logging
from typing import Any

from mmllm.config import Config, ConfigError, load_config
from mmllm.logs import add_secret, setup_logging

MAX_HEADER_BYTES = 16 * 1024  # request line + headers; larger ones get 400 from h11


def uvicorn_options(config: Config) -> dict[str, Any]:
    """How uvicorn serves the app: bounded connections, headers and idle keep-alive. (The body
    has its own read timeout in the app: h11 has none, and a slow body must not hold a slot.)"""
    server = config.server
    return {"host": server.host, "port": server.port, "http": "h11", "log_config": None,
            "timeout_graceful_shutdown": 5,
            "timeout_keep_alive": server.keep_alive_timeout_seconds,
            "limit_concurrency": server.max_connections,
            "h11_max_incomplete_event_size": MAX_HEADER_BYTES}


def main() -> int:
    setup_logging()
    log = logging.getLogger("mmllm")
    try:
        config = load_config()
    except ConfigError as exc:
        log.error(exc.message(), extra={"field": exc.field})
        return 2
    add_secret(config.postgres.password)

    import uvicorn  # imported late so a configuration error exits fast

    from mmllm.app import create_app

    try:
        app = create_app(config)  # reads the API keys file
    except ConfigError as exc:
        log.error(exc.message(), extra={"field": exc.field})
        return 2
    log.info("Starting on %s:%d", config.server.host, config.server.port)
    uvicorn.run(app, **uvicorn_options(config))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
