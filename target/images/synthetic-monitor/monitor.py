#!/usr/bin/env python3
"""The synthetic monitor of the Mobile Multi-Modal LLM service, in the style of Prometheus'
blackbox exporter: it runs the probes and golden inferences of monitoring/health-checks.yml,
each on its own interval, and exports what it saw for Prometheus to scrape.

    python monitor.py --config monitoring/health-checks.yml [--base-url http://HOST:8080]
                      [--key KEY | --key-file FILE] [--listen 0.0.0.0] [--port 9115]

`make monitor url=http://HOST:8080 key=KEY` runs it against any deployment from a checkout,
with its metrics on 127.0.0.1:9115 (port=N to change).

Metrics (GET /metrics):
  probe_success{check,reason}     1 when the last probe passed (reason="ok"), else 0 with why:
                                  timeout, refused, status, wrong-answer, error
  probe_duration_seconds{check}   how long the last probe took
  synthetic_probes_total{check,reason}  every probe, counted: the SLOs' good and all events
  inference_answer_correct{task}  1 when every golden inference of the task last answered
                                  right, 0 when one answered wrong (a failed request leaves it)
  synthetic_monitor_build_info{version,config_sha256}
It logs one JSON line when a check changes state, and a summary of every check each minute.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import json
import os
import re
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import yaml
from prometheus_client import CollectorRegistry, Counter, Gauge, start_http_server

VERSION = "1.0.0"
REASONS = ("ok", "timeout", "refused", "status", "wrong-answer", "error")
_UNITS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600}
SUMMARY_SECONDS = 60.0


def seconds(duration: str) -> float:
    parts = re.findall(r"(\d+)(ms|s|m|h)", str(duration))
    if not parts or "".join(n + u for n, u in parts) != str(duration):
        raise ValueError(f"not a duration: {duration!r}")
    return sum(int(n) * _UNITS[u] for n, u in parts)


@dataclass
class Check:
    """One request on an interval and what a good answer is."""

    name: str
    method: str
    path: str
    interval: float
    timeout: float
    expect_status: int = 200
    body: dict[str, Any] | None = None
    expect_json: dict[str, Any] = field(default_factory=dict)
    expect_contains: list[str] = field(default_factory=list)
    expect_result: str | None = None  # a golden inference's answer
    task: str | None = None

    def judge(self, response: httpx.Response) -> str:
        if response.status_code != self.expect_status:
            return "status"
        if self.expect_json or self.expect_result is not None:
            try:
                data = response.json()
            except ValueError:
                return "error"
            if any(data.get(k) != v for k, v in self.expect_json.items()):
                return "status"
            if self.expect_result is not None and data.get("result") != self.expect_result:
                return "wrong-answer"
        if any(text not in response.text for text in self.expect_contains):
            return "error"
        return "ok"


def load_checks(path: Path) -> list[Check]:
    """Every probe and golden inference of health-checks.yml."""
    config = yaml.safe_load(path.read_text())
    defaults = config.get("defaults", {})

    def image(relative: str) -> str:
        return base64.b64encode((path.parent / relative).read_bytes()).decode()

    checks = []
    for probe in config.get("probes", []):
        body = dict(probe.get("body") or {})
        if "image" in probe:
            body["image"] = image(probe["image"])
        checks.append(Check(
            name=probe["name"], method=probe.get("method", "GET"), path=probe["path"],
            interval=seconds(probe.get("interval", defaults.get("interval", "30s"))),
            timeout=seconds(probe.get("timeout", defaults.get("timeout", "10s"))),
            expect_status=probe.get("expect_status", 200), body=body or None,
            expect_json=probe.get("expect_json") or {},
            expect_contains=probe.get("expect_contains") or []))
    golden = config.get("golden") or {}
    for inference in golden.get("inferences", []):
        body = {"task": inference["task"], "image": image(inference["image"])}
        if inference.get("question"):
            body["question"] = inference["question"]
        checks.append(Check(
            name=inference["name"], method="POST", path="/model/inference",
            interval=seconds(golden.get("interval", "30s")),
            timeout=seconds(golden.get("timeout", "30s")), body=body,
            expect_result=inference["expect"], task=inference["task"]))
    names = [c.name for c in checks]
    if len(set(names)) != len(names):
        raise ValueError(f"{path}: check names must be unique: {names}")
    return checks


class Monitor:
    def __init__(self, checks: list[Check], base_url: str, key: str | None,
                 key_file: Path | None, config_sha256: str) -> None:
        self.checks = checks
        self.base_url = base_url.rstrip("/")
        self.key, self.key_file = key, key_file
        self.registry = CollectorRegistry()
        self.success = Gauge("probe_success", "1 if the last probe passed, else 0 and why",
                             ["check", "reason"], registry=self.registry)
        self.duration = Gauge("probe_duration_seconds", "How long the last probe took",
                              ["check"], registry=self.registry)
        self.probes = Counter("synthetic_probes", "Probes run, by outcome",
                              ["check", "reason"], registry=self.registry)
        self.correct = Gauge("inference_answer_correct",
                             "1 if every golden inference of the task last answered right",
                             ["task"], registry=self.registry)
        Gauge("synthetic_monitor_build_info", "The monitor's version and configuration",
              ["version", "config_sha256"], registry=self.registry
              ).labels(VERSION, config_sha256).set(1)
        for check in checks:
            for reason in REASONS:  # every series exists from the start: rate() needs them
                self.probes.labels(check.name, reason)
        self.state: dict[str, str] = {}
        self.answers: dict[str, bool] = {}  # golden check -> answered right
        self.lock = threading.Lock()
        self.stop = threading.Event()

    def _headers(self) -> dict[str, str]:
        key = self.key
        if self.key_file:  # re-read every time: a rotation replaces the file's first line
            try:
                lines = self.key_file.read_text().splitlines()
                key = next((ln.strip() for ln in lines
                            if ln.strip() and not ln.startswith("#")), key)
            except OSError:
                pass
        return {"Authorization": f"Bearer {key}"} if key else {}

    def probe(self, check: Check, http: httpx.Client) -> str:
        started = time.monotonic()
        try:
            response = http.request(check.method, self.base_url + check.path, json=check.body,
                                    headers=self._headers(), timeout=check.timeout)
            reason = check.judge(response)
        except httpx.TimeoutException:
            reason = "timeout"
        except httpx.ConnectError:
            reason = "refused"
        except httpx.HTTPError:
            reason = "error"
        self.record(check, reason, time.monotonic() - started)
        return reason

    def record(self, check: Check, reason: str, took: float) -> None:
        with self.lock:
            before = self.state.get(check.name)
            if before is not None and before != reason:  # one series per check: the last
                self.success.remove(check.name, before)
            self.state[check.name] = reason
            self.success.labels(check.name, reason).set(1 if reason == "ok" else 0)
            self.duration.labels(check.name).set(round(took, 4))
            self.probes.labels(check.name, reason).inc()
            if check.task and reason in ("ok", "wrong-answer"):
                self.answers[check.name] = reason == "ok"
                verdicts = [self.answers[c.name] for c in self.checks
                            if c.task == check.task and c.name in self.answers]
                self.correct.labels(check.task).set(1 if all(verdicts) else 0)
        if before != reason:
            log("check changed", check=check.name, before=before, now=reason,
                seconds=round(took, 4))

    def run_check(self, check: Check, offset: float) -> None:
        if self.stop.wait(offset):
            return
        with httpx.Client() as http:
            while not self.stop.is_set():
                started = time.monotonic()
                self.probe(check, http)
                self.stop.wait(max(0.0, check.interval - (time.monotonic() - started)))

    def run(self, summary_every: float = SUMMARY_SECONDS) -> None:
        # Spread over their interval, never all at once: three golden inferences arriving
        # together took two users' places in the service's admission queue (measured: two
        # inferences refused as overloaded at 50 requests/s).
        threads = [threading.Thread(target=self.run_check, name=c.name, daemon=True,
                                    args=(c, c.interval * i / len(self.checks)))
                   for i, c in enumerate(self.checks)]
        for thread in threads:
            thread.start()
        while not self.stop.wait(summary_every):
            with self.lock:
                log("summary", checks=dict(self.state))


def log(message: str, **fields: object) -> None:
    entry = {"ts": datetime.now(UTC).isoformat(timespec="milliseconds"), "level": "INFO",
             "logger": "synthetic-monitor", "message": message, **fields}
    print(json.dumps(entry), flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Synthetic monitor of the inference service")
    parser.add_argument("--config", type=Path, required=True, help="health-checks.yml")
    parser.add_argument("--base-url", help="the service (default: base_url of the config)")
    parser.add_argument("--key", default=os.environ.get("MMLLM_API_KEY"),
                        help="the API key for inferences (default: env MMLLM_API_KEY)")
    parser.add_argument("--key-file", type=Path, help="a keys file; its first key is used")
    parser.add_argument("--listen", default="0.0.0.0")
    parser.add_argument("--port", type=int, default=9115)
    parser.add_argument("--summary-every", type=float, default=SUMMARY_SECONDS,
                        help="seconds between two summaries of every check's state")
    args = parser.parse_args(argv)
    raw = args.config.read_bytes()
    checks = load_checks(args.config)
    base_url = args.base_url or yaml.safe_load(raw)["base_url"]
    monitor = Monitor(checks, base_url, args.key, args.key_file,
                      hashlib.sha256(raw).hexdigest()[:12])
    start_http_server(args.port, addr=args.listen, registry=monitor.registry)
    log("synthetic monitor started", base_url=base_url, listen=f"{args.listen}:{args.port}",
        checks={c.name: c.interval for c in checks})
    try:
        monitor.run(args.summary_every)
    except KeyboardInterrupt:
        monitor.stop.set()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
