"""HTTP API: health, readiness, metrics and model inference.

Inference is bounded: at most `max_concurrent_inferences` decode and run at once, at most
`max_queued_inferences` more wait, and past that a request gets 503 with Retry-After at once.
Whatever a client sends, the answer is 200 or 4xx; a 5xx is the service's own fault.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import hashlib
import io
import json
import logging
import os
import re
import threading
import time
import uuid
import warnings
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Any

from fastapi import FastAPI, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from PIL import Image, PngImagePlugin
from prometheus_client import CONTENT_TYPE_LATEST
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import ClientDisconnect

from mmllm import testimages
from mmllm.auth import ApiKeys, KeyFileError
from mmllm.config import Config, ConfigError
from mmllm.deps import (
    Database,
    RedisLink,
    ResultCache,
    cgroup_memory_limit,
    process_rss_bytes,
)
from mmllm.lifecycle import ModelManager
from mmllm.logs import add_secret
from mmllm.metrics import Metrics
from mmllm.model import TASKS, to_pixels
from mmllm.store import Outbox, Recorder, RecordError
from mmllm.uploads import UploadCache

log = logging.getLogger("mmllm.app")
MAX_QUESTION_CHARS = 500
HTTP_METHODS = {"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"}
RETRY_AFTER_SECONDS = 1
# What a 401 says, by reason (the label of auth_failures_total), and its WWW-Authenticate.
UNAUTHORIZED = {
    "missing": ("missing API key: send 'Authorization: Bearer <key>'", "Bearer"),
    "malformed": ("malformed Authorization header: expected 'Bearer <key>'",
                  'Bearer error="invalid_request"'),
    "invalid": ("invalid API key", 'Bearer error="invalid_token"'),
}
IMAGE_MAGIC = {b"\x89PNG\r\n\x1a\n": "PNG", b"\xff\xd8\xff": "JPEG"}
# The inference body as the OpenAPI document describes it. The handler reads the raw body
# itself (bounded in size and time) and validates it in _parse_request; this only documents it,
# so that clients and schemathesis know what to send.
INFERENCE_SCHEMA = {
    "type": "object",
    "required": ["image", "task"],
    "properties": {
        "image": {"type": "string", "format": "byte", "contentEncoding": "base64",
                  "description": "a base64-encoded PNG or JPEG image (a data: URL is accepted "
                                 "too)"},
        "task": {"type": "string", "enum": list(TASKS)},
        "question": {"type": "string", "maxLength": MAX_QUESTION_CHARS,
                     "description": "the question about the image; needed by task 'vqa'"},
    },
}
INFERENCE_BODY = {
    "required": True,
    "content": {"application/json": {
        "schema": INFERENCE_SCHEMA,
        "example": {"image": base64.b64encode(testimages.red_circle_png()).decode(),
                    "task": "captioning"},
    }},
}
ERROR_BODY = {"application/json": {"schema": {
    "type": "object", "required": ["error"],
    "properties": {"error": {"type": "string"}, "detail": {}}}}}
INFERENCE_RESPONSES: dict[int | str, dict[str, Any]] = {
    status: {"description": text, "content": ERROR_BODY} for status, text in {
        400: "the body is not JSON, or the image is not a valid PNG or JPEG",
        401: "no API key, a malformed Authorization header or a key that is not active",
        408: "the body did not arrive within server.body_read_timeout_seconds",
        413: "the body or the image is larger than the limits (bytes or pixels)",
        422: "a field is missing, of the wrong type, or an unknown task",
        503: "overloaded (with Retry-After), the model is not loaded, or the inference could "
             "not be recorded",
    }.items()}
BEARER = {"bearerAuth": {"type": "http", "scheme": "bearer",
                         "description": "an API key of the keys file (auth.api_keys_file)"}}
WHITESPACE = re.compile(r"\s")


class ApiError(Exception):
    """An inference request that cannot be answered; `reason` is the metric label."""

    def __init__(self, status: int, reason: str, message: str, detail: Any = None) -> None:
        super().__init__(message)
        self.status, self.reason, self.message, self.detail = status, reason, message, detail


def _error(status: int, message: str, detail: Any = None,
           headers: dict[str, str] | None = None) -> Response:
    # ASCII-escaped: a client's lone surrogate or odd byte echoed in `detail` cannot break it.
    body = json.dumps({"error": message, "detail": detail}, ensure_ascii=True, default=str,
                      separators=(",", ":"))
    return Response(body, status_code=status, media_type="application/json", headers=headers)


class Admission:
    """Bounds inference work: `running` at once, `queued` more waiting, the rest refused.

    Used on the event loop only, so the counter needs no lock.
    """

    def __init__(self, running: int, queued: int) -> None:
        self.capacity = running + queued
        self.admitted = 0
        self.running = asyncio.Semaphore(running)


class HttpMetricsMiddleware:
    """Counts every response by method, route template (bounded cardinality) and status."""

    def __init__(self, app: Callable, metrics: Metrics) -> None:
        self.app, self.metrics = app, metrics

    async def __call__(self, scope: dict, receive: Callable, send: Callable) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        status = 500  # if the app raises before responding, ServerErrorMiddleware sends a 500

        async def send_and_record(message: dict) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_and_record)
        finally:
            route = scope.get("route")
            handler = getattr(route, "path", None) or "unmatched"
            method = scope["method"] if scope["method"] in HTTP_METHODS else "other"
            self.metrics.http_requests.labels(method, handler, str(status)).inc()


async def _read_body(request: Request, limit: int, timeout: float) -> bytes:
    """The whole body, at most `limit` bytes, arrived within `timeout` seconds."""
    declared = request.headers.get("content-length", "")
    if declared.isascii() and declared.isdigit() and int(declared) > limit:
        raise ApiError(413, "payload_too_large", f"request body larger than {limit} bytes")
    chunks, size = [], 0
    try:
        async with asyncio.timeout(timeout):
            async for chunk in request.stream():
                size += len(chunk)
                if size > limit:
                    raise ApiError(413, "payload_too_large",
                                   f"request body larger than {limit} bytes")
                chunks.append(chunk)
    except TimeoutError:
        raise ApiError(408, "body_timeout",
                       f"request body not received within {timeout:g} seconds") from None
    except ClientDisconnect:
        raise ApiError(400, "incomplete_body",
                       "the client closed the connection before the whole body arrived") from None
    return b"".join(chunks)


def _parse_request(body: bytes) -> tuple[str, str, str | None]:
    """Validate the JSON body; returns (task, base64 image, question)."""
    if not body.strip():
        raise ApiError(400, "invalid_json", "request body is empty; expected a JSON object")
    try:
        data = json.loads(body)
    except (ValueError, UnicodeDecodeError) as exc:
        raise ApiError(400, "invalid_json", "request body is not valid JSON", str(exc)) from None
    except RecursionError:
        raise ApiError(400, "invalid_json", "request body is nested too deeply") from None
    if not isinstance(data, dict):
        raise ApiError(400, "invalid_request", "request body must be a JSON object")
    task = data.get("task")
    if task is None or "image" not in data:
        missing = [f for f in ("image", "task") if data.get(f) is None]
        raise ApiError(422, "invalid_request", f"missing field(s): {', '.join(missing)}",
                       {"required": ["image", "task"], "known_tasks": list(TASKS)})
    if not isinstance(task, str):
        raise ApiError(422, "invalid_request", "'task' must be a string")
    if task not in TASKS:
        raise ApiError(422, "unknown_task", f"unknown task {task[:50]!r}",
                       {"known_tasks": list(TASKS)})
    image, question = data["image"], data.get("question")
    if not isinstance(image, str):
        raise ApiError(422, "invalid_request", "'image' must be a base64 string")
    if question is not None and not isinstance(question, str):
        raise ApiError(422, "invalid_request", "'question' must be a string")
    if task == "vqa" and not (question or "").strip():
        raise ApiError(422, "invalid_request", "task 'vqa' needs a non-empty 'question'")
    if question is not None and len(question) > MAX_QUESTION_CHARS:
        raise ApiError(422, "invalid_request", f"'question' is longer than {MAX_QUESTION_CHARS}")
    return task, image, question


def _decode_image(text: str, max_bytes: int, max_pixels: int,
                  uploads: UploadCache | None = None) -> tuple[bytes, Image.Image]:
    """base64 -> bytes -> lazily opened PNG/JPEG (magic bytes, then header size-checked only).
    A repeat of a recent upload takes its bytes from `uploads` instead of decoding them."""
    if text.startswith("data:") and "," in text:
        text = text.split(",", 1)[1]  # tolerate data URLs
    if WHITESPACE.search(text):
        text = "".join(text.split())
    if len(text) * 3 // 4 > max_bytes:
        raise ApiError(413, "payload_too_large", f"image larger than {max_bytes} bytes")
    key = uploads.key(text) if uploads is not None else ""
    raw = uploads.get(key) if uploads is not None else None
    try:
        raw = raw if raw is not None else base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise ApiError(400, "invalid_image",
                       "'image' is not valid base64; send a base64-encoded PNG or JPEG",
                       str(exc)) from None
    if not raw:
        raise ApiError(400, "invalid_image", "'image' is empty")
    fmt = next((f for magic, f in IMAGE_MAGIC.items() if raw.startswith(magic)), None)
    if fmt is None:
        raise ApiError(400, "invalid_image", "'image' is not a PNG or JPEG image; "
                                             "send a base64-encoded PNG or JPEG")
    try:
        img = Image.open(io.BytesIO(raw), formats=[fmt])
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise ApiError(413, "image_too_large", "image has too many pixels", str(exc)) from None
    except (MemoryError, RecursionError):
        raise
    except Exception as exc:  # any failure to parse a client's header is the client's image
        raise ApiError(400, "invalid_image", f"'image' is not a valid {fmt} image",
                       _one_line(exc)) from None
    width, height = img.size
    if width * height > max_pixels:
        raise ApiError(413, "image_too_large",
                       f"image is {width}x{height} pixels; the limit is {max_pixels} pixels")
    if uploads is not None:
        uploads.put(key, raw)
    return raw, img


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split())[:300] or type(exc).__name__


def _memory_check(max_fraction: float) -> dict[str, Any]:
    rss, limit = process_rss_bytes(), cgroup_memory_limit()
    if not limit:
        return {"status": "ok", "rss_bytes": rss, "limit_bytes": None}
    result = {"rss_bytes": rss, "limit_bytes": limit, "fraction": round(rss / limit, 3)}
    if rss >= max_fraction * limit:
        return {"status": "fail", **result,
                "error": f"memory usage {rss} bytes is above {max_fraction:.0%} of the "
                         f"{limit} byte limit"}
    return {"status": "ok", **result}


def _every(stop: threading.Event, interval: float, fn: Callable[[], object]) -> None:
    while True:
        try:
            fn()
        except Exception:  # a background loop must survive anything
            log.exception("Background task %s failed", getattr(fn, "__name__", fn))
        if stop.wait(interval):
            return


def describe_security(app: FastAPI) -> None:
    """Add the Bearer scheme to the app's OpenAPI document (the routes name it)."""
    build = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            document = build()
            document.setdefault("components", {}).setdefault("securitySchemes", {}).update(BEARER)
            app.openapi_schema = document
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


def create_app(config: Config) -> FastAPI:
    """Build the app; the model is loaded here, background threads start with the lifespan."""
    server = config.server
    metrics = Metrics()
    try:  # no valid key at start is a configuration error: the service must not start
        api_keys = ApiKeys(config.auth.api_keys_file,
                           on_keys=lambda keys: [add_secret(key) for key in keys])
    except KeyFileError as exc:
        raise ConfigError("auth.api_keys_file", str(exc)) from None
    models = ModelManager(config.model, metrics)
    redis_link = RedisLink(config.redis, metrics)
    db = Database(config.postgres, metrics)
    outbox = Outbox(redis_link, os.environ.get("MMLLM_OUTBOX_DIR", "/app/data/outbox"), metrics)
    recorder = Recorder(db, outbox)
    cache = ResultCache(redis_link, config.redis.cache_ttl_seconds)
    uploads = UploadCache(server.upload_cache_mb * 1024 * 1024, metrics.upload_cache)
    # Decompression bombs: PIL warns above MAX_IMAGE_PIXELS; make that an error we catch.
    Image.MAX_IMAGE_PIXELS = server.max_image_pixels
    warnings.simplefilter("error", Image.DecompressionBombWarning)
    # PNG text chunks are decompressed when the header is read: bound them too (default 64 MiB).
    PngImagePlugin.MAX_TEXT_CHUNK = PngImagePlugin.MAX_TEXT_MEMORY = 1024 * 1024
    body_limit = server.max_image_bytes * 4 // 3 + 64 * 1024  # base64 overhead + JSON fields
    admission = Admission(server.max_concurrent_inferences, server.max_queued_inferences)
    models.load()
    metrics.memory_limit.set(cgroup_memory_limit())

    def monitor() -> None:
        api_keys.refresh()  # also between requests, so a bad new file is reported at once
        db.check()  # also reconnects (at most once per second while down)
        redis_link.check()
        recorder.drain()
        models.check()
        metrics.outbox_pending.set(outbox.pending())
        metrics.memory_limit.set(cgroup_memory_limit())

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        stop = threading.Event()
        threads = [
            threading.Thread(target=_every, name="model-watcher", daemon=True,
                             args=(stop, config.model.watch_interval_seconds, models.watch_once)),
            threading.Thread(target=_every, name="monitor", daemon=True,
                             args=(stop, 1.0, monitor)),
        ]
        for t in threads:
            t.start()
        yield
        stop.set()
        for t in threads:
            t.join(timeout=5)
        db.close()

    app = FastAPI(title="Mobile Multi-Modal LLM", version="1.0.0", lifespan=lifespan)
    describe_security(app)
    app.add_middleware(HttpMetricsMiddleware, metrics=metrics)
    app.state.models, app.state.db, app.state.recorder = models, db, recorder
    app.state.api_keys = api_keys

    @app.exception_handler(RequestValidationError)
    async def validation_error(request: Request, exc: RequestValidationError) -> Response:
        return _error(422, "invalid request", jsonable_encoder(exc.errors()))

    # scope["path"], not request.url: building the URL parses the client's Host header.
    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
        return _error(exc.status_code, str(exc.detail), f"{request.method} {request.scope['path']}",
                      headers=exc.headers)

    @app.exception_handler(Exception)
    async def unexpected_error(request: Request, exc: Exception) -> Response:
        if isinstance(exc, MemoryError):
            log.error("Out of memory while handling %s", request.scope["path"])
            return _error(503, "out of memory")
        log.error("Unhandled error on %s", request.scope["path"], exc_info=exc)
        return _error(500, "internal error")

    @app.get("/alive")
    def alive() -> dict[str, str]:
        return {"status": "alive"}

    def report(checks: dict[str, dict], good: str, bad: str) -> JSONResponse:
        ok = all(c["status"] == "ok" for c in checks.values())
        return JSONResponse({"status": good if ok else bad, "checks": checks},
                            status_code=200 if ok else 503)

    @app.get("/health")
    def health() -> JSONResponse:
        checks = {"database": recorder.check(), "redis": redis_link.check(),
                  "model": models.check(), "disk": outbox.check_space()}
        return report(checks, "healthy", "unhealthy")

    @app.get("/ready")
    def ready() -> JSONResponse:
        checks = {"database": recorder.check(), "redis": redis_link.check(),
                  "model": models.check(),
                  "memory": _memory_check(config.readiness.max_memory_fraction)}
        return report(checks, "ready", "not_ready")

    @app.get("/metrics")
    def metrics_endpoint() -> Response:
        metrics.memory_limit.set(cgroup_memory_limit())
        metrics.outbox_pending.set(outbox.pending())
        return Response(metrics.render(), media_type=CONTENT_TYPE_LATEST)

    def infer(task: str, image_b64: str, question: str | None, started: float) -> dict:
        raw, img = _decode_image(image_b64, server.max_image_bytes, server.max_image_pixels,
                                 uploads)
        model = models.model
        if model is None:
            raise ApiError(503, "model_not_loaded", f"model not loaded: {models.error}")
        image_sha = hashlib.sha256(raw).hexdigest()
        qbytes = (question or "").encode("utf-8", "surrogatepass")  # JSON allows lone surrogates
        qhash = hashlib.sha256(qbytes).hexdigest()[:16] if question else "-"
        key = f"inference:cache:{model.sha256[:12]}:{task}:{image_sha}:{qhash}"
        result = cache.get(key)
        cached = result is not None
        if result is None:
            try:
                pixels = to_pixels(img)
            except (MemoryError, RecursionError):
                raise
            except Exception as exc:  # decoding the client's image data failed
                raise ApiError(400, "invalid_image", "image data is truncated or corrupt",
                               _one_line(exc)) from None
            result = model.run(task, pixels, question)
            cache.set(key, result)
        latency_ms = round((time.perf_counter() - started) * 1000, 3)
        request_id = str(uuid.uuid4())
        record = {"request_id": request_id, "task": task, "status": "success",
                  "latency_ms": latency_ms, "image_sha256": image_sha,
                  "created_at": datetime.now(UTC).isoformat()}
        try:
            recorder.save(record)
        except RecordError as exc:
            raise ApiError(503, "record_failed", "could not record the inference",
                           str(exc)) from None
        return {"request_id": request_id, "task": task, "result": result,
                "latency_ms": latency_ms, "cached": cached,
                "model": {"name": model.name, "version": model.version,
                          "quantization": model.quantization}}

    def unauthorized(request: Request, reason: str) -> Response:
        """401: counted by reason in auth_failures_total only, never as an inference request
        (a flood of bad keys must neither page as errors nor dilute the error ratio)."""
        metrics.auth_failures.labels(reason).inc()
        client = request.client.host if request.client else "unknown"
        message, challenge = UNAUTHORIZED[reason]
        log.warning("Unauthorized request from %s (%s)", client, reason,
                    extra={"client": client, "reason": reason})
        return _error(401, message, {"reason": reason},
                      headers={"WWW-Authenticate": challenge})

    @app.post("/model/inference", responses=INFERENCE_RESPONSES,
              openapi_extra={"requestBody": INFERENCE_BODY,
                             "security": [{name: []} for name in BEARER]})
    async def inference(request: Request) -> Response:
        started = time.perf_counter()
        task = "unknown"
        refused = api_keys.check(request.headers.get("authorization"))
        if refused:  # before admission: a caller without a key holds no place
            return unauthorized(request, refused)
        if admission.admitted >= admission.capacity:
            metrics.inference_error(task, "overloaded", 503)
            return _error(503, "overloaded: too many inference requests in progress, retry later",
                          {"retry_after_seconds": RETRY_AFTER_SECONDS},
                          headers={"Retry-After": str(RETRY_AFTER_SECONDS)})
        admission.admitted += 1
        metrics.inference_in_flight.set(admission.admitted)
        try:
            # Parsed before queueing, and the body freed: a queued request holds only its text.
            task, image_b64, question = _parse_request(
                await _read_body(request, body_limit, server.body_read_timeout_seconds))
            async with admission.running:
                answer = await run_in_threadpool(infer, task, image_b64, question, started)
        except ApiError as exc:
            metrics.inference_error(task, exc.reason, exc.status)
            return _error(exc.status, exc.message, exc.detail)
        except MemoryError:
            metrics.inference_error(task, "out_of_memory", 503)
            log.error("Out of memory during inference", extra={"task": task})
            return _error(503, "out of memory")
        except Exception:
            metrics.inference_error(task, "internal", 500)
            log.exception("Inference failed", extra={"task": task})
            return _error(500, "internal error")
        finally:
            admission.admitted -= 1
            metrics.inference_in_flight.set(admission.admitted)
        metrics.inference_requests.labels(task, "success").inc()
        metrics.inference_duration.labels(task).observe(time.perf_counter() - started)
        return JSONResponse(answer)

    return app
