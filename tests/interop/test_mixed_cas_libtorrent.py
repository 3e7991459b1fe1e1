"""Regression: a first write (no item yet) that races another must not be lost on
libtorrent nodes.

libtorrent (node.cpp, "put") answers a mutable put whose ``seq`` equals the stored one
with success and keeps the old value (dht_storage: it replaces only when the new seq is
higher); our nodes answer 302. So two writers that both saw no item and both wrote
seq 1 without ``cas`` both "succeeded" on libtorrent nodes, and one update was lost.
``update_mutable`` now sends ``cas=0`` for a first write: every node, libtorrent's
too, then refuses it with 301 once any item is there, and the writer retries.
"""

from __future__ import annotations

import random

import pytest

from swarmseek.discovery import DhtNode, ItemStore, KeyPair, MutableItem, update_mutable
from swarmseek.transfer import Value
from tests.support.mixed_dht import mixed_dht, our_config

pytestmark = [pytest.mark.interop, pytest.mark.timeout(60)]


class StaleFirstRead:
    """An ItemStore whose first mutable get misses (a lookup that raced a writer)."""

    def __init__(self, inner: ItemStore) -> None:
        self.inner = inner
        self.stale = True

    async def get_immutable(self, target: bytes) -> Value | None:
        return await self.inner.get_immutable(target)

    async def put_immutable(self, value: Value) -> bytes:
        return await self.inner.put_immutable(value)

    async def get_mutable(self, public_key: bytes, salt: bytes = b"") -> MutableItem | None:
        if self.stale:
            self.stale = False
            return None
        return await self.inner.get_mutable(public_key, salt)

    async def put_mutable(self, item: MutableItem, *, cas: int | None = None) -> None:
        await self.inner.put_mutable(item, cas=cas)


def append(part: bytes):  # type: ignore[no-untyped-def]
    def update(current: Value | None) -> Value:
        assert current is None or isinstance(current, bytes)
        return (current or b"") + part

    return update


async def test_racing_first_writes_on_libtorrent_nodes_keep_both() -> None:
    # Only libtorrent sessions store: our two writers are read-only (BEP 43) clients.
    async with mixed_dht(8, 0) as net:
        rng = random.Random(3)
        boot = tuple(net.lt_addresses)
        a = await net.add(DhtNode(our_config(boot, rng, read_only=True)))
        b = await net.add(DhtNode(our_config(boot, rng, read_only=True)))
        await a.bootstrap()
        await b.bootstrap()
        keys = KeyPair.from_seed(bytes(range(32)))
        await update_mutable(a, keys, b"slot", append(b"a"))
        # b read "no item" before a wrote, so it writes seq 1 as well
        await update_mutable(StaleFirstRead(b), keys, b"slot", append(b"b"))
        final = await a.get_mutable(keys.public_key, b"slot")
        assert final is not None and final.value == b"ab", final
