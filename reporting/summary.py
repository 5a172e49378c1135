"""The game-day summary of one run: reports/summary/<run_id>.md and a self-contained .html.

Scenarios with their result, their times to detect / alert / recover against the budgets and
what the fault cost users (availability, failures, error budget, p95 latency), a chart of that
cost per window, a timeline per scenario, and the trends of the last runs from
reports/history.jsonl.
latest.md and latest.html are copies of the newest run's summary.
"""

from __future__ import annotations

from collections.abc import Iterable
from html import escape
from pathlib import Path
from typing import Any

from gameday.journal import Category, Figure, Journal, Result
from gameday.redact import write_text
from reporting import REPORTS, charts, cost, fmt, history, journals
from reporting.journals import LABELS, figure

SUMMARY = "summary"
TREND_RUNS = 10
TRENDS = (Figure.TIME_TO_ALERT, Figure.TIME_TO_RECOVER, Figure.TIME_TO_SELF_HEAL)
USERS = ("availability during the fault", "failed (5xx / connection)", "budget burned",
         "p95 during vs before")
# Said once above the table; no mark word in it, as a passed run's page shows none.
BUDGETS = ("Budgets: detect and recover per scenario; the alert's deadline is the catalog's "
           "maximum delay after detection, for the page to reach the receiver. A figure turns "
           "red only where the run failed on it")


# ---- the data -------------------------------------------------------------------------------
def _measure(journal: Journal, measure: journals.Measure, value: float | None,
             budget: float | None) -> dict[str, Any]:
    return {"seconds": value, "budget": budget, "ratio": fmt.ratio(value, budget),
            "state": journals.verdict(journal, measure, value, budget)}


def scenario_row(journal: Journal) -> dict[str, Any]:
    budgeted = journals.budgeted(journal)
    return {
        "scenario": journal.scenario, "title": journal.title, "result": journal.result.value,
        "failure": journals.failure_tag(journal),
        "message": journal.failure.message if journal.failure else "",
        "detect": _measure(journal, "detect", *budgeted["detect"]),
        "alert": {**_measure(journal, "alert", *budgeted["alert"]),
                  "firing": figure(journal, Figure.TIME_TO_ALERT),
                  "after_symptom": figure(journal, Figure.ALERT_AFTER_SYMPTOM),
                  "expected": figure(journal, Figure.EXPECTED_ALERT_DELAY),
                  # Information only: how the rule's delay compares with what it should take.
                  "expected_ratio": journals.alert_ratio(journal.figures),
                  "nobody_paged": journals.nobody_paged(journal),
                  "paged": journals.category(journal) == Category.PAGED},
        "recover": {**_measure(journal, "recover", *budgeted["recover"]),
                    "by_itself": journals.healed_by_itself(journal)},
        "back_to_healthy": journals.back_to_healthy(journal),
        "impact": journal.impact,
        "user_impact": journals.failed_on(journal, "users"),
        "incident": f"../incidents/{journal.run_id}/{journal.scenario}.md",
    }


def build(run_id: str, run: list[Journal], root: Path = REPORTS, runs: int = TREND_RUNS,
          secrets: Iterable[str] = ()) -> dict[str, Any]:
    """The summary of one run's real journals as data; records them in the history file."""
    run = [journals.redacted(j, secrets) for j in run]
    past = history.record(run, root / "history.jsonl")
    starts = [j.started_at for j in run if j.started_at is not None]
    results = [j.result for j in run]
    return {
        "run_id": run_id,
        "started": min(starts, default=None),
        "compression_factor": run[0].compression_factor if run else None,
        "counts": {r.value: results.count(r) for r in (Result.PASSED, Result.FAILED,
                                                       Result.BROKEN)},
        "rows": [scenario_row(j) for j in run],
        "journals": run,
        "trends": {j.scenario: history.last_runs(past, j.scenario, run_id, runs) for j in run},
    }


def _cell(kind: str, f: dict[str, Any]) -> tuple[str, str, str | None]:
    """One figure of a row as (value, note, state); the state is journals.verdict's."""
    if kind == "alert":
        return _alert_cell(f)
    if f["seconds"] is None:
        return "-", "", f["state"]
    note = f"budget {fmt.seconds(f['budget'], 0)} · {f['ratio']:.2f}×"
    if kind == "recover" and f["by_itself"]:
        note += " · healed by itself"
    return f"{f['seconds']:.2f} s", note, f["state"]


def _alert_cell(f: dict[str, Any]) -> tuple[str, str, str | None]:
    """The page's arrival against its deadline; when the rule fired, how that compares with
    its expected delay (information, never a mark)."""
    if f["nobody_paged"]:
        return "nobody paged", "healed by itself", "within"
    if f["paged"]:
        return "paged", "the deployment promises to heal this by itself", f["state"]
    notes = [] if f["budget"] is None else [f"deadline {fmt.seconds(f['budget'], 2)}"]
    if f["firing"] is not None:
        notes.append(f"fired {fmt.seconds(f['firing'], 2)}")
    if f["after_symptom"] is not None and f["expected_ratio"] is not None:
        notes.append(f"{f['after_symptom']:.2f} s after the symptom, "
                     f"{f['expected_ratio']:.2f}× expected")
    if f["seconds"] is not None:
        value = f"{f['seconds']:.2f} s"
    else:  # the lifecycle stops waiting at the deadline: a late page has no arrival time
        value = "not delivered by its deadline" if f["state"] == "over" else "-"
    return value, " · ".join(notes), f["state"]


def _user_cells(row: dict[str, Any]) -> list[tuple[str, str, str | None]]:
    """The USERS columns of a row as (value, note, state): a run that failed on what the
    fault cost users (or on too little load to judge it) is marked on the failed count, or
    on "no load ran"."""
    impact, over = row["impact"], "over" if row["user_impact"] else None
    if not impact:
        return [(cost.NO_LOAD, "", over)] + [("-", "", None)] * (len(USERS) - 1)
    windows = impact["windows"]
    return [(cost.percent(windows["during"]["availability"]), "", None),
            (str(impact["failed_inferences"]), cost.kinds(cost.failed_by_kind(impact)), over),
            (cost.percent(impact["error_budget_burned"]), "", None),
            (cost.ms(windows["during"]["p95_ms"]), cost.p95_before(impact), None)]


def _trends(rows: list[dict[str, Any]]) -> list[tuple[Figure, list[float | None]]]:
    """The trend figures this scenario has a value for, with their values oldest first."""
    series = [(name, [r.get(name.value) for r in rows]) for name in TRENDS]
    return [(name, values) for name, values in series if any(v is not None for v in values)]


def _values(values: list[float | None]) -> str:
    return " → ".join("-" if v is None else f"{v:.1f}" for v in values) + " s"


# ---- markdown -------------------------------------------------------------------------------
def _md_cell(kind: str, f: dict[str, Any]) -> str:
    return _md(*_cell(kind, f))


def _md(value: str, note: str, state: str | None) -> str:
    mark = {"within": " ✅", "over": " ❌ over", None: ""}[state]
    return value + (f" ({note})" if note else "") + mark


def render_markdown(summary: dict[str, Any]) -> str:
    c = summary["counts"]
    lines = [f"# Game day {summary['run_id']}", "",
             f"Started {fmt.utc(summary['started'], millis=False)}; "
             f"{len(summary['rows'])} scenarios: {c['passed']} passed, {c['failed']} failed, "
             f"{c['broken']} broken. Alert durations compressed "
             f"x{summary['compression_factor'] or 1:g}. {BUDGETS}.", ""]
    if not summary["rows"]:
        lines.append("No real scenario ran in this run.")
    else:
        lines += ["| scenario | result | time to detect | time to alert (delivered) | time to "
                  "recover | " + " | ".join(USERS) + " | incident |",
                  "| --- " * (6 + len(USERS)) + "|"]
        for r in summary["rows"]:
            result = r["result"] + (f" ({r['failure']})" if r["failure"] else "")
            users = " | ".join(_md(*cell) for cell in _user_cells(r))
            lines.append(f"| {r['scenario']} | {fmt.md_cell(result)} | "
                         f"{_md_cell('detect', r['detect'])} | {_md_cell('alert', r['alert'])} "
                         f"| {_md_cell('recover', r['recover'])} | {users} | "
                         f"[report]({r['incident']}) |")
    failed = [r for r in summary["rows"] if r["message"]]
    if failed:
        lines += ["", "## Failures", ""]
        lines += [f"- **{r['scenario']}** [{r['failure']}] {fmt.md_cell(r['message'])}"
                  for r in failed]
    lines += ["", "## Phases", ""]
    for j in summary["journals"]:
        phases = " → ".join(f"{p.name.value} {fmt.seconds(p.seconds)}" + ("" if p.ok else " ✗")
                            for p in j.phases)
        lines.append(f"- {j.scenario}: {phases}")
    lines += ["", "## Trends (last runs, oldest first)", "",
              "| scenario | runs | figures | results |", "| --- | --- | --- | --- |"]
    for scenario, rows in summary["trends"].items():
        results = " ".join("✅" if r["result"] == Result.PASSED else "❌" for r in rows)
        figures = "; ".join(f"{LABELS[name]} {fmt.spark(values)} {_values(values)}"
                            for name, values in _trends(rows))
        lines.append(f"| {scenario} | {len(rows)} | {figures} | {results} |")
    return "\n".join(lines) + "\n"


# ---- HTML -----------------------------------------------------------------------------------
CSS = """
body{font:14px/1.45 system-ui,-apple-system,Segoe UI,Roboto,sans-serif;color:#222;margin:24px;
max-width:1280px}
h1{font-size:22px;margin:0 0 4px}h2{font-size:17px;margin:28px 0 6px}
.muted{color:#777}table{border-collapse:collapse;margin:8px 0;width:100%}
th,td{border-bottom:1px solid #e3e3e3;padding:6px 8px;text-align:left;vertical-align:top}
th{background:#f6f6f6;font-weight:600}td.num,td.cost{white-space:nowrap}td small{white-space:normal}
.passed{color:#1d7a3a;font-weight:600}.failed,.broken{color:#c0262d;font-weight:600}
.over{color:#c0262d}.within{color:#1d7a3a}small{color:#666}
.card{border:1px solid #e3e3e3;border-radius:6px;padding:10px 14px;margin:12px 0}
.failure{background:#fff2f2;border-left:3px solid #c0262d;padding:6px 10px;white-space:pre-wrap;
font-family:ui-monospace,monospace;font-size:12px}
svg text{font:11px system-ui,sans-serif}svg .lane{text-anchor:end;fill:#444}
svg .tick{text-anchor:middle;fill:#777}svg .mark{font-size:10px}
.dots span{display:inline-block;width:9px;height:9px;border-radius:50%;margin-right:2px}
.dot-passed{background:#3a3}.dot-failed,.dot-broken{background:#d33}
"""


def _html_cell(kind: str, f: dict[str, Any]) -> str:
    return _td(*_cell(kind, f))


def _td(value: str, note: str, state: str | None, kind: str = "num") -> str:
    note += " · over budget" if state == "over" else ""
    state = state or ("muted" if kind == "num" else "")
    return (f'<td class="{kind} {state}">{escape(value)}'
            + (f"<br><small>{escape(note)}</small>" if note else "") + "</td>")


def _cost_chart(summary: dict[str, Any]) -> list[str]:
    slo = next((r["impact"]["slo"] for r in summary["rows"] if r["impact"]), None)
    return ["<h2>What the faults cost users</h2><p class=\"muted\">Inferences of the load, "
            "before the fault, during it (injection to recovery) and after recovery: their "
            f"availability and p95 latency. SLO: {escape(slo or cost.NO_LOAD)}.</p>",
            charts.impact_svg([(r["scenario"], r["impact"]) for r in summary["rows"]])]


def render_html(summary: dict[str, Any]) -> str:
    c = summary["counts"]
    e = escape
    out = ["<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">',
           f"<title>Game day {e(summary['run_id'])}</title><style>{CSS}</style></head><body>",
           f"<h1>Game day {e(summary['run_id'])}</h1>",
           f'<p class="muted">Started {fmt.utc(summary["started"], millis=False)} · '
           f'{len(summary["rows"])} scenarios: <span class="passed">{c["passed"]} passed</span>, '
           f'<span class="failed">{c["failed"]} failed</span>, {c["broken"]} broken · alert '
           f'durations compressed ×{summary["compression_factor"] or 1:g} · {e(BUDGETS)}.</p>']
    if not summary["rows"]:
        out.append("<p>No real scenario ran in this run.</p>")
    else:
        users = "".join(f"<th>{e(name.capitalize())}</th>" for name in USERS)
        out.append("<table><thead><tr><th>Scenario</th><th>Result</th><th>Time to detect</th>"
                   "<th>Time to alert (delivered)</th><th>Time to recover</th>"
                   f"{users}<th>Incident</th></tr></thead><tbody>")
        for r in summary["rows"]:
            failure = f"<br><small>{e(r['failure'])}</small>" if r["failure"] else ""
            out.append(f"<tr><td><b>{e(r['scenario'])}</b><br><small>{e(r['title'])}</small>"
                       f'</td><td class="{r["result"]}">{r["result"]}{failure}</td>'
                       f"{_html_cell('detect', r['detect'])}{_html_cell('alert', r['alert'])}"
                       f"{_html_cell('recover', r['recover'])}"
                       + "".join(_td(*cell, kind="cost") for cell in _user_cells(r))
                       + f'<td><a href="{e(r["incident"])}">report</a></td></tr>')
        out.append("</tbody></table>")
        out += _cost_chart(summary)
    out.append("<h2>Timelines</h2><p class=\"muted\">Seconds since injection. Bars: the "
               "lifecycle's phases (red: failed). Lanes: probes, red while failing, ▼ where a "
               "probe failed. Dashed lines: injection, alert firing and delivered, recovery "
               "(by the runbook or by itself), alert resolved.</p>")
    for j, r in zip(summary["journals"], summary["rows"], strict=True):
        out.append(f'<div class="card" id="{e(r["scenario"])}"><b>{e(r["scenario"])}</b> '
                   f'{e(r["title"])} · <span class="{r["result"]}">{r["result"]}</span>')
        if r["message"]:
            out.append(f'<div class="failure">[{e(r["failure"])}] {e(r["message"])}</div>')
        out.append(charts.timeline_svg(j) + "</div>")
    out.append("<h2>Trends</h2><table><thead><tr><th>Scenario</th><th>Runs</th><th>Figures</th>"
               "<th>Results</th><th>Runs (oldest first)</th></tr></thead><tbody>")
    for scenario, rows in summary["trends"].items():
        figures = "<br>".join(
            f"{e(LABELS[name])} {charts.sparkline_svg(values, label=LABELS[name])} "
            f"<small>{e(_values(values))}</small>" for name, values in _trends(rows))
        dots = "".join(f'<span class="dot-{e(r["result"])}" title="{e(r["run_id"])}: '
                       f'{e(r["result"])}"></span>' for r in rows)
        out.append(f"<tr><td>{e(scenario)}</td><td>{len(rows)}</td><td>{figures}</td>"
                   f'<td class="dots">{dots}</td>'
                   f"<td><small>{e(', '.join(r['run_id'] for r in rows))}</small></td></tr>")
    out.append("</tbody></table></body></html>")
    return "\n".join(out) + "\n"


# ---- files ----------------------------------------------------------------------------------
def write(run_id: str, run: list[Journal], root: Path = REPORTS, secrets: Iterable[str] = (),
          *, latest: bool, runs: int = TREND_RUNS) -> list[Path]:
    """Write the summary of one run's real journals; `latest` also as latest.md/.html."""
    secrets = list(secrets)
    summary = build(run_id, run, root, runs, secrets)
    folder = root / SUMMARY
    markdown, page = render_markdown(summary), render_html(summary)
    names = [run_id, "latest"] if latest else [run_id]
    return [write_text(folder / f"{name}{suffix}", text, secrets) for name in names
            for suffix, text in ((".md", markdown), (".html", page))]
