"""Checksums and manifest checks shared by the service and scripts/download_models.py.

Stdlib only, so the download script can import it without numpy or the web stack.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

CHUNK = 1 << 16


class ModelLoadError(Exception):
    """The model file or its manifest is missing, truncated, corrupted or unparsable."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def model_paths(model_dir: str | Path, name: str) -> tuple[Path, Path]:
    """Return (model file, manifest file) for a model name."""
    base = Path(model_dir)
    return base / f"{name}.pth", base / f"{name}.manifest.json"


def digests(data: bytes) -> dict[str, object]:
    return {
        "size": len(data),
        "md5": hashlib.md5(data).hexdigest(),
        "sha256": hashlib.sha256(data).hexdigest(),
    }


def file_digests(path: str | Path) -> dict[str, object]:
    """Size, md5 and sha256 of a file, read in chunks."""
    md5, sha, size = hashlib.md5(), hashlib.sha256(), 0
    with open(path, "rb") as fh:
        while chunk := fh.read(CHUNK):
            md5.update(chunk)
            sha.update(chunk)
            size += len(chunk)
    return {"size": size, "md5": md5.hexdigest(), "sha256": sha.hexdigest()}


def parse_manifest(text: str | bytes) -> dict:
    try:
        manifest = json.loads(text)
    except ValueError as exc:
        raise ModelLoadError(f"manifest is not valid JSON: {exc}") from exc
    if not isinstance(manifest, dict):
        raise ModelLoadError("manifest is not a JSON object")
    for key, kind in (("size", int), ("md5", str), ("sha256", str)):
        if not isinstance(manifest.get(key), kind):
            raise ModelLoadError(f"manifest field '{key}' is missing or has the wrong type")
    return manifest


def read_manifest(path: str | Path) -> dict:
    try:
        return parse_manifest(Path(path).read_bytes())
    except FileNotFoundError as exc:
        raise ModelLoadError(f"manifest {path} missing") from exc
    except OSError as exc:
        raise ModelLoadError(f"cannot read manifest {path}: {exc.strerror}") from exc


def check_digests(actual: dict, manifest: dict) -> None:
    """Raise ModelLoadError naming the first difference between actual and manifest digests."""
    if actual["size"] < manifest["size"]:
        raise ModelLoadError(
            f"model file truncated ({actual['size']} of {manifest['size']} bytes)"
        )
    if actual["size"] != manifest["size"]:
        raise ModelLoadError(
            f"model file size mismatch ({actual['size']} bytes, manifest says {manifest['size']})"
        )
    for algo in ("md5", "sha256"):
        if actual[algo] != manifest[algo]:
            raise ModelLoadError(f"model file checksum mismatch ({algo})")


def verify_file(path: str | Path, manifest: dict) -> None:
    """Check a file on disk against a manifest; raise ModelLoadError if it does not match."""
    try:
        actual = file_digests(path)
    except FileNotFoundError as exc:
        raise ModelLoadError(f"model file {path} missing") from exc
    except OSError as exc:
        raise ModelLoadError(f"cannot read model file {path}: {exc.strerror}") from exc
    check_digests(actual, manifest)
