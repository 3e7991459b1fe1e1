"""Searches with many reads in flight on a loaded 20-node network: lost entries or errors?

The scenario of tests/integration/test_node_search.py (every 96th line of the real
catalogue imported into 20 real nodes on 127.0.0.1), then its queries searched from
another node whose index keeps ``READS`` gets in flight (256: enough to make gets time
out on one event loop), each compared with a brute-force scan. Three readers, each
with an empty catalogue and cache so that every PHT node and card is read from the DHT:

- ``old``: a get nobody answered reads as absent (what every get did before
  ``LookupFailed``): such a search silently returns fewer results;
- ``no retry``: it fails the search with ``ReadError`` at once;
- ``retry``: it is tried again (``IndexConfig.read_attempts``), then fails.

Prints, per reader, the queries answered exactly, short (entries lost silently) and
failed with ReadError, and the gets nobody answered. TIMEOUT (seconds) shortens the
reader's DHT query timeout (and query_slow to a fifth of it), the way a loaded machine
lengthens every answer: replies that come later than that count as timeouts.

QUORUM sets the reader's ``DhtConfig.read_quorum``.

    python tests/benchmarks/stress_reads.py [READS] [ROUNDS] [TIMEOUT] [QUORUM]
                                            (default 256 3 1.0 and the DhtConfig default)
"""

from __future__ import annotations

import asyncio
import os
import pathlib
import sys
import tempfile
from collections import Counter
from dataclasses import replace

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", ".."))

import orjson

from swarmseek.api.errors import Unavailable
from swarmseek.api.node import Node
from swarmseek.api.services_node import NodeServices
from swarmseek.discovery import DhtNode, LookupFailed, MutableItem
from swarmseek.index import Catalogue, IndexConfig, ReadError, SearchIndex
from swarmseek.transfer import Value
from tests.integration.test_node_search import LINES, QUERIES, STEP, brute, found
from tests.support.node_net import catalogue_lines, node_network


class AbsentWhenUnanswered:
    """The DHT as every get read before ``LookupFailed``: unanswered is absent."""

    def __init__(self, dht: DhtNode) -> None:
        self.dht = dht

    async def get_immutable(self, target: bytes) -> Value | None:
        try:
            return await self.dht.get_immutable(target)
        except LookupFailed:
            return None

    async def get_mutable(self, public_key: bytes, salt: bytes = b"") -> MutableItem | None:
        try:
            return await self.dht.get_mutable(public_key, salt)
        except LookupFailed:
            return None

    async def put_immutable(self, value: Value) -> bytes:
        return await self.dht.put_immutable(value)

    async def put_mutable(self, item: MutableItem, *, cas: int | None = None) -> None:
        await self.dht.put_mutable(item, cas=cas)


def reader_index(node: Node, reads: int, mode: str) -> SearchIndex:
    store = AbsentWhenUnanswered(node.dht) if mode == "old" else node.dht
    config = IndexConfig(
        name_lsh=None,
        in_flight=node.config.index_in_flight,
        read_in_flight=reads,
        read_attempts=1 if mode != "retry" else IndexConfig().read_attempts,
    )
    return SearchIndex(store, node.index.namespaces, Catalogue(), config=config)


async def one_round(node: Node, lines: list, reads: int, mode: str) -> Counter[str]:
    tally: Counter[str] = Counter()
    node.index = reader_index(node, reads, mode)
    api = NodeServices(node)
    for request in QUERIES:
        expected = brute(lines, request)
        try:
            got = await found(api, request)
        except Unavailable as exc:  # the API's 503
            tally["failed (ReadError)" if isinstance(exc.__context__, ReadError) else "503"] += 1
            continue
        if got == expected:
            tally["exact"] += 1
        else:
            tally["short"] += 1
            tally["entries lost"] += len(expected - got)
    tally["gets unanswered"] += node.index.stats.unanswered_gets
    return tally


async def main(reads: int, rounds: int, timeout: float, quorum: int | None) -> None:
    lines = catalogue_lines(LINES, STEP)
    with tempfile.TemporaryDirectory() as folder:
        async with node_network(pathlib.Path(folder), 20) as net:
            importer, reader = net.nodes[0], net.nodes[13]
            body = b"\n".join(orjson.dumps(line) for line in lines)
            report = await NodeServices(importer).import_lines(body)
            print(f"imported {report['imported']} cards; {len(QUERIES)} queries per round")
            core = reader.dht.core
            core.config = replace(core.config, query_timeout=timeout, query_slow=timeout / 5)
            if quorum is not None:
                core.config = replace(core.config, read_quorum=quorum)
            for mode in ("old", "no retry", "retry"):
                total: Counter[str] = Counter()
                for _ in range(rounds):
                    total += await one_round(reader, lines, reads, mode)
                print(f"{mode:>8}: {dict(sorted(total.items()))}", flush=True)
    print(f"load average {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    argv = sys.argv[1:]
    reads = int(argv[0]) if argv else 256
    rounds = int(argv[1]) if len(argv) > 1 else 3
    timeout = float(argv[2]) if len(argv) > 2 else 1.0
    asyncio.run(main(reads, rounds, timeout, int(argv[3]) if len(argv) > 3 else None))
