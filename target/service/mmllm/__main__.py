"""Entry point: `python -m mmllm`; config from $MMLLM_CONFIG or /app/config/production.yml."""

from __future__ import annotations

import logging

from mmllm.config import ConfigError, load_config
from mmllm.logs import add_secret, setup_logging


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

    app = create_app(config)
    log.info("Starting on %s:%d", config.server.host, config.server.port)
    uvicorn.run(app, host=config.server.host, port=config.server.port, log_config=None,
                timeout_graceful_shutdown=5)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
