"""Iterative lookups, alone and on an in-memory network with a fake clock (no sockets)."""

from __future__ import annotations

import hashlib
import random

from swarmseek.discovery import KeyPair, sign_item
from swarmseek.discovery.errors import CasConflict
from swarmseek.discovery.itemops import GetFound
from swarmseek.discovery.lookup import IterativeLookup
from swarmseek.discovery.operations import PeersFound
from swarmseek.discovery.routing import distance
from tests.support.dhtsim import FakeNet, bootstrapped

A = ("10.0.0.1", 1)


def ids(*values: int) -> list[tuple[bytes, tuple[str, int]]]:
    return [(bytes([v]) + bytes(19), A) for v in values]


def test_alpha_in_flight_closest_first() -> None:
    lookup = IterativeLookup(bytes(20), k=2, alpha=2)
    lookup.add_candidates(ids(9, 1, 5, 3))
    sent = lookup.next_queries(0.0)
    assert [q.node_id[0] for q in sent] == [1, 3]
    assert lookup.next_queries(0.0) == []  # alpha reached


def test_done_when_k_closest_answered() -> None:
    lookup = IterativeLookup(bytes(20), k=2, alpha=3)
    lookup.add_candidates(ids(8, 4))
    [q.node_id for q in lookup.next_queries(0.0)]
    lookup.on_response(ids(4)[0][0], ids(2, 1))  # learns closer nodes
    assert not lookup.done
    sent = lookup.next_queries(0.0)
    assert sorted(q.node_id[0] for q in sent) == [1, 2]
    lookup.on_response(ids(1)[0][0], [])
    assert not lookup.done  # 2 is still in flight and among the closest 2
    lookup.on_timeout(ids(2)[0][0])
    assert lookup.done  # 1 and 4 answered; 8, still in flight, is farther
    assert [c.node_id[0] for c in lookup.result()] == [1, 4]


def test_empty_lookup_is_done() -> None:
    lookup = IterativeLookup(bytes(20))
    assert lookup.done and lookup.result() == []


def test_candidates_bounded() -> None:
    lookup = IterativeLookup(bytes(20))
    rng = random.Random(1)
    lookup.add_candidates([(rng.randbytes(20), A) for _ in range(5000)])
    assert len(lookup.candidates()) <= 256


def build(n: int, seed: int) -> FakeNet:
    return bootstrapped(n, seed)


def test_find_node_exact_on_500_nodes() -> None:
    net = build(500, 7)
    addrs = list(net.nodes)
    all_ids = [net.nodes[a].node_id for a in addrs]
    hits = 0
    for _ in range(200):
        a = net.rng.choice(addrs)
        target = net.rng.randbytes(20)
        found = net.run(a, net.start(a, lambda node, now, t=target: node.find_node(t, now)))
        assert isinstance(found, list)
        own = net.nodes[a].node_id
        truth = sorted((i for i in all_ids if i != own), key=lambda i: distance(i, target))[:8]
        hits += [n for n, _ in found] == truth
    assert hits >= 198


def test_items_and_peers_survive_20_percent_dead() -> None:
    net = build(300, 11)
    addrs = list(net.nodes)
    keys = KeyPair.from_seed(bytes(range(32)))
    item = sign_item(keys, b"v1", 1, b"salt")
    publisher = addrs[0]
    net.run(publisher, net.start(publisher, lambda n, now: n.put_immutable(b"card", now)))
    net.run(publisher, net.start(publisher, lambda n, now: n.put_mutable(item, now)))
    infohash = b"\x42" * 20
    net.run(publisher, net.start(publisher, lambda n, now: n.announce_peer(infohash, 6000, now)))
    net.dead.update(net.rng.sample(addrs[1:], len(addrs) // 5))
    live = [a for a in addrs if a not in net.dead]
    target = hashlib.sha1(b"4:card").digest()
    for reader in net.rng.sample(live, 10):
        got = net.run(reader, net.start(reader, lambda n, now: n.get(target, now)))
        assert isinstance(got, GetFound) and got.value == b"card"
        got = net.run(
            reader,
            net.start(
                reader,
                lambda n, now: n.get(item.target, now, public_key=keys.public_key, salt=b"salt"),
            ),
        )
        assert isinstance(got, GetFound) and got.item == item
        peers = net.run(reader, net.start(reader, lambda n, now: n.get_peers(infohash, now)))
        assert isinstance(peers, PeersFound) and ("10.0.0.1", 6000) in peers.peers


def test_cas_conflict_over_the_network() -> None:
    net = build(100, 3)
    a, b = list(net.nodes)[:2]
    keys = KeyPair.from_seed(bytes(32))
    one = sign_item(keys, b"1", 1)
    assert net.run(a, net.start(a, lambda n, now: n.put_mutable(one, now))) == 8
    two_a = sign_item(keys, b"2a", 2)
    two_b = sign_item(keys, b"2b", 2)
    assert isinstance(
        net.run(a, net.start(a, lambda n, now: n.put_mutable(two_a, now, cas=1))), int
    )
    outcome = net.run(b, net.start(b, lambda n, now: n.put_mutable(two_b, now, cas=1)))
    assert isinstance(outcome, CasConflict) and outcome.current_seq == 2


def test_slow_query_frees_its_alpha_slot_but_still_counts() -> None:
    lookup = IterativeLookup(bytes(20), k=2, alpha=1)
    lookup.add_candidates(ids(1, 2, 3))
    assert [q.node_id[0] for q in lookup.next_queries(0.0)] == [1]
    assert lookup.next_queries(0.0) == []  # alpha reached
    lookup.on_slow(ids(1)[0][0])
    assert [q.node_id[0] for q in lookup.next_queries(0.0)] == [2]  # its slot is free
    lookup.on_response(ids(2)[0][0], [])
    assert not lookup.done  # 1 is still among the k closest: its answer may come
    lookup.on_response(ids(1)[0][0], [])  # a slow answer is taken
    assert lookup.done and [c.node_id[0] for c in lookup.result()] == [1, 2]


def test_dead_nodes_in_every_alpha_slot_do_not_stall_a_get() -> None:
    # Regression: a lookup whose first alpha queries all went to dead nodes sent
    # nothing more until they timed out (query_timeout), though others could answer.
    net = build(60, 5)
    addrs = list(net.nodes)
    putter, getter = addrs[0], addrs[1]
    net.run(putter, net.start(putter, lambda n, now: n.put_immutable(b"card", now)))
    target = hashlib.sha1(b"4:card").digest()
    node = net.nodes[getter]
    first = [e.addr for e in node.routing.closest(target, node.config.k * 2)]
    net.dead.update(first[: node.config.alpha])  # every first query goes nowhere
    start = net.now
    got = net.run(getter, net.start(getter, lambda n, now: n.get(target, now)))
    assert isinstance(got, GetFound) and got.value == b"card"
    assert net.now - start < node.config.query_timeout
