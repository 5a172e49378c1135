"""Exploration: random sequences of the catalog's faults on the live stack, two at once where
they do not contradict each other, with the service's promises checked after every step.
Hypothesis shrinks a failing sequence to the fewest steps that still fail.

The promises (invariants):
- /alive answers while the app's process runs;
- an inference gets 200 while only PostgreSQL or Redis is impaired (the outbox's promise), and
  never a 5xx while every dependency is healthy;
- every acknowledged inference ends up in PostgreSQL exactly once, once everything is reverted;
- once everything is reverted, the stack is back in steady state (healthy, no alert active)
  within a budget.
"""

from __future__ import annotations

import base64
import io
import random
from dataclasses import dataclass

import httpx
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule
from PIL import Image

from fixtures.clients import stored_counts, wait_until
from fixtures.stack import Stack
from gameday.catalog import BY_NAME

STEADY_STATE_BUDGET = 90.0
BURST = 10  # inferences per traffic step


@dataclass(frozen=True)
class Explorable:
    scenario: str  # whose fault, from the catalog
    target: str  # what it breaks: one fault per target at a time
    dependency_only: bool  # the app stays up and must keep answering through the outbox


EXPLORABLE = (
    Explorable("db-down", "postgres", True),
    Explorable("db-hung", "postgres", True),
    Explorable("model-corruption", "model", True),
    Explorable("service-crash", "app", False),
)


def _png(seed: int) -> str:
    buffer = io.BytesIO()
    rng = random.Random(seed)
    Image.new("RGB", (16, 16), tuple(rng.randrange(256) for _ in range(3))).save(buffer, "PNG")
    return base64.b64encode(buffer.getvalue()).decode()


class FaultSequences(RuleBasedStateMachine):
    """One instance explores one sequence; `stack` is set by the test before it runs."""

    stack: Stack

    def __init__(self) -> None:
        super().__init__()
        self.active: dict[str, tuple[Explorable, object]] = {}
        self.acknowledged: set[str] = set()
        self.http = httpx.Client(base_url=self.stack.endpoints.app, timeout=8,
                                 headers=self.stack.endpoints.headers())

    # ---- rules ------------------------------------------------------------------------------
    @rule(choice=st.sampled_from(EXPLORABLE))
    def inject(self, choice: Explorable) -> None:
        if choice.target in {e.target for e, _ in self.active.values()}:
            return  # contradicts a fault already present (same target)
        fault = BY_NAME[choice.scenario].fault.build()
        fault.inject(self.stack)
        self.active[choice.scenario] = (choice, fault)

    @precondition(lambda self: bool(self.active))
    @rule(data=st.data())
    def revert(self, data: st.DataObject) -> None:
        name = data.draw(st.sampled_from(sorted(self.active)))
        _, fault = self.active.pop(name)
        fault.revert(self.stack)

    @rule()
    def traffic(self) -> None:
        """A burst of valid inferences; what the service promises depends on what is broken."""
        answers = []
        for _ in range(BURST):
            try:
                answer = self.http.post("/model/inference", json={
                    "image": _png(random.getrandbits(40)), "task": "captioning"})
                answers.append(answer.status_code)
                if answer.status_code == 200:
                    self.acknowledged.add(answer.json()["request_id"])
            except httpx.HTTPError as error:
                answers.append(type(error).__name__)
        if all(e.dependency_only for e, _ in self.active.values()):
            failed = [a for a in answers if a != 200]
            assert not failed, (f"inferences failed while only {sorted(self.active) or 'nothing'} "
                                f"was broken: {failed}")

    # ---- invariants and the end -------------------------------------------------------------
    @invariant()
    def alive_while_running(self) -> None:
        """/alive answers while the process runs (a restart in progress gets a moment)."""
        if any(e.target == "app" for e, _ in self.active.values()):
            return
        if self.stack.container("app-prod").status == "running":
            wait_until(lambda: self.http.get("/alive").status_code == 200, timeout=15,
                       what="/alive answering while the app runs")

    def teardown(self) -> None:
        try:
            for _, fault in self.active.values():
                fault.revert(self.stack)
            self.active.clear()
            self.stack.wait_healthy(timeout=STEADY_STATE_BUDGET)
            self._all_stored()
        finally:
            self.http.close()

    def _all_stored(self) -> None:
        wanted = sorted(self.acknowledged)
        if not wanted:
            return

        def counts() -> dict[str, int]:
            return stored_counts(self.stack.endpoints.postgres_dsn, wanted)

        try:
            found = wait_until(lambda: (c := counts()) and len(c) == len(wanted) and c,
                               timeout=30, what="acknowledged stored")
        except TimeoutError:
            lost = sorted(set(wanted) - set(counts()))
            raise AssertionError(f"{len(lost)} acknowledged inferences never reached "
                                 f"PostgreSQL, e.g. {lost[:3]}") from None
        assert all(n == 1 for n in found.values()), "an inference was stored twice"


def replay_command(seed: int | None, examples: int) -> str:
    return f"make explore examples={examples}" + (f" seed={seed}" if seed is not None else "")
