"""The swarm's DHT loop: when it looks peers up, when it announces, and how soon it
tries again (a fake finder, a fake torrent and a fake clock; no sockets)."""

from __future__ import annotations

import asyncio
from typing import Any, cast

import pytest

from swarmseek.transfer import TorrentState
from swarmseek.transfer.peer_sources import DHT_RETRY, PeerSourceError, dht_loop

INFOHASH = b"i" * 20
INTERVAL = 300.0
GONE = ("127.0.0.1", 7000)  # a peer address the DHT still lists, nobody listening


class FakeTorrent:
    def __init__(self, complete: bool) -> None:
        self.complete = complete
        self.info_hash = INFOHASH
        self.name = "fake"
        self.state = TorrentState.SEEDING if complete else TorrentState.DOWNLOADING
        self.dht_announced = asyncio.Event()
        self.peers: list[object] = []  # connected peers
        self.added: list[tuple[str, int]] = []

    def add_peers(self, peers: list[tuple[str, int]]) -> None:
        self.added += peers


class Clock:
    def __init__(self) -> None:
        self.now = 0.0


class FakeFinder:
    """Answers from a script (peers found; nodes that took an announce, None: an error)
    and notes the time of every round."""

    def __init__(
        self, clock: Clock, peers: list[list[tuple[str, int]]], accepted: list[int | None]
    ) -> None:
        self.clock = clock
        self.peers = peers
        self.accepted = accepted
        self.lookups: list[float] = []
        self.announces: list[float] = []

    async def get_peers(self, infohash: bytes) -> list[tuple[str, int]]:
        self.lookups.append(self.clock.now)
        return self.peers.pop(0) if self.peers else [GONE]

    async def announce_peer(self, infohash: bytes, port: int = 0) -> int:
        self.announces.append(self.clock.now)
        answer = self.accepted.pop(0) if self.accepted else 3
        if answer is None:
            raise PeerSourceError("no DHT node answered")
        return answer


class Stop(Exception):
    pass


async def run_until(torrent: FakeTorrent, finder: FakeFinder, clock: Clock, end: float) -> None:
    async def sleep(seconds: float) -> None:
        clock.now += seconds
        if clock.now >= end:
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


async def test_a_seeder_whose_announce_no_node_took_tries_again_soon() -> None:
    # Regression: a node that shared a folder before any other node was up announced
    # to nobody, then waited the whole interval (5 min): no one could download it.
    clock = Clock()
    seeder = FakeTorrent(complete=True)
    finder = FakeFinder(clock, [], accepted=[None, 0, 3])
    await run_until(seeder, finder, clock, 2 * INTERVAL)
    assert finder.announces == [0, DHT_RETRY, 2 * DHT_RETRY, 2 * DHT_RETRY + INTERVAL]
    assert finder.lookups == []  # a seeder looks nobody up


async def test_a_download_connected_to_nobody_looks_again_soon() -> None:
    # Regression: a lookup that found only gone peers (a seeder restarted on another
    # port leaves its old address in the DHT) counted as a success, so the download
    # waited 5 minutes before looking again.
    clock = Clock()
    getter = FakeTorrent(complete=False)
    finder = FakeFinder(clock, [[GONE], [GONE]], accepted=[])
    await run_until(getter, finder, clock, 3 * DHT_RETRY)
    assert finder.lookups == [0, DHT_RETRY, 2 * DHT_RETRY]


async def test_a_download_with_peers_or_paused_waits_the_interval() -> None:
    clock = Clock()
    getter = FakeTorrent(complete=False)
    getter.peers.append(object())
    finder = FakeFinder(clock, [], accepted=[])
    await run_until(getter, finder, clock, 2 * INTERVAL)
    assert finder.lookups == [0, INTERVAL]
    paused = FakeTorrent(complete=False)
    paused.state = TorrentState.PAUSED
    finder = FakeFinder(Clock(), [], accepted=[])
    await run_until(paused, finder, finder.clock, 2 * INTERVAL)
    assert finder.lookups == [0, INTERVAL]
