"""The store every ``SearchIndex`` reads and writes through: counts and bounds DHT work,
and retries the reads the DHT could not answer."""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TypeVar

from swarmseek.discovery import ItemStore, LookupFailed, MutableItem
from swarmseek.transfer import Value

from .errors import ReadError

T = TypeVar("T")


@dataclass(slots=True)
class IndexStats:
    """What publishing costs, whatever the store: the figures DESIGN.md asks for."""

    cards_published: int = 0
    gets: int = 0
    puts: int = 0
    items: set[bytes] = field(default_factory=set)  # distinct targets this index wrote
    unanswered_gets: int = 0  # gets too few nodes answered (each retried, or ReadError)

    @property
    def puts_per_card(self) -> float:
        return self.puts / self.cards_published if self.cards_published else 0.0

    @property
    def items_per_card(self) -> float:
        return len(self.items) / self.cards_published if self.cards_published else 0.0


@dataclass(frozen=True, slots=True)
class ReadRetry:
    """How a get the DHT could not answer (``LookupFailed``) is tried again: ``attempts``
    in all, the n-th retry after ``delay`` * 2^(n-1), scaled by a random factor in
    [0.5, 1) so that the reads of one overloaded moment do not all come back together."""

    attempts: int = 3
    delay: float = 0.25


class CountingStore:
    """Counts gets and puts on the way to the real store, and bounds how many are in
    flight at once (a bulk import must not open thousands of DHT lookups together).

    A get that too few nodes answered is not an absent item: it is tried again
    (``ReadRetry``), and if it still cannot be answered it raises ``ReadError``, so
    that no search returns a partial result and no writer takes an unreachable node
    for an empty one.
    """

    def __init__(
        self,
        store: ItemStore,
        stats: IndexStats,
        in_flight: int,
        *,
        retry: ReadRetry | None = None,
        rng: random.Random | None = None,
    ) -> None:
        self._store = store
        self._stats = stats
        self._slots = asyncio.Semaphore(in_flight)
        self._retry = retry if retry is not None else ReadRetry()
        self._rng = rng if rng is not None else random.Random()

    async def get_immutable(self, target: bytes) -> Value | None:
        return await self._read(lambda: self._store.get_immutable(target))

    async def put_immutable(self, value: Value) -> bytes:
        self._stats.puts += 1
        async with self._slots:
            target = await self._store.put_immutable(value)
        self._stats.items.add(target)
        return target

    async def get_mutable(self, public_key: bytes, salt: bytes = b"") -> MutableItem | None:
        return await self._read(lambda: self._store.get_mutable(public_key, salt))

    async def put_mutable(self, item: MutableItem, *, cas: int | None = None) -> None:
        self._stats.puts += 1
        async with self._slots:
            await self._store.put_mutable(item, cas=cas)
        self._stats.items.add(item.target)

    async def _read(self, get: Callable[[], Awaitable[T]]) -> T:
        attempts = max(1, self._retry.attempts)
        failed = 0
        while True:
            self._stats.gets += 1
            try:
                async with self._slots:
                    return await get()
            except LookupFailed as exc:
                self._stats.unanswered_gets += 1
                failed += 1
                if failed == attempts:
                    raise ReadError(
                        f"the DHT did not answer a read of the index ({attempts} attempts): {exc}"
                    ) from exc
            # Out of the slot while waiting: the other reads go on meanwhile.
            pause = self._retry.delay * 2 ** (failed - 1) * self._rng.uniform(0.5, 1.0)
            await asyncio.sleep(pause)
