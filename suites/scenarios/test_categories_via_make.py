"""A broken product fails through the user's own entry point with the right category.

`make chaos` with an alert rule removed from the rules Prometheus evaluates must fail the
scenario in its alert phase, filed by Allure as the product defect "alert-missing", not as a
suite error raised before the lifecycle ran.
"""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import pytest
import yaml

from fixtures import monitoring
from gameday.catalog import BY_NAME

pytestmark = [pytest.mark.stack, pytest.mark.broken_variant]
ROOT = Path(__file__).resolve().parents[2]


def test_make_chaos_files_a_removed_alert_as_a_product_defect(tmp_path: Path) -> None:
    scenario = BY_NAME["port-conflict"]
    rules = monitoring.load_rules()
    for group in rules["groups"]:
        group["rules"] = [r for r in group["rules"] if r.get("alert") != scenario.alerts[0]]
    broken = tmp_path / "alerts.yml"
    broken.write_text(yaml.safe_dump(rules))
    results = tmp_path / "allure"
    run = subprocess.run(
        ["make", "--no-print-directory", "chaos", f"scenario={scenario.name}",
         f"ARGS=--alert-rules {broken} --alluredir {results} -p no:cacheprovider"],
        cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert run.returncode != 0, run.stdout[-2000:]
    outcomes = [json.loads(p.read_text()) for p in results.glob("*-result.json")]
    [outcome] = [o for o in outcomes if o["name"].startswith(scenario.name)
                 or scenario.name in o.get("fullName", "")]
    message = outcome["statusDetails"]["message"]
    assert outcome["status"] == "failed", message
    assert "[alert/alert-missing]" in message, message
    categories = json.loads((results / "categories.json").read_text())
    filed = [c["name"] for c in categories if "failed" in c.get("matchedStatuses", [])
             and re.search(c.get("messageRegex", "$^"), message)]
    assert filed and filed[0].lower().startswith("product defect"), filed
