"""What a fault cost users, as every report words it.

The figures are the journal's `impact` (gameday.traffic.impact): windows before the fault,
during it (injection to recovery) and after recovery, each with its inferences, failures by
kind, availability and latency quantiles; the failed inferences of the fault and after it, and
the share of the compressed error budget they burned. An empty impact means no load ran.
"""

from __future__ import annotations

from typing import Any

WINDOWS = ("before", "during", "after")
KINDS = ("5xx", "connection", "4xx")
QUANTILES = ("p50_ms", "p95_ms", "p99_ms")
COUNTED = ("during", "after")  # the windows the fault's failed inferences are counted in
NO_LOAD = "no load ran"


def percent(fraction: float | None, digits: int = 2) -> str:
    return "-" if fraction is None else f"{fraction:.{digits}%}"


def ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f} ms"


def failed_by_kind(impact: dict[str, Any], windows: tuple[str, ...] = COUNTED) -> dict[str, int]:
    """Failed inferences of these windows per kind; every kind, zero where none failed so."""
    return {kind: sum(impact["windows"][w]["failed_by_kind"].get(kind, 0) for w in windows)
            for kind in KINDS}


def kinds(counts: dict[str, int]) -> str:
    """"5xx 30 / connection 160", with 4xx only where some inference failed so."""
    return " / ".join(f"{kind} {n}" for kind, n in counts.items() if n or kind != "4xx")


def p95_before(impact: dict[str, Any]) -> str:
    """The p95 latency before the fault, for one during it: "vs 48.0 ms before · 2.00×"."""
    before, during = (impact["windows"][w]["p95_ms"] for w in ("before", "during"))
    text = f"vs {ms(before)} before"
    return text + (f" · {during / before:.2f}×" if during is not None and before else "")


def burned(impact: dict[str, Any]) -> str:
    """The failed inferences and the error budget they burned, as one sentence."""
    share = impact["error_budget_burned"]
    budget = ("no error budget could be counted (no rate)" if share is None
              else f"they burned {percent(share)} of the error budget")
    return (f"{impact['failed_inferences']} inferences failed during the fault and after "
            f"recovery ({kinds(failed_by_kind(impact))}); {budget}.")
