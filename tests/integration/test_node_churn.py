"""20% of the nodes die; after the publisher's republish no entry is lost."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest

from swarmseek.api.services import SearchRequest
from swarmseek.api.services_node import NodeServices
from tests.support.node_net import catalogue_lines, node_network

pytestmark = pytest.mark.timeout(240)


async def everything(api: NodeServices, request: SearchRequest) -> set[str]:
    out: set[str] = set()
    cursor = None
    while True:
        page = await api.search(
            SearchRequest(q=request.q, size_min=request.size_min, limit=200, cursor=cursor)
        )
        out |= {r["infohash"] for r in page["results"]}
        if (cursor := page["next_cursor"]) is None:
            return out


async def test_no_entry_lost_when_a_fifth_of_the_nodes_die(tmp_path: Path) -> None:
    lines = catalogue_lines(100, 601)
    expected = {line["infohash"] for line in lines}
    # Dead nodes stay in the survivors' routing tables, so most DHT operations wait
    # for a timeout: many in flight and a short timeout keep the test short.
    async with node_network(
        tmp_path, 20, seed=7, index_in_flight=256, dht_query_timeout=1.5
    ) as net:
        publisher = net.nodes[0]
        await NodeServices(publisher).import_lines(b"\n".join(orjson.dumps(x) for x in lines))
        for victim in net.nodes[1:5]:
            await net.stop(victim)
        puts = await publisher.republish()
        assert puts >= len(lines)
        assert publisher.counters.republish_runs == 1
        reader = NodeServices(net.nodes[-1])  # has never searched: every card from the DHT
        assert await everything(reader, SearchRequest(q="deb")) == expected
        stats = await NodeServices(publisher).stats()
        assert stats["republish"]["puts"] == puts
        print(f"republish of {len(lines)} cards: {puts} puts in {stats['republish']['seconds']} s")
