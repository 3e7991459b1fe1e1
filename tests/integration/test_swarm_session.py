"""In-process swarms on 127.0.0.1: seeders, leechers, magnets, liars, resume."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from swarmseek.transfer import make_magnet, parse_magnet
from swarmseek.transfer.session import Session
from tests.support.swarm_helpers import FAST, make_torrent, same_tree, wait_finished

pytestmark = pytest.mark.timeout(120)


async def test_one_seeder_three_leechers(tmp_path: Path) -> None:
    meta = make_torrent(tmp_path / "seed", {"data.bin": 3 * 1024 * 1024 + 1234})
    async with Session(FAST) as seeder:
        await seeder.add(meta, tmp_path / "seed")
        leechers = [Session(FAST) for _ in range(3)]
        for s in leechers:
            await s.__aenter__()
        try:
            torrents = [
                await s.add(meta, tmp_path / f"l{i}", peers=[("127.0.0.1", seeder.port)])
                for i, s in enumerate(leechers)
            ]
            # leechers also know each other, so pieces flow between them too
            for t in torrents:
                t.add_peers([("127.0.0.1", s.port) for s in leechers])
            for t in torrents:
                await wait_finished(t)
        finally:
            for s in leechers:
                await s.__aexit__(None, None, None)
    for i in range(3):
        assert same_tree(tmp_path / "seed" / "data.bin", tmp_path / f"l{i}" / "data.bin")
