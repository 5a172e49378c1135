"""How a model release reaches the service: the release pipeline's part, shared by the faults
that ship a bad build (bad_model_release, wrong_answers_release).

It runs in the operator toolbox, which has the service's package (mmllm) and the models volume:
it rebuilds the installed model with `change` applied to its arrays, writes the model and a
manifest that matches it (a release is built that way, so the service's checksum verifies it),
and swaps both in at once; the service's watcher loads it. The model store keeps the version
that was released before, which the runbooks roll back to.
"""

from __future__ import annotations

import io
import tarfile

from faults.base import InjectionFailed
from fixtures.stack import Stack

NAME = "int2_quantized"
MANIFEST = f"/app/models/{NAME}.manifest.json"
SCRIPT = "/tmp/gameday_model_release.py"
RELEASE = '''
import json, os
import numpy as np
from mmllm.integrity import digests, model_paths
from mmllm.model import COLOURS, SHAPES, dequantize_int2, deserialize, quantize_int2, serialize

model_file, manifest_file = model_paths("/app/models", "{name}")
arrays, meta = deserialize(model_file.read_bytes())
{change}
meta = {{**meta, "version": "{version}"}}
data = serialize(arrays, meta)
manifest = {{**json.loads(manifest_file.read_text()), "version": "{version}", **digests(data)}}
parts = []
for path, content in ((model_file, data), (manifest_file, json.dumps(manifest, indent=2) + "\\n")):
    part = path.with_name("." + path.name + ".release")
    part.write_bytes(content if isinstance(content, bytes) else content.encode())
    os.chmod(part, 0o644)
    parts.append((part, path))
for part, path in parts:  # both written first: the two files change within microseconds
    os.replace(part, path)
print("installed", manifest["version"], "sha256", manifest["sha256"])
'''


def install(stack: Stack, change: str, version: str) -> str:
    """Ship the installed model with `change` (Python on `arrays` and `meta`) as `version`."""
    script = RELEASE.format(name=NAME, change=change.strip(), version=version)
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        data = script.encode()
        info = tarfile.TarInfo(SCRIPT.rsplit("/", 1)[1])
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    stack.container("toolbox").put_archive("/tmp", buffer.getvalue())
    result = stack.toolbox(f"PYTHONPATH=/app python {SCRIPT}")
    if result.exit_code:
        raise InjectionFailed(f"installing the release failed: {result.output}")
    return result.output.strip()


def residue(stack: Stack) -> list[str]:
    same = stack.toolbox(
        f'curl -sf "$MODEL_STORE_URL/models/{NAME}.manifest.json" | cmp -s - {MANIFEST}')
    return [] if same.exit_code == 0 else [
        f"{MANIFEST} is not the model store's released manifest"]


def roll_back(stack: Stack) -> None:
    """The store's released version back on the volume, if it is not there (idempotent)."""
    if residue(stack):
        stack.toolbox(f"python scripts/download_models.py --model {NAME} --force")
