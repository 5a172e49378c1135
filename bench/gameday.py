"""Figures for the note and for reliability reviews: a benchmark that prints, never asserts.

Runs the chosen scenarios (default: the whole catalog) `--repeat` times through the game day's
own runner, gameday.lifecycle.Lifecycle, with the session's observers (console progress, and
the journal writer, which keeps the journals in memory too), on the stack the test session
uses (fixtures.stack_manager.StackManager, which times start, restore and replace). Prints
each scenario's median figures (the page's deadline among them), the alert's delay after the
symptom against its expected delay (information only: the alert's budget is its deadline),
restoring the stack against replacing it, and the model's inference latency (median, p95) and
resident memory after load.

    python bench/gameday.py [--scenario NAME ...] [--repeat N] [--inferences 300]
                            [--load-rate R ...]

With two or more --load-rate values (e.g. `--load-rate 0 --load-rate 50`), each scenario runs
once at every rate in turn, repeat after repeat (interleaved, so that a machine that gets
busier over time burdens both alike), and the wall time of each scenario (run and restore)
is printed per rate with the ratio of the totals of the medians.
"""

from __future__ import annotations

import argparse
import base64
import io
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# As pytest's pythonpath (pyproject.toml): the project, and the service the faults build on.
sys.path[:0] = [str(ROOT), str(ROOT / "target" / "service")]

from fixtures.clients import AppClient  # noqa: E402
from fixtures.stack_manager import StackManager  # noqa: E402
from gameday import catalog  # noqa: E402
from gameday.journal import Figure, Journal, Result  # noqa: E402
from gameday.lifecycle import Lifecycle  # noqa: E402
from gameday.observers import ConsoleProgress, JournalFile  # noqa: E402
from gameday.traffic import DEFAULT_RATE  # noqa: E402
from reporting import REPORTS  # noqa: E402
from reporting.journals import alert_ratio  # noqa: E402


def median(values: list[float | None]) -> float | None:
    known = [v for v in values if v is not None]
    return statistics.median(known) if known else None


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def model_figures(base_url: str, count: int, api_key: str | None = None) -> str:
    from PIL import Image

    app = AppClient(base_url, api_key=api_key)
    latencies = []
    for i in range(count):  # distinct images, so the cache never answers
        image = Image.new("RGB", (64, 64), (i % 256, (i * 7) % 256, (i * 13) % 256))
        buffer = io.BytesIO()
        image.save(buffer, format="PNG")
        started = time.perf_counter()
        response = app.infer(base64.b64encode(buffer.getvalue()).decode())
        latencies.append((time.perf_counter() - started) * 1000)
        if response.status_code != 200:
            return f"inference failed after {i} images: {response.status_code} {response.text}"
    rss = app.metric_total("process_resident_memory_bytes") / 2**20
    limit = app.metric_total("app_memory_limit_bytes") / 2**20
    return (f"inference over {count} distinct images: median {statistics.median(latencies):.2f} ms,"
            f" p95 {percentile(latencies, 0.95):.2f} ms (client side, through the published port)"
            f"\nresident memory after load and {count} inferences: {rss:.1f} MiB "
            f"(limit {limit:.0f} MiB, {100 * rss / limit:.1f}%)")


def print_figures(journals: list[Journal]) -> None:
    """One row per scenario: how its runs ended, and the median of every figure."""
    names = [name.value.removeprefix("time_to_") for name in Figure]
    widths = [max(len(n), 6) for n in names]
    print(f"{'scenario':32} {'runs':9} " + " ".join(f"{n:>{w}}" for n, w in zip(
        names, widths, strict=True)) + "  alert/expected")
    ratios: list[float] = []
    for scenario in dict.fromkeys(j.scenario for j in journals):
        runs = [j for j in journals if j.scenario == scenario]
        passed = sum(j.result == Result.PASSED for j in runs)
        failures = sorted({j.failure.category.value for j in runs if j.failure})
        cells = []
        for name, width in zip(Figure, widths, strict=True):
            value = median([j.figures.get(name.value) for j in runs])
            cells.append(f"{value:{width}.2f}" if value is not None else f"{'-':>{width}}")
        ratio = median([alert_ratio(j.figures) for j in runs])
        ratios += [r for r in (alert_ratio(j.figures) for j in runs) if r is not None]
        print(f"{scenario:32} {f'{passed}/{len(runs)} ok':9} " + " ".join(cells)
              + f"  {'-' if ratio is None else f'{ratio:.2f}'}"
              + (f"  failed: {', '.join(failures)}" if failures else ""))
    if ratios:
        print(f"alert after the symptom / expected delay: median {statistics.median(ratios):.2f}, "
              f"max {max(ratios):.2f}")


def print_load_comparison(walls: dict[tuple[str, float], list[float]],
                          rates: list[float]) -> None:
    """Median wall seconds per scenario and rate; totals and their ratio to the first rate."""
    print(f"\n{'scenario':32} " + " ".join(f"{f'{r:g}/s':>10}" for r in rates) + "   (median s)")
    totals = dict.fromkeys(rates, 0.0)
    for scenario in dict.fromkeys(name for name, _ in walls):
        cells = []
        for rate in rates:
            value = median(walls.get((scenario, rate), []))
            totals[rate] += value or 0.0
            cells.append(f"{value:10.1f}" if value is not None else f"{'-':>10}")
        print(f"{scenario:32} " + " ".join(cells))
    base = totals[rates[0]] or 1.0
    print(f"{'sum of medians':32} " + " ".join(f"{totals[r]:10.1f}" for r in rates))
    print(f"{'ratio to ' + format(rates[0], 'g') + '/s':32} "
          + " ".join(f"{totals[r] / base:10.2f}" for r in rates))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scenario", action="append", default=[])
    parser.add_argument("--repeat", type=int, default=1, help="runs of each scenario")
    parser.add_argument("--inferences", type=int, default=300)
    parser.add_argument("--time-compression", type=float, default=None)
    parser.add_argument("--load-rate", type=float, action="append", default=[],
                        help=f"inferences a second during each scenario (default {DEFAULT_RATE:g})")
    args = parser.parse_args()
    rates = args.load_rate or [DEFAULT_RATE]
    chosen = [catalog.get(n) for n in args.scenario] or list(catalog.SCENARIOS)

    manager = StackManager(args.time_compression)
    journals = JournalFile(REPORTS / "journals")  # keeps them, figures included, in memory
    try:
        wall = time.monotonic()
        walls: dict[tuple[str, float], list[float]] = {}
        for _ in range(args.repeat):
            for scenario in chosen:
                for rate in rates:
                    started = time.monotonic()
                    try:
                        Lifecycle(manager.get(), scenario, load_rate=rate,
                                  observers=(journals, ConsoleProgress())).run()
                    except Exception as error:  # the journal holds how it ended; bench goes on
                        print(f"{scenario.name} at {rate:g}/s: {error!r}"[:400], file=sys.stderr)
                    manager.restore()
                    walls.setdefault((scenario.name, rate), []).append(
                        time.monotonic() - started)
        gameday_seconds = time.monotonic() - wall
        model = model_figures(manager.get().endpoints.app, args.inferences,
                              manager.get().api_key)
        manager.replace()
    finally:
        manager.close()

    stack = {name: median(values) for name, values in manager.figures.items()}
    print(f"\ngame day: {len(journals.kept)} scenario runs in {gameday_seconds:.1f} s wall time "
          f"(stack start {manager.figures['start'][0]:.1f} s included)")
    print_figures(journals.kept)
    if len(rates) > 1:
        print_load_comparison(walls, rates)
    print(f"stack: start {stack['start']:.1f} s, restore median {stack['restore'] or 0:.1f} s "
          f"({len(manager.figures['restore'])} restores), replace {stack['replace']:.1f} s "
          f"=> replace / restore {stack['replace'] / max(stack['restore'] or 0, 0.01):.0f}x")
    print(model)
    return 0


if __name__ == "__main__":
    sys.exit(main())
