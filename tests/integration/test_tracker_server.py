"""Our HTTP and UDP tracker with our client, on 127.0.0.1 with port 0."""

from __future__ import annotations

import random

import pytest

from swarmseek.transfer.errors import TrackerError
from swarmseek.transfer.tracker import Announce, Event
from swarmseek.transfer.tracker_client import TrackerClientConfig, announce
from swarmseek.transfer.tracker_server import TrackerServer

IH = bytes(range(20))


def peer_id(n: int) -> bytes:
    return b"-SS0001-%012d" % n


@pytest.mark.parametrize("kind", ["http", "udp"])
async def test_peers_see_each_other(kind: str) -> None:
    async with TrackerServer() as server:
        url = server.announce_url if kind == "http" else server.udp_url
        first = await announce(url, Announce(IH, peer_id(1), 7001, left=0, event=Event.STARTED))
        assert first.peers == []
        second = await announce(url, Announce(IH, peer_id(2), 7002, left=10))
        assert second.peers == [("127.0.0.1", 7001)]
        assert (second.complete, second.incomplete) == (1, 1)
        await announce(url, Announce(IH, peer_id(1), 7001, event=Event.STOPPED))
        third = await announce(url, Announce(IH, peer_id(3), 7003, left=10))
        assert third.peers == [("127.0.0.1", 7002)]


async def test_http_tracker_refuses_malformed_announce() -> None:
    async with TrackerServer() as server:
        with pytest.raises(TrackerError, match="refused"):
            await announce(
                server.announce_url.replace("/announce", "/announce?port=x"),
                Announce(IH, peer_id(1), 1),
            )


async def test_udp_tracker_that_never_answers() -> None:
    async with TrackerServer() as server:
        port = server.udp_port
    config = TrackerClientConfig(udp_timeout=0.05, udp_attempts=2)
    with pytest.raises(TrackerError, match="did not answer"):
        await announce(
            f"udp://127.0.0.1:{port}",
            Announce(IH, peer_id(1), 1),
            config=config,
            rng=random.Random(1),
        )
