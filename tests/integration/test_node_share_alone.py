"""A folder shared while no other DHT node answers (the first of two `swarmseek node`s,
started before the second): seeded at once, published to the index when shared again."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from swarmseek.api.errors import Unavailable
from swarmseek.api.node import Node
from swarmseek.api.services import SearchRequest
from swarmseek.api.services_node import NodeServices
from tests.support.node_net import CORPUS, node_config

pytestmark = pytest.mark.timeout(300)


@pytest.fixture
async def silent() -> AsyncIterator[tuple[str, int]]:
    """A UDP address that takes every query and answers none (a dead bootstrap node)."""
    loop = asyncio.get_running_loop()
    transport, _ = await loop.create_datagram_endpoint(
        asyncio.DatagramProtocol, local_addr=("127.0.0.1", 0)
    )
    try:
        host, port = transport.get_extra_info("sockname")[:2]
        yield str(host), int(port)
    finally:
        transport.close()


async def test_a_share_no_node_took_is_published_when_shared_again(
    tmp_path: Path, silent: tuple[str, int]
) -> None:
    # Regression: the share failed ("the DHT did not answer") but kept seeding, and
    # sharing it again once the other node was up said "shared" without publishing
    # the card: the file could never be found.
    path = CORPUS / "licenses" / "GPL-3.txt"
    # Short query timeouts: the silent node costs little.
    config = node_config(tmp_path / "first", (silent,), dht_query_timeout=0.2)
    async with Node(config) as first:
        sharing = NodeServices(first)
        with pytest.raises(Unavailable) as refused:
            await sharing.share(str(path))
        assert "GPL-3.txt is seeded, but not yet findable" in refused.value.message
        async with Node(node_config(tmp_path / "second", (first.dht.address,))) as second:
            await second.dht.bootstrap()
            shared = await sharing.share(str(path))
            assert shared["name"] == "GPL-3.txt"
            page = await NodeServices(second).search(SearchRequest(q="gpl"))
            assert [r["infohash"] for r in page["results"]] == [shared["infohash"]]
