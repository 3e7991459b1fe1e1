"""qBittorrent 4.5 (qbittorrent-nox, Web API v2) and us: both directions, MSE/PE, magnets.

qBittorrent is libtorrent 2.0 under a different peer id and settings layer, driven the
way its users drive it: torrents and magnets added through the Web API, peers pointed
at with ``torrents/addPeers`` or a magnet's ``x.pe``. See ``tests/support/qbittorrent.py``.
"""

from __future__ import annotations

import asyncio
import dataclasses
import sys
from pathlib import Path

import pytest

from swarmseek.transfer import EncryptionPolicy, make_magnet, parse_magnet
from swarmseek.transfer.session import Session
from tests.support.qbittorrent import Encryption, QBittorrent
from tests.support.swarm_helpers import FAST, make_torrent, same_tree, wait_finished

pytestmark = [pytest.mark.interop, pytest.mark.timeout(180)]

REQUIRE = dataclasses.replace(FAST, encryption=EncryptionPolicy.REQUIRE)
# A multi-file torrent of 173 pieces (16 KiB), the last one short.
PACK = {"pack/a.bin": 2 * 1024 * 1024 + 123, "pack/sub/b.bin": 700_001}
SINGLE = {"single.bin": 3 * 1024 * 1024 + 5}
LOOPBACK = "127.0.0.1"


@pytest.mark.parametrize("encrypted", [False, True], ids=["plaintext", "encrypted"])
async def test_qbittorrent_downloads_from_our_seeder(tmp_path: Path, encrypted: bool) -> None:
    # qBittorrent's default ("allow") dials MSE first, so "plaintext" disables it there to
    # get a plain BitTorrent handshake; "encrypted" requires MSE/PE on both sides.
    meta = make_torrent(tmp_path / "seed", PACK)
    mode = Encryption.REQUIRE if encrypted else Encryption.DISABLE
    async with (
        Session(REQUIRE if encrypted else FAST) as ours,
        QBittorrent(tmp_path / "qbt-profile", mode) as qbt,
    ):
        seeding = await ours.add(meta, tmp_path / "seed")
        await wait_finished(seeding)  # checked, seeding
        await qbt.add_torrent(meta.to_bytes(), tmp_path / "qbt")
        await qbt.wait_added(meta.infohash)
        await qbt.add_peers(meta.infohash, [(LOOPBACK, ours.port)])
        await qbt.wait_seeding(meta.infohash, timeout=120)
        # our REQUIRE selects RC4 only and refuses plaintext handshakes
        used, unused = ("encrypted", "plaintext") if encrypted else ("plaintext", "encrypted")
        assert seeding.connections[used] >= 1, seeding.connections
        assert seeding.connections[unused] == 0, seeding.connections
    assert same_tree(tmp_path / "seed" / "pack", tmp_path / "qbt" / "pack")


async def test_we_get_from_qbittorrent_seeder_with_cli(tmp_path: Path) -> None:
    meta = make_torrent(tmp_path / "seed", SINGLE)
    torrent_file = tmp_path / "single.torrent"
    torrent_file.write_bytes(meta.to_bytes())
    async with QBittorrent(tmp_path / "qbt-profile") as qbt:
        # qBittorrent hash-checks the data against our metainfo before it seeds
        await qbt.add_torrent(meta.to_bytes(), tmp_path / "seed")
        await qbt.wait_seeding(meta.infohash)
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "swarmseek.api.cli",
            "get",
            str(torrent_file),
            "--out",
            str(tmp_path / "out"),
            "--peer",
            f"{LOOPBACK}:{qbt.port}",
            "--bind",
            LOOPBACK,
            "--timeout",
            "60",
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        async with asyncio.timeout(120):
            _out, err = await process.communicate()
        assert process.returncode == 0, err.decode(errors="replace")[-2000:]
    assert same_tree(tmp_path / "seed" / "single.bin", tmp_path / "out" / "single.bin")


async def test_qbittorrent_requiring_encryption_seeds_we_require(tmp_path: Path) -> None:
    meta = make_torrent(tmp_path / "seed", SINGLE)
    async with QBittorrent(tmp_path / "qbt-profile", Encryption.REQUIRE) as qbt:
        await qbt.add_torrent(meta.to_bytes(), tmp_path / "seed")
        await qbt.wait_seeding(meta.infohash)
        async with Session(REQUIRE) as ours:
            torrent = await ours.add(meta, tmp_path / "out", peers=[(LOOPBACK, qbt.port)])
            await wait_finished(torrent)
            assert torrent.connections == {"encrypted": 1, "plaintext": 0}
    assert same_tree(tmp_path / "seed" / "single.bin", tmp_path / "out" / "single.bin")


async def test_qbittorrent_fetches_metadata_from_us_by_magnet(tmp_path: Path) -> None:
    meta = make_torrent(tmp_path / "seed", PACK)
    async with Session(FAST) as ours, QBittorrent(tmp_path / "qbt-profile") as qbt:
        await wait_finished(await ours.add(meta, tmp_path / "seed"))
        # BEP 9 ut_metadata from us: the magnet names no tracker, only our address (x.pe)
        await qbt.add_magnet(
            make_magnet(meta.infohash, peers=[(LOOPBACK, ours.port)]), tmp_path / "qbt"
        )
        entry = await qbt.wait_seeding(meta.infohash, timeout=120)
        assert entry["name"] == "pack"
    assert same_tree(tmp_path / "seed" / "pack", tmp_path / "qbt" / "pack")


async def test_we_fetch_metadata_from_qbittorrent_by_magnet(tmp_path: Path) -> None:
    meta = make_torrent(tmp_path / "seed", PACK)
    async with QBittorrent(tmp_path / "qbt-profile") as qbt:
        await qbt.add_torrent(meta.to_bytes(), tmp_path / "seed")
        await qbt.wait_seeding(meta.infohash)
        async with Session(FAST) as ours:
            magnet = parse_magnet(make_magnet(meta.infohash, peers=[(LOOPBACK, qbt.port)]))
            torrent = await ours.add(magnet, tmp_path / "out")
            await wait_finished(torrent)
    assert same_tree(tmp_path / "seed" / "pack", tmp_path / "out" / "pack")
