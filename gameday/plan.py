"""`plan=1`: what a game day would do, printed from the catalog, the injectors and the runbooks,
touching nothing (no engine call, no file written).

    python -m gameday.plan [--scenario NAME ...] [--shard I/N] [--time-compression F]

For each scenario: the fault and what its injector does and undoes (the injector's own
documentation), how the fault must be seen from outside, the alerts that must page with their
receivers and deadlines, the runbook commands that would run in the operator's toolbox, and
the conditions on which the scenario fails and its fault is reverted.
"""

from __future__ import annotations

import argparse
import ast
import sys
import textwrap
from pathlib import Path

from fixtures.monitoring import DEFAULT_FACTOR, Compression
from gameday import catalog, runbook
from gameday.catalog import ALERTS, Scenario

INDENT = " " * 12
FAULTS = Path(__file__).resolve().parent.parent / "faults"


def _doc(node: ast.AST) -> str:
    return (ast.get_docstring(node) or "").strip()


def _block(title: str, text: str) -> list[str]:
    lines = text.splitlines() or [""]
    return [f"  {title:9} {lines[0]}", *(f"{INDENT}{line}" if line else "" for line in lines[1:])]


def fault_actions(scenario: Scenario) -> str:
    """What the injector says it does: its module's and its methods' documentation, read from
    the source (importing a fault would load the service's package, and a plan runs nothing)."""
    source = FAULTS / f"{scenario.fault.module}.py"
    module = ast.parse(source.read_text(), str(source))
    name = "".join(p.title() for p in scenario.fault.module.split("_"))
    cls = next(n for n in module.body if isinstance(n, ast.ClassDef) and n.name == name)
    methods = {n.name: n for n in cls.body if isinstance(n, ast.FunctionDef)}
    parts = [str(scenario.fault), _doc(module)]
    for method in ("prepare", "inject", "repair", "revert"):
        if method in methods and _doc(methods[method]):
            parts.append(f"{method}: {_doc(methods[method])}")
    return "\n".join(parts)


def describe(scenario: Scenario, compression: Compression) -> list[str]:
    lines = [f"{scenario.name}: {scenario.title}"]
    lines += _block("fault", fault_actions(scenario))
    lines += _block("seen by", "\n".join(str(d) for d in scenario.detect))
    if scenario.alerts:
        pages = [f"{name} ({ALERTS[name].severity}, to {ALERTS[name].receiver}) within "
                 f"{ALERTS[name].max_delay} of the symptom in production "
                 f"({compression.scale(ALERTS[name].max_delay):.0f} s at "
                 f"1/{compression.factor:g})"
                 for name in scenario.alerts]
        lines += _block("pages", "\n".join(pages))
    else:
        lines += _block("pages", "nobody: " + ", ".join(scenario.must_not_page)
                        + " must not page (the deployment absorbs this fault)")
    if scenario.allowed_alerts:
        lines += _block("may page", ", ".join(scenario.allowed_alerts))
    text = runbook.load(scenario.runbook)
    commands = runbook.commands(text, scenario.section)
    steps = [f"{scenario.runbook}:{c.line} $ {c.text}" if c.runnable
             else f"{scenario.runbook}:{c.line} (not run: another deployment's) {c.text}"
             for c in commands]
    if scenario.repaired_by:
        steps.insert(runbook.escalation_index(commands),
                     f"[simulated external event] {scenario.repaired_by}")
    lines += _block("runbook", f'"{scenario.section}"\n' + "\n".join(steps))
    lines += _block("fails if", "\n".join(stop_conditions(scenario)))
    return lines


def stop_conditions(scenario: Scenario) -> list[str]:
    """When the scenario fails (and its fault is reverted at once): the catalog's allowances."""
    found = [f"not seen from outside within {scenario.detect_budget:g} s of the injection",
             "any alert pages that is neither expected nor allowed above",
             f"users lose more than {scenario.may_fail_seconds:g} s worth of inferences "
             "(at the load's rate)",
             f"the signals have not cleared {scenario.recover_budget:g} s after the recovery "
             "acted"]
    if scenario.never_fails:
        found.append(f"{', '.join(scenario.never_fails)} fails even once during the fault")
    if scenario.keeps_running:
        found.append("the service's process restarts (its runbook says not to restart it)")
    found.append("anything of the fault is left after the revert; SIGINT or SIGTERM stops the "
                 "run and reverts it")
    return found


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scenario", action="append", default=[], metavar="NAME")
    parser.add_argument("--shard", metavar="I/N")
    parser.add_argument("--time-compression", type=float, default=DEFAULT_FACTOR)
    args = parser.parse_args(argv)
    try:
        chosen = [catalog.get(name) for name in args.scenario] or list(catalog.SCENARIOS)
    except catalog.UnknownScenario as unknown:
        print(unknown, file=sys.stderr)
        return 2
    if args.shard:
        chosen = catalog.shard(tuple(chosen), args.shard)
    compression = Compression(args.time_compression)
    print(f"Plan: {len(chosen)} scenario(s), alert timings at 1/{compression.factor:g}. "
          "Nothing below has been done.\n")
    for scenario in chosen:
        print("\n".join(textwrap.shorten(line, 400) if len(line) > 400 else line
                        for line in describe(scenario, compression)))
        print()
    return 0


if __name__ == "__main__":
    sys.exit(main())
