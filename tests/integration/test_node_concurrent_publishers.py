"""Regression: nodes publishing at the same moment into the same PHT leaves.

BEP 44's cas is decided by each replica on its own, so two writers may each win
on part of the k nodes at the same seq; both were told they had won, and one card
vanished from every tree (4 of 4 runs failed). A put now counts only when no
up-to-date replica refused it, a writer that met a refusal writes again until the
replicas agree, and readers pick one version while they disagree.
"""

from __future__ import annotations

import asyncio
import pathlib

from swarmseek.index import Query
from tests.support.node_net import CORPUS, node_network


async def test_concurrent_publishers_lose_no_card(tmp_path: pathlib.Path) -> None:
    files = sorted((CORPUS / "licenses").glob("*.txt"))[:9]
    names = [f.name for f in files]
    async with node_network(tmp_path, 4) as net:
        # Three writers at once, three cards each: every card's entries race the
        # others' for the same leaves of every tree.
        await asyncio.gather(*(net.nodes[1 + i % 3].share(f) for i, f in enumerate(files)))
        for node in net.nodes:
            found = await node.index.search(Query((), min_size=1))
            assert sorted(r.name for r in found.results) == sorted(names)
