"""Real nodes on 127.0.0.1: when the nodes holding the index stop answering, a search
through the JSON API answers 503 with a message, not a silently partial page."""

from __future__ import annotations

from pathlib import Path

import aiohttp
import orjson
import pytest

from swarmseek.api.services_node import NodeServices, serve_api
from tests.support.node_net import node_network

pytestmark = pytest.mark.timeout(120)

LINES = [
    {"infohash": f"{i:02x}" * 20, "name": f"ubuntu release {i} amd64", "size": 1000 + i}
    for i in range(1, 30)
]


async def test_a_search_whose_replicas_are_gone_is_503_not_partial(tmp_path: Path) -> None:
    # Regression: every get timed out, read as an absent PHT node, and the search
    # answered 200 with fewer results (none here) instead of saying it could not tell.
    async with node_network(tmp_path, 6, dht_query_timeout=0.3, dht_query_slow=0.1) as net:
        await NodeServices(net.nodes[1]).import_lines(b"\n".join(map(orjson.dumps, LINES)))
        reader = await net.start("late")  # joined after the import: holds no item
        await reader.dht.bootstrap()
        assert reader.dht.stats().items == 0
        async with serve_api(reader, "127.0.0.1", 0, None) as url, aiohttp.ClientSession() as http:
            search = url + "/api/v1/search"
            async with http.get(search, params={"q": "ubuntu", "limit": "100"}) as r:
                assert r.status == 200
                assert len((await r.json())["results"]) == len(LINES)
            for node in [n for n in net.nodes if n is not reader]:
                await net.stop(node)  # every replica of every item is gone
            async with http.get(search, params={"q": "release", "limit": "100"}) as r:
                body = await r.json()
                assert r.status == 503, body
            assert body["error"]["code"] == "unavailable"
            assert "could not be read" in body["error"]["message"]
            async with http.get(url + "/api/v1/stats") as r:
                stats = await r.json()
            assert stats["index"]["unanswered_gets"] >= reader.index.config.read_attempts
