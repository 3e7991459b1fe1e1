"""Routing table: splits around our id, replacement cache, BEP 5 liveness."""

from __future__ import annotations

import random

from swarmseek.discovery.routing import GOOD_FOR, REFRESH_AFTER, RoutingTable, distance

OWN = bytes(20)


def nid(first: int, rest: int = 0) -> bytes:
    return bytes([first]) + rest.to_bytes(19, "big")


def addr(i: int) -> tuple[str, int]:
    return ("10.0.0.1", 1000 + i)


def test_bucket_holding_own_id_splits() -> None:
    table = RoutingTable(OWN)
    # 8 far nodes (first bit 1) fill the single bucket; a 9th near one forces a split.
    for i in range(8):
        table.heard_from(nid(0x80 + i), addr(i), 0.0, responded=True)
    table.heard_from(nid(0x01), addr(99), 0.0, responded=True)
    assert len(table) == 9
    assert len(table.buckets) >= 2


def test_far_bucket_does_not_split_and_fills_replacements() -> None:
    table = RoutingTable(OWN)
    for i in range(20):
        table.heard_from(nid(0x80 + i), addr(i), 0.0, responded=True)
    far = table.bucket_for(nid(0x80))
    assert len(far.nodes) == 8
    assert len(far.replacements) == 8  # bounded cache of the most recent
    assert far.replacements[-1].node_id == nid(0x80 + 19)


def test_full_bucket_asks_to_ping_a_questionable_node() -> None:
    table = RoutingTable(OWN)
    for i in range(8):
        table.heard_from(nid(0x80 + i), addr(i), 0.0, responded=True)
    now = GOOD_FOR + 1  # everyone is questionable now
    stale = table.heard_from(nid(0x90), addr(50), now, responded=True)
    assert stale is not None and stale.node_id == nid(0x80)


def test_bad_node_replaced_from_cache() -> None:
    table = RoutingTable(OWN)
    for i in range(9):
        table.heard_from(nid(0x80 + i), addr(i), 0.0, responded=True)
    victim = nid(0x80)
    table.failed(victim, 1.0)
    assert table.get(victim) is not None  # one timeout: questionable, not bad
    table.failed(victim, 2.0)
    assert table.get(victim) is None
    assert table.get(nid(0x88)) is not None  # promoted from the replacement cache


def test_liveness_states() -> None:
    table = RoutingTable(OWN)
    table.heard_from(nid(0x80), addr(0), 0.0, responded=False)
    entry = table.get(nid(0x80))
    assert entry is not None
    assert not entry.is_good(1.0)  # never answered us
    table.heard_from(nid(0x80), addr(0), 1.0, responded=True)
    assert entry.is_good(2.0)
    assert not entry.is_good(1.0 + GOOD_FOR)
    table.failed(nid(0x80), 3.0)
    table.failed(nid(0x80), 4.0)
    assert entry.is_bad()


def test_same_id_from_another_address_is_ignored() -> None:
    table = RoutingTable(OWN)
    table.heard_from(nid(0x80), addr(0), 0.0, responded=True)
    table.heard_from(nid(0x80), addr(1), 1.0, responded=True)
    entry = table.get(nid(0x80))
    assert entry is not None and entry.addr == addr(0)


def test_closest_matches_brute_force() -> None:
    rng = random.Random(3)
    own = rng.randbytes(20)
    table = RoutingTable(own)
    ids = [rng.randbytes(20) for _ in range(500)]
    for i, node_id in enumerate(ids):
        table.heard_from(node_id, addr(i), 0.0, responded=True)
    kept = [e.node_id for e in table.entries()]
    target = own[:3] + rng.randbytes(17)  # near us: those buckets are complete
    expected = sorted(kept, key=lambda n: distance(n, target))[:8]
    assert [e.node_id for e in table.closest(target)] == expected
    # Near our own id the table knows every node (Kademlia's guarantee).
    near = sorted(ids, key=lambda n: distance(n, own))[:8]
    assert set(near) <= set(kept)


def test_stale_buckets_get_refresh_targets_inside_them() -> None:
    table = RoutingTable(OWN)
    for i in range(30):
        table.heard_from(nid(i * 8), addr(i), 0.0, responded=True)
    targets = table.stale_buckets(REFRESH_AFTER + 1, random.Random(1))
    assert len(targets) == len(table.buckets)
    for target, bucket in zip(targets, table.buckets, strict=True):
        assert bucket.covers(int.from_bytes(target, "big"))
    assert table.stale_buckets(REFRESH_AFTER + 2, random.Random(1)) == []


def test_own_id_never_added() -> None:
    table = RoutingTable(OWN)
    table.heard_from(OWN, addr(0), 0.0, responded=True)
    assert len(table) == 0


def test_a_cached_replacement_heard_again_is_refreshed_in_place() -> None:
    table = RoutingTable(OWN)
    for i in range(9):
        table.heard_from(nid(0x80 + i), addr(i), 0.0, responded=True)
    far = table.bucket_for(nid(0x80))
    table.heard_from(nid(0x90), addr(50), 1.0, responded=True)
    cached = far.replacements[-1]
    # heard again later, by a query: refreshed and moved last, as re-adding it would
    now = GOOD_FOR + 2  # every node in the bucket is questionable by now
    stale = table.heard_from(nid(0x88), addr(8), now, responded=False)
    assert [e.node_id for e in far.replacements] == [nid(0x90), nid(0x88)]
    refreshed = far.replacements[-1]
    assert (refreshed.last_seen, refreshed.last_response, refreshed.fails) == (now, None, 0)
    assert stale is not None and stale.node_id == nid(0x80)  # still asks to ping
    assert cached.node_id == nid(0x90)


def test_a_cached_replacement_from_a_new_address_is_replaced() -> None:
    table = RoutingTable(OWN)
    for i in range(8):
        table.heard_from(nid(0x80 + i), addr(i), 0.0, responded=True)
    table.heard_from(nid(0x90), addr(50), 1.0, responded=True)
    table.heard_from(nid(0x90), addr(51), 2.0, responded=False)
    far = table.bucket_for(nid(0x80))
    assert [(e.node_id, e.addr) for e in far.replacements] == [(nid(0x90), addr(51))]


def test_a_node_back_on_a_new_port_replaces_its_dead_address() -> None:
    # Regression: `swarmseek node --port 0` restarted with its saved id on a new port;
    # the other node kept the old, dead address forever (no other node to replace it
    # from the cache), so every lookup timed out and searches failed.
    table = RoutingTable(OWN)
    node = nid(0x80)
    table.heard_from(node, addr(1), 0.0, responded=True)
    table.heard_from(node, addr(2), 1.0, responded=False)  # answering: keep the known one
    assert table.get(node) is not None and table.get(node).addr == addr(1)  # type: ignore[union-attr]
    table.failed(node, 2.0)  # the known address stopped answering
    table.heard_from(node, addr(2), 3.0, responded=False)
    entry = table.get(node)
    assert entry is not None and entry.addr == addr(2) and entry.fails == 0
    assert [e.addr for e in table.closest(node)] == [addr(2)]
    assert len(table) == 1
