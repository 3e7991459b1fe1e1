"""An ItemStore wrapper for the index tests: deterministic extra interleaving.

It wraps ``MemoryItemStore`` and, before and after each operation, yields to the
event loop a random number of times (drawn from a seeded ``random.Random``), so that
concurrent PHT writers interleave in many orders, the way network latency would
reorder them, and with ``drop_gets`` it answers a mutable get with "not found" now and
then, as a DHT lookup that reached none of the nodes holding an item would. No
wall-clock time is involved, so runs are reproducible.
"""

from __future__ import annotations

import asyncio
import random

from swarmseek.discovery import MemoryItemStore, MutableItem
from swarmseek.transfer import Value


class InterleavingStore:
    def __init__(self, seed: int, max_yields: int = 6, drop_gets: float = 0.0) -> None:
        self.inner = MemoryItemStore()
        self.counters = self.inner.counters
        self._rng = random.Random(seed)
        self._max = max_yields
        self._drop = drop_gets

    async def _jitter(self) -> None:
        for _ in range(self._rng.randrange(self._max + 1)):
            await asyncio.sleep(0)

    async def get_immutable(self, target: bytes) -> Value | None:
        await self._jitter()
        value = await self.inner.get_immutable(target)
        await self._jitter()
        return value

    async def put_immutable(self, value: Value) -> bytes:
        await self._jitter()
        target = await self.inner.put_immutable(value)
        await self._jitter()
        return target

    async def get_mutable(self, public_key: bytes, salt: bytes = b"") -> MutableItem | None:
        await self._jitter()
        item = await self.inner.get_mutable(public_key, salt)
        await self._jitter()
        if self._drop and self._rng.random() < self._drop:
            return None
        return item

    async def put_mutable(self, item: MutableItem, *, cas: int | None = None) -> None:
        await self._jitter()
        await self.inner.put_mutable(item, cas=cas)
        await self._jitter()
