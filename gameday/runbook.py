"""Read a runbook's sections into the commands an operator would type, with their line numbers.

A command is one line, a line continued with a backslash, or a compound statement
(until/while/for/if ... done/fi). Lines meant for another deployment carry a trailing
`# kubernetes only` or `# host only`; they are reported as not run.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from fixtures.stack import Stack

RUNBOOKS = Path(__file__).resolve().parents[1] / "target" / "runbooks"
OTHER_DEPLOYMENT = re.compile(r"#\s*(kubernetes|host) only\s*$")
_OPENERS = re.compile(r"^\s*(until|while|for|if|case)\b")
_CLOSERS = re.compile(r"(^|;|\s)(done|fi|esac)\s*(;|$|\||&|>)")
COMMAND_TIMEOUT = 90.0  # a runbook line that hangs longer than this has failed


@dataclass(frozen=True)
class Command:
    text: str
    line: int  # 1-based line of the runbook where it starts
    runnable: bool = True
    block: int = 0  # which code block of its section (0: the first)

    def where(self, runbook: str) -> str:
        return f"{runbook}:{self.line}"


class SectionNotFound(LookupError):
    pass


def section_lines(text: str, heading: str) -> list[tuple[int, str]]:
    """(line number, line) of the section whose heading contains `heading` (case-insensitive)."""
    lines = text.splitlines()
    start = level = None
    in_block = False
    for number, line in enumerate(lines, 1):
        if line.strip().startswith("```"):
            in_block = not in_block
        match = None if in_block else re.match(r"^(#+)\s+(.*)$", line)
        if not match:
            continue
        if start is None and heading.lower() in match.group(2).lower():
            start, level = number, len(match.group(1))
        elif start is not None and len(match.group(1)) <= level:
            return list(enumerate(lines, 1))[start:number - 1]
    if start is None:
        raise SectionNotFound(f"no section headed {heading!r}")
    return list(enumerate(lines, 1))[start:]


def commands(text: str, heading: str) -> list[Command]:
    """The commands of the bash blocks of one section, in order."""
    found: list[Command] = []
    in_block = False
    pending: list[str] = []
    pending_line = 0
    depth = 0
    block = -1
    for number, line in section_lines(text, heading):
        if line.strip().startswith("```"):
            in_block = not in_block and line.strip() in ("```bash", "```sh", "```shell")
            block += in_block
            continue
        if not in_block:
            continue
        stripped = line.strip()
        if not pending and (not stripped or stripped.startswith("#")):
            continue
        if not pending:
            pending_line = number
        pending.append(line)
        if _OPENERS.match(line):
            depth += 1
        if _CLOSERS.search(stripped):
            depth = max(depth - 1, 0)
        if stripped.endswith("\\") or depth > 0:
            continue
        joined = "\n".join(pending)
        found.append(Command(joined.strip(), pending_line, not OTHER_DEPLOYMENT.search(joined),
                             block))
        pending = []
    return found


def escalation_index(found: list[Command]) -> int:
    """Where a repair outside the runbook (an escalation) happens among a section's commands:
    after its first code block (the diagnosis), or at the start if it has one block only."""
    after = 1 if any(c.block >= 1 for c in found) else 0
    return next((i for i, c in enumerate(found) if c.block >= after), len(found))


def execute(stack: Stack, command: Command) -> dict[str, Any]:
    """Type one command into the operator toolbox; the record the journal keeps of it."""
    record: dict[str, Any] = {"line": command.line, "command": command.text,
                              "run": command.runnable}
    if not command.runnable:
        record["why"] = "marked for another deployment"
        return record
    record["started"] = time.time()
    result = stack.toolbox(command.text, timeout=COMMAND_TIMEOUT)
    record.update(exit_code=result.exit_code, seconds=round(result.seconds, 3),
                  output=result.output[-4000:])
    return record


def load(name: str) -> str:
    return (RUNBOOKS / name).read_text()
