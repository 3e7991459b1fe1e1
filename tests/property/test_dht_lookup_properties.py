"""Hypothesis: the fast paths of the routing table and the lookup agree with brute force."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from swarmseek.discovery.lookup import MAX_CANDIDATES, IterativeLookup, State
from swarmseek.discovery.routing import RoutingTable, distance

ids = st.binary(min_size=20, max_size=20)


def near(own: bytes, shared: int, rest: bytes) -> bytes:
    """An id sharing its first ``shared`` bits with ``own`` (so buckets split deep)."""
    mask = ((1 << 160) - 1) >> shared
    value = int.from_bytes(own, "big") & ~mask | int.from_bytes(rest, "big") & mask
    return value.to_bytes(20, "big")


@given(
    own=ids,
    nodes=st.lists(st.tuples(st.integers(0, 24), ids, st.integers(0, 3)), max_size=200),
    target=st.one_of(ids, st.tuples(st.integers(0, 24), ids)),
    n=st.integers(1, 40),
)
def test_closest_is_the_brute_force_order(
    own: bytes,
    nodes: list[tuple[int, bytes, int]],
    target: bytes | tuple[int, bytes],
    n: int,
) -> None:
    table = RoutingTable(own)
    for i, (shared, rest, fails) in enumerate(nodes):
        node_id = near(own, shared, rest)
        table.heard_from(node_id, ("10.0.0.1", 1 + i), float(i), responded=True)
        for _ in range(fails):
            table.failed(node_id, float(i))
    if isinstance(target, tuple):
        target = near(own, *target)
    live = [e.node_id for e in table.entries() if not e.is_bad()]
    expected = sorted(live, key=lambda node_id: distance(node_id, target))[:n]
    assert [e.node_id for e in table.closest(target, n)] == expected
    for node_id in live:  # bisect finds the bucket that holds each node
        bucket = table.bucket_for(node_id)
        assert bucket.find(node_id) is not None


@given(
    k=st.integers(1, 8),
    alpha=st.integers(1, 4),
    steps=st.lists(
        st.tuples(
            st.sampled_from(["add", "ask", "reply", "slow", "timeout", "revive"]), st.lists(ids)
        ),
        max_size=60,
    ),
)
def test_lookup_agrees_with_sorting_every_time(
    k: int, alpha: int, steps: list[tuple[str, list[bytes]]]
) -> None:
    target = bytes(20)
    lookup = IterativeLookup(target, k, alpha)
    asked: list[bytes] = []
    for what, node_ids in steps:
        if what == "add":
            lookup.add_candidates([(n, ("10.0.0.1", 1)) for n in node_ids])
        elif what == "ask":
            for q in lookup.next_queries(0.0):
                asked.append(q.node_id)
        elif asked:
            node_id = asked[len(node_ids) % len(asked)]
            if what == "reply":
                lookup.on_response(node_id, [(n, ("10.0.0.1", 2)) for n in node_ids])
            elif what == "slow":
                lookup.on_slow(node_id)
            elif what == "timeout":
                lookup.on_timeout(node_id)
            else:
                lookup.revive(node_id)
        live = sorted(
            (c for c in lookup.candidates() if c.state is not State.FAILED),
            key=lambda c: c.distance,
        )
        in_flight = [c for c in live if c.state is State.IN_FLIGHT]
        assert lookup.in_flight == len(in_flight)
        assert lookup.done == all(c.state is State.ANSWERED for c in live[:k])
        answered = [c for c in live if c.state is State.ANSWERED][:k]
        assert lookup.result() == answered
        assert len(lookup.candidates()) <= MAX_CANDIDATES + len(asked)
