"""Figures for the note and for reliability reviews (a benchmark, not a test).

Runs the whole game day on a fresh stack and prints: the wall time, each scenario's time to
detect, alert (against the theoretical floor), deliver, recover and resolve, the cost of
restoring the stack between scenarios against replacing it, and the model's inference latency
(median, p95) and resident memory after load.

    python bench/gameday.py [--scenario NAME ...] [--inferences 300]
"""

from __future__ import annotations

import argparse
import base64
import io
import statistics
import sys
import time
from pathlib import Path

sys.path[:0] = [str(Path(__file__).resolve().parents[1]),
                str(Path(__file__).resolve().parents[1] / "target" / "service")]

import httpx  # noqa: E402

from fixtures import engine, images, labels, sweep  # noqa: E402
from fixtures.clients import AppClient  # noqa: E402
from fixtures.stack import Stack  # noqa: E402
from gameday import catalog  # noqa: E402
from gameday.lifecycle import Lifecycle, ScenarioFailed  # noqa: E402


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def model_figures(stack: Stack, count: int) -> str:
    from PIL import Image

    app = AppClient(stack.endpoints.app)
    latencies = []
    for i in range(count):  # distinct images, so the cache never answers
        image = Image.new("RGB", (64, 64), (i % 256, (i * 7) % 256, (i * 13) % 256))
        buffer = io.BytesIO()
        image.save(buffer, format="PNG")
        started = time.perf_counter()
        response = app.infer(base64.b64encode(buffer.getvalue()).decode())
        latencies.append((time.perf_counter() - started) * 1000)
        response.raise_for_status()
    rss = app.metric_total("process_resident_memory_bytes") / 2**20
    limit = app.metric_total("app_memory_limit_bytes") / 2**20
    return (f"inference over {count} distinct images: median {statistics.median(latencies):.2f} ms,"
            f" p95 {percentile(latencies, 0.95):.2f} ms (client side, through the published port)"
            f"\nresident memory after load and {count} inferences: {rss:.1f} MiB "
            f"(limit {limit:.0f} MiB, {100 * rss / limit:.1f}%)")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scenario", action="append", default=[])
    parser.add_argument("--inferences", type=int, default=300)
    args = parser.parse_args()
    chosen = [catalog.get(n) for n in args.scenario] or list(catalog.SCENARIOS)

    engine.ensure_engine()
    sweep.sweep_stale(engine.client())
    refs = images.build_all(log=lambda line: None)
    wall = time.monotonic()
    started = time.monotonic()
    stack = Stack(refs, labels.new_run_id()).__enter__()
    start_seconds = time.monotonic() - started
    rows, restores, failures = [], [], 0
    try:
        for scenario in chosen:
            try:
                figures = Lifecycle(stack, scenario).run().figures
                result = "passed"
            except ScenarioFailed as failed:
                figures, result, failures = {}, f"FAILED {failed.category}", failures + 1
            restore_started = time.monotonic()
            stack.wait_healthy()
            restores.append(time.monotonic() - restore_started)
            rows.append((scenario.name, result, figures))
        gameday_seconds = time.monotonic() - wall
        model = model_figures(stack, args.inferences)
    finally:
        stack.stop()
    replace_started = time.monotonic()
    with Stack(refs, labels.new_run_id()) as replacement:
        replacement.wait_healthy()
    replace_seconds = time.monotonic() - replace_started

    print(f"\ngame day: {len(chosen)} scenarios in {gameday_seconds:.1f} s wall time "
          f"(stack start {start_seconds:.1f} s included), {failures} failed")
    print(f"{'scenario':16} {'result':10} {'detect':>7} {'pending':>8} {'alert':>7} {'floor':>6} "
          f"{'ratio':>6} {'deliver':>8} {'recover':>8} {'resolved':>9}")
    ratios = []
    for name, result, f in rows:
        ratio = f["time_to_alert"] / f["alert_floor"] if f.get("alert_floor") else None
        if ratio:
            ratios.append(ratio)

        def cell(key: str, width: int, f: dict = f) -> str:
            return f"{f[key]:{width}.2f}" if f.get(key) is not None else " " * (width - 1) + "-"

        print(f"{name:16} {result:10} {cell('time_to_detect', 7)} {cell('time_to_pending', 8)} "
              f"{cell('time_to_alert', 7)} {cell('alert_floor', 6)} "
              f"{ratio if ratio is None else round(ratio, 2)!s:>6} {cell('time_to_delivered', 8)} "
              f"{cell('time_to_recover', 8)} {cell('time_to_alert_resolved', 9)}")
    if ratios:
        print(f"time to alert / floor: median {statistics.median(ratios):.2f}, "
              f"max {max(ratios):.2f} (target <= 1.5)")
    print(f"isolation: restore median {statistics.median(restores):.1f} s "
          f"(max {max(restores):.1f} s) vs replace {replace_seconds:.1f} s "
          f"=> ratio {replace_seconds / max(statistics.median(restores), 0.01):.0f}x")
    print(model)
    return 1 if failures else 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except httpx.HTTPError as error:
        print(f"bench failed: {error}", file=sys.stderr)
        sys.exit(2)
