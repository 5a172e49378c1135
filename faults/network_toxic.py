"""Network faults on one of the app's links, as toxics on the drill's fault proxy.

The app reaches PostgreSQL and Redis through the `toxiproxy` service (game-day override);
this injector adds toxics to one proxy through the `toxiproxy-python` client only, on the API
port the override publishes on 127.0.0.1: a `timeout` toxic cuts the link without closing it
(a partition: connections accepted, data never delivered), `latency` slows it, `reset_peer`
resets it. Revert removes every toxic from that proxy (idempotent); the residue is any toxic
left on it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from faults.base import InjectionFailed, ensure_running
from fixtures import toxiproxy
from fixtures.clients import wait_until
from fixtures.stack import Stack


@dataclass
class NetworkToxic:
    proxy: str = "postgres"
    toxic: str = "timeout"
    attributes: dict[str, Any] = field(default_factory=lambda: {"timeout": 0})
    streams: tuple[str, ...] = ("upstream", "downstream")
    description: str = "The network between the service and a dependency failed."

    def _names(self) -> list[str]:
        return [f"gameday_{self.toxic}_{stream}" for stream in self.streams]

    def inject(self, stack: Stack) -> str:
        try:
            link = toxiproxy.proxy(stack.ports["toxiproxy"], self.proxy)
            for name, stream in zip(self._names(), self.streams, strict=True):
                link.add_toxic(name=name, type=self.toxic, stream=stream,
                               attributes=dict(self.attributes))
        except Exception as error:  # the client raises its own and requests' errors
            raise InjectionFailed(f"toxiproxy: {type(error).__name__}: {error}") from error
        toxics = toxiproxy.toxic_names(stack.ports["toxiproxy"], self.proxy)
        return f"proxy {self.proxy} ({link.upstream}) has toxics {toxics}"

    def revert(self, stack: Stack) -> None:
        ensure_running(stack, "toxiproxy")
        link = wait_until(lambda: _reachable(stack, self.proxy), timeout=30,
                          what="toxiproxy's API")
        for name in link.toxics():
            link.destroy_toxic(name)

    def residue(self, stack: Stack) -> list[str]:
        left = toxiproxy.toxic_names(stack.ports["toxiproxy"], self.proxy)
        return [f"toxic {name} on proxy {self.proxy}" for name in left]


def _reachable(stack: Stack, name: str) -> object | None:
    try:
        return toxiproxy.proxy(stack.ports["toxiproxy"], name)
    except Exception:  # not listening yet
        return None
