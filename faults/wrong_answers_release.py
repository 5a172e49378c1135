"""silent-wrong-answers: a model release that verifies, loads and answers every request with
200, wrongly: its colour outputs are shifted by one (a label-order mix-up in the release's
export), so every caption and colour answer names the neighbouring colour. /health is green,
no request fails; only a check of the answers themselves (the golden inferences) can see it.

Shipped the way model releases are (faults/model_release.py). Revert re-installs the model
store's version if the volume's differs (idempotent).
"""

from __future__ import annotations

from dataclasses import dataclass

from faults import model_release
from fixtures.stack import Stack

COLOUR_LABELS_SHIFTED = '''
out, inputs = meta["w2_shape"]
w2 = dequantize_int2(arrays["w2_packed"], arrays["w2_scales"], (out, inputs))
first, count = len(SHAPES), len(COLOURS)
order = list(range(out))
order[first:first + count] = order[first + 1:first + count] + [first]
arrays["w2_packed"], arrays["w2_scales"] = quantize_int2(w2[order])
arrays["b2"] = arrays["b2"][order]
'''


@dataclass
class WrongAnswersRelease:
    version: str = "1.1.0"
    description: str = ("A model release whose colour labels are shifted by one was "
                        "installed: it verifies, loads and answers 200, wrongly.")

    def inject(self, stack: Stack) -> str:
        return model_release.install(stack, COLOUR_LABELS_SHIFTED, self.version)

    def revert(self, stack: Stack) -> None:
        model_release.roll_back(stack)

    def residue(self, stack: Stack) -> list[str]:
        return model_release.residue(stack)
