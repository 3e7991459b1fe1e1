"""Peers announced to a node outlive its restart (saved with their age, as items are)."""

from __future__ import annotations

import random
from pathlib import Path

from swarmseek.discovery import DhtConfig
from swarmseek.discovery.node import KrpcNode
from swarmseek.discovery.persist import load_state, save_state
from swarmseek.discovery.store import PEER_TTL

ME = b"M" * 20
SEEDER = ("10.1.1.1", 7000)
OLD = ("10.2.2.2", 7000)
INFOHASH = b"I" * 20


def make(now: float) -> KrpcNode:
    return KrpcNode(DhtConfig(), ME, random.Random(0), now)


def test_announced_peers_survive_a_restart(tmp_path: Path) -> None:
    # Regression: a downloader restarted mid-download (the only other node of a small
    # swarm, so the only one holding the seeder's announce) forgot it and waited
    # for the seeder's next announce, minutes away, before it could go on.
    db = tmp_path / "state.sqlite"
    before = make(0.0)
    before.peers.announce(INFOHASH, OLD, 0.0)  # will be too old by the restart
    before.peers.announce(INFOHASH, SEEDER, PEER_TTL - 10.0)
    save_state(db, before.snapshot(PEER_TTL))
    # The next run's monotonic clock reads anything; ages place the announces in it.
    after = make(500.0)
    after.restore(load_state(db), 500.0)
    assert after.peers.peers(INFOHASH, 500.0, random.Random(1)) == [SEEDER]
    expiry = 500.0 - 10.0 + PEER_TTL  # announced 10 s before the save
    assert after.peers.peers(INFOHASH, expiry - 1.0, random.Random(1)) == [SEEDER]
    assert after.peers.peers(INFOHASH, expiry, random.Random(1)) == []
