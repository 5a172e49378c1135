"""Prometheus metrics. Names and labels are a contract with the alert rules: keep them stable."""

from __future__ import annotations

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    ProcessCollector,
    disable_created_metrics,
    generate_latest,
)

disable_created_metrics()  # no *_created series: they only add noise for the alert rules

TASKS = ("captioning", "ocr", "vqa")
ERROR_REASONS = (
    "invalid_json", "invalid_request", "invalid_image", "payload_too_large", "image_too_large",
    "unknown_task", "body_timeout", "incomplete_body", "overloaded", "model_not_loaded",
    "out_of_memory", "record_failed", "internal",
)
# success; rejected: the client's bad input (4xx); overloaded: refused at once by the
# concurrency and queue bounds (503 + Retry-After); error: the service's own fault (5xx).
STATUSES = ("success", "rejected", "overloaded", "error")
DEPENDENCIES = ("postgres", "redis", "model")
AUTH_FAILURE_REASONS = ("missing", "malformed", "invalid")


class Metrics:
    """One registry per app instance, so tests can build many apps in one process."""

    def __init__(self) -> None:
        r = self.registry = CollectorRegistry()
        ProcessCollector(registry=r)  # process_resident_memory_bytes, process_cpu_seconds_total
        self.inference_requests = Counter(
            "model_inference_requests_total", "Inference requests by task and outcome",
            ["task", "status"], registry=r)
        self.inference_errors = Counter(
            "model_inference_errors_total", "Failed inference requests by task and reason",
            ["task", "reason"], registry=r)
        self.inference_duration = Histogram(
            "model_inference_duration_seconds", "Model inference time (successful requests)",
            ["task"], registry=r,
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0))
        self.inference_in_flight = Gauge(
            "model_inference_in_flight", "Inference requests admitted: running or queued",
            registry=r)
        self.model_load_failures = Counter(
            "model_load_failures_total", "Model loads that failed verification or parsing",
            registry=r)
        self.model_loaded = Gauge("model_loaded", "1 if a verified model is loaded", registry=r)
        self.model_file_verified = Gauge(
            "model_file_verified", "1 if the model file on disk matched its manifest when last "
            "checked (the loaded model keeps serving when it does not)", registry=r)
        self.db_connections_failed = Counter(
            "db_connections_failed_total", "Failed PostgreSQL connection attempts", registry=r)
        self.dependency_up = Gauge(
            "app_dependency_up", "1 if the dependency answered its last check", ["dependency"],
            registry=r)
        self.auth_failures = Counter(
            "auth_failures_total", "Inference requests refused with 401, by reason: missing "
            "(no Authorization header), malformed (not 'Bearer <key>'), invalid (no active key)",
            ["reason"], registry=r)
        self.http_requests = Counter(
            "http_requests_total", "HTTP requests by method, route template and status code",
            ["method", "handler", "status"], registry=r)
        self.memory_limit = Gauge(
            "app_memory_limit_bytes", "cgroup memory limit of the container (0 = none)",
            registry=r)
        self.upload_cache = Gauge(
            "app_upload_cache_bytes", "Image data of recent requests kept in memory "
            "(server.upload_cache_mb)", registry=r)
        self.outbox_pending = Gauge(
            "inference_outbox_pending", "Inference records waiting to be written to PostgreSQL",
            registry=r)
        self.outbox_dead_letters = Counter(
            "inference_outbox_dead_letters", "Outbox entries PostgreSQL refused as data (or that "
            "were unreadable), kept in the inference_dead_letters table", registry=r)
        # Create the series up front so rate() and absent() work before the first event.
        for task in (*TASKS, "unknown"):
            for status in STATUSES:
                self.inference_requests.labels(task, status)
            for reason in ERROR_REASONS:
                self.inference_errors.labels(task, reason)
        for task in TASKS:
            self.inference_duration.labels(task)
        for dep in DEPENDENCIES:
            self.dependency_up.labels(dep)
        for reason in AUTH_FAILURE_REASONS:
            self.auth_failures.labels(reason)

    def inference_error(self, task: str, reason: str, http_status: int) -> None:
        """A request not answered 200. Only the service's own faults are "error": error-rate
        alerts are about the service failing, and neither a caller's bad input ("rejected") nor
        the service refusing work it has no memory for ("overloaded") may page anyone."""
        task = task if task in TASKS else "unknown"  # never a raw client string as a label
        if reason == "overloaded":
            status = "overloaded"
        else:
            status = "rejected" if http_status < 500 else "error"
        self.inference_requests.labels(task, status).inc()
        self.inference_errors.labels(task, reason).inc()

    def render(self) -> bytes:
        return generate_latest(self.registry)
