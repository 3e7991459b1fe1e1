"""Counting sequential DHT rounds exactly: a memory store whose operations complete in
lockstep rounds (every operation issued while the others wait completes together, once
no coroutine can run). The count does not depend on timing or the machine's load."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from typing import TypeVar

from swarmseek.discovery import MemoryItemStore, MutableItem
from swarmseek.transfer import Value

T = TypeVar("T")
SETTLE = 50  # event loop turns without a new operation before a round completes


class RoundStore:
    def __init__(self, inner: MemoryItemStore) -> None:
        self.inner = inner
        self.waiting: list[asyncio.Future[None]] = []
        self.ops = 0

    async def _round(self) -> None:
        future = asyncio.get_running_loop().create_future()
        self.waiting.append(future)
        self.ops += 1
        await future

    async def get_immutable(self, target: bytes) -> Value | None:
        await self._round()
        return await self.inner.get_immutable(target)

    async def put_immutable(self, value: Value) -> bytes:
        await self._round()
        return await self.inner.put_immutable(value)

    async def get_mutable(self, public_key: bytes, salt: bytes = b"") -> MutableItem | None:
        await self._round()
        return await self.inner.get_mutable(public_key, salt)

    async def put_mutable(self, item: MutableItem, *, cas: int | None = None) -> None:
        await self._round()
        await self.inner.put_mutable(item, cas=cas)


async def count_rounds(store: RoundStore, job: Awaitable[T]) -> tuple[T, int]:
    """Run ``job`` over ``store``; return its result and the sequential rounds it took."""
    task = asyncio.ensure_future(job)
    rounds = 0
    while not task.done():
        stable, seen = 0, -1
        while stable < SETTLE and not task.done():  # until every coroutine is blocked
            await asyncio.sleep(0)
            now = len(store.waiting)
            stable, seen = (stable + 1, seen) if now == seen else (0, now)
        released, store.waiting = store.waiting, []
        released = [f for f in released if not f.done()]  # a cancelled task's are done
        if released:
            rounds += 1
            for future in released:
                future.set_result(None)
    return await task, rounds
