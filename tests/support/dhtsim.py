"""An in-memory UDP network of pure ``KrpcNode``s with a fake clock (no sockets)."""

from __future__ import annotations

import random
from collections import deque
from collections.abc import Callable
from dataclasses import replace

from swarmseek.discovery.config import DhtConfig
from swarmseek.discovery.node import KrpcNode, OperationFinished

Address = tuple[str, int]


class FakeNet:
    """Delivers datagrams in FIFO (or random) order; when idle, jumps the clock to the next
    timeout."""

    def __init__(self, seed: int = 0, latency: float = 0.001, *, reorder: bool = False) -> None:
        self.rng = random.Random(seed)
        self.reorder = reorder  # deliver a random queued datagram, not the oldest (races)
        self.now = 1000.0
        self.latency = latency
        self.nodes: dict[Address, KrpcNode] = {}
        self.dead: set[Address] = set()
        self.queue: deque[tuple[bytes, Address, Address]] = deque()
        self.results: dict[tuple[Address, int], object] = {}
        self.delivered = 0

    def add(self, config: DhtConfig | None = None, node_id: bytes | None = None) -> Address:
        addr = (f"10.0.{len(self.nodes) // 250}.{len(self.nodes) % 250 + 1}", 6881)
        config = config or DhtConfig(rate_limit=1e9, rate_burst=1e9)
        nid = node_id or self.rng.randbytes(20)
        node = KrpcNode(
            replace(config, node_id=nid), nid, random.Random(self.rng.random()), self.now
        )
        self.nodes[addr] = node
        return addr

    def _collect(self, src: Address, out: list[tuple[bytes, Address]]) -> None:
        for data, dst in out:
            self.queue.append((data, src, dst))
        for event in self.nodes[src].events():
            assert isinstance(event, OperationFinished)
            self.results[(src, event.op_id)] = event.outcome

    def start(self, addr: Address, fn: Callable[[KrpcNode, float], int]) -> int:
        node = self.nodes[addr]
        op_id = fn(node, self.now)
        self._collect(addr, node.datagrams_to_send())
        return op_id

    def step(self) -> bool:
        if self.queue:
            if self.reorder:
                self.queue.rotate(-self.rng.randrange(len(self.queue)))
            data, src, dst = self.queue.popleft()
            if dst in self.nodes and dst not in self.dead:
                self.delivered += 1
                self.now += self.latency
                self._collect(dst, self.nodes[dst].receive_datagram(data, src, self.now))
            return True
        deadlines = [
            d
            for a, n in self.nodes.items()
            if a not in self.dead
            for d in [n.next_deadline()]
            if d is not None
        ]
        if not deadlines:
            return False
        self.now = max(self.now, min(deadlines))
        for addr, node in self.nodes.items():
            if addr not in self.dead:
                self._collect(addr, node.tick(self.now))
        return True

    def run(self, addr: Address, op_id: int, limit: int = 2_000_000) -> object:
        for _ in range(limit):
            if (addr, op_id) in self.results:
                return self.results.pop((addr, op_id))
            if not self.step():
                break
        if (addr, op_id) in self.results:
            return self.results.pop((addr, op_id))
        raise AssertionError("operation did not finish")

    def settle(self, limit: int = 2_000_000) -> None:
        for _ in range(limit):
            if not self.queue:
                return
            self.step()


def bootstrapped(n: int, seed: int, *, reorder: bool = False) -> FakeNet:
    """``n`` nodes, each introduced to up to 8 earlier ones, then bootstrapped."""
    net = FakeNet(seed, reorder=reorder)
    addrs = [net.add() for _ in range(n)]
    for i, a in enumerate(addrs[1:], 1):
        for b in net.rng.sample(addrs[:i], min(8, i)):
            net.nodes[a].routing.heard_from(net.nodes[b].node_id, b, net.now, responded=True)
    for a in addrs:
        net.run(a, net.start(a, lambda node, now: node.bootstrap(now)))
    return net
