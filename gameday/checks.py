"""The runbook's validation steps as named checks, runnable against any deployment.

Each check takes the deployment's endpoints, returns a one-line account of what it saw, and
raises CheckFailed naming itself and what it saw instead. The game-day lifecycle, the smoke
tests and `make synthetic url=...` all run these same checks.
"""

from __future__ import annotations

import base64
import concurrent.futures
from collections.abc import Callable
from dataclasses import dataclass

import httpx

from fixtures.clients import AppClient, Endpoints, PrometheusClient, wait_until

APP_JOB = "mobile-multimodal-app"


class CheckFailed(AssertionError):
    def __init__(self, check: str, saw: str) -> None:
        super().__init__(f"{check}: {saw}")
        self.check = check
        self.saw = saw


@dataclass(frozen=True)
class Check:
    name: str
    run: Callable[[Endpoints], str]
    needs: str = "app"  # the endpoint it needs: app | prometheus | alertmanager


def tiny_png_b64() -> str:
    from mmllm.testimages import red_circle_png

    return base64.b64encode(red_circle_png()).decode()


def _expect(check: str, response: httpx.Response, status: int) -> dict:
    if response.status_code != status:
        raise CheckFailed(check, f"HTTP {response.status_code}: {response.text[:300]}")
    try:
        return response.json()
    except ValueError:
        raise CheckFailed(check, f"not JSON: {response.text[:200]}") from None


def check_health(endpoints: Endpoints) -> str:
    body = _expect("health", AppClient.of(endpoints).health(), 200)
    if body.get("status") != "healthy":
        raise CheckFailed("health", f"status {body.get('status')!r}")
    return f"healthy; checks: {', '.join(sorted(body.get('checks', {})))}"


def check_alive(endpoints: Endpoints) -> str:
    _expect("alive", AppClient.of(endpoints).alive(), 200)
    return "alive"


def check_ready(endpoints: Endpoints) -> str:
    body = _expect("ready", AppClient.of(endpoints).ready(), 200)
    return f"ready; checks: {', '.join(sorted(body.get('checks', {})))}"


def check_inference(endpoints: Endpoints) -> str:
    body = _expect("inference", AppClient.of(endpoints).infer(tiny_png_b64()), 200)
    if not str(body.get("result", "")).strip():
        raise CheckFailed("inference", f"empty result in {body}")
    return f"captioned {body['result']!r} in {body.get('latency_ms')} ms"


def check_inference_counted(endpoints: Endpoints) -> str:
    app = AppClient.of(endpoints)
    before = app.metric_total("model_inference_requests_total")
    _expect("inference-counted", app.infer(tiny_png_b64()), 200)
    after = app.metric_total("model_inference_requests_total")
    if after < before + 1:
        raise CheckFailed("inference-counted",
                          f"model_inference_requests_total {before} -> {after}")
    return f"model_inference_requests_total {before:g} -> {after:g}"


def check_bad_request(endpoints: Endpoints) -> str:
    # The runbook's literal example body is not an image: a clear client error, never a 5xx.
    response = AppClient.of(endpoints).infer("base64_test_image")
    if not 400 <= response.status_code < 500:
        raise CheckFailed("bad-request", f"HTTP {response.status_code}: {response.text[:200]}")
    return f"HTTP {response.status_code}: {response.json().get('error')}"


def check_key_required(endpoints: Endpoints) -> str:
    # Without a key, inference is refused: 401 with a Bearer challenge, never served.
    response = AppClient(endpoints.app).infer(tiny_png_b64())
    challenge = response.headers.get("www-authenticate", "")
    if response.status_code != 401 or not challenge.startswith("Bearer"):
        raise CheckFailed("key-required", f"without a key: HTTP {response.status_code}, "
                          f"WWW-Authenticate {challenge!r}: {response.text[:200]}")
    return f"without a key: HTTP 401, WWW-Authenticate {challenge}"


def check_concurrent_health(endpoints: Endpoints, count: int = 10) -> str:
    with concurrent.futures.ThreadPoolExecutor(count) as pool:
        codes = list(pool.map(lambda _: AppClient.of(endpoints).health().status_code,
                              range(count)))
    if any(code != 200 for code in codes):
        raise CheckFailed("concurrent-health", f"status codes {codes}")
    return f"{count} concurrent health checks: all 200"


def check_prometheus_up(endpoints: Endpoints) -> str:
    prometheus = PrometheusClient(str(endpoints.prometheus))
    query = f'up{{job="{APP_JOB}"}}'
    try:
        wait_until(lambda: prometheus.value(query) == 1.0, timeout=20, what=f"{query} == 1")
    except TimeoutError:
        raise CheckFailed("prometheus-up", f"{query} = {prometheus.value(query)}") from None
    return f"{query} = 1"


def check_alertmanager(endpoints: Endpoints) -> str:
    response = httpx.get(f"{endpoints.alertmanager}/api/v2/status", timeout=10)
    body = _expect("alertmanager", response, 200)
    return f"alertmanager {body.get('versionInfo', {}).get('version')} cluster " \
           f"{body.get('cluster', {}).get('status')}"


CHECKS: tuple[Check, ...] = (
    Check("health", check_health),
    Check("alive", check_alive),
    Check("ready", check_ready),
    Check("inference", check_inference),
    Check("inference-counted", check_inference_counted),
    Check("bad-request", check_bad_request),
    Check("key-required", check_key_required),
    Check("concurrent-health", check_concurrent_health),
    Check("prometheus-up", check_prometheus_up, needs="prometheus"),
    Check("alertmanager", check_alertmanager, needs="alertmanager"),
)


def applicable(endpoints: Endpoints) -> list[Check]:
    return [check for check in CHECKS if getattr(endpoints, check.needs)]


def run_all(endpoints: Endpoints) -> dict[str, str]:
    """Run every check the endpoints allow; stop at the first failure (CheckFailed)."""
    return {check.name: check.run(endpoints) for check in applicable(endpoints)}
