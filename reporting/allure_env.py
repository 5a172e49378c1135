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

from gameday.redact import redact, write_text

PRODUCT_DEFECTS = {
    "not-detected": "the fault was not detected by the probes, logs or container state",
    "alert-missing": "the alert did not fire or was not delivered",
    "alert-wrong": "the alert fired with wrong labels or runbook link, or did not resolve",
    "recovery-failed": "the runbook's recovery did not bring the service back",
    "budget-exceeded": "a time budget (detect, alert, recover) was exceeded",
    "data-lost": "an answered inference is missing from PostgreSQL, or stored twice",
    "residue": "something of the fault was left behind",
}
SUITE_CATEGORIES = ("steady-state", "suite-or-infrastructure")
# Optional exception class ("gameday.lifecycle.ScenarioFailed: "), then the tag.
_PREFIX = r"^(?:[\w.$]+: )?\["


def tag_regex(category: str) -> str:
    """Matches a failure message whose tag names `category`, whatever the phase."""
    return _PREFIX + r"[^\]\n]*/" + category + r"\][\s\S]*$"


def categories() -> list[dict]:
    product = [{"name": f"Product defect: {name.replace('-', ' ')}",
                "description": why,
                "messageRegex": tag_regex(name),
                "matchedStatuses": ["failed"]}
               for name, why in PRODUCT_DEFECTS.items()]
    known = "|".join(list(PRODUCT_DEFECTS) + ["steady-state"])
    suite = [
        {"name": "Suite or infrastructure: steady state",
         "description": "the stack was not healthy before the fault was injected",
         "messageRegex": tag_regex("steady-state"),
         "matchedStatuses": ["failed"]},
        {"name": "Suite or infrastructure: broken test",
         "description": "an error in the suite, its fixtures or the engine (not an assertion)",
         "matchedStatuses": ["broken"]},
        {"name": "Suite or infrastructure: other failure",
         "description": "a failure without a product-defect tag (e.g. a broken variant that "
                        "passed, an assertion of the suite itself)",
         # Everything failed that the categories above do not claim.
         "messageRegex": r"^(?!(?:[\w.$]+: )?\[[^\]\n]*/(?:" + known + r")\])[\s\S]*$",
         "matchedStatuses": ["failed"]},
    ]
    return product + suite


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
