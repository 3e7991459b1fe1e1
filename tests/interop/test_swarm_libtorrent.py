"""Our Session against libtorrent 2.1: both directions, magnets, mixed swarms, RC4."""

from __future__ import annotations

import asyncio
import dataclasses
import os
from pathlib import Path
from typing import Any

import libtorrent as lt
import pytest

from swarmseek.transfer import EncryptionPolicy, make_magnet, parse_magnet, parse_torrent
from swarmseek.transfer.metainfo import Metainfo
from swarmseek.transfer.session import Session
from tests.support.clients import lt_session, wait_for_alert, wait_until
from tests.support.swarm_helpers import FAST, same_tree, wait_finished

pytestmark = [pytest.mark.interop, pytest.mark.timeout(180)]

PIECE = 16384
SIZE = 2 * 1024 * 1024 + 777
FORCED = {
    "out_enc_policy": lt.enc_policy.forced,
    "in_enc_policy": lt.enc_policy.forced,
    "allowed_enc_level": lt.enc_level.rc4,
}


def lt_torrent(folder: Path, name: str = "payload.bin", size: int = SIZE) -> tuple[Any, Metainfo]:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / name).write_bytes(os.urandom(size))
    creator = lt.create_torrent(lt.list_files(str(folder / name)), PIECE, lt.create_torrent.v1_only)
    lt.set_piece_hashes(creator, str(folder))
    raw = lt.bencode(creator.generate())
    return lt.torrent_info(raw), parse_torrent(raw)


def lt_seed(info: Any, save: Path, **settings: Any) -> tuple[Any, Any, int]:
    session = lt_session(**settings)
    params = lt.add_torrent_params()
    params.ti, params.save_path, params.flags = info, str(save), lt.torrent_flags.seed_mode
    handle = session.add_torrent(params)
    # libtorrent drops incoming connections until its torrent has started.
    wait_until(lambda: handle.status().state == lt.torrent_status.seeding, session)
    return session, handle, session.listen_port()


def lt_download(session: Any, params: Any, peer_port: int) -> None:
    handle = session.add_torrent(params)
    handle.connect_peer(("127.0.0.1", peer_port))
    wait_for_alert(session, lambda a: isinstance(a, lt.torrent_finished_alert), timeout=120)


async def test_libtorrent_seeds_we_download_torrent_and_magnet(tmp_path: Path) -> None:
    info, meta = await asyncio.to_thread(lt_torrent, tmp_path / "seed")
    session, _handle, port = await asyncio.to_thread(lt_seed, info, tmp_path / "seed")
    async with Session(FAST) as ours:
        t1 = await ours.add(meta, tmp_path / "a", peers=[("127.0.0.1", port)])
        await wait_finished(t1)
        await ours.remove(meta.infohash)
        magnet = parse_magnet(make_magnet(meta.infohash, peers=[("127.0.0.1", port)]))
        t2 = await ours.add(magnet, tmp_path / "b")
        await wait_finished(t2)
    del session
    for out in ("a", "b"):
        assert same_tree(tmp_path / "seed" / "payload.bin", tmp_path / out / "payload.bin")


@pytest.mark.parametrize("magnet", [False, True])
async def test_we_seed_libtorrent_downloads(tmp_path: Path, magnet: bool) -> None:
    info, meta = await asyncio.to_thread(lt_torrent, tmp_path / "seed")
    async with Session(FAST) as ours:
        torrent = await ours.add(meta, tmp_path / "seed")
        await wait_finished(torrent)  # checked, seeding
        session = lt_session()
        if magnet:
            params = lt.parse_magnet_uri(make_magnet(meta.infohash))
        else:
            params = lt.add_torrent_params()
            params.ti = info
        params.save_path = str(tmp_path / "lt")
        await asyncio.to_thread(lt_download, session, params, ours.port)
    assert same_tree(tmp_path / "seed" / "payload.bin", tmp_path / "lt" / "payload.bin")


async def test_mixed_swarm_of_libtorrent_and_swarmseek_seeders(tmp_path: Path) -> None:
    info, meta = await asyncio.to_thread(lt_torrent, tmp_path / "seed")
    session, _h, lt_port = await asyncio.to_thread(lt_seed, info, tmp_path / "seed")
    async with Session(FAST) as seeder, Session(FAST) as leecher:
        await seeder.add(meta, tmp_path / "seed")
        torrent = await leecher.add(
            meta, tmp_path / "out", peers=[("127.0.0.1", lt_port), ("127.0.0.1", seeder.port)]
        )
        await wait_finished(torrent)
        assert sum(torrent.connections.values()) >= 2
    del session
    assert same_tree(tmp_path / "seed" / "payload.bin", tmp_path / "out" / "payload.bin")


async def test_libtorrent_forced_rc4_seeds_we_require(tmp_path: Path) -> None:
    info, meta = await asyncio.to_thread(lt_torrent, tmp_path / "seed")
    session, _h, port = await asyncio.to_thread(lt_seed, info, tmp_path / "seed", **FORCED)
    require = dataclasses.replace(FAST, encryption=EncryptionPolicy.REQUIRE)
    async with Session(require) as ours:
        torrent = await ours.add(meta, tmp_path / "out", peers=[("127.0.0.1", port)])
        await wait_finished(torrent)
        assert torrent.connections == {"encrypted": 1, "plaintext": 0}
    del session
    assert same_tree(tmp_path / "seed" / "payload.bin", tmp_path / "out" / "payload.bin")


async def test_we_seed_under_require_libtorrent_forced_downloads(tmp_path: Path) -> None:
    info, meta = await asyncio.to_thread(lt_torrent, tmp_path / "seed")
    require = dataclasses.replace(FAST, encryption=EncryptionPolicy.REQUIRE)
    async with Session(require) as ours:
        torrent = await ours.add(meta, tmp_path / "seed")
        await wait_finished(torrent)
        session = lt_session(**FORCED)
        params = lt.add_torrent_params()
        params.ti, params.save_path = info, str(tmp_path / "lt")
        await asyncio.to_thread(lt_download, session, params, ours.port)
        assert torrent.connections["plaintext"] == 0 and torrent.connections["encrypted"] >= 1
    assert same_tree(tmp_path / "seed" / "payload.bin", tmp_path / "lt" / "payload.bin")
