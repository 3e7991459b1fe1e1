"""In-process swarms on 127.0.0.1: seeders, leechers, magnets, liars, resume."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from swarmseek.transfer import TrackerServer, make_magnet, parse_magnet
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


async def test_magnet_download_fetches_metadata_first(tmp_path: Path) -> None:
    meta = make_torrent(tmp_path / "seed", {"album/a.bin": 200_000, "album/b/c.bin": 70_001})
    async with Session(FAST) as seeder, Session(FAST) as leecher:
        await seeder.add(meta, tmp_path / "seed")
        magnet = parse_magnet(make_magnet(meta.infohash, peers=[("127.0.0.1", seeder.port)]))
        torrent = await leecher.add(magnet, tmp_path / "out")
        assert torrent.info is None
        await wait_finished(torrent)
        assert torrent.info is not None and torrent.info.raw == meta.info.raw
    assert same_tree(tmp_path / "seed" / "album", tmp_path / "out" / "album")


async def test_bare_infohash_with_peer(tmp_path: Path) -> None:
    meta = make_torrent(tmp_path / "seed", {"x.bin": 99_999})
    async with Session(FAST) as seeder, Session(FAST) as leecher:
        await seeder.add(meta, tmp_path / "seed")
        torrent = await leecher.add(
            bytes(meta.infohash), tmp_path / "out", peers=[("127.0.0.1", seeder.port)]
        )
        await wait_finished(torrent)
    assert same_tree(tmp_path / "seed" / "x.bin", tmp_path / "out" / "x.bin")


async def test_multi_file_torrent_and_seeding_back(tmp_path: Path) -> None:
    files = {"m/one.txt": 40_000, "m/deep/two.bin": 16_384 * 3, "m/deep/er/three": 123_457}
    meta = make_torrent(tmp_path / "seed", files)
    async with Session(FAST) as seeder, Session(FAST) as first, Session(FAST) as second:
        await seeder.add(meta, tmp_path / "seed")
        t1 = await first.add(meta, tmp_path / "one", peers=[("127.0.0.1", seeder.port)])
        await wait_finished(t1)
        await seeder.remove(meta.infohash)  # now only `first` has the data
        t2 = await second.add(meta, tmp_path / "two", peers=[("127.0.0.1", first.port)])
        await wait_finished(t2)
        assert t1.uploaded >= meta.info.total_length
    assert same_tree(tmp_path / "seed" / "m", tmp_path / "two" / "m")


async def test_status_reports_progress_fields(tmp_path: Path) -> None:
    meta = make_torrent(tmp_path / "seed", {"s.bin": 50_000})
    async with Session(FAST) as seeder, Session(FAST) as leecher:
        await seeder.add(meta, tmp_path / "seed")
        torrent = await leecher.add(meta, tmp_path / "out", peers=[("127.0.0.1", seeder.port)])
        await wait_finished(torrent)
        status = leecher.status(meta.infohash)
    assert status.state == "seeding"
    assert status.verified_bytes == status.total_bytes == 50_000
    assert status.progress == 1.0 and status.eta == 0.0
    assert status.info_hash == meta.infohash.hex()


async def test_existing_complete_data_is_seeding_after_check(tmp_path: Path) -> None:
    meta = make_torrent(tmp_path / "seed", {"d.bin": 70_000})
    async with Session(dataclasses.replace(FAST)) as seeder:
        torrent = await seeder.add(meta, tmp_path / "seed")
        await wait_finished(torrent)
        assert torrent.downloaded == 0


async def test_peers_found_through_our_tracker(tmp_path: Path) -> None:
    async with TrackerServer() as tracker:
        meta = make_torrent(tmp_path / "seed", {"t.bin": 120_000}, trackers=(tracker.announce_url,))
        async with Session(FAST) as seeder, Session(FAST) as leecher:
            seeding = await seeder.add(meta, tmp_path / "seed")
            await wait_finished(seeding)
            await seeding.tracker_announced.wait()
            torrent = await leecher.add(meta, tmp_path / "out")  # no --peer: tracker only
            await wait_finished(torrent)
    assert same_tree(tmp_path / "seed" / "t.bin", tmp_path / "out" / "t.bin")


async def test_pause_resume_and_remove(tmp_path: Path) -> None:
    meta = make_torrent(tmp_path / "seed", {"p.bin": 200_000})
    async with Session(FAST) as seeder, Session(FAST) as leecher:
        await seeder.add(meta, tmp_path / "seed")
        torrent = await leecher.add(meta, tmp_path / "out")
        leecher.pause(meta.infohash)
        assert leecher.status(meta.infohash).state == "paused"
        torrent.add_peers([("127.0.0.1", seeder.port)])  # remembered, not dialled while paused
        assert torrent.peers == []
        leecher.resume_torrent(meta.infohash)
        await wait_finished(torrent)
        await leecher.remove(meta.infohash)
        assert leecher.get(meta.infohash) is None and torrent.state.value == "stopped"
    assert same_tree(tmp_path / "seed" / "p.bin", tmp_path / "out" / "p.bin")
