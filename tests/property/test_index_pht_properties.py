"""PHT against a brute-force dict: lookups and range queries have recall 1."""

from __future__ import annotations

import asyncio
import contextlib

from hypothesis import given, settings
from hypothesis import strategies as st

from swarmseek.discovery import KeyPair, MemoryItemStore
from swarmseek.index.driver import Pht
from swarmseek.index.errors import NodeError
from swarmseek.index.pht import Label, TreeSpec, decode_node
from tests.support.index_stores import InterleavingStore

SPEC = TreeSpec(b"p", key_bytes=2, value_bytes=40)  # B = 23
KP = KeyPair.from_seed(b"\x09" * 32)

keys = st.integers(0, 2**16 - 1).map(lambda n: n.to_bytes(2, "big"))
op = st.tuples(st.booleans(), keys, st.binary(min_size=40, max_size=40))
batches = st.lists(st.lists(op, max_size=40), min_size=1, max_size=6)


@settings(max_examples=40)
@given(batches, st.lists(st.tuples(keys, keys), max_size=5))
def test_random_inserts_and_deletes_match_a_dict(
    ops: list[list[tuple[bool, bytes, bytes]]], ranges: list[tuple[bytes, bytes]]
) -> None:
    async def run() -> None:
        store = MemoryItemStore()
        pht = Pht(store, KP, SPEC)
        truth: dict[bytes, bytes] = {}
        for batch in ops:
            add = {k: v for insert, k, v in batch if insert}
            remove = {k for insert, k, _ in batch if not insert} - set(add)
            await pht.apply(add, remove)
            truth.update(add)
            for k in remove:
                truth.pop(k, None)
        reader = Pht(store, KP, SPEC)
        assert await reader.get_range(b"\0\0", b"\xff\xff") == truth
        for a, b in ranges:
            lo, hi = min(a, b), max(a, b)
            assert await reader.get_range(lo, hi) == {
                k: v for k, v in truth.items() if lo <= k <= hi
            }
        for k in list(truth)[:20]:
            assert (await reader.lookup(k))[1].entries[k] == truth[k]

    asyncio.run(run())


@given(st.binary(max_size=1200), st.integers(0, 16))
def test_decode_node_fuzz_raises_only_our_error(data: bytes, length: int) -> None:
    for value in (data, {b"k": b"l", b"e": data}, {b"k": data}, [data]):
        with contextlib.suppress(NodeError):
            decode_node(SPEC, Label(length, 0), value)


@settings(max_examples=100, derandomize=True)
@given(
    st.integers(0, 2**32),
    st.lists(st.lists(op, min_size=1, max_size=40), min_size=2, max_size=5),
    st.integers(1, 12),
)
def test_concurrent_writers_with_deletes_lose_nothing(
    seed: int, per_writer: list[list[tuple[bool, bytes, bytes]]], batch: int
) -> None:
    # What batched concurrent writers guarantee: no entry is lost and no deleted entry
    # comes back (a delete racing a split of the same leaf used to: the splitter's
    # children, written from an older copy of the leaf, were merged in by a later split).
    async def run() -> None:
        store = InterleavingStore(seed)
        truth: dict[bytes, bytes] = {}

        async def writer(i: int, ops: list[tuple[bool, bytes, bytes]]) -> None:
            pht = Pht(store, KP, SPEC)
            for start in range(0, len(ops), batch):
                add: dict[bytes, bytes] = {}
                remove: set[bytes] = set()
                for insert, k, v in ops[start : start + batch]:
                    mine = k[:1] + bytes([i])
                    if insert:
                        add[mine] = v
                        remove.discard(mine)
                    else:
                        add.pop(mine, None)
                        remove.add(mine)
                for k in remove:
                    truth.pop(k, None)
                truth.update(add)
                await pht.apply(add, remove)

        await asyncio.gather(*(writer(i, ops) for i, ops in enumerate(per_writer)))
        found = await Pht(store.inner, KP, SPEC).get_range(b"\0\0", b"\xff\xff")
        assert {k: found.get(k) for k in truth} == truth  # nothing lost, values current
        assert found == truth  # nothing deleted came back

    asyncio.run(run())
