"""model-store-down-during-recovery: the model file is corrupted on its volume and then the
model store, the only source of a good copy, goes down (stopped), so the runbook's first download
fails; the runbook must say why clearly, bring the store back and retry.

One injector: the model corruption of `corrupt_model` and the outage of `stop_container`
together. Revert starts the store first (the model's revert downloads from it), then restores
the model; both are idempotent.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from faults.corrupt_model import CorruptModel
from faults.stop_container import StopContainer
from fixtures.stack import Stack


@dataclass
class CorruptModelStoreDown:
    offset: int = 256
    length: int = 64
    description: str = ("Bytes of the INT2 model file were overwritten while the model store "
                        "was down.")
    _model: CorruptModel = field(init=False, repr=False)
    _store: StopContainer = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self._model = CorruptModel(offset=self.offset, length=self.length)
        self._store = StopContainer(service="model-store")

    def inject(self, stack: Stack) -> str:
        model = self._model.inject(stack)  # first: the store's stop takes seconds
        store = self._store.inject(stack)
        return f"model corrupted: {model}; {store}"

    def revert(self, stack: Stack) -> None:
        self._store.revert(stack)
        self._model.revert(stack)

    def residue(self, stack: Stack) -> list[str]:
        return self._store.residue(stack) + self._model.residue(stack)
