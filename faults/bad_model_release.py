"""error-burst: a model release that passes its own checks but fails every inference.

Its output layer expects inputs the encoder does not produce, so every inference that is not
served from the cache ends in a server error (500). It is shipped the way model releases are
(faults/model_release.py): the file matches its manifest and loads. Revert re-installs the
model store's version if the volume's differs (idempotent).
"""

from __future__ import annotations

from dataclasses import dataclass

from faults import model_release
from fixtures.stack import Stack

WIDER_OUTPUT_LAYER = '''
out, inputs = meta["w2_shape"]
w2 = np.random.default_rng(7).standard_normal((out, inputs + {extra})).astype(np.float32)
arrays["w2_packed"], arrays["w2_scales"] = quantize_int2(w2)
meta = {{**meta, "w2_shape": [out, inputs + {extra}]}}
'''


@dataclass
class BadModelRelease:
    version: str = "1.1.0-rc1"
    extra_inputs: int = 8  # the output layer's width beyond what the encoder produces
    description: str = ("A model release whose output layer does not match the encoder was "
                        "installed: it verifies and loads, and fails every inference.")

    def inject(self, stack: Stack) -> str:
        change = WIDER_OUTPUT_LAYER.format(extra=self.extra_inputs)
        return model_release.install(stack, change, self.version)

    def revert(self, stack: Stack) -> None:
        model_release.roll_back(stack)

    def residue(self, stack: Stack) -> list[str]:
        return model_release.residue(stack)
