from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable

import pytest

from swarmseek.discovery import (
    MAX_SALT_SIZE,
    KeyPair,
    MemoryItemStore,
    MutableItem,
    mutable_target,
)
from swarmseek.index.driver import Pht
from swarmseek.index.errors import NodeError
from swarmseek.index.pht import (
    ROOT,
    Label,
    LeafSearch,
    Node,
    NodeKind,
    TreeSpec,
    decode_node,
    encode_node,
    node_salt,
    split_plan,
)
from swarmseek.transfer import encode
from tests.support.index_stores import InterleavingStore

SPEC = TreeSpec(b"t", key_bytes=4, value_bytes=4)
KP = KeyPair.from_seed(b"\x07" * 32)


def key(n: int) -> bytes:
    return n.to_bytes(4, "big")


def test_full_leaf_fits_in_1000_bytes() -> None:
    for spec in (SPEC, TreeSpec(b"kw", 16), TreeSpec(b"lsh31", 12), TreeSpec(b"size", 12)):
        b = spec.capacity
        full = Node(
            NodeKind.LEAF, {bytes([i]) * spec.key_bytes: b"v" * spec.value_bytes for i in range(b)}
        )
        assert len(encode(encode_node(spec, full))) <= 1000
        tagged = Node(NodeKind.LEAF, full.entries, None, (255, 2**63 - 1))  # a tag fits too
        assert len(encode(encode_node(spec, tagged))) <= 1000
        one_more = b"\0" * spec.record_size * (b + 1)
        assert len(encode({b"k": b"l", b"e": one_more, b"p": 255, b"s": 2**63 - 1})) > 1000


def test_salt_packs_label_bits() -> None:
    assert node_salt(SPEC, ROOT) == b"pht\x01t\x00"
    assert node_salt(SPEC, Label(3, 0b101)) == b"pht\x01t\x03\xa0"
    long = TreeSpec(b"x" * 16, key_bytes=31)
    assert len(node_salt(long, Label(248, (1 << 248) - 1))) <= MAX_SALT_SIZE
    # distinct labels, distinct salts (length byte separates 0 from 00)
    assert node_salt(SPEC, Label(1, 0)) != node_salt(SPEC, Label(2, 0))


def test_decode_rejects_keys_outside_label() -> None:
    value = encode_node(SPEC, Node(NodeKind.LEAF, {key(0): b"aaaa"}))
    with pytest.raises(NodeError):
        decode_node(SPEC, Label(1, 1), value)
    assert decode_node(SPEC, Label(1, 0), value).entries == {key(0): b"aaaa"}


def test_split_plan_children_first_and_bounded() -> None:
    entries = {key(i): b"vvvv" for i in range(SPEC.capacity + 1)}  # all share 20+ bits
    plan = split_plan(SPEC, ROOT, entries)
    lengths = [lab.length for lab, _ in plan]
    leaves = [node for _, node in plan if node.kind is NodeKind.LEAF]
    assert sum(len(n.entries) for n in leaves) == len(entries)
    assert all(len(n.entries) <= SPEC.capacity for n in leaves)
    internals = [lab for lab, n in plan if n.kind is NodeKind.INTERNAL]
    # every internal node comes after all leaves, deepest first
    assert plan[-len(internals) :] == [(lab, n) for lab, n in plan if lab in internals]
    assert lengths[: len(leaves)] == sorted(lengths[: len(leaves)], reverse=True)


def test_leaf_search_probes_log_depth() -> None:
    # A tree whose leaf for every key is at depth 13: at most ceil(log2(33)) probes.
    for start in (None, 0, 13, 32):
        search = LeafSearch(SPEC, key(12345), start)
        while (d := search.next_depth()) is not None:
            node = Node(NodeKind.LEAF) if d == 13 else (Node(NodeKind.INTERNAL) if d < 13 else None)
            search.feed(d, node)
        assert search.leaf is not None and search.leaf[0] == 13
        assert search.probes <= 6
        if start == 13:
            assert search.probes == 1


async def test_insert_lookup_split_and_range() -> None:
    store = MemoryItemStore()
    pht = Pht(store, KP, SPEC)
    rng = random.Random(1)
    data = {key(rng.getrandbits(32)): rng.randbytes(4) for _ in range(500)}
    await pht.apply(data)
    assert pht.counters.splits > 0
    for k, v in data.items():
        _, node = await pht.lookup(k)
        assert node.entries[k] == v
    assert await pht.get_range(key(0), key(2**32 - 1)) == data
    lo, hi = key(2**30), key(2**31)
    assert await pht.get_range(lo, hi) == {k: v for k, v in data.items() if lo <= k <= hi}


async def test_warm_lookup_costs_one_get() -> None:
    store = MemoryItemStore()
    writer = Pht(store, KP, SPEC)
    rng = random.Random(2)
    await writer.apply({key(rng.getrandbits(32)): b"vvvv" for _ in range(2000)})
    reader = Pht(store, KP, SPEC)
    await reader.lookup(key(5))
    reader.counters.lookup_gets = reader.counters.lookups = 0
    for _ in range(200):
        await reader.lookup(key(rng.getrandbits(32)))
    assert reader.counters.lookup_gets / reader.counters.lookups <= 2.0


async def test_delete_and_merge() -> None:
    store = MemoryItemStore()
    pht = Pht(store, KP, SPEC)
    data = {key(i << 20): b"vvvv" for i in range(200)}
    await pht.apply(data)
    await pht.apply({}, remove=list(data)[:190])
    left = dict(list(data.items())[190:])
    assert await pht.get_range(key(0), key(2**32 - 1)) == left
    assert pht.counters.merges > 0
    fresh = Pht(store, KP, SPEC)
    for k in left:
        assert k in (await fresh.lookup(k))[1].entries


async def test_repair_missing_internal_and_leaf() -> None:
    store = MemoryItemStore()
    pht = Pht(store, KP, SPEC)
    rng = random.Random(3)
    data = {key(rng.getrandbits(32)): b"vvvv" for _ in range(300)}
    await pht.apply(data)
    k = next(iter(data))
    label, _ = await pht.lookup(k)
    # drop an internal node on the path: the lookup still finds the leaf and repairs
    hole = Label.of_key(k, label.length - 1)
    store.drop(mutable_target(KP.public_key, node_salt(SPEC, hole)))
    fresh = Pht(store, KP, SPEC, width=1)  # plain binary search: it must cross the hole
    found, node = await fresh.lookup(k)
    assert found == label and k in node.entries
    assert fresh.counters.repairs == 1
    assert await store.get_mutable(KP.public_key, node_salt(SPEC, hole)) is not None
    # drop the leaf: the lookup re-creates it empty, republish restores the entries
    store.drop(mutable_target(KP.public_key, node_salt(SPEC, label)))
    found, node = await Pht(store, KP, SPEC).lookup(k)
    assert found == label and not node.entries
    await pht.republish(data)
    assert await pht.get_range(key(0), key(2**32 - 1)) == data


@pytest.mark.parametrize("seed", range(4))
async def test_concurrent_writers_lose_nothing(seed: int) -> None:
    store = InterleavingStore(seed)
    rng = random.Random(seed)
    spec = TreeSpec(b"c", key_bytes=4, value_bytes=40)  # B = 22: many splits
    batches = [{key(rng.getrandbits(32)): rng.randbytes(40) for _ in range(40)} for _ in range(8)]
    writers = [Pht(store, KP, spec) for _ in batches]

    async def write(pht: Pht, batch: dict[bytes, bytes]) -> None:
        for k, v in batch.items():  # one at a time: many CAS races and splits
            await pht.apply({k: v})

    await asyncio.gather(*(write(p, b) for p, b in zip(writers, batches, strict=True)))
    expected = {k: v for b in batches for k, v in b.items()}
    assert await Pht(store, KP, spec).get_range(key(0), key(2**32 - 1)) == expected
    assert sum(w.counters.splits for w in writers) > 8


def test_parallel_rounds_cut_the_interval() -> None:
    # leaf at depth 21 of 32 bits, no cache: width 3 needs fewer rounds than binary search
    def run(width: int) -> tuple[int, int]:
        search = LeafSearch(SPEC, key(777), None)
        while depths := search.next_round(width):
            search.rounds += 1
            for d in depths:
                kind = NodeKind.LEAF if d == 21 else (NodeKind.INTERNAL if d < 21 else None)
                search.feed(d, None if kind is None else Node(kind))
        assert search.leaf is not None and search.leaf[0] == 21
        return search.rounds, search.probes

    binary_rounds, _ = run(1)
    rounds, probes = run(3)
    assert rounds < binary_rounds
    assert probes <= 3 * rounds


@pytest.mark.parametrize("drop", [0.0, 0.1])
@pytest.mark.parametrize("seed", range(3))
async def test_concurrent_batched_writers_with_lossy_gets_lose_nothing(
    seed: int, drop: float
) -> None:
    # Regression: with batches, two splitters' plans disagreed on where the leaves
    # were and one overwrote the other's internal node with a leaf (entries lost).
    # A get that misses an item makes a writer believe a node is absent, which CAS
    # must turn into a retry, never a lost entry.
    store = InterleavingStore(seed, drop_gets=drop)
    rng = random.Random(seed)
    spec = TreeSpec(b"c", key_bytes=4, value_bytes=40)
    writers = [Pht(store, KP, spec) for _ in range(6)]
    batches = [
        [{key(rng.getrandbits(32)): rng.randbytes(40) for _ in range(15)} for _ in range(5)]
        for _ in writers
    ]

    async def write(pht: Pht, mine: list[dict[bytes, bytes]]) -> None:
        for batch in mine:
            await pht.apply(batch)

    await asyncio.gather(*(write(p, b) for p, b in zip(writers, batches, strict=True)))
    expected = {k: v for mine in batches for b in mine for k, v in b.items()}
    reader = Pht(store.inner, KP, spec)  # a reader whose gets all arrive
    assert await reader.get_range(key(0), key(2**32 - 1)) == expected


class DeleteDuringFlip(MemoryItemStore):
    """Runs ``meanwhile`` just before the first flip of the root to internal lands."""

    def __init__(self) -> None:
        super().__init__()
        self.meanwhile: Callable[[], Awaitable[None]] | None = None

    async def put_mutable(self, item: MutableItem, *, cas: int | None = None) -> None:
        hook, root = self.meanwhile, node_salt(SPEC, Label(0, 0))
        flip = isinstance(item.value, dict) and item.value.get(b"k") == b"i"
        if hook is not None and item.salt == root and flip:
            self.meanwhile = None
            await hook()
        await super().put_mutable(item, cas=cas)


async def test_a_delete_racing_a_split_stays_deleted() -> None:
    store = DeleteDuringFlip()
    splitter, deleter = Pht(store, KP, SPEC), Pht(store, KP, SPEC)
    full = {key(n): b"v%03d" % n for n in range(SPEC.capacity)}
    await splitter.apply(full)
    gone = key(0)
    await deleter.lookup(gone)  # the deleter knows the root is the leaf: it writes there

    async def delete() -> None:
        await deleter.apply({}, {gone})

    # The splitter reads the full leaf (with ``gone``), writes its children, and the
    # delete lands on the leaf before the flip: the flip loses, the leaf stays a leaf.
    store.meanwhile = delete
    await splitter.apply({key(1000): b"new!"})
    # Later inserts split the leaf for real, merging into the children written above.
    more = {key(2000 + n): b"m%03d" % n for n in range(SPEC.capacity)}
    await splitter.apply(more)
    found = await Pht(store, KP, SPEC).get_range(bytes(4), b"\xff" * 4)
    expected = {**full, key(1000): b"new!", **more}
    del expected[gone]
    assert found == expected
