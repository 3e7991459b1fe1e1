"""Range walks that jump: split hints (chains of one-child internal nodes fetched in one
round), two levels a round, and a start node read alongside the lookup. Every answer is
checked against a brute-force dict, and the rounds are counted exactly (RoundStore)."""

from __future__ import annotations

import asyncio
import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from swarmseek.discovery import KeyPair, MemoryItemStore
from swarmseek.index.driver import Pht
from swarmseek.index.pht import (
    Label,
    Node,
    NodeKind,
    TreeSpec,
    decode_node,
    encode_node,
    split_plan,
)
from swarmseek.index.shape import MAX_SHAPE_BYTES, decode_shape, depth_on_path, encode_shape
from tests.support.pht_rounds import RoundStore, count_rounds

SPEC = TreeSpec(b"w", key_bytes=4, value_bytes=40)  # B = 22
KP = KeyPair.from_seed(b"\x0c" * 32)


def chain_keys(rng: random.Random, n: int, shared_bits: int) -> dict[bytes, bytes]:
    """``n`` keys that share their first ``shared_bits`` bits: a long one-child chain."""
    head = rng.getrandbits(shared_bits) << (32 - shared_bits)
    return {
        (head | rng.getrandbits(32 - shared_bits)).to_bytes(4, "big"): rng.randbytes(40)
        for _ in range(n)
    }


def expected(data: dict[bytes, bytes], lo: bytes, hi: bytes) -> dict[bytes, bytes]:
    return {k: v for k, v in data.items() if lo <= k <= hi}


def test_split_hints_name_where_the_keys_part() -> None:
    rng = random.Random(1)
    data = chain_keys(rng, 40, 24)
    plan = split_plan(SPEC, Label(0, 0), data, flip_seq=5)
    internals = [(lab, node) for lab, node in plan if node.kind is NodeKind.INTERNAL]
    top = internals[-1]  # the shallowest: the chain's first node below the root
    assert top[1].hint is not None and top[1].hint.length >= 24
    assert all(node.pending == (0, 5) for _, node in plan)  # tagged by this split
    # hints and tags survive the wire; a hint outside the node's subtree is dropped
    for label, node in plan:
        assert decode_node(SPEC, label, encode_node(SPEC, node)) == node
    outside = Node(NodeKind.INTERNAL, {}, Label(3, 0b111), None)
    assert decode_node(SPEC, Label(2, 0), encode_node(SPEC, outside)).hint is None


@pytest.mark.parametrize("seed", range(4))
async def test_a_prefix_walk_jumps_a_long_chain_in_one_round(seed: int) -> None:
    rng = random.Random(seed)
    memory = MemoryItemStore()
    data = chain_keys(rng, 60, 26)  # the keys part only after 26 shared bits
    await Pht(memory, KP, SPEC).apply(data)
    store = RoundStore(memory)
    reader = Pht(store, KP, SPEC)  # type: ignore[arg-type]
    lo, hi = b"\0" * 4, b"\xff" * 4
    found, rounds = await count_rounds(store, reader.get_range(lo, hi))
    assert found == data
    # The root, its chain of 26 one-child nodes in one round, then the few levels where
    # the 60 keys part (two a round): one level a round took more than 26.
    assert rounds <= 6, rounds
    prefix = next(iter(data))[:3]
    found, rounds = await count_rounds(store, Pht(store, KP, SPEC).get_prefix(prefix))  # type: ignore[arg-type]
    assert found == {k: v for k, v in data.items() if k.startswith(prefix)}
    assert rounds <= 6, rounds


@pytest.mark.parametrize("seed", range(4))
async def test_stale_hints_cost_gets_never_entries(seed: int) -> None:
    rng = random.Random(seed)
    store = MemoryItemStore()
    writer = Pht(store, KP, SPEC)
    data = chain_keys(rng, 50, 20)
    await writer.apply(data)
    # Later keys land beside the chain (breaking it), inside it, and far away, one
    # batch at a time: the hints written by the first split are stale now.
    head = int.from_bytes(next(iter(data)), "big") >> 12
    for _ in range(6):
        more = {}
        for _ in range(12):
            point = (head ^ (1 << rng.randrange(20))) << 12 | rng.getrandbits(12)
            more[point.to_bytes(4, "big")] = rng.randbytes(40)
            more[rng.randbytes(4)] = rng.randbytes(40)
        await writer.apply(more)
        data.update(more)
    keys = sorted(data)
    for _ in range(20):
        a, b = sorted(rng.sample(keys, 2))
        assert await Pht(store, KP, SPEC).get_range(a, b) == expected(data, a, b)
    assert await Pht(store, KP, SPEC).get_range(b"\0" * 4, b"\xff" * 4) == data


skewed_key = st.tuples(st.sampled_from([0x61, 0x62, 0x6C, 0x00]), st.integers(0, 2**24 - 1)).map(
    lambda t: (t[0] << 24 | (t[1] & 0xFFF0FF)).to_bytes(4, "big")
)


@settings(max_examples=30, deadline=None)
@given(
    st.lists(st.lists(skewed_key, min_size=1, max_size=60), min_size=1, max_size=4),
    st.lists(st.tuples(skewed_key, skewed_key), min_size=1, max_size=6),
)
def test_walks_over_skewed_keys_match_a_dict(
    batches: list[list[bytes]], ranges: list[tuple[bytes, bytes]]
) -> None:
    # Keys like terms: a few first bytes, masked bits inside (long one-child runs).
    async def run() -> None:
        store = MemoryItemStore()
        writer = Pht(store, KP, SPEC)
        truth: dict[bytes, bytes] = {}
        for batch in batches:
            add = {k: k * 10 for k in batch}
            await writer.apply(add)
            truth.update(add)
        for a, b in ranges:
            lo, hi = min(a, b), max(a, b)
            assert await Pht(store, KP, SPEC).get_range(lo, hi) == expected(truth, lo, hi)
            assert await writer.get_range(lo, hi) == expected(truth, lo, hi)  # warm cache

    asyncio.run(run())


@pytest.mark.parametrize("seed", range(3))
async def test_a_warm_range_reads_its_cached_leaves_in_one_round(seed: int) -> None:
    rng = random.Random(seed)
    memory = MemoryItemStore()
    data = {rng.randbytes(4): rng.randbytes(40) for _ in range(400)}
    await Pht(memory, KP, SPEC).apply(data)
    store = RoundStore(memory)
    reader = Pht(store, KP, SPEC)  # type: ignore[arg-type]
    lo, hi = (2**30).to_bytes(4, "big"), (2**31).to_bytes(4, "big")
    assert (await count_rounds(store, reader.get_range(lo, hi)))[0] == expected(data, lo, hi)
    found, rounds = await count_rounds(store, reader.get_range(lo, hi))
    assert found == expected(data, lo, hi) and rounds == 1
    # The tree changes under the cache (leaves in the range split): still exact.
    more = {(2**30 + rng.getrandbits(30)).to_bytes(4, "big"): rng.randbytes(40) for _ in range(80)}
    await Pht(memory, KP, SPEC).apply(more)
    data.update(more)
    assert (await count_rounds(store, reader.get_range(lo, hi)))[0] == expected(data, lo, hi)


def subtree(picks: set[int], top: int) -> set[Label]:
    """Any set closed upwards (a subtree's internal nodes) below Label(8, top), 23 levels deep."""
    inside: set[Label] = set()
    for p in picks:
        depth = 1 + p % 23
        node = Label(8 + depth, (top << depth) | (p >> 5) % (1 << depth))
        while node.length > 8:
            inside.add(node)
            node = node.parent()
    return inside


@given(st.sets(st.integers(0, 2**30 - 1), max_size=40), st.integers(0, 2**8 - 1))
def test_shapes_round_trip(picks: set[int], top: int) -> None:
    label = Label(8, top)
    inside = subtree(picks, top)
    assert decode_shape(label, encode_shape(label, inside), 32) == frozenset(inside)


def test_a_shape_too_large_keeps_its_top_levels_whole() -> None:
    label = Label(0, 0)
    full = {Label(d, b) for d in range(1, 16) for b in range(1 << d)}  # 15 full levels
    raw = encode_shape(label, full)
    assert len(raw) <= MAX_SHAPE_BYTES
    got = decode_shape(label, raw, 128)
    depth = max(lab.length for lab in got)
    assert got == {lab for lab in full if lab.length <= depth} and depth >= 10


def test_a_shape_of_two_leaves_is_not_an_unknown_shape() -> None:
    # b"" means "no shape recorded" (the walk then guesses two levels); two leaves
    # must say so, or a walk fetches four absent grandchildren under every such node
    assert encode_shape(Label(3, 5), set()) == b"\0"


@given(st.binary(max_size=40))
def test_shape_decoder_takes_any_bytes(raw: bytes) -> None:
    got = decode_shape(Label(3, 5), raw, 32)
    assert all(lab.length > 3 and lab.bits >> (lab.length - 3) == 5 for lab in got)


@given(
    st.sets(st.integers(0, 2**30 - 1), max_size=40),
    st.integers(0, 2**8 - 1),
    st.integers(0, 2**24 - 1),
)
def test_the_path_a_shape_names_is_the_decoded_shapes_path(
    picks: set[int], top: int, below: int
) -> None:
    label = Label(8, top)
    inside = subtree(picks, top)
    raw = encode_shape(label, inside)
    decoded = decode_shape(label, raw, 32)
    for key in [((top << 24) | below).to_bytes(4, "big")] + [
        lab.bounds(32)[0].to_bytes(4, "big") for lab in sorted(inside)[:5]
    ]:
        depth = 8
        while Label.of_key(key, depth + 1) in decoded:
            depth += 1
        assert depth_on_path(8, raw, key) == depth
