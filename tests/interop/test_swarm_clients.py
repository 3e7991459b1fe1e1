"""Debian clients download from our seeder through our tracker: aria2 and Transmission.

qBittorrent has its own module, test_swarm_qbittorrent.py.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import os
import socket
from pathlib import Path

import pytest

from swarmseek.transfer import EncryptionPolicy, TrackerConfig, TrackerServer, create_torrent
from swarmseek.transfer.session import Session
from tests.support.clients import require_binary
from tests.support.swarm_helpers import FAST, wait_finished

pytestmark = [pytest.mark.interop, pytest.mark.timeout(180)]
SIZE = 1024 * 1024 + 4321
REQUIRE = dataclasses.replace(FAST, encryption=EncryptionPolicy.REQUIRE)


def _free_port() -> int:
    # transmission-cli needs a port number up front; ask the OS for a free one.
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def _seed(
    tmp_path: Path, tracker: TrackerServer, config: object
) -> tuple[Path, Path, Session]:
    data = tmp_path / "seed" / "payload.bin"
    data.parent.mkdir()
    data.write_bytes(os.urandom(SIZE))
    created = await asyncio.to_thread(
        create_torrent, data, piece_length=16384, trackers=[tracker.announce_url]
    )
    torrent_file = tmp_path / "payload.torrent"
    torrent_file.write_bytes(created.metainfo.to_bytes())
    session = Session(config)  # type: ignore[arg-type]
    await session.__aenter__()
    torrent = await session.add(created.metainfo, data.parent)
    await wait_finished(torrent)
    async with asyncio.timeout(30):
        await torrent.tracker_announced.wait()
    return data, torrent_file, session


async def _wait_file(path: Path, expected: bytes, process: asyncio.subprocess.Process) -> None:
    """Until ``path`` holds ``expected`` (the client keeps running; we watch its file)."""
    async with asyncio.timeout(120):
        while not (
            path.is_file()
            and path.stat().st_size == len(expected)
            and path.read_bytes() == expected
        ):
            if process.returncode is not None:
                break
            await asyncio.sleep(0.1)
    assert path.read_bytes() == expected


@pytest.mark.parametrize("encrypted", [False, True])
async def test_aria2_downloads_from_our_seeder(tmp_path: Path, encrypted: bool) -> None:
    aria2 = require_binary("aria2c")
    async with TrackerServer() as tracker:
        data, torrent_file, session = await _seed(tmp_path, tracker, REQUIRE if encrypted else FAST)
        try:
            crypto = ["--bt-require-crypto=true", "--bt-min-crypto-level=arc4"] if encrypted else []
            process = await asyncio.create_subprocess_exec(
                aria2,
                "--enable-dht=false",
                "--enable-dht6=false",
                "--bt-enable-lpd=false",
                "--enable-peer-exchange=false",
                "--seed-time=0",
                "--listen-port=" + str(_free_port()),
                "--dir",
                str(tmp_path / "aria2"),
                *crypto,
                str(torrent_file),
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.STDOUT,
            )
            async with asyncio.timeout(120):
                output, _ = await process.communicate()
            assert process.returncode == 0, output.decode(errors="replace")[-2000:]
        finally:
            await session.__aexit__(None, None, None)
    assert (tmp_path / "aria2" / "payload.bin").read_bytes() == data.read_bytes()


async def test_transmission_downloads_from_our_seeder_encrypted(tmp_path: Path) -> None:
    transmission = require_binary("transmission-cli")
    config_dir = tmp_path / "tr-config"
    config_dir.mkdir()
    port = _free_port()
    (config_dir / "settings.json").write_text(
        json.dumps(
            {
                "dht-enabled": False,
                "lpd-enabled": False,
                "pex-enabled": False,
                "utp-enabled": False,
                "port-forwarding-enabled": False,
                "peer-port": port,
                "encryption": 2,
                "rename-partial-files": True,
                "incomplete-dir-enabled": False,
            }
        )
    )
    out = tmp_path / "tr"
    out.mkdir()
    # Transmission 3.00 does not dial loopback peers it learns from a tracker (it
    # accepts them): our seeder dials it after its next announce, so keep that short.
    async with TrackerServer(config=TrackerConfig(interval=1)) as tracker:
        data, torrent_file, session = await _seed(tmp_path, tracker, REQUIRE)
        process = await asyncio.create_subprocess_exec(
            transmission,
            "-g",
            str(config_dir),
            "-er",
            "-w",
            str(out),
            "-p",
            str(port),
            str(torrent_file),
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.DEVNULL,
        )
        try:
            await _wait_file(out / "payload.bin", data.read_bytes(), process)
        finally:
            if process.returncode is None:
                process.terminate()
            await process.wait()
            await session.__aexit__(None, None, None)
