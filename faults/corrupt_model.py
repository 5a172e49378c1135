"""model-corruption: bytes in the middle of the model file on the models volume are overwritten."""

from __future__ import annotations

from dataclasses import dataclass

from fixtures.stack import Stack

MODEL = "/app/models/int2_quantized.pth"
MANIFEST = "/app/models/int2_quantized.manifest.json"


@dataclass
class CorruptModel:
    offset: int = 256
    length: int = 64
    description: str = "Bytes of the INT2 model file on the models volume were overwritten."

    def inject(self, stack: Stack) -> str:
        result = stack.toolbox(
            f"head -c {self.length} /dev/urandom | dd of={MODEL} bs=1 seek={self.offset} "
            f"conv=notrunc status=none && md5sum {MODEL}"
        )
        if result.exit_code:
            raise RuntimeError(f"could not corrupt the model: {result.output}")
        return result.output.strip()

    def revert(self, stack: Stack) -> None:
        if self.residue(stack):
            stack.toolbox("python scripts/download_models.py --model int2_quantized --force")

    def residue(self, stack: Stack) -> list[str]:
        check = stack.toolbox(
            f'python -c "import json,hashlib,sys; m=json.load(open(\'{MANIFEST}\')); '
            f"sys.exit(hashlib.sha256(open('{MODEL}','rb').read()).hexdigest()!=m['sha256'])\""
        )
        return [] if check.exit_code == 0 else [f"{MODEL} does not match its manifest"]
