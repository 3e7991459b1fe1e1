"""A put right after a get of the same target reuses the get's write tokens (a BEP 44
read-modify-write costs one lookup, not two), and falls back to a lookup when those
tokens fall short (pure KRPC nodes on a fake network with a fake clock)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

import pytest

from swarmseek.discovery import (
    DhtConfig,
    KeyPair,
    MutableItem,
    itemops,
    krpc,
    sign_item,
    verify_item,
)
from swarmseek.discovery.errors import CasConflict
from swarmseek.discovery.itemops import GetFound, GetOp
from swarmseek.discovery.krpc import Response
from swarmseek.discovery.node import KrpcNode
from tests.support.dhtsim import FakeNet, bootstrapped

KEYS = KeyPair.from_seed(bytes(range(32)))
Address = tuple[str, int]


def sent_by(net: FakeNet, addr: Address, start: Callable[[KrpcNode, float], int]) -> tuple:
    """Run one operation of ``addr``; its outcome and the methods of the queries it sent."""
    methods: list[bytes] = []
    collect = net._collect

    def spy(src: Address, out: list[tuple[bytes, Address]]) -> None:
        if src == addr:
            for data, _ in out:
                message = krpc.decode_message(data)
                if isinstance(message, krpc.Query):
                    methods.append(message.method)
        collect(src, out)

    net._collect = spy  # type: ignore[method-assign]
    try:
        return net.run(addr, net.start(addr, start)), methods
    finally:
        net._collect = collect  # type: ignore[method-assign]


def read(net: FakeNet, addr: Address, target: bytes) -> tuple[GetFound, list[bytes]]:
    return sent_by(net, addr, lambda n, now: n.get(target, now, public_key=KEYS.public_key))


def write(net: FakeNet, addr: Address, item: MutableItem, cas: int | None) -> tuple:
    return sent_by(net, addr, lambda n, now: n.put_mutable(item, now, cas=cas))


def holders(net: FakeNet, item: MutableItem) -> set[Address]:
    return {
        a
        for a, node in net.nodes.items()
        if a not in net.dead
        and (s := node.items.get(item.target, net.now)) is not None
        and s.mutable == item
    }


def replicas(net: FakeNet, writer: Address, target: bytes) -> int:
    """The 8 closest other nodes, and the writer's own store if it is one of them."""
    key = int.from_bytes(target, "big")

    def distance(a: Address) -> int:
        return int.from_bytes(net.nodes[a].node_id, "big") ^ key

    closer = sum(distance(a) < distance(writer) for a in net.nodes if a not in net.dead)
    return 8 + (closer < 8)


def network(n: int = 40, seed: int = 3) -> tuple[FakeNet, Address, MutableItem]:
    net = bootstrapped(n, seed)
    writer = next(iter(net.nodes))
    one = sign_item(KEYS, b"v1", 1)
    assert write(net, writer, one, None)[0] == replicas(net, writer, one.target)
    return net, writer, one


def test_put_after_get_goes_straight_to_the_nodes_the_get_found() -> None:
    net, writer, one = network()
    found, get_queries = read(net, writer, one.target)
    assert found.item == one and set(get_queries) == {b"get"}
    two = sign_item(KEYS, b"v2", 2)
    outcome, put_queries = write(net, writer, two, 1)
    assert outcome == replicas(net, writer, two.target)
    assert put_queries == [b"put"] * 8  # no second lookup
    assert len(holders(net, two)) == replicas(net, writer, two.target)
    # the tokens serve one put: the next put looks the nodes up again
    three = sign_item(KEYS, b"v3", 3)
    outcome, queries = write(net, writer, three, 2)
    assert outcome == replicas(net, writer, one.target) and b"get" in queries


def test_expired_tokens_are_not_used() -> None:
    net, writer, one = network()
    read(net, writer, one.target)
    net.now += DhtConfig().token_reuse + 1
    outcome, queries = write(net, writer, sign_item(KEYS, b"v2", 2), 1)
    assert outcome == replicas(net, writer, one.target) and b"get" in queries


def test_reuse_off_looks_up_every_put() -> None:
    net, writer, one = network()
    node = net.nodes[writer]
    node.config = replace(node.config, token_reuse=0.0)
    read(net, writer, one.target)
    outcome, queries = write(net, writer, sign_item(KEYS, b"v2", 2), 1)
    assert outcome == replicas(net, writer, one.target) and b"get" in queries


def test_refused_tokens_fall_back_to_a_lookup() -> None:
    net, writer, one = network()
    node = net.nodes[writer]
    node.config = replace(node.config, token_reuse=3600.0)
    read(net, writer, one.target)
    net.now += 11 * 60  # every node's secret rotated twice: all our tokens are stale
    two = sign_item(KEYS, b"v2", 2)
    outcome, queries = write(net, writer, two, 1)
    assert outcome == replicas(net, writer, two.target)  # refused (203), looked up, stored
    assert queries.count(b"get") >= 8 and queries.count(b"put") == 16
    assert len(holders(net, two)) == replicas(net, writer, two.target)


def test_a_node_gone_since_the_get_is_replaced_through_a_lookup() -> None:
    net, writer, one = network()
    read(net, writer, one.target)
    gone = sorted(holders(net, one) - {writer})[0]
    net.dead.add(gone)
    two = sign_item(KEYS, b"v2", 2)
    outcome, queries = write(net, writer, two, 1)
    # 7 took it straight away; the lookup found an eighth, and did not count our own
    # item on the 7 as somebody else's write
    assert outcome == replicas(net, writer, two.target)
    assert queries.count(b"put") == 9 and b"get" in queries
    assert len(holders(net, two)) == outcome and gone not in holders(net, two)


def test_a_race_still_ends_the_put() -> None:
    net, writer, one = network()
    other = list(net.nodes)[1]
    read(net, writer, one.target)
    theirs = sign_item(KEYS, b"theirs", 2)
    assert write(net, other, theirs, 1)[0] == replicas(net, other, theirs.target)  # since our read
    outcome, queries = write(net, writer, sign_item(KEYS, b"ours", 2), 1)
    assert isinstance(outcome, CasConflict)  # 301 from the replicas: read again
    assert queries == [b"put"] * 8
    assert len(holders(net, theirs)) == replicas(net, other, theirs.target)


@pytest.mark.parametrize("seed", range(12))
def test_two_read_modify_writes_at_one_seq_never_both_win(seed: int) -> None:
    net = bootstrapped(8, seed, reorder=True)
    a, b, *readers = list(net.nodes)
    one = sign_item(KEYS, b"1", 1)
    assert isinstance(write(net, a, one, None)[0], int)
    for writer in (a, b):  # both read seq 1 and keep the tokens
        assert read(net, writer, one.target)[0].item == one
    two_a, two_b = sign_item(KEYS, b"2a", 2), sign_item(KEYS, b"2b", 2)
    op_a = net.start(a, lambda n, now: n.put_mutable(two_a, now, cas=1))
    op_b = net.start(b, lambda n, now: n.put_mutable(two_b, now, cas=1))
    outcomes = net.run(a, op_a), net.run(b, op_b)
    won = [item for item, o in zip((two_a, two_b), outcomes, strict=True) if isinstance(o, int)]
    assert len(won) <= 1, outcomes
    assert all(isinstance(o, (int, CasConflict)) for o in outcomes)
    if won:
        for reader in readers:
            assert read(net, reader, one.target)[0].item == won[0]


def test_a_reply_equal_to_a_verified_version_skips_only_that_check(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # k replicas send the same item: it is verified once. A reply that reuses the
    # signature with another value is still checked, and dropped.
    checked: list[MutableItem] = []

    def verify(item: MutableItem) -> None:
        checked.append(item)
        verify_item(item)

    monkeypatch.setattr(itemops, "verify_item", verify)
    one = sign_item(KEYS, b"v1", 1)
    op = GetOp(one.target, [], [], 8, 3, public_key=KEYS.public_key)
    values = {b"v": one.value, b"k": KEYS.public_key, b"sig": one.signature, b"seq": 1}
    forged = {**values, b"v": b"forged"}
    for i, body in enumerate((values, values, forged)):
        op.on_reply(None, ("10.0.0.1", 1000 + i), Response(b"t", bytes([i + 1]) * 20, body))
    assert op.found.item == one
    assert op._votes == {one.signature: 2}
    assert op.seen_seq == {("10.0.0.1", 1000): 1, ("10.0.0.1", 1001): 1}
    assert [item.value for item in checked] == [b"v1", b"forged"]
