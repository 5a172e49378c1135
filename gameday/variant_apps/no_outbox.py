"""A deliberately broken service for the broken-variant tests: the outbox is disabled, so an
inference is refused (503) whenever PostgreSQL cannot take its record. Never part of the
product."""

from __future__ import annotations

import mmllm.store
from mmllm import __main__ as entrypoint


def _refuse(self, record: dict) -> str:
    raise mmllm.store.RecordError("the outbox is disabled")


mmllm.store.Outbox.append = _refuse
raise SystemExit(entrypoint.main())
