"""The BEP 44 storage interface ``index/`` builds on, and an in-memory implementation.

``ItemStore`` is what the index needs from the DHT: get and put immutable and mutable
items, with compare-and-swap. The DHT node implements it over the network;
``MemoryItemStore`` implements the same BEP 44 rules in one process, for tests of
the index and for counting gets and puts.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from swarmseek.transfer import Value, decode, encode

from .errors import CasConflict, SeqTooLow
from .items import (
    KeyPair,
    MutableItem,
    encoded_value,
    immutable_target,
    mutable_target,
    sign_item,
    verify_item,
)

# The ``cas`` of a first write (no item yet). Our seqs start at 1, so no stored item of
# ours has seq 0, and every node refuses the put with 301 once any item is there.
# Without it, libtorrent answers a put whose seq equals the stored one with success
# and keeps the old value (node.cpp "put": 302 only when the stored seq is higher), so
# two writers that both saw no item would both "win" and one update would be lost.
CAS_ABSENT = 0

# update_mutable's function: the current value (None if absent) -> the new value, or
# None to leave the item unchanged.
Updater = Callable[[Value | None], Value | None]


class ItemStore(Protocol):
    """BEP 44 get/put, as the index uses them."""

    async def get_immutable(self, target: bytes) -> Value | None:
        """The value whose bencoding hashes to ``target``, or None if no node has it.
        Raises ``LookupFailed`` when too few nodes answered to tell (not None: an
        unreachable item is not an absent one)."""
        ...

    async def put_immutable(self, value: Value) -> bytes:
        """Store ``value``; return its target. Raises ``PutError`` if no node took it."""
        ...

    async def get_mutable(self, public_key: bytes, salt: bytes = b"") -> MutableItem | None:
        """The valid item found (where replicas disagree: the version most of them
        hold, then the highest ``seq``), or None. Raises ``LookupFailed`` when too few
        nodes answered to tell."""
        ...

    async def put_mutable(self, item: MutableItem, *, cas: int | None = None) -> None:
        """Store a signed item. Raises ``CasConflict`` (301) or ``SeqTooLow`` (302)."""
        ...


async def update_mutable(
    store: ItemStore,
    keypair: KeyPair,
    salt: bytes,
    update: Updater,
    *,
    retries: int = 8,
    settle: bool = False,
    floor: int = 0,
) -> MutableItem | None:
    """Read-modify-write a mutable item, retrying on CAS conflicts (BEP 44 ``cas``).

    Returns the item written, or the current item if ``update`` returned None.
    Raises ``CasConflict`` if every retry lost the race, and lets ``LookupFailed``
    through (a read that saw nothing must not be written over as if the item were
    absent). On a ``DhtNode`` each attempt costs one lookup: the put reuses the write
    tokens of the get just before it.

    A lost race whose put still landed on some replicas (``CasConflict.landed``) may
    have left them split between two versions at one seq (each replica decides cas
    alone). So after such a conflict, and from the start with ``settle`` (the caller's
    own raw put met one), the item is written again even when ``update`` wants no
    change: a write no replica refuses puts every replica on one version. Its seq is
    above every seq a refusal reported (``floor``, the highest seen): a lost race can
    leave a replica ahead of the version most replicas hold, and it must be overwritten.
    """
    last: CasConflict | SeqTooLow | None = None
    for _ in range(retries + 1):
        current = await store.get_mutable(keypair.public_key, salt)
        new_value = update(None if current is None else current.value)
        if new_value is None:
            if not settle or current is None:
                return current
            new_value = current.value  # the same content, re-put over a split
        seq = max(floor, 0 if current is None else current.seq) + 1
        item = sign_item(keypair, new_value, seq, salt)
        try:
            await store.put_mutable(item, cas=CAS_ABSENT if current is None else current.seq)
        except (CasConflict, SeqTooLow) as exc:
            last = exc
            settle = settle or landed(exc)
            floor = max(floor, exc.current_seq or 0)
            continue
        return item
    raise CasConflict(f"gave up after {retries + 1} attempts: {last}")


def landed(exc: CasConflict | SeqTooLow) -> bool:
    """Did a refused put still reach some replicas (so they may disagree now)?"""
    return isinstance(exc, CasConflict) and exc.landed > 0


@dataclass(slots=True)
class StoreCounters:
    gets: int = 0
    puts: int = 0


class MemoryItemStore:
    """An ``ItemStore`` held in one dict, applying BEP 44's rules (for tests)."""

    def __init__(self) -> None:
        self._immutable: dict[bytes, bytes] = {}
        self._mutable: dict[bytes, MutableItem] = {}
        self.counters = StoreCounters()

    def __len__(self) -> int:
        return len(self._immutable) + len(self._mutable)

    async def get_immutable(self, target: bytes) -> Value | None:
        await asyncio.sleep(0)  # a network round trip lets other writers interleave
        self.counters.gets += 1
        data = self._immutable.get(target)
        return None if data is None else decode(data)

    async def put_immutable(self, value: Value) -> bytes:
        await asyncio.sleep(0)  # a network round trip lets other writers interleave
        self.counters.puts += 1
        target = immutable_target(value)
        self._immutable[target] = encoded_value(value)
        return target

    async def get_mutable(self, public_key: bytes, salt: bytes = b"") -> MutableItem | None:
        await asyncio.sleep(0)  # a network round trip lets other writers interleave
        self.counters.gets += 1
        return self._mutable.get(mutable_target(public_key, salt))

    async def put_mutable(self, item: MutableItem, *, cas: int | None = None) -> None:
        await asyncio.sleep(0)  # a network round trip lets other writers interleave
        self.counters.puts += 1
        verify_item(item)
        # Round-trip through bencode so callers cannot alias stored values.
        stored = MutableItem(
            decode(encode(item.value)), item.seq, item.public_key, item.salt, item.signature
        )
        current = self._mutable.get(item.target)
        if current is not None:
            if cas is not None and cas != current.seq:
                raise CasConflict(current_seq=current.seq)
            if item.seq < current.seq or (
                item.seq == current.seq and encode(item.value) != encode(current.value)
            ):
                raise SeqTooLow(current_seq=current.seq)
        self._mutable[item.target] = stored

    def drop(self, target: bytes) -> None:
        """Forget an item, as expiry or churn would (for repair tests)."""
        self._immutable.pop(target, None)
        self._mutable.pop(target, None)
