"""Kademlia's final round (§2.3): once a reply brings no closer node, every one of the k
closest not yet asked is asked at once. Counted in sequential round trips on an
in-memory network (no clock involved: a round is two causal hops)."""

from __future__ import annotations

import random
import statistics

from swarmseek.discovery import KeyPair, sign_item
from swarmseek.discovery.itemops import GetFound
from swarmseek.discovery.lookup import IterativeLookup
from swarmseek.discovery.node import KrpcNode
from swarmseek.discovery.routing import distance
from tests.support.dhtsim import FakeNet, bootstrapped

Address = tuple[str, int]
A = ("10.0.0.1", 1)
KEYS = KeyPair.from_seed(bytes(range(32)))


def ids(*values: int) -> list[tuple[bytes, tuple[str, int]]]:
    return [(bytes([v]) + bytes(19), A) for v in values]


def first_bytes(sent: list) -> list[int]:  # type: ignore[type-arg]
    return [q.node_id[0] for q in sent]


def test_a_reply_with_nothing_closer_asks_all_remaining_k_closest() -> None:
    lookup = IterativeLookup(bytes(20), k=8, alpha=3)
    lookup.add_candidates(ids(*range(1, 13)))
    assert first_bytes(lookup.next_queries(0.0)) == [1, 2, 3]
    lookup.on_response(ids(1)[0][0], ids(20, 30))  # nothing closer than node 1
    assert first_bytes(lookup.next_queries(0.0)) == [4, 5, 6, 7, 8]  # the rest of the k
    assert lookup.next_queries(0.0) == []  # never beyond the k closest


def test_a_reply_with_a_closer_node_keeps_alpha() -> None:
    lookup = IterativeLookup(bytes(20), k=8, alpha=3)
    lookup.add_candidates(ids(*range(4, 13)))
    assert first_bytes(lookup.next_queries(0.0)) == [4, 5, 6]
    lookup.on_response(ids(4)[0][0], ids(1))  # closer than anything seen: not converged
    assert first_bytes(lookup.next_queries(0.0)) == [1]  # alpha in flight, as before
    lookup.on_response(ids(1)[0][0], [])  # converged now
    assert first_bytes(lookup.next_queries(0.0)) == [7, 8, 9, 10]  # the rest of the k


def test_without_final_round_alpha_holds() -> None:
    lookup = IterativeLookup(bytes(20), k=8, alpha=3, final_round=False)
    lookup.add_candidates(ids(*range(1, 13)))
    lookup.next_queries(0.0)
    lookup.on_response(ids(1)[0][0], [])
    assert first_bytes(lookup.next_queries(0.0)) == [4]


class RoundNet(FakeNet):
    """A FakeNet whose datagrams carry their causal depth: the depth of the datagram
    that finished an operation, halved, is its number of sequential round trips."""

    def __init__(self, base: FakeNet) -> None:
        super().__init__(0)
        self.nodes, self.now = base.nodes, base.now
        self.depths: dict[bytes, int] = {}
        self.rounds = 0

    def start_op(self, node: KrpcNode, fn: object) -> int:
        op_id: int = fn(node, self.now)  # type: ignore[operator]
        self._depth_collect(node, node.datagrams_to_send(), 1)
        return op_id

    def _depth_collect(self, node: KrpcNode, out: list[tuple[bytes, Address]], depth: int) -> None:
        src = next(a for a, n in self.nodes.items() if n is node)
        for data, dst in out:
            self.queue.append((data, src, dst))
            self.depths[data] = depth
        for event in node.events():
            self.results[(src, event.op_id)] = event.outcome
            self.rounds = depth // 2

    def run_op(self, addr: tuple[str, int], fn: object) -> tuple[object, int]:
        node = self.nodes[addr]
        op_id = self.start_op(node, fn)
        while (addr, op_id) not in self.results:
            data, src, dst = self.queue.popleft()
            depth = self.depths.pop(data, 0)
            self.now += self.latency
            target = self.nodes[dst]
            out = target.receive_datagram(data, src, self.now)
            self._depth_collect(target, out, depth + 1)
        outcome, rounds = self.results.pop((addr, op_id)), self.rounds
        while self.queue:  # late answers, before the next operation
            data, src, dst = self.queue.popleft()
            self.depths.pop(data, None)
            self.nodes[dst].receive_datagram(data, src, self.now)
            self.nodes[dst].events()
        return outcome, rounds


def mutable_get_rounds(final_round: bool) -> tuple[list[int], list[bool]]:
    net = RoundNet(bootstrapped(100, 3))
    addrs = list(net.nodes)
    rng = random.Random(7)
    rounds, found = [], []
    for i in range(20):
        item = sign_item(KEYS, b"value %d" % i, 1, b"salt %d" % i)
        net.run_op(rng.choice(addrs), lambda n, now, it=item: n.put_mutable(it, now))
        getter = net.nodes[rng.choice(addrs)]

        def get(n: KrpcNode, now: float, it: object = item) -> int:
            op_id = n.get(it.target, now, public_key=KEYS.public_key, salt=it.salt)  # type: ignore[attr-defined]
            op = n.operation(op_id)
            if op is not None:
                op.lookup.final_round = final_round  # type: ignore[attr-defined]
            return op_id

        outcome, r = net.run_op(next(a for a, n in net.nodes.items() if n is getter), get)
        rounds.append(r)
        found.append(isinstance(outcome, GetFound) and outcome.item == item)
    return rounds, found


def test_final_round_cuts_a_mutable_gets_round_trips() -> None:
    with_final, found = mutable_get_rounds(True)
    without, found_before = mutable_get_rounds(False)
    assert all(found) and all(found_before)
    # 100 nodes: 3.4 rounds on average without it, 2.1 with it (the k closest answer
    # in one go instead of alpha at a time)
    assert statistics.mean(with_final) <= statistics.mean(without) - 1


def test_final_round_still_finds_the_true_k_closest() -> None:
    net = bootstrapped(300, 11)
    addrs = list(net.nodes)
    rng = random.Random(2)
    for _ in range(20):
        target = rng.randbytes(20)
        src = rng.choice(addrs)
        got = net.run(src, net.start(src, lambda n, now, t=target: n.find_node(t, now)))
        own = net.nodes[src].node_id
        truth = sorted(
            (n.node_id for n in net.nodes.values() if n.node_id != own),
            key=lambda i: distance(i, target),
        )[:8]
        assert [node_id for node_id, _ in got] == truth  # type: ignore[attr-defined]
