"""The runbook reader turns markdown into the commands an operator types, with line numbers;
the catalog rejects an unknown scenario with the list of known ones."""

from __future__ import annotations

import pytest

from gameday import catalog, runbook

RUNBOOK = """# Runbook

## Resolution

### Scenario 1: Example

```bash
# a comment, not a heading
docker-compose up -d postgres
until pg_isready -h postgres; do
  echo "Waiting..."
  sleep 1
done
curl -fsS -X POST http://app-prod:8080/model/inference \\
  -d '{"task": "captioning"}'
kubectl rollout restart deployment/x  # kubernetes only
```

Some prose.

### Scenario 2: Next

```bash
echo next
```
"""


def test_commands_keep_loops_and_continuations_whole_with_their_lines() -> None:
    found = runbook.commands(RUNBOOK, "Scenario 1")
    assert [(c.line, c.runnable) for c in found] == [(9, True), (10, True), (14, True),
                                                     (16, False)]
    assert found[1].text.splitlines()[-1] == "done"
    assert found[2].text.endswith("-d '{\"task\": \"captioning\"}'")


def test_a_comment_in_a_code_block_does_not_end_the_section() -> None:
    assert [c.text for c in runbook.commands(RUNBOOK, "Resolution")][-1] == "echo next"
    assert "echo next" not in [c.text for c in runbook.commands(RUNBOOK, "Scenario 1")]


def test_a_missing_section_is_an_error() -> None:
    with pytest.raises(runbook.SectionNotFound):
        runbook.commands(RUNBOOK, "Scenario 9")


def test_every_catalog_section_exists_and_holds_its_key_step() -> None:
    for scenario in catalog.SCENARIOS:
        texts = [c.text for c in runbook.commands(runbook.load(scenario.runbook),
                                                  scenario.section)]
        assert texts, f"{scenario.runbook} '{scenario.section}' has no command"
        if scenario.key_step is not None:  # a self-healing fault has no recovery step
            assert any(scenario.key_step in text for text in texts), scenario.name


def test_the_linked_runbook_recovers_and_every_linked_runbook_is_run() -> None:
    """A scenario recovers through the runbook its alert links to, and every runbook an
    alert links to recovers at least one scenario."""
    linked = {paging.runbook for paging in catalog.ALERTS.values()}
    exercised = {s.runbook for s in catalog.SCENARIOS if not s.self_heals}
    missing = linked - exercised
    # Issue 10 still owes the scenarios of this runbook (memory and CPU).
    assert missing <= {"high-memory.md"}, missing
    for scenario in catalog.SCENARIOS:
        assert (runbook.RUNBOOKS / scenario.runbook).exists(), scenario.runbook


def test_unknown_scenario_lists_the_known_ones(capsys) -> None:
    assert catalog.main(["--check", "nope"]) == 2
    err = capsys.readouterr().err
    assert "unknown scenario 'nope'" in err
    assert all(s.name in err for s in catalog.SCENARIOS)
    assert catalog.main(["--check", "oom"]) == 0
    with pytest.raises(catalog.UnknownScenario, match="known scenarios: service-crash"):
        catalog.get("nope")


def test_every_runbook_inference_sends_the_current_api_key() -> None:
    """/model/inference needs a key: each runbook's inference reads line 1 of the keys file
    (the key clients use, also after a rotation), and never prints it."""
    header = '-H "Authorization: Bearer $(head -1 "$DEPLOY_DIR/secrets/api-keys")"'
    found = 0
    for path in sorted(runbook.RUNBOOKS.glob("*.md")):
        for number, line in enumerate(path.read_text().splitlines(), 1):
            if line.startswith("curl") and "/model/inference" in line and "Bearer" not in line:
                raise AssertionError(f"{path.name}:{number} sends no API key: {line[:120]}")
            found += header in line
    assert found >= 6


def test_no_runbook_line_acts_on_a_service_production_lacks() -> None:
    """A runbook line that restarts, starts or stops a service acts on one of the deployment
    file's own services: a drill-only part (the fault proxy) never does a recovery (issue 16).
    """
    import re

    import yaml

    deployed = set(yaml.safe_load((runbook.RUNBOOKS.parent / "docker-compose.yml").read_text())
                   ["services"])
    acts = re.compile(r"docker-compose\s+(?:restart|start|stop|up\s+-d|rm\s+-f|kill|pause|"
                      r"unpause)((?:\s+[a-z][\w-]*)+)")
    seen = []
    for path in sorted(runbook.RUNBOOKS.glob("*.md")):
        text = path.read_text()
        for number, line in enumerate(text.splitlines(), 1):
            if line.lstrip().startswith("#"):
                continue
            for match in acts.finditer(line):
                services = [w for w in match.group(1).split() if not w.startswith("-")]
                seen += services
                assert set(services) <= deployed, f"{path.name}:{number}: {line.strip()}"
    assert "postgres" in seen and "app-prod" in seen  # the pattern does find lines
    assert "toxiproxy" not in deployed


def test_an_escalation_comes_after_the_diagnosis_block() -> None:
    """A repair outside the runbook happens after a section's first code block (the diagnosis),
    or before its first command when it has one block only."""
    two_blocks = RUNBOOK.replace("Some prose.\n", "Escalate.\n\n```bash\necho after\n```\n")
    found = runbook.commands(two_blocks, "Scenario 1: Example")
    assert found[runbook.escalation_index(found)].text == "echo after"
    one_block = runbook.commands(RUNBOOK, "Scenario 1: Example")
    assert runbook.escalation_index(one_block) == 0
