"""The swarm's DHT loop: when it looks peers up, when it announces, and how soon it
tries again (a fake finder and a recorded sleep; no sockets, no clock)."""

from __future__ import annotations

import asyncio
from typing import Any, cast

import pytest

from swarmseek.transfer.peer_sources import DHT_RETRY, PeerSourceError, dht_loop

INFOHASH = b"i" * 20
INTERVAL = 300.0


class FakeTorrent:
    def __init__(self, complete: bool) -> None:
        self.complete = complete
        self.info_hash = INFOHASH
        self.name = "fake"
        self.dht_announced = asyncio.Event()
        self.peers: list[tuple[str, int]] = []

    def add_peers(self, peers: list[tuple[str, int]]) -> None:
        self.peers += peers


class FakeFinder:
    """Answers each call from a script: a number of nodes/peers, or an error."""

    def __init__(self, peers: list[list[tuple[str, int]]], accepted: list[int | None]) -> None:
        self.peers = peers
        self.accepted = accepted

    async def get_peers(self, infohash: bytes) -> list[tuple[str, int]]:
        return self.peers.pop(0)

    async def announce_peer(self, infohash: bytes, port: int = 0) -> int:
        answer = self.accepted.pop(0)
        if answer is None:
            raise PeerSourceError("no DHT node answered")
        return answer


class Stop(Exception):
    pass


async def delays(torrent: FakeTorrent, finder: FakeFinder, rounds: int) -> list[float]:
    """The loop's waits between its first ``rounds`` rounds."""
    waits: list[float] = []

    async def sleep(seconds: float) -> None:
        waits.append(seconds)
        if len(waits) == rounds:
            raise Stop

    with pytest.raises(Stop):
        await dht_loop(
            cast(Any, torrent),
            finder,
            lambda: 6881,
            announce_self=True,
            interval=INTERVAL,
            sleep=sleep,
        )
    return waits


async def test_a_seeder_whose_announce_no_node_took_tries_again_soon() -> None:
    # Regression: a node that shared a folder before any other node was up announced
    # to nobody, then waited the whole interval (5 min): no one could download it.
    seeder = FakeTorrent(complete=True)
    finder = FakeFinder([], accepted=[None, 0, 3, 3])
    assert await delays(seeder, finder, 4) == [DHT_RETRY, DHT_RETRY, INTERVAL, INTERVAL]
    assert seeder.dht_announced.is_set()


async def test_a_download_that_found_nobody_looks_again_soon() -> None:
    getter = FakeTorrent(complete=False)
    finder = FakeFinder([[], [("127.0.0.1", 7000)]], accepted=[2, 2])
    assert await delays(getter, finder, 2) == [DHT_RETRY, INTERVAL]
    assert getter.peers == [("127.0.0.1", 7000)]
