"""One incident report per real scenario run, in markdown and JSON.

Shaped by the runbook's "After the incident" (post-incident actions): timeline of events,
root cause, actions taken, time to detect / alert / resolve; plus which of its escalation
criteria the run met. Every time is computed from the journal.

    python -m reporting.incident [--run-id ID]   (default: the newest run)
"""

from __future__ import annotations

import argparse
import json
import re
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from gameday.redact import redact_data, write_text
from reporting import REPORTS, fmt, journals
from reporting.journals import Journal

INCIDENTS = "incidents"
DOWN_ESCALATION_SECONDS = 15 * 60  # "down for more than 15 minutes"
SERVICE = "app-prod"
# A restart of the service itself, as the runbooks type it (compose, plain docker, kubernetes).
RESTART = re.compile(
    rf"(?:docker-compose|docker compose)\s+(?:restart|up|start)\b[^|;&\n]*\b{SERVICE}\b"
    rf"|\bdocker\s+(?:restart|start)\b[^|;&\n]*{SERVICE}"
    r"|\bkubectl\s+rollout\s+restart\b")


# ---- the timeline ---------------------------------------------------------------------------
def _event(at: float | None, injected: float | None, what: str, detail: str = "",
           ok: bool | None = None) -> dict[str, Any] | None:
    if at is None:
        return None
    return {"at": at, "utc": fmt.utc(at),
            "since_injection": None if injected is None else round(at - injected, 3),
            "event": what, "detail": detail, "ok": ok}


def _first_alert(journal: Journal, status: str) -> tuple[dict, dict] | None:
    for payload in journal.get("notifications", []):
        for alert in payload.get("alerts", []):
            if alert.get("status") == status:
                return payload, alert
    return None


def _command_times(journal: Journal) -> list[tuple[float | None, dict]]:
    """When each command ended: its recorded start plus its duration, or, for journals that
    keep durations only, the running sum from its phase's start (they run back to back)."""
    clocks: dict[str, float | None] = {}
    placed = []
    for command in journal.get("commands", []):
        if command.get("started") is not None:
            placed.append((command["started"] + float(command.get("seconds") or 0.0), command))
            continue
        name = command.get("phase", "recover")
        if name not in clocks:
            record = journals.phase(journal, name)
            clocks[name] = record.get("started") if record else None
        if clocks[name] is not None:
            clocks[name] += float(command.get("seconds") or 0.0)
        placed.append((clocks[name], command))
    return placed


def timeline(journal: Journal) -> list[dict[str, Any]]:
    """The incident's events in time order, each with UTC time and seconds since injection."""
    injected = journals.injected_at(journal)
    figures = journals.times(journal)

    def after_injection(name: str) -> float | None:
        value = figures.get(name)
        return None if value is None or injected is None else injected + value

    events: list[dict | None] = []
    steady = journals.phase(journal, "steady state")
    if steady:
        verified = "steady state verified" if steady.get("ok") else "steady state NOT verified"
        events.append(_event(steady.get("ended"), injected, verified, ok=steady.get("ok")))
    events.append(_event(injected, injected, "fault injected",
                         journal.get("injection") or journal.get("fault", "")))
    seen_failing: set[str] = set()
    for probe in journal.get("timeline", []):
        endpoint = probe.get("endpoint", "?")
        if injected is not None and probe.get("at", 0) < injected:
            continue
        status = probe.get("status")
        answer = f"{status}" if status is not None else "no answer"
        body = fmt.trim(str(probe.get("body", "")), lines=1, chars=160)
        if not probe.get("ok") and endpoint not in seen_failing:
            seen_failing.add(endpoint)
            events.append(_event(probe["at"], injected, f"first failed probe: /{endpoint}",
                                 f"{answer}: {body}", ok=False))
        elif probe.get("ok") and endpoint in seen_failing:
            seen_failing.discard(endpoint)
            if endpoint == "health" and figures.get("time_to_resolve") is not None:
                continue  # the "recovered" event below says it
            events.append(_event(probe["at"], injected, f"probe ok again: /{endpoint}",
                                 answer, ok=True))
    firing = _first_alert(journal, "firing")
    alertname = firing[1].get("labels", {}).get("alertname", "alert") if firing else "alert"
    events.append(_event(after_injection("time_to_pending"), injected,
                         f"{alertname} pending in Prometheus"))
    events.append(_event(after_injection("time_to_alert"), injected,
                         f"{alertname} firing in Prometheus"))
    if firing:
        payload, alert = firing
        labels = alert.get("labels", {})
        events.append(_event(payload.get("received_at"), injected,
                             f"{alertname} delivered to the webhook receiver",
                             f"severity={labels.get('severity')} service={labels.get('service')} "
                             f"runbook={alert.get('annotations', {}).get('runbook_url', '-')}"))
    for name in ("recover", "validate"):
        record = journals.phase(journal, name)
        if record:
            what = ("runbook recovery started: " + journal.get("section", "")
                    if name == "recover" else "runbook validation started")
            events.append(_event(record.get("started"), injected, what))
    for ended, command in _command_times(journal):
        where = f"{journal.get('runbook', '?')}:{command.get('line', '?')}"
        first_line = str(command.get("command", "")).splitlines()[0] if command.get(
            "command") else ""
        if command.get("run", True):
            code = command.get("exit_code")
            events.append(_event(ended, injected, f"ran {where} `{first_line}`",
                                 f"exit {code} after {fmt.seconds(command.get('seconds'), 2)}",
                                 ok=code == 0))
        else:
            events.append(_event(ended, injected, f"skipped {where} `{first_line}`",
                                 command.get("why", "")))
    back = after_injection("time_to_resolve")
    events.append(_event(back, injected, "recovered: /health answers 200", ok=True))
    resolved = _first_alert(journal, "resolved")
    if resolved:
        events.append(_event(resolved[0].get("received_at"), injected,
                             f"{alertname} resolved (notification delivered)", ok=True))
    failure = journal.get("failure")
    if failure:
        record = journals.phase(journal, failure.get("phase", ""))
        when = (record or {}).get("ended") or journals.ended_at(journal)
        outcome = f"run {journal.get('result', 'failed')}: {journals.failure_tag(journal)}"
        events.append(_event(when, injected, outcome,
                             fmt.trim(failure.get("message", ""), lines=3, chars=400), ok=False))
    kept = [e for e in events if e is not None]
    return sorted(kept, key=lambda e: e["at"])


# ---- actions and escalation -----------------------------------------------------------------
def actions(journal: Journal) -> list[dict[str, Any]]:
    """The runbook commands that were run, with where they come from and what they said."""
    runbook = journal.get("runbook", "?")
    return [{"where": f"{runbook}:{c.get('line', '?')}", "phase": c.get("phase", "recover"),
             "command": c.get("command", ""), "run": c.get("run", True),
             "exit_code": c.get("exit_code"), "seconds": c.get("seconds"),
             "output": fmt.trim(str(c.get("output", ""))), "why": c.get("why")}
            for c in journal.get("commands", [])]


def downtime(journal: Journal) -> tuple[float | None, bool]:
    """Seconds from the first failed probe after injection to /health answering again, and
    whether it did recover (if not, the figure is a lower bound up to the end of the record)."""
    injected = journals.injected_at(journal)
    first = journals.first_failure(journal, injected)
    if first is None:
        return None, True
    resolve = journals.times(journal).get("time_to_resolve")
    if resolve is not None and injected is not None:
        return round(injected + resolve - first["at"], 3), True
    end = journals.ended_at(journal)
    return (None if end is None else round(end - first["at"], 3)), False


def escalation(journal: Journal) -> list[dict[str, Any]]:
    """The runbook's 'escalate to the engineering manager' criteria and whether each was met."""
    category = (journal.get("failure") or {}).get("category", "")
    down, recovered = downtime(journal)
    if down is None:
        down_evidence = "the service never failed a probe"
    elif recovered:
        down_evidence = f"down {down:.1f} s (first failed probe to /health 200)"
    else:
        down_evidence = f"not recovered when the run ended: down at least {down:.1f} s"
    restarts = [c for c in journal.get("commands", [])
                if c.get("phase", "recover") == "recover" and c.get("run", True)
                and RESTART.search(str(c.get("command", "")))]
    failed = [c for c in restarts if c.get("exit_code") not in (0, None)]
    restart_evidence = (
        "; ".join(f"`{c['command']}` exit {c.get('exit_code')}" for c in restarts)
        or "no restart command was run")
    return [
        {"criterion": "service down for more than 15 minutes",
         "met": down is not None and down > DOWN_ESCALATION_SECONDS, "evidence": down_evidence},
        {"criterion": "more than one restart needed, or a restart failed",
         "met": len(restarts) > 1 or bool(failed),
         "evidence": f"{len(restarts)} restart(s), {len(failed)} failed: {restart_evidence}"},
        {"criterion": "root cause indicates a larger infrastructure issue",
         "met": category in ("suite-or-infrastructure", "steady-state"),
         "evidence": f"failure category: {category or 'none'}"},
        {"criterion": "data loss or corruption suspected",
         "met": category == "data-lost",
         "evidence": f"failure category: {category or 'none'}"
                     + _data_evidence(journal)},
    ]


def _data_evidence(journal: Journal) -> str:
    validate = journals.phase(journal, "validate") or {}
    data = (validate.get("details") or {}).get("data")
    if not data:
        return ""
    return f"; {data.get('stored_once')} of {data.get('answered')} answered inferences stored once"


FOLLOW_UPS = {
    "not-detected": "Add or repair the health check or probe that should have seen the fault.",
    "alert-missing": "Add or repair the alert rule in monitoring/alerts.yml.",
    "alert-wrong": "Fix the alert's labels, runbook link or resolution in monitoring/alerts.yml.",
    "recovery-failed": "Update the runbook section: its commands did not bring the service back.",
    "budget-exceeded": "Adjust alert thresholds or durations: a budget was exceeded.",
    "data-lost": "Find where answered inferences were lost; review the outbox and PostgreSQL.",
    "residue": "Make the fault's revert complete: something was left behind.",
    "steady-state": "Stabilise the stack: it was not healthy before the fault.",
    "suite-or-infrastructure": "Fix the suite or its infrastructure, then run the scenario again.",
}


def follow_ups(journal: Journal) -> list[str]:
    """Post-incident actions: the runbook's list, made specific by what this run showed."""
    items = []
    category = (journal.get("failure") or {}).get("category")
    if category in FOLLOW_UPS:
        items.append(FOLLOW_UPS[category])
    figures = journals.times(journal)
    budget = journals.budgets(journal)
    for name, key in (("detect", "time_to_detect"), ("alert", "time_to_alert"),
                      ("recover", "time_to_recover")):
        value, limit = figures.get(key), budget.get(name)
        if value is not None and limit and value > limit:
            items.append(f"Time to {name} {value:.2f} s is over its budget {limit:.2f} s: "
                         "review thresholds and the runbook.")
    items.append(f"Update {journal.get('runbook', 'the runbook')} with what was learned.")
    items.append("Hold a review with everyone involved, focused on prevention.")
    return items


# ---- the report -----------------------------------------------------------------------------
def build(journal: Journal, secrets: Iterable[str] = ()) -> dict[str, Any]:
    """The incident report as data (this is also the JSON file)."""
    journal = redact_data(journal, list(secrets))
    figures = journals.times(journal)
    down, recovered = downtime(journal)
    return {
        "run_id": journal.get("run_id"),
        "scenario": journal.get("scenario"),
        "title": f"{journal.get('scenario')}: {journal.get('title')}",
        "result": journal.get("result"),
        "failure": journal.get("failure"),
        "runbook": journal.get("runbook"),
        "section": journal.get("section"),
        "compression_factor": journal.get("compression_factor"),
        "injected_at": journals.injected_at(journal),
        "injected_utc": fmt.utc(journals.injected_at(journal)),
        "root_cause": {"fault": journal.get("fault", ""),
                       "injection": journal.get("injection", "")},
        "times": {"time_to_detect": figures["time_to_detect"],
                  "time_to_alert": figures["time_to_alert"],
                  "time_to_delivered": figures["time_to_delivered"],
                  "time_to_recover": figures["time_to_recover"],
                  "time_to_resolve": figures["time_to_resolve"],
                  "time_to_alert_resolved": figures["time_to_alert_resolved"],
                  "alert_floor": figures["alert_floor"],
                  "downtime": down, "recovered": recovered},
        "budgets": journals.budgets(journal),
        "timeline": timeline(journal),
        "actions": actions(journal),
        "escalation": escalation(journal),
        "follow_ups": follow_ups(journal),
    }


def render_markdown(report: dict[str, Any]) -> str:
    t = report["times"]
    lines = [f"# Incident: {report['title']}", ""]
    result = report["result"]
    if report.get("failure"):
        f = report["failure"]
        result += f" ([{f.get('phase')}/{f.get('category')}] {f.get('message', '')})"
    lines += [
        f"- Run: `{report['run_id']}` (game-day drill, alert durations compressed "
        f"x{report.get('compression_factor') or 1:g})",
        f"- Result: {fmt.md_cell(result)}",
        f"- Runbook: {report['runbook']}, section \"{report['section']}\"",
        f"- Fault injected at {report['injected_utc']}",
        "",
        "## Time to resolution", "",
        "| figure | seconds since injection |", "| --- | --- |",
        f"| time to detect | {fmt.seconds(t['time_to_detect'], 2)} |",
        f"| time to alert (firing) | {fmt.seconds(t['time_to_alert'], 2)} |",
        f"| alert delivered | {fmt.seconds(t['time_to_delivered'], 2)} |",
        f"| time to resolve (/health 200) | {fmt.seconds(t['time_to_resolve'], 2)} |",
        f"| alert resolved | {fmt.seconds(t['time_to_alert_resolved'], 2)} |",
        "",
        (f"Recovery took {fmt.seconds(t['time_to_recover'], 2)} from the first runbook command"
         if t["time_to_recover"] is not None else "The service did not recover during the run")
        + f"; the alert floor (scrape + evaluation + `for`) is {fmt.seconds(t['alert_floor'], 2)}.",
        "", "## Timeline of events", "",
        "| UTC | since injection | event | detail |", "| --- | --- | --- | --- |",
    ]
    for e in report["timeline"]:
        lines.append(f"| {e['utc']} | {fmt.offset(e['since_injection'])} | "
                     f"{fmt.md_cell(e['event'])} | {fmt.md_cell(e['detail'])} |")
    cause = report["root_cause"]
    lines += ["", "## Root cause", "", cause["fault"] or "-"]
    if cause["injection"]:
        lines += ["", f"The injector observed: {cause['injection']}"]
    lines += ["", "## Actions taken", ""]
    if not report["actions"]:
        lines.append("No runbook command was run.")
    for n, a in enumerate(report["actions"], 1):
        if a["run"]:
            head = (f"{n}. `{a['where']}` ({a['phase']}): exit {a['exit_code']} "
                    f"after {fmt.seconds(a['seconds'], 2)}")
        else:
            head = f"{n}. `{a['where']}` ({a['phase']}): not run, {a.get('why') or ''}"
        lines += [head, "", _indent(fmt.fence(f"$ {a['command']}", "bash"))]
        if a["output"]:
            lines += ["", _indent(fmt.fence(a["output"]))]
        lines.append("")
    lines += ["## Escalation criteria", ""]
    for c in report["escalation"]:
        mark = "x" if c["met"] else " "
        lines.append(f"- [{mark}] {c['criterion']}: {fmt.md_cell(c['evidence'])}")
    met = [c["criterion"] for c in report["escalation"] if c["met"]]
    lines += ["", ("Escalate to the engineering manager: " + "; ".join(met) + ".") if met
              else "No escalation criterion met."]
    lines += ["", "## Follow-up", ""] + [f"- {item}" for item in report["follow_ups"]]
    return "\n".join(lines) + "\n"


def _indent(text: str) -> str:
    return "\n".join("    " + line if line else line for line in text.splitlines())


def write(journal: Journal, root: Path = REPORTS, secrets: Iterable[str] = ()) -> list[Path]:
    """reports/incidents/<run_id>/<scenario>.md and .json for one real journal."""
    if not journals.is_real(journal):
        return []  # broken variants are the suite's negative tests, not incidents
    secrets = list(secrets)
    report = build(journal, secrets)
    folder = root / INCIDENTS / str(journal.get("run_id"))
    name = str(journal.get("scenario"))
    return [write_text(folder / f"{name}.md", render_markdown(report), secrets),
            write_text(folder / f"{name}.json",
                       json.dumps(report, indent=2, default=str) + "\n", secrets)]


def write_run(run_id: str, root: Path = REPORTS, secrets: Iterable[str] = ()) -> list[Path]:
    """Incident reports for every real journal of one run."""
    written: list[Path] = []
    for journal in journals.for_run(run_id, root / "journals"):
        written += write(journal, root, secrets)
    return written


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Write the incident reports of a run.")
    parser.add_argument("--run-id", help="default: the newest run in reports/journals")
    parser.add_argument("--root", type=Path, default=REPORTS, help="the reports folder")
    args = parser.parse_args(argv)
    run_id = args.run_id or journals.newest_run_id(args.root / "journals")
    if run_id is None:
        print(f"no journals in {args.root / 'journals'}")
        return 1
    for path in write_run(run_id, args.root):
        print(path)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
