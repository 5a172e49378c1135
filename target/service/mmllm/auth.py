"""API keys for /model/inference: `Authorization: Bearer <key>`, compared in constant time.

The keys live in a secret file (config `auth.api_keys_file`, env MMLLM_API_KEYS_FILE), one per
line; `#` comments and blank lines are ignored. One or two keys are active at once, so a key is
rotated without downtime: write the new key as line 1 and keep the old one as line 2, let the
clients pick up line 1, then remove the old line. The file is re-read when it changes (a stat
per request: ~2 µs); a change to an empty or invalid file keeps the keys in force and logs an
error, so a half-written file never locks every client out.

    python -m mmllm.auth --new-key      # prints a fresh key
"""

from __future__ import annotations

import argparse
import hashlib
import hmac
import logging
import os
import re
import secrets
import threading
from collections.abc import Callable
from pathlib import Path

log = logging.getLogger("mmllm.auth")

MAX_KEYS = 2  # the key in use and the one being rotated out
MIN_KEY_CHARS = 16
MAX_KEY_CHARS = 512
# RFC 6750 b64token: what a Bearer credential may contain.
TOKEN = re.compile(r"[A-Za-z0-9\-._~+/]+=*")
REASONS = ("missing", "malformed", "invalid")


class KeyFileError(ValueError):
    """The keys file is missing, unreadable, empty or holds something that is not a key. The
    message never contains a key."""


def new_key() -> str:
    return secrets.token_urlsafe(32)


def parse_keys(text: str, source: str) -> list[str]:
    """The keys in a keys file's text, in order (line 1 first)."""
    keys = []
    for number, line in enumerate(text.splitlines(), 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        if not TOKEN.fullmatch(line) or not MIN_KEY_CHARS <= len(line) <= MAX_KEY_CHARS:
            raise KeyFileError(
                f"line {number} of {source} is not a valid key ({MIN_KEY_CHARS} to "
                f"{MAX_KEY_CHARS} characters of A-Z a-z 0-9 - . _ ~ + / =; make one with "
                "`python -m mmllm.auth --new-key`)")
        keys.append(line)
    if not keys:
        raise KeyFileError(f"no key in {source} (one key per line; make one with "
                           "`python -m mmllm.auth --new-key`)")
    if len(keys) > MAX_KEYS:
        raise KeyFileError(f"{len(keys)} keys in {source}; at most {MAX_KEYS} may be active "
                           "(the new key on line 1 and the one being rotated out)")
    if len(set(keys)) != len(keys):
        raise KeyFileError(f"the same key is on two lines of {source}")
    return keys


def read_keys(path: str | Path) -> list[str]:
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise KeyFileError(f"file {path} not found (one API key per line)") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise KeyFileError(f"cannot read {path}: {type(exc).__name__}") from None
    return parse_keys(text, str(path))


def _stat(path: Path) -> tuple[int, int, int, int] | None:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns


def _digest(value: bytes) -> bytes:
    # Compared as digests: equal lengths, so the comparison leaks not even a key's length.
    return hashlib.sha256(value).digest()


class ApiKeys:
    """The active keys, reloaded when the file changes. Raises KeyFileError at construction
    when the file holds no valid key (a configuration error: the service must not start)."""

    def __init__(self, path: str | Path,
                 on_keys: Callable[[list[str]], None] = lambda keys: None) -> None:
        self.path = Path(path)
        self._on_keys = on_keys  # e.g. keep the keys out of the logs
        self._lock = threading.Lock()
        self._sig = _stat(self.path)
        keys = read_keys(self.path)
        self._digests = [_digest(k.encode()) for k in keys]
        self._text_digest = _digest("\n".join(keys).encode())
        self.error = ""  # why the last reload was refused ("" when the file is good)
        on_keys(keys)

    @property
    def count(self) -> int:
        return len(self._digests)

    def refresh(self) -> bool:
        """Re-read the file if it changed since the last look; True if the keys changed."""
        sig = _stat(self.path)
        if sig == self._sig:
            return False
        with self._lock:
            if sig == self._sig:
                return False
            self._sig = sig
            try:
                keys = read_keys(self.path)
            except KeyFileError as exc:
                self.error = str(exc)
                log.error("API keys not reloaded: %s; the %d key(s) loaded before stay active",
                          exc, len(self._digests), extra={"file": str(self.path)})
                return False
            self.error = ""
            text_digest = _digest("\n".join(keys).encode())
            if text_digest == self._text_digest:
                return False
            self._on_keys(keys)
            self._digests = [_digest(k.encode()) for k in keys]
            self._text_digest = text_digest
            log.info("API keys reloaded: %d active", len(keys), extra={"file": str(self.path)})
            return True

    def check(self, authorization: str | None) -> str | None:
        """None if the header carries an active key, else the reason: missing, malformed or
        invalid. Every active key is compared, in constant time, with no early exit."""
        if authorization is None or not authorization.strip():
            return "missing"
        scheme, _, token = authorization.strip().partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not token or len(token) > MAX_KEY_CHARS \
                or not TOKEN.fullmatch(token):
            return "malformed"
        self.refresh()
        presented = _digest(token.encode("latin-1"))
        matched = False
        for digest in self._digests:
            matched |= hmac.compare_digest(presented, digest)
        return None if matched else "invalid"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m mmllm.auth")
    parser.add_argument("--new-key", action="store_true", required=True,
                        help="print a fresh API key (secrets.token_urlsafe(32))")
    parser.parse_args(argv)
    print(new_key())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
