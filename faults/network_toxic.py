"""Network faults on the app's links, as toxics on the drill's fault proxy.

The app reaches PostgreSQL and Redis through the `toxiproxy` service (game-day override);
this injector adds the same toxic to one or several of its proxies through the
`toxiproxy-python` client only, on the API port the override publishes on 127.0.0.1: a
`timeout` toxic cuts a link without closing it (a partition: connections accepted, data never
delivered), `latency` slows it, `reset_peer` resets every connection on its first data (a
middlebox that drops its connection state and answers with RST). Revert removes every toxic
from those proxies (idempotent); the residue is any toxic left on them.
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
    proxies: tuple[str, ...] = ("postgres",)
    toxic: str = "timeout"
    attributes: dict[str, Any] = field(default_factory=lambda: {"timeout": 0})
    streams: tuple[str, ...] = ("upstream", "downstream")
    description: str = "The network between the service and a dependency failed."

    def _names(self) -> list[str]:
        return [f"gameday_{self.toxic}_{stream}" for stream in self.streams]

    def inject(self, stack: Stack) -> str:
        port = stack.ports["toxiproxy"]
        seen = []
        try:
            for name in self.proxies:
                link = toxiproxy.proxy(port, name)
                for toxic, stream in zip(self._names(), self.streams, strict=True):
                    link.add_toxic(name=toxic, type=self.toxic, stream=stream,
                                   attributes=dict(self.attributes))
                seen.append(f"proxy {name} ({link.upstream}) has toxics "
                            f"{toxiproxy.toxic_names(port, name)}")
        except Exception as error:  # the client raises its own and requests' errors
            raise InjectionFailed(f"toxiproxy: {type(error).__name__}: {error}") from error
        return "; ".join(seen)

    def revert(self, stack: Stack) -> None:
        ensure_running(stack, "toxiproxy")
        for name in self.proxies:
            link = wait_until(lambda name=name: _reachable(stack, name), timeout=30,
                              what="toxiproxy's API")
            for toxic in link.toxics():
                link.destroy_toxic(toxic)

    def residue(self, stack: Stack) -> list[str]:
        port = stack.ports["toxiproxy"]
        return [f"toxic {toxic} on proxy {name}" for name in self.proxies
                for toxic in toxiproxy.toxic_names(port, name)]


def _reachable(stack: Stack, name: str) -> object | None:
    try:
        return toxiproxy.proxy(stack.ports["toxiproxy"], name)
    except Exception:  # not listening yet
        return None
