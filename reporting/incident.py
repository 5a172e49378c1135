"""One incident report per real scenario run, in markdown and JSON.

Shaped by the runbook's "After the incident" (post-incident actions): timeline of events,
root cause, actions taken, time to detect / alert / resolve; plus which of its escalation
criteria the run met. Every time comes from the journal. A fault the deployment heals by
itself shows its time to self-heal and that nobody was paged.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from gameday.journal import Category, Figure, Journal, Phase
from gameday.redact import write_text
from reporting import REPORTS, cost, fmt, journals
from reporting.journals import LABELS, figure

INCIDENTS = "incidents"
DOWN_ESCALATION_SECONDS = 15 * 60  # "down for more than 15 minutes"
SERVICE = "app-prod"
# A restart of the service itself, as the runbooks type it (compose, plain docker, kubernetes).
RESTART = re.compile(
    rf"(?:docker-compose|docker compose)\s+(?:restart|up|start)\b[^|;&\n]*\b{SERVICE}\b"
    rf"|\bdocker\s+(?:restart|start)\b[^|;&\n]*{SERVICE}"
    r"|\bkubectl\s+rollout\s+restart\b")
PAGING = (Figure.TIME_TO_DETECT, Figure.TIME_TO_ALERT, Figure.TIME_TO_DELIVERED,
          Figure.TIME_TO_RESOLVE, Figure.TIME_TO_ALERT_RESOLVED)
SELF_HEALING = (Figure.TIME_TO_DETECT, Figure.TIME_TO_SELF_HEAL)
FOLLOW_UPS: dict[Category, str] = {
    Category.STEADY_STATE: "Stabilise the stack: it was not healthy before the fault.",
    Category.NOT_DETECTED: "Add or repair the health check or probe that should have seen "
                           "the fault.",
    Category.ALERT_MISSING: "Add or repair the alert rule in monitoring/alerts.yml.",
    Category.ALERT_WRONG: "Fix the alert's labels, runbook link or resolution in "
                          "monitoring/alerts.yml.",
    Category.ALERT_LATE: "Make the page arrive within the catalog's maximum delay: shorten the "
                         "rule's `for:` or range window, or Alertmanager's group wait; or agree "
                         "a longer delay with on-call and change the catalog.",
    Category.RESOLVED_EARLY: "Keep the alert firing while the fault lasts (a state-based "
                             "expression, not an event or a short window), so that the on-call "
                             "still sees it when they start the runbook.",
    Category.ALERT_UNEXPECTED: "Find why this alert fired for this fault: tighten its rule in "
                               "monitoring/alerts.yml, or declare it in the scenario's catalog "
                               "entry if it should page.",
    Category.PAGED: "Make the deployment heal this fault before its alert fires (restart "
                    "policy, `for:`), or declare in the catalog that it pages.",
    Category.RECOVERY_FAILED: "Update the runbook section: its commands did not bring the "
                              "service back.",
    Category.BUDGET_EXCEEDED: "Make detection or recovery faster (probes, health checks, the "
                              "runbook's commands), or state a larger budget in the catalog.",
    Category.DATA_LOST: "Find where answered inferences were lost; review the outbox and "
                        "PostgreSQL.",
    Category.RESIDUE: "Make the fault's revert complete: something was left behind.",
    Category.USER_IMPACT: "Make the service degrade more gently under this fault (outbox, "
                          "timeouts, restart time), or state a larger allowance in the catalog.",
    Category.LOAD_MISSING: "Find why the load recorded too few inferences to judge the fault's "
                           "cost (the load worker, its rate, the machine), then run it again.",
    Category.RESTARTED: "Find what restarted the service although the runbook promises it keeps "
                        "running (a health check, the restart policy, a runbook command), or "
                        "change the runbook's promise.",
    Category.ABORTED: "The run was stopped from outside (SIGTERM, SIGINT, make abort) and its "
                      "fault reverted; nothing was judged. Run the scenario again.",
    Category.SUITE: "Fix the suite or its infrastructure, then run the scenario again.",
}


# ---- the timeline ---------------------------------------------------------------------------
def _event(at: float | None, injected: float | None, what: str, detail: str = "",
           ok: bool | None = None) -> dict[str, Any] | None:
    if at is None:
        return None
    return {"at": at, "utc": fmt.utc(at),
            "since_injection": None if injected is None else round(at - injected, 3),
            "event": what, "detail": detail, "ok": ok}


def _first_line(text: str) -> str:
    return text.splitlines()[0] if text else ""


def _command_events(journal: Journal, injected: float | None) -> list[dict | None]:
    """A command that ran at its end; one marked for another deployment where its turn came."""
    events: list[dict | None] = []
    clock: dict[str, float] = {}
    for command in journal.commands:
        now = clock.get(command["phase"], journal.phase(Phase(command["phase"])).started)
        where = f"{journal.runbook}:{command['line']}"
        what = f"`{_first_line(command['command'])}`"
        if command["run"]:
            now = clock[command["phase"]] = command["started"] + command["seconds"]
            events.append(_event(now, injected, f"ran {where} {what}",
                                 f"exit {command['exit_code']} after "
                                 f"{fmt.seconds(command['seconds'], 2)}",
                                 ok=command["exit_code"] == 0))
        else:
            events.append(_event(now, injected, f"skipped {where} {what}", command["why"]))
    return events


def _probe_events(journal: Journal, injected: float) -> list[dict | None]:
    """Each endpoint's first failure after the injection, and its return."""
    events: list[dict | None] = []
    failing: set[str] = set()
    back = journals.back_to_healthy(journal) is not None
    for probe in journal.timeline:
        endpoint = probe["endpoint"]
        if probe["at"] < injected:
            continue
        answer = "no answer" if probe["status"] is None else str(probe["status"])
        if not probe["ok"] and endpoint not in failing:
            failing.add(endpoint)
            body = fmt.trim(probe["body"], lines=1, chars=160)
            events.append(_event(probe["at"], injected, f"first failed probe: /{endpoint}",
                                 f"{answer}: {body}", ok=False))
        elif probe["ok"] and endpoint in failing:
            failing.discard(endpoint)
            if endpoint != "health" or not back:  # else the "recovered" event says it
                events.append(_event(probe["at"], injected, f"probe ok again: /{endpoint}",
                                     answer, ok=True))
    return events


def _alert_events(journal: Journal, injected: float) -> list[dict | None]:
    if journals.healed_by_itself(journal):
        alert = journal.phase(Phase.ALERT)
        return [_event(alert.ended if alert and alert.ok else None, injected,
                       "nobody paged", "the deployment healed the fault by itself", ok=True)]
    firing = journals.first_alert(journal, "firing")
    name = firing[1]["labels"]["alertname"] if firing else "alert"
    events = [_event(journals.at(journal, Figure.TIME_TO_PENDING), injected,
                     f"{name} pending in Prometheus"),
              _event(journals.at(journal, Figure.TIME_TO_ALERT), injected,
                     f"{name} firing in Prometheus")]
    if firing:
        payload, alert = firing
        labels = alert["labels"]
        events.append(_event(payload["received_at"], injected,
                             f"{name} delivered to the webhook receiver",
                             f"severity={labels.get('severity')} service={labels.get('service')}"
                             f" runbook={alert['annotations'].get('runbook_url', '-')}"))
    resolved = journals.first_alert(journal, "resolved")
    if resolved:
        events.append(_event(resolved[0]["received_at"], injected,
                             f"{name} resolved (notification delivered)", ok=True))
    return events


def timeline(journal: Journal) -> list[dict[str, Any]]:
    """The incident's events in time order, each with UTC time and seconds since injection."""
    injected = journals.injected_at(journal)
    events: list[dict | None] = []
    steady = journal.phase(Phase.STEADY_STATE)
    if steady:
        verified = "steady state verified" if steady.ok else "steady state NOT verified"
        events.append(_event(steady.ended, injected, verified, ok=steady.ok))
    if injected is not None:
        events.append(_event(injected, injected, "fault injected",
                             journal.injection or journal.fault))
        events.append(_event(journals.at(journal, Figure.TIME_TO_FAULT_FLAG), injected,
                             "Prometheus shows the drill: gameday_fault_active"))
        events += _probe_events(journal, injected) + _alert_events(journal, injected)
    for name, what in ((Phase.RECOVER, f"runbook recovery started: {journal.section}"),
                       (Phase.VALIDATE, "runbook validation started")):
        record = journal.phase(name)
        events.append(_event(record and record.started, injected, what))
    events += _command_events(journal, injected)
    events.append(_event(journals.at(journal, Figure.TIME_TO_RESOLVE), injected,
                         "recovered: /health answers 200", ok=True))
    events.append(_event(journals.at(journal, Figure.TIME_TO_SELF_HEAL), injected,
                         "healed by itself: /health answers 200", ok=True))
    if journal.failure:
        record = journal.phase(journal.failure.phase)
        when = record.ended if record else journal.ended_at
        events.append(_event(when, injected, f"run {journal.result.value}: "
                             f"{journals.failure_tag(journal)}",
                             fmt.trim(journal.failure.message, lines=3, chars=400), ok=False))
    kept = [e for e in events if e is not None]
    return sorted(kept, key=lambda e: e["at"])


# ---- actions and escalation -----------------------------------------------------------------
def actions(journal: Journal) -> list[dict[str, Any]]:
    """The runbook commands that were run, with where they come from and what they said."""
    return [{"where": f"{journal.runbook}:{c['line']}", "phase": c["phase"],
             "command": c["command"], "run": c["run"], "exit_code": c.get("exit_code"),
             "seconds": c.get("seconds"), "output": fmt.trim(c.get("output", "")),
             "why": c.get("why")}
            for c in journal.commands]


def downtime(journal: Journal) -> tuple[float | None, bool]:
    """Seconds from the first failed probe after injection to /health answering again, and
    whether it did recover (if not, the figure is a lower bound up to the end of the record)."""
    first = journals.first_failure(journal)
    if first is None:
        return None, True
    injected, back = journals.injected_at(journal), journals.back_to_healthy(journal)
    if back is not None and injected is not None:
        return round(injected + back - first["at"], 3), True
    end = journal.ended_at
    return (None if end is None else round(end - first["at"], 3)), False


def escalation(journal: Journal) -> list[dict[str, Any]]:
    """The runbook's 'escalate to the engineering manager' criteria and whether each was met."""
    category = journals.category(journal)
    named = f"failure category: {category.value if category else 'none'}"
    down, recovered = downtime(journal)
    if down is None:
        down_evidence = "the service never failed a probe"
    elif recovered:
        down_evidence = f"down {down:.1f} s (first failed probe to /health 200)"
    else:
        down_evidence = f"not recovered when the run ended: down at least {down:.1f} s"
    restarts = [c for c in journal.commands if c["phase"] == Phase.RECOVER and c["run"]
                and RESTART.search(c["command"])]
    failed = [c for c in restarts if c["exit_code"] != 0]
    restart_evidence = ("; ".join(f"`{c['command']}` exit {c['exit_code']}" for c in restarts)
                        or "no restart command was run")
    return [
        {"criterion": "service down for more than 15 minutes",
         "met": down is not None and down > DOWN_ESCALATION_SECONDS, "evidence": down_evidence},
        {"criterion": "more than one restart needed, or a restart failed",
         "met": len(restarts) > 1 or bool(failed),
         "evidence": f"{len(restarts)} restart(s), {len(failed)} failed: {restart_evidence}"},
        {"criterion": "root cause indicates a larger infrastructure issue",
         "met": category is not None and not category.product_defect, "evidence": named},
        {"criterion": "data loss or corruption suspected",
         "met": category == Category.DATA_LOST, "evidence": named + _data_evidence(journal)},
    ]


def _data_evidence(journal: Journal) -> str:
    validate = journal.phase(Phase.VALIDATE)
    if validate is None or "data" not in validate.details:
        return ""
    data = validate.details["data"]
    return f"; {data['stored_once']} of {data['answered']} answered inferences stored once"


def follow_ups(journal: Journal) -> list[str]:
    """Post-incident actions: the runbook's list, made specific by what this run showed. A
    budget is named only where the run failed on it (journals.verdict)."""
    category = journals.category(journal)
    items = [FOLLOW_UPS[category]] if category else []
    for name, (value, limit) in journals.budgeted(journal).items():
        if limit is not None and journals.verdict(journal, name, value, limit) == "over":
            items.append(f"Time to {name} {fmt.seconds(value, 2)} is over its budget "
                         f"{fmt.seconds(limit, 2)}: review thresholds and the runbook.")
    items.append(f"Update {journal.runbook} with what was learned.")
    items.append("Hold a review with everyone involved, focused on prevention.")
    return items


# ---- the report -----------------------------------------------------------------------------
def build(journal: Journal, secrets: Iterable[str] = ()) -> dict[str, Any]:
    """The incident report as data (this is also the JSON file)."""
    journal = journals.redacted(journal, secrets)
    down, recovered = downtime(journal)
    injected = journals.injected_at(journal)
    failure, budgeted = journal.failure, journals.budgeted(journal)
    return {
        "run_id": journal.run_id,
        "scenario": journal.scenario,
        "title": f"{journal.scenario}: {journal.title}",
        "result": journal.result.value,
        "failure": failure and {"phase": failure.phase.value,
                                "category": failure.category.value, "message": failure.message},
        "runbook": journal.runbook,
        "section": journal.section,
        "compression_factor": journal.compression_factor,
        "injected_at": injected,
        "injected_utc": fmt.utc(injected),
        "root_cause": {"fault": journal.fault, "injection": journal.injection},
        "self_healing": journals.self_healing(journal),
        "nobody_paged": journals.nobody_paged(journal),
        "times": {**{name.value: figure(journal, name) for name in Figure},
                  "downtime": down, "recovered": recovered},
        "budgets": {name: limit for name, (_, limit) in budgeted.items()},
        # What the report may call over its budget: only what the run failed on.
        "over": {name: journals.verdict(journal, name, value, limit) == "over"
                 for name, (value, limit) in budgeted.items()},
        "impact": journal.impact,
        "timeline": timeline(journal),
        "actions": actions(journal),
        "escalation": escalation(journal),
        "follow_ups": follow_ups(journal),
    }


def _resolution(report: dict[str, Any]) -> list[str]:
    t = report["times"]
    shown = SELF_HEALING if report["self_healing"] else PAGING
    lines = ["| figure | seconds since injection |", "| --- | --- |"]
    lines += [f"| {LABELS[name]} | {fmt.seconds(t[name.value], 2)} |" for name in shown]
    if report["self_healing"]:
        verdict = ("Nobody was paged: the deployment healed the fault by itself."
                   if report["nobody_paged"] else
                   "Someone was paged, although the deployment promises to heal this fault."
                   if report["failure"] and report["failure"]["category"] == Category.PAGED
                   else "The run ended before it could show that nobody was paged.")
    elif t[Figure.TIME_TO_RECOVER.value] is None:
        verdict = "The service did not recover during the run."
    else:
        verdict = (f"Recovery took {fmt.seconds(t[Figure.TIME_TO_RECOVER.value], 2)} from the "
                   "moment the recovery acted (its key step) until every detection signal cleared"
                   + (f", over its budget {fmt.seconds(report['budgets']['recover'], 2)}."
                      if report["over"]["recover"] else "."))
    return lines + ["", verdict + _alert_verdict(report)]


def _alert_verdict(report: dict[str, Any]) -> str:
    """When the page arrived against its deadline (late only where the run failed on it), and
    how the rule's delay compares with its expected delay (information)."""
    t, deadline = report["times"], report["budgets"]["alert"]
    delivered, after = t[Figure.TIME_TO_DELIVERED.value], t[Figure.ALERT_AFTER_SYMPTOM.value]
    text = ""
    if delivered is not None:
        text += f" The page reached the receiver {fmt.seconds(delivered, 2)} after the injection"
        if deadline is not None:
            text += (f", later than its deadline {fmt.seconds(deadline, 2)}"
                     if report["over"]["alert"] else f" (deadline {fmt.seconds(deadline, 2)})")
        text += "."
    elif report["over"]["alert"] and not report["self_healing"]:
        text += " The page did not reach the receiver by its deadline."
    if after is not None:
        text += (f" The alert fired {fmt.seconds(after, 2)} after the first failing "
                 f"evaluation; expected {fmt.seconds(t[Figure.EXPECTED_ALERT_DELAY.value], 2)} "
                 "(scrape + evaluation + `for`).")
    return text


def _cost(impact: dict[str, Any]) -> list[str]:
    """What it cost the users of the load: a row per window and the error budget burned."""
    if not impact:
        return ["No load ran: nothing measured what the fault cost users."]
    lines = [f"SLO: {impact['slo']}; the load sent {impact['rate_per_second']:g} inferences "
             "a second.", "",
             "| window | seconds | inferences | failed | " + " | ".join(cost.KINDS)
             + " | availability | p50 | p95 | p99 |", "| --- " * (8 + len(cost.KINDS)) + "|"]
    for name in cost.WINDOWS:
        w = impact["windows"][name]
        by_kind = cost.failed_by_kind(impact, (name,))
        lines.append(f"| {name} | {fmt.seconds(w['seconds'], 2)} | {w['inferences']} | "
                     f"{w['failed']} | " + " | ".join(str(by_kind[k]) for k in cost.KINDS)
                     + f" | {cost.percent(w['availability'])} | "
                     + " | ".join(cost.ms(w[q]) for q in cost.QUANTILES) + " |")
    return lines + ["", cost.burned(impact)]


def render_markdown(report: dict[str, Any]) -> str:
    lines = [f"# Incident: {report['title']}", ""]
    result = report["result"]
    if report["failure"]:
        f = report["failure"]
        result += f" ([{f['phase']}/{f['category']}] {f['message']})"
    lines += [
        f"- Run: `{report['run_id']}` (game-day drill, alert durations compressed "
        f"x{report['compression_factor']:g})",
        f"- Result: {fmt.md_cell(result)}",
        f"- Runbook: {report['runbook']}, section \"{report['section']}\"",
        f"- Fault injected at {report['injected_utc']}",
        "", "## Time to resolution", "", *_resolution(report),
        "", "## What it cost users", "", *_cost(report["impact"]),
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
            head = f"{n}. `{a['where']}` ({a['phase']}): not run, {a['why']}"
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
    if not journal.is_real:
        return []  # broken variants are the suite's negative tests, not incidents
    secrets = list(secrets)
    report = build(journal, secrets)
    folder = root / INCIDENTS / journal.run_id
    return [write_text(folder / f"{journal.scenario}.md", render_markdown(report), secrets),
            write_text(folder / f"{journal.scenario}.json",
                       json.dumps(report, indent=2) + "\n", secrets)]
