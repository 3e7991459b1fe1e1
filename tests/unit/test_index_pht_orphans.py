"""Orphan nodes: what a split leaves behind when its flip never lands (a node crash, a
lost put, a lost CAS race). No acknowledged insert may end up in one, where no walk from
the root would ever find it."""

from __future__ import annotations

import asyncio
import random

import pytest

from swarmseek.discovery import KeyPair, MemoryItemStore, MutableItem, PutError
from swarmseek.index.driver import Pht
from swarmseek.index.pht import ROOT, Label, NodeKind, TreeSpec, node_salt
from tests.support.index_stores import InterleavingStore

SPEC = TreeSpec(b"o", key_bytes=4, value_bytes=40)  # B = 22
KP = KeyPair.from_seed(b"\x0b" * 32)
ALL = (bytes(4), b"\xff" * 4)


class FlipFails(MemoryItemStore):
    """Loses every put that would turn the root internal: the splitter's children are
    written, its flip never lands (as when the splitting node dies at that moment)."""

    def __init__(self) -> None:
        super().__init__()
        self.failing = True

    async def put_mutable(self, item: MutableItem, *, cas: int | None = None) -> None:
        flip = isinstance(item.value, dict) and item.value.get(b"k") == NodeKind.INTERNAL.value
        if self.failing and flip and item.salt == node_salt(SPEC, ROOT):
            raise PutError("the splitting node went away")
        await super().put_mutable(item, cas=cas)


def entries(rng: random.Random, n: int) -> dict[bytes, bytes]:
    return {rng.randbytes(4): rng.randbytes(40) for _ in range(n)}


async def orphaned_tree(seed: int) -> tuple[FlipFails, dict[bytes, bytes], dict[bytes, bytes]]:
    """A root leaf holding B entries, and below it the children of a split that died
    (with the entry whose insert failed: it may still show up, as any failed write)."""
    rng = random.Random(seed)
    store = FlipFails()
    full = entries(rng, SPEC.capacity)
    await Pht(store, KP, SPEC).apply(full)
    failed = entries(rng, 1)
    with pytest.raises(PutError):
        await Pht(store, KP, SPEC).apply(failed)
    for bit in (0, 1):  # the dead split left leaves at depth 1, under the root leaf
        item = await store.get_mutable(KP.public_key, node_salt(SPEC, Label(1, bit)))
        assert item is not None and item.value[b"k"] == NodeKind.LEAF.value
    root = await store.get_mutable(KP.public_key, node_salt(SPEC, ROOT))
    assert root is not None and root.value[b"k"] == NodeKind.LEAF.value
    store.failing = False
    return store, full, failed


def same(
    found: dict[bytes, bytes], expected: dict[bytes, bytes], failed: dict[bytes, bytes]
) -> bool:
    return {k: v for k, v in found.items() if k not in failed or k in expected} == expected


@pytest.mark.parametrize("seed", range(4))
async def test_an_insert_never_lands_in_an_orphan_leaf(seed: int) -> None:
    store, full, failed = await orphaned_tree(seed)
    # A writer whose binary search probes depth 1 before the root finds a leaf there:
    # the orphan. Writing into it was acknowledged, and no walk from the root saw it.
    writer = Pht(store, KP, SPEC, width=1)
    new = {bytes([seed * 64]) + b"new": b"v" * 40}
    await writer.apply(new)
    assert same(await Pht(store, KP, SPEC).get_range(*ALL), {**full, **new}, failed)


@pytest.mark.parametrize("seed", range(4))
async def test_a_lookup_never_answers_from_an_orphan_leaf(seed: int) -> None:
    store, full, failed = await orphaned_tree(seed)
    reader = Pht(store, KP, SPEC, width=1)
    for key, value in full.items():
        label, node = await reader.lookup(key)
        assert label == ROOT and node.entries[key] == value
    # Later inserts split the root for real: the orphans become its children, and
    # nothing written meanwhile is lost.
    more = entries(random.Random(seed + 100), 30)
    await Pht(store, KP, SPEC).apply(more)
    assert same(await Pht(store, KP, SPEC).get_range(*ALL), {**full, **more}, failed)


class FlakyFlips(InterleavingStore):
    """Interleaves operations, and loses a quarter of the puts that flip a node to
    internal: splits die half way all over the tree, leaving orphans behind."""

    def __init__(self, seed: int) -> None:
        super().__init__(seed)
        self._lose = random.Random(seed ^ 0x5EED)

    async def put_mutable(self, item: MutableItem, *, cas: int | None = None) -> None:
        flip = isinstance(item.value, dict) and item.value.get(b"k") == NodeKind.INTERNAL.value
        if flip and self._lose.random() < 0.25:
            raise PutError("lost")
        await super().put_mutable(item, cas=cas)


@pytest.mark.parametrize("seed", range(6))
async def test_racing_writers_with_dying_splits_lose_no_acknowledged_insert(seed: int) -> None:
    store = FlakyFlips(seed)
    rng = random.Random(seed)
    acked: dict[bytes, bytes] = {}
    failed: dict[bytes, bytes] = {}

    async def writer(width: int) -> None:
        pht = Pht(store, KP, SPEC, width=width)
        for _ in range(40):
            one = entries(rng, 1)
            try:
                await pht.apply(one)
            except PutError:
                failed.update(one)
            else:
                acked.update(one)

    await asyncio.gather(*(writer(1 + i % 3) for i in range(5)))
    found = await Pht(store.inner, KP, SPEC).get_range(*ALL)
    assert {k: found.get(k) for k in acked} == acked  # every acknowledged insert is seen
    assert set(found) <= set(acked) | set(failed)


async def test_a_write_to_a_cached_leaf_never_lands_in_an_orphan() -> None:
    # A batch into a known tree writes straight to the leaves its cache names (no
    # lookup). Here the cached leaf was merged away by another writer, and a split of
    # the merged root then died: the node at the cached label is an orphan leaf again.
    # The write must notice (its tag names a flip that never landed) and look up.
    store = FlipFails()
    store.failing = False
    rng = random.Random(7)
    first = entries(rng, SPEC.capacity + 6)
    writer = Pht(store, KP, SPEC)
    await writer.apply(first)  # the root splits; the writer caches the leaves below it
    for key in (b"\x00new", b"\xffnew"):
        assert writer._cached_leaf(key) == Label(1, key[0] >> 7)  # no lookup for these
    other = Pht(store, KP, SPEC)
    keep = dict(list(first.items())[:4])
    await other.apply({}, remove=set(first) - set(keep))  # sparse: merged into the root
    root = await store.get_mutable(KP.public_key, node_salt(SPEC, ROOT))
    assert root is not None and root.value[b"k"] == NodeKind.LEAF.value
    store.failing = True
    refill = entries(rng, SPEC.capacity)
    with pytest.raises(PutError):
        await Pht(store, KP, SPEC).apply(refill)  # its split writes children, never flips
    store.failing = False
    new = {b"\x00new": b"n" * 40, b"\xffnew": b"m" * 40}
    await writer.apply(new)
    found = await Pht(store, KP, SPEC).get_range(*ALL)
    assert {k: found.get(k) for k in new} == new
    assert {k: found.get(k) for k in keep} == keep
