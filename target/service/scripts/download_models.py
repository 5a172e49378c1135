#!/usr/bin/env python3
"""Download a model and its manifest from the model store, verified and atomically replaced.

    python scripts/download_models.py --model int2_quantized [--force] [--store URL] [--dest DIR]

Without --force a local file that already matches its manifest is left alone. On any failure
nothing partial is left in DEST and the exit status is 1.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import re
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO

import httpx

# Run as `python scripts/download_models.py` from /app: make the mmllm package importable.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from mmllm.integrity import (  # noqa: E402
    ModelLoadError,
    model_paths,
    parse_manifest,
    read_manifest,
    verify_file,
)


class DownloadError(Exception):
    pass


def _atomic_write(dest: Path, write: Callable[[BinaryIO], object]) -> None:
    """Write via a temp file in the same directory, fsync, then os.replace()."""
    fd, tmp = tempfile.mkstemp(dir=dest.parent, prefix=f".{dest.name}.", suffix=".part")
    try:
        with os.fdopen(fd, "wb") as fh:
            write(fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, 0o644)  # mkstemp makes 0600; the service may run as another user
        os.replace(tmp, dest)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def download(name: str, store: str, dest: Path, force: bool) -> str:
    model_file, manifest_file = model_paths(dest, name)
    if not force and model_file.exists():
        try:
            verify_file(model_file, read_manifest(manifest_file))
            return f"{model_file} already present and verified; use --force to re-download"
        except ModelLoadError as exc:
            print(f"{model_file}: {exc.reason}; downloading", file=sys.stderr)
    base = f"{store.rstrip('/')}/models/{name}"
    with httpx.Client(timeout=httpx.Timeout(30.0, connect=5.0)) as client:
        response = client.get(f"{base}.manifest.json")
        if response.status_code == 404:
            raise DownloadError(f"model {name!r} not found in model store {store}")
        response.raise_for_status()
        manifest_bytes = response.content
        try:
            manifest = parse_manifest(manifest_bytes)
        except ModelLoadError as exc:
            raise DownloadError(f"bad manifest from model store: {exc.reason}") from None
        dest.mkdir(parents=True, exist_ok=True)
        md5, sha, size = hashlib.md5(), hashlib.sha256(), 0

        def fetch(fh: BinaryIO) -> None:
            nonlocal size
            with client.stream("GET", f"{base}.pth") as stream:
                if stream.status_code == 404:
                    raise DownloadError(f"model file {name}.pth not found in model store {store}")
                stream.raise_for_status()
                for chunk in stream.iter_bytes():
                    fh.write(chunk)
                    md5.update(chunk)
                    sha.update(chunk)
                    size += len(chunk)
            actual = {"size": size, "md5": md5.hexdigest(), "sha256": sha.hexdigest()}
            for key in ("size", "md5", "sha256"):
                if actual[key] != manifest[key]:
                    raise DownloadError(f"downloaded {name}.pth failed verification: {key} "
                                        f"{actual[key]} != manifest {manifest[key]}")

        _atomic_write(model_file, fetch)
        _atomic_write(manifest_file, lambda fh: fh.write(manifest_bytes))
    return f"downloaded {name} ({size} bytes, sha256 {manifest['sha256']}) to {model_file}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Download and verify a model.")
    parser.add_argument("--model", required=True, help="model name, e.g. int2_quantized")
    parser.add_argument("--force", action="store_true", help="re-download even if valid")
    parser.add_argument("--store", default=os.environ.get("MODEL_STORE_URL",
                                                          "http://model-store:8000"))
    parser.add_argument("--dest", default="/app/models")
    args = parser.parse_args(argv)
    if not re.fullmatch(r"[A-Za-z0-9_-]+", args.model):
        print(f"error: invalid model name {args.model!r}", file=sys.stderr)
        return 1
    try:
        print(download(args.model, args.store, Path(args.dest), args.force))
    except DownloadError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except httpx.HTTPError as exc:
        print(f"error: cannot download from model store {args.store}: {exc}", file=sys.stderr)
        return 1
    except OSError as exc:
        print(f"error: cannot write to {args.dest}: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
