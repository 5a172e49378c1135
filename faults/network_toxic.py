"""Network faults on the app's links, as toxics on the drill's fault proxy.

The app reaches PostgreSQL and Redis directly, as deployed. A network fault first routes those
links through the drill's `toxiproxy` relay, which stands for the network in between (a pooler,
a load balancer, a firewall, a segment in production): `prepare` deploys
target/gameday.faultproxy.yml on top of the files in force (Compose recreates app-prod with
POSTGRES_HOST and REDIS_HOST on the relay) and waits until the stack is healthy again, before
the fault's clock starts. Then `inject` adds the same toxic to one or several of the relay's
proxies through the `toxiproxy-python` client only, on the API port the override publishes on
127.0.0.1: a `timeout` toxic cuts a link without closing it (a partition: connections
accepted, data never delivered), `latency` slows it, `reset_peer` resets every connection on
its first data (a middlebox that drops its connection state and answers with RST).

`repair` is the link restored by its owner (the network team, outside the service's runbook):
the toxics go, the routing stays, and the service must reconnect by itself. `revert` (the
safety net) removes the toxics and takes the fault-proxy file off again (app-prod recreated with
its direct links); the residue is any toxic left on those proxies (the routing is not residue:
revert runs after the residue check).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from faults.base import InjectionFailed, ensure_running
from fixtures import toxiproxy
from fixtures.clients import wait_until
from fixtures.stack import Stack

# How long the relay's API may take to answer after a (re)deploy.
API_TIMEOUT = 30.0


@dataclass
class NetworkToxic:
    proxies: tuple[str, ...] = ("postgres",)
    toxic: str = "timeout"
    attributes: dict[str, Any] = field(default_factory=lambda: {"timeout": 0})
    streams: tuple[str, ...] = ("upstream", "downstream")
    description: str = "The network between the service and a dependency failed."

    def _names(self) -> list[str]:
        return [f"gameday_{self.toxic}_{stream}" for stream in self.streams]

    def prepare(self, stack: Stack) -> str:
        """Route the app's links through the relay (idempotent): a drill's stand-in for the
        network, deployed only while a network fault needs it."""
        name = toxiproxy.FAULTPROXY_FILE.name
        if name in stack.extra_files:
            return f"the app's links already go through the fault proxy ({name})"
        started = time.monotonic()
        try:
            ensure_running(stack, "toxiproxy")
            self._clear(stack)  # a clean relay before the app connects through it
            stack.add_files(toxiproxy.FAULTPROXY_FILE)
        except InjectionFailed:
            raise
        except Exception as error:  # Compose, the wait for health, the relay's API
            raise InjectionFailed(f"routing the app through the fault proxy: "
                                  f"{type(error).__name__}: {error}") from error
        below = [Path(path).name for path in stack.compose_files() if Path(path).name != name]
        return (f"deployed {name} on top of {', '.join(below)}: app-prod recreated with "
                f"{self._app_links(stack)}, healthy again after "
                f"{time.monotonic() - started:.1f}s")

    def inject(self, stack: Stack) -> str:
        prepared = self.prepare(stack)  # at once when the lifecycle has already prepared
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
        return f"{prepared}; " + "; ".join(seen)

    def repair(self, stack: Stack) -> str:
        """The link restored by its owner: the fault's toxics removed, nothing else (the app
        still connects through the relay, and must reconnect by itself)."""
        removed = self._clear(stack)
        links = ", ".join(self.proxies)
        if not removed:
            return f"the links to {links} were already clean (no toxic to remove)"
        return (f"the links to {links} deliver again: removed {', '.join(removed)}; the "
                f"service's connections are its own to re-establish")

    def revert(self, stack: Stack) -> None:
        self._clear(stack)
        stack.remove_files(toxiproxy.FAULTPROXY_FILE.name)  # recreates app-prod, waits healthy

    def residue(self, stack: Stack) -> list[str]:
        port = stack.ports["toxiproxy"]
        return [f"toxic {toxic} on proxy {name}" for name in self.proxies
                for toxic in toxiproxy.toxic_names(port, name)]

    def _clear(self, stack: Stack) -> list[str]:
        """Every toxic of this fault's proxies removed; returns what was removed."""
        ensure_running(stack, "toxiproxy")
        removed = []
        for name in self.proxies:
            link = wait_until(lambda name=name: _reachable(stack, name), timeout=API_TIMEOUT,
                              what="toxiproxy's API")
            for toxic in link.toxics():
                link.destroy_toxic(toxic)
                removed.append(f"toxic {toxic} on proxy {name}")
        return removed

    @staticmethod
    def _app_links(stack: Stack) -> str:
        env = dict(item.partition("=")[::2]
                   for item in stack.container("app-prod").attrs["Config"]["Env"])
        return " ".join(f"{key}={env.get(key, '?')}" for key in ("POSTGRES_HOST", "REDIS_HOST"))


def _reachable(stack: Stack, name: str) -> object | None:
    try:
        return toxiproxy.proxy(stack.ports["toxiproxy"], name)
    except Exception:  # not listening yet
        return None
