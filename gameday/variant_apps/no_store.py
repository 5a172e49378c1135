"""A deliberately broken service for the broken-variant tests: it acknowledges every
inference without storing its record anywhere. Never part of the product."""

from __future__ import annotations

import mmllm.store
from mmllm import __main__ as entrypoint

mmllm.store.Recorder.save = lambda self, record: None
raise SystemExit(entrypoint.main())
