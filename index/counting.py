"""The store every ``SearchIndex`` reads and writes through: counts and bounds DHT work."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

from swarmseek.discovery import ItemStore, MutableItem
from swarmseek.transfer import Value


@dataclass(slots=True)
class IndexStats:
    """What publishing costs, whatever the store: the figures DESIGN.md asks for."""

    cards_published: int = 0
    gets: int = 0
    puts: int = 0
    items: set[bytes] = field(default_factory=set)  # distinct targets this index wrote

    @property
    def puts_per_card(self) -> float:
        return self.puts / self.cards_published if self.cards_published else 0.0

    @property
    def items_per_card(self) -> float:
        return len(self.items) / self.cards_published if self.cards_published else 0.0


class CountingStore:
    """Counts gets and puts on the way to the real store, and bounds how many are in
    flight at once (a bulk import must not open thousands of DHT lookups together)."""

    def __init__(self, store: ItemStore, stats: IndexStats, in_flight: int) -> None:
        self._store = store
        self._stats = stats
        self._slots = asyncio.Semaphore(in_flight)

    async def get_immutable(self, target: bytes) -> Value | None:
        self._stats.gets += 1
        async with self._slots:
            return await self._store.get_immutable(target)

    async def put_immutable(self, value: Value) -> bytes:
        self._stats.puts += 1
        async with self._slots:
            target = await self._store.put_immutable(value)
        self._stats.items.add(target)
        return target

    async def get_mutable(self, public_key: bytes, salt: bytes = b"") -> MutableItem | None:
        self._stats.gets += 1
        async with self._slots:
            return await self._store.get_mutable(public_key, salt)

    async def put_mutable(self, item: MutableItem, *, cas: int | None = None) -> None:
        self._stats.puts += 1
        async with self._slots:
            await self._store.put_mutable(item, cas=cas)
        self._stats.items.add(item.target)
