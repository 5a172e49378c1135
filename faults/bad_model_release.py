"""error-burst: a model release that passes its own checks but fails every inference.

The release pipeline installs a new build of the model on the service's models volume with
its manifest (through the operator toolbox, as a release would): the file matches its manifest
and loads, so the service's watcher takes it, but its output layer expects inputs the
encoder does not produce, so every inference that is not served from the cache ends in a
server error (500). The model store still holds the released version, from which the runbook
rolls back. Revert re-installs the store's version if the volume's differs (idempotent).
"""

from __future__ import annotations

import io
import tarfile
from dataclasses import dataclass

from faults.base import InjectionFailed
from fixtures.stack import Stack

NAME = "int2_quantized"
MANIFEST = f"/app/models/{NAME}.manifest.json"
SCRIPT = "/tmp/gameday_bad_release.py"
# Runs in the toolbox, which has the service's package (mmllm) and the models volume.
BUILD = f'''
import json, os
import numpy as np
from mmllm.integrity import digests, model_paths
from mmllm.model import deserialize, quantize_int2, serialize

model_file, manifest_file = model_paths("/app/models", "{NAME}")
arrays, meta = deserialize(model_file.read_bytes())
out, inputs = meta["w2_shape"]
w2 = np.random.default_rng(7).standard_normal((out, inputs + {{extra}})).astype(np.float32)
arrays["w2_packed"], arrays["w2_scales"] = quantize_int2(w2)
meta = {{**meta, "w2_shape": [out, inputs + {{extra}}], "version": "{{version}}"}}
data = serialize(arrays, meta)
manifest = {{**json.loads(manifest_file.read_text()), "version": "{{version}}", **digests(data)}}
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


@dataclass
class BadModelRelease:
    version: str = "1.1.0-rc1"
    extra_inputs: int = 8  # the output layer's width beyond what the encoder produces
    description: str = ("A model release whose output layer does not match the encoder was "
                        "installed: it verifies and loads, and fails every inference.")

    def inject(self, stack: Stack) -> str:
        script = BUILD.replace("{extra}", str(self.extra_inputs)).replace(
            "{version}", self.version)
        buffer = io.BytesIO()
        with tarfile.open(fileobj=buffer, mode="w") as tar:
            data = script.encode()
            info = tarfile.TarInfo(SCRIPT.rsplit("/", 1)[1])
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
        stack.container("toolbox").put_archive("/tmp", buffer.getvalue())
        result = stack.toolbox(f"PYTHONPATH=/app python {SCRIPT}")
        if result.exit_code:
            raise InjectionFailed(f"installing the bad release failed: {result.output}")
        return result.output.strip()

    def revert(self, stack: Stack) -> None:
        if self.residue(stack):
            stack.toolbox(f"python scripts/download_models.py --model {NAME} --force")

    def residue(self, stack: Stack) -> list[str]:
        same = stack.toolbox(
            f'curl -sf "$MODEL_STORE_URL/models/{NAME}.manifest.json" | cmp -s - {MANIFEST}')
        return [] if same.exit_code == 0 else [
            f"{MANIFEST} is not the model store's released manifest"]
