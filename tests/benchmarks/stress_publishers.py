"""Concurrent publishers in a loop: how often does a PHT entry get lost?

The scenario of tests/integration/test_node_concurrent_publishers.py (three nodes of a
4-node DHT share three cards each at the same moment, then every node searches by
size), repeated on fresh networks in one process. Prints each run that lost an entry
and the count; a publish that gave up (PublishError) counts as a failure too.

    python tests/benchmarks/stress_publishers.py [RUNS]     (default 40)
"""

from __future__ import annotations

import asyncio
import os
import pathlib
import sys
import tempfile

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", ".."))

from swarmseek.index import PublishError, Query
from tests.support.node_net import CORPUS, node_network


async def lost_in_one_run(root: pathlib.Path) -> list[str]:
    """The names some node's search missed (empty: nothing lost)."""
    files = sorted((CORPUS / "licenses").glob("*.txt"))[:9]
    names = {f.name for f in files}
    async with node_network(root, 4) as net:
        try:
            await asyncio.gather(*(net.nodes[1 + i % 3].share(f) for i, f in enumerate(files)))
        except PublishError as exc:
            return [f"publish gave up: {exc}"]
        missing: set[str] = set()
        for node in net.nodes:
            found = await node.index.search(Query((), min_size=1))
            missing |= names - {r.name for r in found.results}
        return sorted(missing)


async def main(runs: int) -> None:
    failed = 0
    for run in range(runs):
        with tempfile.TemporaryDirectory() as folder:
            lost = await lost_in_one_run(pathlib.Path(folder))
        if lost:
            failed += 1
            print(f"run {run + 1}: lost {lost}", flush=True)
    print(f"{failed} of {runs} runs lost an entry; load average {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1]) if len(sys.argv) > 1 else 40))
