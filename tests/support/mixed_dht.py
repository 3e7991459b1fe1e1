"""A loopback DHT mixing libtorrent sessions and our ``DhtNode``s, for interop tests.

Every node shares 127.0.0.1, so both sides' per-IP rate limits are raised
(LIBTORRENT_NOTES.md). libtorrent blocks while waiting for alerts: the waits run in a
thread so our nodes keep answering on the event loop meanwhile.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
from collections.abc import AsyncIterator, Callable
from typing import Any

import libtorrent as lt

from swarmseek.discovery import DhtConfig, DhtNode
from tests.support.clients import lt_session, wait_for_alert

# LIBTORRENT_NOTES.md: a loopback DHT of libtorrent nodes.
LT_DHT: dict[str, Any] = {
    "enable_dht": True,
    "dht_restrict_routing_ips": False,
    "dht_restrict_search_ips": False,
    "dht_enforce_node_id": False,
    "dht_ignore_dark_internet": False,
    "dht_block_ratelimit": 1_000_000,
    "dht_upload_rate_limit": 100_000_000,
    "dht_max_dht_items": 20_000,  # an index test stores thousands of items
    "alert_mask": lt.alert_category.dht
    | lt.alert_category.dht_operation
    | lt.alert_category.stats
    | lt.alert_category.error
    | lt.alert_category.status,
}


def our_config(bootstrap: tuple[tuple[str, int], ...], rng: random.Random, **kw: Any) -> DhtConfig:
    """A DhtNode config for a loopback network (every peer shares one source IP)."""
    settings: dict[str, Any] = {
        "host": "127.0.0.1",
        "bootstrap": bootstrap,
        "node_id": rng.randbytes(20),
        "rate_limit": 1e6,
        "rate_burst": 1e6,
        "query_timeout": 1.0,
        "max_items": 20_000,
    }
    settings.update(kw)
    return DhtConfig(**settings)


async def wait_lt(session: Any, predicate: Callable[[Any], Any], timeout: float = 30.0) -> Any:
    """``wait_for_alert`` in a thread (our nodes on the loop keep running)."""
    return await asyncio.to_thread(wait_for_alert, session, predicate, timeout)


def lt_counters(session: Any, *names: str) -> dict[str, int]:
    """libtorrent session counters by name (``post_session_stats``), blocking."""
    session.post_session_stats()

    def stats(alert: Any) -> Any:
        if isinstance(alert, lt.session_stats_alert):
            values = alert.values  # read now: the next pop_alerts() frees the alert
            return {name: int(values[name]) for name in names} or {"": 0}
        return None

    result: dict[str, int] = wait_for_alert(session, stats, 30)
    return result


class MixedDht:
    """libtorrent sessions and our nodes on one loopback DHT; ``stop(node)`` kills one."""

    def __init__(self) -> None:
        self.sessions: list[Any] = []
        self.nodes: list[DhtNode] = []
        self._stacks: dict[int, contextlib.AsyncExitStack] = {}

    @property
    def lt_addresses(self) -> list[tuple[str, int]]:
        return [("127.0.0.1", int(s.listen_port())) for s in self.sessions]

    async def add(self, node: DhtNode) -> DhtNode:
        stack = contextlib.AsyncExitStack()
        await stack.enter_async_context(node)
        self._stacks[id(node)] = stack
        self.nodes.append(node)
        return node

    async def stop(self, node: DhtNode) -> None:
        self.nodes.remove(node)
        await self._stacks.pop(id(node)).aclose()

    async def close(self) -> None:
        for stack in self._stacks.values():
            await stack.aclose()
        self._stacks.clear()
        for session in self.sessions:
            session.pause()


@contextlib.asynccontextmanager
async def mixed_dht(
    n_lt: int, n_ours: int, seed: int = 1, **config: Any
) -> AsyncIterator[MixedDht]:
    """``n_lt`` libtorrent sessions and ``n_ours`` DhtNodes, every node told about
    every libtorrent session and a few of ours; our nodes' bootstraps are awaited."""
    rng = random.Random(seed)
    net = MixedDht()
    try:
        net.sessions = [lt_session(**LT_DHT) for _ in range(n_lt)]
        lt_addrs = tuple(net.lt_addresses)
        for _ in range(n_ours):
            ours = tuple(n.address for n in net.nodes[-4:])
            node = DhtNode(
                our_config(lt_addrs + ours, rng, **config), rng=random.Random(rng.random())
            )
            await net.add(node)
        for session in net.sessions:
            for addr in lt_addrs + tuple(n.address for n in net.nodes):
                session.add_dht_node(addr)
        await asyncio.gather(*(n.bootstrap() for n in net.nodes))
        yield net
    finally:
        await net.close()
