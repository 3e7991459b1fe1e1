"""A get nobody answered is "unknown" (LookupFailed), not "absent" (None): pure nodes on
the in-memory network with its fake clock (no sockets)."""

from __future__ import annotations

import hashlib
import random
from dataclasses import replace

import pytest

from swarmseek.discovery import (
    DhtConfig,
    KeyPair,
    LookupFailed,
    PutError,
    mutable_target,
    sign_item,
)
from swarmseek.discovery.itemops import GetFound
from swarmseek.discovery.lookup import IterativeLookup
from swarmseek.discovery.node import KrpcNode
from swarmseek.discovery.operations import PeersFound
from swarmseek.discovery.routing import distance
from tests.support.dhtsim import FakeNet, bootstrapped

KEYS = KeyPair.from_seed(bytes(range(32)))
A = ("10.0.0.1", 1)


def get(net: FakeNet, reader: tuple[str, int], target: bytes, mutable: bool = False) -> object:
    if mutable:
        return net.run(
            reader,
            net.start(reader, lambda n, now: n.get(target, now, public_key=KEYS.public_key)),
        )
    return net.run(reader, net.start(reader, lambda n, now: n.get(target, now)))


def closest(net: FakeNet, target: bytes, besides: tuple[str, int], count: int) -> list:
    others = [a for a in net.nodes if a != besides]
    return sorted(others, key=lambda a: distance(net.nodes[a].node_id, target))[:count]


@pytest.mark.parametrize("mutable", [False, True])
def test_a_get_every_query_of_which_timed_out_raises_lookup_failed(mutable: bool) -> None:
    # Regression: it read as "absent" (None), and the index took an unreachable PHT
    # node for an empty one (a search silently lost entries).
    net = bootstrapped(30, 4)
    reader = next(iter(net.nodes))
    net.dead.update(a for a in net.nodes if a != reader)
    target = mutable_target(KEYS.public_key, b"") if mutable else net.rng.randbytes(20)
    start = net.now
    outcome = get(net, reader, target, mutable)
    assert isinstance(outcome, LookupFailed)
    # (our own store counts as one answer if we are among the k closest)
    assert outcome.answered <= 1 and outcome.failed >= 7 and outcome.target == target
    assert net.now - start >= net.nodes[reader].config.query_timeout  # waited for them
    # Once every contact has failed twice (bad, no longer asked), a get with nobody
    # left to ask is still unknown: the node is not a network of one, it knew others.
    for _ in range(20):
        assert isinstance(get(net, reader, target, mutable), LookupFailed)
        if not net.nodes[reader].routing.closest(target):
            break
    assert net.nodes[reader].routing.closest(target) == []
    outcome = get(net, reader, target, mutable)
    assert isinstance(outcome, LookupFailed) and outcome.failed == 0


@pytest.mark.parametrize("mutable", [False, True])
def test_the_k_closest_answering_without_the_item_is_absent(mutable: bool) -> None:
    net = bootstrapped(40, 6)
    reader = list(net.nodes)[3]
    target = mutable_target(KEYS.public_key, b"") if mutable else net.rng.randbytes(20)
    outcome = get(net, reader, target, mutable)
    assert isinstance(outcome, GetFound)
    assert not outcome.found and outcome.item is None
    assert outcome.answered == 8 and outcome.failed == 0


def test_answers_from_farther_nodes_when_the_k_closest_departed_are_unknown() -> None:
    # The item's replicas (the k closest) left together: the lookup ends with k answers
    # from nodes farther out, which never held it. Their "absent" must not be trusted.
    net = bootstrapped(60, 8)
    reader = next(iter(net.nodes))
    target = hashlib.sha1(b"4:card").digest()
    net.run(reader, net.start(reader, lambda n, now: n.put_immutable(b"card", now)))
    replicas = [
        a for a in closest(net, target, reader, 8) if net.nodes[a].items.get(target, net.now)
    ]
    assert len(replicas) >= 7  # the put reached the k closest (the reader may be one)
    for addr in closest(net, target, reader, 12):  # ... and a few more, to be sure
        net.dead.add(addr)
    for addr in replicas:
        net.nodes[addr].items.expire(net.now + 10**6)  # gone with them, wherever they are
    if net.nodes[reader].items.get(target, net.now) is not None:
        net.nodes[reader].items.expire(net.now + 10**6)
    outcome = get(net, reader, target)
    assert isinstance(outcome, LookupFailed)
    assert outcome.answered == 0 and outcome.failed == 8


def test_the_quorum_is_how_many_of_the_k_closest_must_answer_for_absent() -> None:
    net = bootstrapped(50, 9)
    reader = next(iter(net.nodes))
    node = net.nodes[reader]
    target = net.rng.randbytes(20)
    nearest = closest(net, target, reader, 8)
    net.dead.update(nearest[2:])  # only the two closest still answer
    for quorum, absent in ((1, True), (2, True), (3, False), (4, False)):
        node.config = replace(node.config, read_quorum=quorum)
        outcome = get(net, reader, target)
        if absent:
            assert isinstance(outcome, GetFound) and not outcome.found, quorum
        else:
            assert isinstance(outcome, LookupFailed) and outcome.answered == 2, quorum


def test_a_found_item_is_returned_however_few_answered() -> None:
    net = bootstrapped(40, 2)
    reader, writer = list(net.nodes)[:2]
    item = sign_item(KEYS, b"v", 1)
    net.run(writer, net.start(writer, lambda n, now: n.put_mutable(item, now)))
    holders = closest(net, item.target, reader, 8)
    net.dead.update(holders[1:])
    outcome = get(net, reader, item.target, mutable=True)
    assert isinstance(outcome, GetFound) and outcome.item == item
    assert outcome.failed >= 1


def test_a_lone_node_reads_its_own_store_as_the_whole_network() -> None:
    net = FakeNet(1)
    alone = net.add()
    outcome = get(net, alone, net.rng.randbytes(20))
    assert isinstance(outcome, GetFound) and not outcome.found
    assert (outcome.answered, outcome.failed) == (1, 0)


def test_silent_bootstrap_nodes_make_a_get_unknown() -> None:
    net = FakeNet(2)
    seed = net.add()
    config = DhtConfig(bootstrap=(seed,), rate_limit=1e9, rate_burst=1e9)
    reader = net.add(config)
    net.dead.add(seed)
    outcome = get(net, reader, net.rng.randbytes(20), mutable=True)
    assert isinstance(outcome, LookupFailed)


def test_a_read_only_node_never_counts_its_own_store() -> None:
    node = KrpcNode(DhtConfig(read_only=True), b"R" * 20, random.Random(0), 0.0)
    node.get(b"\x01" * 20, 0.0)
    [event] = node.events()  # nobody to ask: finished at once, having heard nothing
    assert isinstance(event.outcome, LookupFailed) and event.outcome.answered == 0


def test_closest_outcomes_count_the_k_nearest_settled_and_our_own_store() -> None:
    def node(v: int) -> bytes:
        return bytes([v]) + bytes(19)

    lookup = IterativeLookup(bytes(20), k=3, alpha=5)
    lookup.add_candidates([(node(v), A) for v in (1, 2, 3, 4, 5)])
    assert [q.node_id[0] for q in lookup.next_queries(0.0)] == [1, 2, 3]
    lookup.on_timeout(node(2))
    lookup.on_timeout(node(3))
    assert [q.node_id[0] for q in lookup.next_queries(0.0)] == [4, 5]
    for v in (1, 4, 5):
        lookup.on_response(node(v), [])
    assert lookup.done and [c.node_id[0] for c in lookup.result()] == [1, 4, 5]
    assert lookup.closest_outcomes() == (1, 2)  # 1 answered; 2 and 3 failed
    assert lookup.closest_outcomes(own=node(0)) == (2, 1)  # ours, 1, then 2 failed
    assert lookup.closest_outcomes(own=node(9)) == (1, 2)  # ours is farther out


# ------------------------------------------------------------------ get_peers
def get_peers(net: FakeNet, reader: tuple[str, int], infohash: bytes) -> object:
    return net.run(reader, net.start(reader, lambda n, now: n.get_peers(infohash, now)))


def test_a_get_peers_nobody_answered_is_unknown_not_no_peers() -> None:
    # Regression: it returned no peers, and a swarm (or `swarmseek dht get-peers`)
    # could not tell a torrent nobody announced from a DHT that said nothing.
    net = bootstrapped(30, 5)
    reader = next(iter(net.nodes))
    infohash = net.rng.randbytes(20)
    net.dead.update(a for a in net.nodes if a != reader)
    outcome = get_peers(net, reader, infohash)
    assert isinstance(outcome, LookupFailed) and outcome.target == infohash
    assert outcome.answered <= 1 and outcome.failed >= 7
    assert "get_peers" in str(outcome)


def test_a_get_peers_the_k_closest_answered_empty_is_no_peers() -> None:
    net = bootstrapped(40, 6)
    reader = list(net.nodes)[3]
    outcome = get_peers(net, reader, net.rng.randbytes(20))
    assert isinstance(outcome, PeersFound) and outcome.peers == []
    assert len(outcome.nodes) == 8


def test_get_peers_reads_our_own_store_and_returns_peers_however_few_answered() -> None:
    # A node among the k closest holds peers announced to it, like any replica; a
    # lookup whose remote answers all timed out still returns them.
    net = bootstrapped(30, 7)
    reader = next(iter(net.nodes))
    node = net.nodes[reader]
    infohash = net.rng.randbytes(20)
    node.peers.announce(infohash, ("10.9.9.9", 6881), net.now)
    net.dead.update(a for a in net.nodes if a != reader)
    outcome = get_peers(net, reader, infohash)
    assert isinstance(outcome, PeersFound) and outcome.peers == [("10.9.9.9", 6881)]
    # a read-only node holds nothing of the DHT's, so it never reads its own store
    node.config = replace(node.config, read_only=True)
    assert isinstance(get_peers(net, reader, infohash), LookupFailed)


def test_an_announce_nobody_took_still_fails_as_a_put() -> None:
    # The announce's lookup is a get_peers without the quorum rule: its outcome is
    # the store phase's (PutError when nobody stored), never LookupFailed.
    net = bootstrapped(20, 8)
    reader = next(iter(net.nodes))
    net.dead.update(a for a in net.nodes if a != reader)
    outcome = net.run(
        reader, net.start(reader, lambda n, now: n.announce_peer(b"\x01" * 20, 6881, now))
    )
    assert isinstance(outcome, PutError)
