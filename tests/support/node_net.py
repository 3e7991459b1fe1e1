"""Networks of real swarmseek ``Node``s on 127.0.0.1 (UDP and TCP, port 0) in one loop."""

from __future__ import annotations

import asyncio
import contextlib
import gzip
import json
import random
from collections.abc import AsyncIterator
from dataclasses import replace
from pathlib import Path
from typing import Any

from swarmseek.api.node import Node, NodeConfig

ROOT = Path(__file__).resolve().parents[2]
CATALOGUE = ROOT / "data" / "catalogue" / "debian-bookworm.jsonl.gz"
CORPUS = ROOT / "data" / "corpus"


def node_config(
    data_dir: Path, bootstrap: tuple[tuple[str, int], ...] = (), **kw: Any
) -> NodeConfig:
    base = NodeConfig(
        data_dir=data_dir,
        dht_host="127.0.0.1",
        peer_host="127.0.0.1",
        bootstrap=bootstrap,
        loopback=True,
        dht_max_items=1_000_000,
        dht_query_timeout=1.0,
        progress_interval=0.1,
        resume_interval=0.2,
        share_roots=(data_dir.parent, CORPUS),
    )
    return replace(base, **kw)


class NodeNet:
    """Nodes that can be started, stopped and restarted with the same data directory."""

    def __init__(self, root: Path, seed: int = 1) -> None:
        self.root = root
        self.rng = random.Random(seed)
        self.nodes: list[Node] = []
        self._stacks: dict[int, contextlib.AsyncExitStack] = {}

    def addresses(self) -> tuple[tuple[str, int], ...]:
        live = [n.dht.address for n in self.nodes]
        return tuple(self.rng.sample(live, min(8, len(live))))

    async def start(self, name: str, **kw: Any) -> Node:
        config = node_config(self.root / name, self.addresses(), **kw)
        node = Node(config)
        stack = contextlib.AsyncExitStack()
        await stack.enter_async_context(node)
        self._stacks[id(node)] = stack
        self.nodes.append(node)
        return node

    async def stop(self, node: Node) -> None:
        self.nodes.remove(node)
        await self._stacks.pop(id(node)).aclose()

    async def close(self) -> None:
        for node in list(self.nodes):
            await self.stop(node)


@contextlib.asynccontextmanager
async def node_network(root: Path, n: int, seed: int = 1, **kw: Any) -> AsyncIterator[NodeNet]:
    """``n`` nodes, each bootstrapped from up to 8 earlier ones, then all bootstrapped."""
    net = NodeNet(root, seed)
    try:
        for i in range(n):
            await net.start(f"n{i:02d}", **kw)
        await asyncio.gather(*(node.dht.bootstrap() for node in net.nodes))
        # A second round from the finished network: early nodes learn the late ones.
        await asyncio.gather(*(node.dht.find_node(node.dht.node_id) for node in net.nodes))
        yield net
    finally:
        await net.close()


def catalogue_lines(limit: int, step: int = 1) -> list[dict[str, Any]]:
    """Every ``step``-th line of the real catalogue, at most ``limit`` of them."""
    out: list[dict[str, Any]] = []
    with gzip.open(CATALOGUE, "rt", encoding="utf-8") as f:
        for i, line in enumerate(f):
            if i % step == 0:
                out.append(json.loads(line))
                if len(out) >= limit:
                    break
    return out
