"""What Allure shows beside the results: the environment and the failure categories.

The categories separate product defects (what the game day is for: a fault not detected,
an alert missing or wrong, a runbook that does not recover, ...) from failures of the suite
or its infrastructure. ScenarioFailed messages carry `[<phase>/<category>] ` at their start
(allure-pytest may put the exception's class name before it), which is what is matched.

The regexes work for both Allure 2 (Java, the whole message must match, every matching
category applies) and Allure 3 (JavaScript, a search, the first matching category wins):
they are anchored, use [\\s\\S] for any character, and the catch-all excludes the others.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from pathlib import Path

from gameday.journal import Category
from gameday.redact import redact, write_text

MEANING: dict[Category, str] = {
    Category.STEADY_STATE: "the stack was not healthy before the fault was injected",
    Category.NOT_DETECTED: "the fault was not detected by the probes, logs or container state",
    Category.ALERT_MISSING: "the alert did not fire or was not delivered",
    Category.ALERT_WRONG: "the alert fired with wrong labels or runbook link, or did not "
                          "resolve",
    Category.ALERT_LATE: "the page reached the receiver later than the catalog's maximum delay "
                         "after detection",
    Category.RESOLVED_EARLY: "the alert resolved before the on-call could act on it",
    Category.ALERT_UNEXPECTED: "an alert fired that the scenario does not declare",
    Category.PAGED: "someone was paged for a fault the deployment promises to heal by itself",
    Category.RECOVERY_FAILED: "the runbook's recovery did not bring the service back",
    Category.BUDGET_EXCEEDED: "the time to detect or to recover was over its budget",
    Category.DATA_LOST: "an answered inference is missing from PostgreSQL, or stored twice",
    Category.RESIDUE: "something of the fault was left behind",
    Category.USER_IMPACT: "the fault cost users more failed inferences than the scenario allows",
    Category.LOAD_MISSING: "the load recorded too few inferences to judge what the fault cost "
                           "users",
    Category.RESTARTED: "the service was restarted although the runbook promises it keeps "
                        "running",
    Category.ABORTED: "the run was stopped from outside and its fault reverted",
    Category.SUITE: "an error in the suite, its fixtures or the machine",
}
PRODUCT, SUITE = "Product defect", "Suite or infrastructure"


def _tag(categories: str) -> str:
    """An optional exception class ("gameday.lifecycle.ScenarioFailed: "), then the tag
    `[<phase>/<category>]` naming one of `categories` (a regex alternation)."""
    return r"(?:[\w.$]+: )?\[[^\]\n]*/(?:" + categories + r")\]"


def tag_regex(category: str) -> str:
    """Matches a failure message whose tag names `category`, whatever the phase."""
    return "^" + _tag(category) + r"[\s\S]*$"


def _name(category: Category) -> str:
    group = PRODUCT if category.product_defect else SUITE
    return f"{group}: {category.value.replace('-', ' ')}"


def categories() -> list[dict]:
    """Every tagged category (product defects first), then the suite's catch-alls."""
    tagged = sorted(Category, key=lambda c: not c.product_defect)
    rules = [{"name": _name(c), "description": MEANING[c], "messageRegex": tag_regex(c.value),
              "matchedStatuses": ["failed"]} for c in tagged]
    known = "|".join(c.value for c in Category)
    return rules + [
        {"name": f"{SUITE}: broken test",
         "description": "an error in the suite, its fixtures or the engine (not an assertion)",
         "matchedStatuses": ["broken"]},
        {"name": f"{SUITE}: other failure",
         "description": "a failure without a category tag (e.g. a broken variant that "
                        "passed, an assertion of the suite itself)",
         # Everything failed that the categories above do not claim.
         "messageRegex": r"^(?!" + _tag(known) + r")[\s\S]*$",
         "matchedStatuses": ["failed"]},
    ]


def _escape_key(key: str) -> str:
    out = key.replace("\\", "\\\\")
    for char in (" ", "=", ":", "#", "!"):
        out = out.replace(char, "\\" + char)
    return out


def _escape_value(value: str) -> str:
    return (value.replace("\\", "\\\\").replace("\n", "\\n").replace("\r", "\\r")
            .replace("\t", "\\t"))


def write_environment(results_dir: Path, properties: Mapping[str, str],
                      secrets: Iterable[str] = ()) -> Path:
    """environment.properties: versions of each stack component, image ids, the run id."""
    secrets = list(secrets)
    lines = [f"{_escape_key(str(k))}={_escape_value(redact(str(v), secrets))}"
             for k, v in sorted(properties.items())]
    return write_text(Path(results_dir) / "environment.properties",
                      "\n".join(lines) + "\n", secrets)


def write_categories(results_dir: Path) -> Path:
    return write_text(Path(results_dir) / "categories.json",
                      json.dumps(categories(), indent=2) + "\n", ())
