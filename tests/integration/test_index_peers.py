"""Search results carry a peer count from a DHT ``get_peers`` of the page's infohashes."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest

from swarmseek.api.peer_counts import PeerCounts
from swarmseek.api.services import SearchRequest
from swarmseek.api.services_node import NodeServices
from tests.support.node_net import CORPUS, node_network

pytestmark = pytest.mark.timeout(120)


async def test_a_shared_torrent_shows_its_peers_an_imported_one_none(tmp_path: Path) -> None:
    async with node_network(tmp_path, 5) as net:
        seeder, reader = net.nodes[1], net.nodes[3]
        shared = await seeder.share(CORPUS / "licenses" / "GFDL-1.2.txt")
        assert shared.announced > 0
        line = {"infohash": "ab" * 20, "name": "gfdl unseeded copy", "size": 5}
        await NodeServices(seeder).import_lines(orjson.dumps(line))
        api = NodeServices(reader)
        # the bound only limits a failure here: a loaded machine must not make it None
        api._peers = PeerCounts(reader, timeout=60.0)
        page = await api.search(SearchRequest(q="gfdl"))
        peers = {r["infohash"]: r["peers"] for r in page["results"]}
        assert peers[shared.infohash.hex()] == 1  # the seeder's announce
        assert peers["ab" * 20] == 0  # the lookup finished and nobody has it
        again = await api.search(SearchRequest(q="gfdl"))  # reused, still right
        assert {r["infohash"]: r["peers"] for r in again["results"]} == peers
