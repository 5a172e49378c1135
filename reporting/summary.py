"""The game-day summary of one run: reports/summary/<run_id>.md and a self-contained .html.

Scenarios with their result and their times to detect / alert / recover against the budgets,
a timeline per scenario, and the trends of the last runs from reports/history.jsonl.
latest.md and latest.html are copies of the newest run's summary.

    python -m reporting.summary [--run-id ID] [--runs N]   (default: the newest run)
"""

from __future__ import annotations

import argparse
from collections.abc import Iterable
from html import escape
from pathlib import Path
from typing import Any

from gameday.redact import redact_data, write_text
from reporting import REPORTS, charts, fmt, history, journals
from reporting.journals import Journal

SUMMARY = "summary"
TREND_RUNS = 10


# ---- the data -------------------------------------------------------------------------------
def _figure(value: float | None, budget: float | None, reference: float | None) -> dict:
    """A time with its budget; `ratio` is against `reference` (the budget, or the alert floor)."""
    return {"seconds": value, "budget": budget, "ratio": fmt.ratio(value, reference),
            "within": None if value is None or budget is None else value <= budget}


def scenario_row(journal: Journal) -> dict[str, Any]:
    times = journals.times(journal)
    budget = journals.budgets(journal)
    floor = times.get("alert_floor")
    failure = journal.get("failure") or {}
    return {
        "scenario": journal.get("scenario"), "title": journal.get("title"),
        "result": journal.get("result"), "failure": journals.failure_tag(journal),
        "message": failure.get("message", ""),
        "detect": _figure(times["time_to_detect"], budget["detect"], budget["detect"]),
        # The alert's ratio is against its floor: the target is 1.5x the floor.
        "alert": {**_figure(times["time_to_alert"], budget["alert"], floor), "floor": floor},
        "recover": _figure(times["time_to_recover"], budget["recover"], budget["recover"]),
        "time_to_resolve": times["time_to_resolve"],
        "incident": f"../incidents/{journal.get('run_id')}/{journal.get('scenario')}.md",
    }


def build(run_id: str, root: Path = REPORTS, runs: int = TREND_RUNS,
          secrets: Iterable[str] = ()) -> dict[str, Any]:
    """The summary as data; records the run in the history file on the way."""
    run = [redact_data(j, list(secrets)) for j in journals.for_run(run_id, root / "journals")]
    past = history.record(run, root / "history.jsonl")
    starts = [s for s in (journals.started_at(j) for j in run) if s is not None]
    results = [j.get("result") for j in run]
    return {
        "run_id": run_id,
        "started": min(starts) if starts else None,
        "compression_factor": next((j.get("compression_factor") for j in run), None),
        "counts": {r: results.count(r) for r in ("passed", "failed", "broken")},
        "rows": [scenario_row(j) for j in run],
        "journals": run,
        "trends": {j["scenario"]: history.last_runs(past, j["scenario"], run_id, runs)
                   for j in run},
    }


# ---- markdown -------------------------------------------------------------------------------
def _md_figure(f: dict, floor: bool = False) -> str:
    if f["seconds"] is None:
        return "-"
    mark = "" if f["within"] is None else (" ✅" if f["within"] else " ❌ over")
    if floor:
        ratio = f"{f['ratio']:.2f}x floor" if f["ratio"] is not None else "no floor"
        return f"{f['seconds']:.2f} s / {fmt.seconds(f['budget'], 2)} ({ratio}){mark}"
    ratio = f" ({f['ratio']:.2f}x)" if f["ratio"] is not None else ""
    return f"{f['seconds']:.2f} s / {fmt.seconds(f['budget'], 0)}{ratio}{mark}"


def _trend_text(rows: list[dict], name: str) -> str:
    values = [r.get(name) for r in rows]
    listed = " → ".join("-" if v is None else f"{v:.1f}" for v in values)
    return f"{fmt.spark(values)} {listed}".strip()


def render_markdown(summary: dict[str, Any]) -> str:
    c = summary["counts"]
    lines = [f"# Game day {summary['run_id']}", "",
             f"Started {fmt.utc(summary['started'], millis=False)}; "
             f"{len(summary['rows'])} scenarios: {c['passed']} passed, {c['failed']} failed, "
             f"{c['broken']} broken. Alert durations compressed "
             f"x{summary['compression_factor'] or 1:g}. Budgets: detect and recover per "
             "scenario; alert target 1.5x its floor (scrape + evaluation + `for`).", ""]
    if not summary["rows"]:
        lines.append("No real scenario ran in this run.")
    else:
        lines += ["| scenario | result | time to detect | time to alert | time to recover "
                  "| incident |", "| --- | --- | --- | --- | --- | --- |"]
        for r in summary["rows"]:
            result = r["result"] + (f" ({r['failure']})" if r["failure"] else "")
            lines.append(f"| {r['scenario']} | {fmt.md_cell(result)} | {_md_figure(r['detect'])} "
                         f"| {_md_figure(r['alert'], floor=True)} | {_md_figure(r['recover'])} "
                         f"| [report]({r['incident']}) |")
    failed = [r for r in summary["rows"] if r["message"]]
    if failed:
        lines += ["", "## Failures", ""]
        lines += [f"- **{r['scenario']}** [{r['failure']}] {fmt.md_cell(r['message'])}"
                  for r in failed]
    lines += ["", "## Phases", ""]
    for j in summary["journals"]:
        phases = " → ".join(f"{p.get('name')} {p.get('seconds', 0):.1f}s"
                            + ("" if p.get("ok", True) else " ✗") for p in j.get("phases", []))
        lines.append(f"- {j.get('scenario')}: {phases}")
    lines += ["", "## Trends (last runs, oldest first)", "",
              "| scenario | runs | time to alert (s) | time to recover (s) | results |",
              "| --- | --- | --- | --- | --- |"]
    for scenario, rows in summary["trends"].items():
        results = " ".join("✅" if r.get("result") == "passed" else "❌" for r in rows)
        lines.append(f"| {scenario} | {len(rows)} | {_trend_text(rows, 'time_to_alert')} | "
                     f"{_trend_text(rows, 'time_to_recover')} | {results} |")
    return "\n".join(lines) + "\n"


# ---- HTML -----------------------------------------------------------------------------------
CSS = """
body{font:14px/1.45 system-ui,-apple-system,Segoe UI,Roboto,sans-serif;color:#222;margin:24px;
max-width:1100px}
h1{font-size:22px;margin:0 0 4px}h2{font-size:17px;margin:28px 0 6px}
.muted{color:#777}table{border-collapse:collapse;margin:8px 0;width:100%}
th,td{border-bottom:1px solid #e3e3e3;padding:6px 8px;text-align:left;vertical-align:top}
th{background:#f6f6f6;font-weight:600}td.num{white-space:nowrap}
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


def _html_figure(f: dict, floor: bool = False) -> str:
    if f["seconds"] is None:
        return '<td class="num muted">-</td>'
    state = "" if f["within"] is None else ("within" if f["within"] else "over")
    budget = fmt.seconds(f["budget"], 2 if floor else 0)
    if floor:
        ratio = f"{f['ratio']:.2f}× floor" if f["ratio"] is not None else "no floor"
    else:
        ratio = f"{f['ratio']:.2f}×" if f["ratio"] is not None else ""
    return (f'<td class="num {state}">{f["seconds"]:.2f} s<br><small>budget {budget} · '
            f'{ratio}{" · over budget" if state == "over" else ""}</small></td>')


def render_html(summary: dict[str, Any]) -> str:
    c = summary["counts"]
    e = escape
    out = ["<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">',
           f"<title>Game day {e(summary['run_id'])}</title><style>{CSS}</style></head><body>",
           f"<h1>Game day {e(summary['run_id'])}</h1>",
           f'<p class="muted">Started {fmt.utc(summary["started"], millis=False)} · '
           f'{len(summary["rows"])} scenarios: <span class="passed">{c["passed"]} passed</span>, '
           f'<span class="failed">{c["failed"]} failed</span>, {c["broken"]} broken · alert '
           f'durations compressed ×{summary["compression_factor"] or 1:g} · alert target '
           f"1.5× its floor</p>"]
    if not summary["rows"]:
        out.append("<p>No real scenario ran in this run.</p>")
    else:
        out.append("<table><thead><tr><th>Scenario</th><th>Result</th><th>Time to detect</th>"
                   "<th>Time to alert</th><th>Time to recover</th><th>Incident</th></tr></thead>"
                   "<tbody>")
        for r in summary["rows"]:
            failure = f"<br><small>{e(r['failure'])}</small>" if r["failure"] else ""
            out.append(f"<tr><td><b>{e(r['scenario'])}</b><br><small>{e(r['title'] or '')}"
                       f'</small></td><td class="{e(r["result"] or "")}">{e(r["result"] or "")}'
                       f"{failure}</td>{_html_figure(r['detect'])}"
                       f"{_html_figure(r['alert'], floor=True)}{_html_figure(r['recover'])}"
                       f'<td><a href="{e(r["incident"])}">report</a></td></tr>')
        out.append("</tbody></table>")
    out.append("<h2>Timelines</h2><p class=\"muted\">Seconds since injection. Bars: the "
               "lifecycle's phases (red: failed). Lanes: probes, red while failing, ▼ where a "
               "probe failed. Dashed lines: injection, alert firing and delivered, recovery, "
               "alert resolved.</p>")
    for j, r in zip(summary["journals"], summary["rows"], strict=True):
        out.append(f'<div class="card" id="{e(str(r["scenario"]))}"><b>{e(str(r["scenario"]))}'
                   f"</b> {e(r['title'] or '')} · <span class=\"{e(r['result'] or '')}\">"
                   f"{e(r['result'] or '')}</span>")
        if r["message"]:
            out.append(f'<div class="failure">[{e(r["failure"])}] {e(r["message"])}</div>')
        out.append(charts.timeline_svg(j) + "</div>")
    out.append("<h2>Trends</h2><table><thead><tr><th>Scenario</th><th>Runs</th>"
               "<th>Time to alert</th><th>Time to recover</th><th>Results</th><th>Runs (oldest "
               "first)</th></tr></thead><tbody>")
    for scenario, rows in summary["trends"].items():
        alert = [r.get("time_to_alert") for r in rows]
        recover = [r.get("time_to_recover") for r in rows]
        dots = "".join(f'<span class="dot-{e(str(r.get("result")))}" title="{e(str(r["run_id"]))}'
                       f': {e(str(r.get("result")))}"></span>' for r in rows)
        out.append(f"<tr><td>{e(scenario)}</td><td>{len(rows)}</td>"
                   f"<td>{charts.sparkline_svg(alert, label='time to alert')}<br>"
                   f"<small>{e(_values(alert))}</small></td>"
                   f"<td>{charts.sparkline_svg(recover, label='time to recover')}<br>"
                   f"<small>{e(_values(recover))}</small></td>"
                   f'<td class="dots">{dots}</td>'
                   f"<td><small>{e(', '.join(str(r['run_id']) for r in rows))}</small></td></tr>")
    out.append("</tbody></table></body></html>")
    return "\n".join(out) + "\n"


def _values(values: list[float | None]) -> str:
    if all(v is None for v in values):
        return ""
    return " → ".join("-" if v is None else f"{v:.1f}" for v in values) + " s"


# ---- files ----------------------------------------------------------------------------------
def write(run_id: str | None = None, root: Path = REPORTS, secrets: Iterable[str] = (),
          runs: int = TREND_RUNS) -> list[Path]:
    """Write the summary of `run_id` (default: the newest run); [] when there is no run."""
    secrets = list(secrets)
    newest = journals.newest_run_id(root / "journals")
    run_id = run_id or newest
    if run_id is None:
        return []
    summary = build(run_id, root, runs, secrets)
    folder = root / SUMMARY
    markdown, page = render_markdown(summary), render_html(summary)
    written = [write_text(folder / f"{run_id}.md", markdown, secrets),
               write_text(folder / f"{run_id}.html", page, secrets)]
    if run_id == newest:
        written += [write_text(folder / "latest.md", markdown, secrets),
                    write_text(folder / "latest.html", page, secrets)]
    return written


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Write the game-day summary of a run.")
    parser.add_argument("--run-id", help="default: the newest run in reports/journals")
    parser.add_argument("--runs", type=int, default=TREND_RUNS, help="runs shown in the trends")
    parser.add_argument("--root", type=Path, default=REPORTS, help="the reports folder")
    args = parser.parse_args(argv)
    written = write(args.run_id, args.root, runs=args.runs)
    if not written:
        print(f"no journals of real runs in {args.root / 'journals'}")
        return 1
    print("\n".join(str(p) for p in written))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
