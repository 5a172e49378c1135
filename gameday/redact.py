"""Secrets never reach a report: every writer redacts, and the session scans what was written.

Secrets are matched in the forms they take in our files: as typed, JSON-escaped and
HTML-escaped, so a password with a quote in it is still found in a journal or an HTML page.
"""

from __future__ import annotations

import html
import json
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

MASK = "[REDACTED]"
# Every secret of this session, registered the moment it exists (a stack's password when the
# stack is created), so that no writer and no scan depends on a scenario having run.
KNOWN: set[str] = set()


def register(*secrets: str) -> None:
    KNOWN.update(s for s in secrets if s)


class SecretLeak(RuntimeError):
    """A secret was found in a written file. The message names the files, never the secret."""

    def __init__(self, paths: Sequence[Path]) -> None:
        self.paths = list(paths)
        names = "\n  ".join(str(p) for p in self.paths)
        super().__init__(f"a secret was written to {len(self.paths)} file(s):\n  {names}")


def _usable(secrets: Iterable[str]) -> list[str]:
    # An empty secret would match everywhere; longest first so that a secret containing
    # another one is masked whole.
    return sorted({s for s in secrets if s and s.strip()}, key=len, reverse=True)


def _forms(secret: str) -> list[str]:
    forms = [secret, json.dumps(secret)[1:-1], json.dumps(secret, ensure_ascii=False)[1:-1],
             html.escape(secret), html.escape(secret, quote=False)]
    return list(dict.fromkeys(forms))


def redact(text: str, secrets: Iterable[str]) -> str:
    """`text` with every secret (in any of its escaped forms) replaced by [REDACTED]."""
    for secret in _usable(secrets):
        for form in _forms(secret):
            text = text.replace(form, MASK)
    return text


def redact_data(value: Any, secrets: Iterable[str]) -> Any:
    """A copy of a JSON-like value with every string redacted (keys included)."""
    usable = _usable(secrets)
    if not usable:
        return value

    def walk(v: Any) -> Any:
        if isinstance(v, str):
            return redact(v, usable)
        if isinstance(v, dict):
            return {walk(k): walk(x) for k, x in v.items()}
        if isinstance(v, list | tuple):
            return [walk(x) for x in v]
        return v

    return walk(value)


def write_text(path: Path, text: str, secrets: Iterable[str]) -> Path:
    """Write a report file, redacted, atomically (a reader never sees half a file)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(redact(text, secrets), encoding="utf-8")
    tmp.replace(path)
    return path


def contains(text: str, secrets: Iterable[str]) -> bool:
    """Whether `text` holds a secret in any of its forms."""
    return any(form in text for secret in _usable(secrets) for form in _forms(secret))


def leaks(paths: Iterable[Path], secrets: Iterable[str]) -> list[Path]:
    """The files among `paths` that contain a secret in any of its forms."""
    needles = [form.encode() for secret in _usable(secrets) for form in _forms(secret)]
    if not needles:
        return []
    found = []
    for path in paths:
        try:
            data = path.read_bytes()
        except OSError:
            continue  # removed since it was listed
        if any(needle in data for needle in needles):
            found.append(path)
    return found


def scan(paths: Iterable[Path], secrets: Iterable[str]) -> None:
    """Raise SecretLeak naming every file among `paths` that contains a secret."""
    found = leaks(paths, secrets)
    if found:
        raise SecretLeak(found)
