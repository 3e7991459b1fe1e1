"""``swarmseek get``/``seed`` as processes: DHT discovery, SIGKILL and resume, failures."""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import signal
import sqlite3
import sys
import time
from pathlib import Path

import pytest

from swarmseek.api.cmd_transfer import RESUME_FILE, DhtFinder
from swarmseek.discovery import DhtConfig, DhtNode
from swarmseek.transfer import Info, MemoryStorage, ResumeStore
from swarmseek.transfer.session import Session
from tests.support.cli_process import cli_argv
from tests.support.swarm_helpers import FAST, PIECE, make_torrent, same_tree, wait_finished

pytestmark = pytest.mark.timeout(120)


async def run_cli(*args: str, timeout: float = 90) -> tuple[int, str, str]:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "swarmseek.api.cli",
        *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    async with asyncio.timeout(timeout):
        out, err = await process.communicate()
    assert process.returncode is not None
    return process.returncode, out.decode(), err.decode()


def dht_config(bootstrap: tuple[tuple[str, int], ...] = ()) -> DhtConfig:
    return DhtConfig(
        host="127.0.0.1", bootstrap=bootstrap, rate_limit=1e6, rate_burst=1e6, query_timeout=1.0
    )


async def test_get_infohash_finds_seeder_through_dht(tmp_path: Path) -> None:
    meta = make_torrent(tmp_path / "seed", {"dht.bin": 300_000})
    async with contextlib.AsyncExitStack() as stack:
        first = await stack.enter_async_context(DhtNode(dht_config()))
        nodes = [first]
        for _ in range(3):
            nodes.append(
                await stack.enter_async_context(
                    DhtNode(dht_config(tuple(n.address for n in nodes)))
                )
            )
        seeder = await stack.enter_async_context(Session(FAST, dht=DhtFinder(nodes[-1])))
        torrent = await seeder.add(meta, tmp_path / "seed")
        await wait_finished(torrent)
        async with asyncio.timeout(30):
            await torrent.dht_announced.wait()
        host, port = first.address
        code, _out, err = await run_cli(
            "get",
            meta.infohash.hex(),
            "--out",
            str(tmp_path / "out"),
            "--dht-bootstrap",
            f"{host}:{port}",
            "--timeout",
            "60",
        )
        assert code == 0, err
    assert same_tree(tmp_path / "seed" / "dht.bin", tmp_path / "out" / "dht.bin")


class SlowStorage(MemoryStorage):
    """A seeder that serves slowly, so a download can be killed half-way."""

    def read_block(self, piece: int, offset: int, length: int) -> bytes:
        time.sleep(0.01)  # throttles the seeder's upload thread, not a wait for a state
        return super().read_block(piece, offset, length)


def recorded(db: Path, info_hash: bytes) -> int:
    try:
        store = ResumeStore(db)
    except sqlite3.Error:
        return 0
    try:
        record = store.load(info_hash)  # type: ignore[arg-type]
    except sqlite3.Error:
        return 0
    finally:
        store.close()
    return 0 if record is None else sum(record.have)


async def test_sigkill_then_resume_downloads_nothing_verified_again(tmp_path: Path) -> None:
    meta = make_torrent(tmp_path / "seed", {"big.bin": 256 * PIECE})
    content = (tmp_path / "seed" / "big.bin").read_bytes()

    def slow(info: Info, _path: Path) -> MemoryStorage:
        return SlowStorage.filled(info, content)

    out = tmp_path / "out"
    db = out / RESUME_FILE
    async with Session(FAST) as slow_seeder:
        await slow_seeder.add(meta, tmp_path / "x", seed_mode=True, storage_factory=slow)
        torrent_file = tmp_path / "t.torrent"
        torrent_file.write_bytes(meta.to_bytes())
        process = await asyncio.create_subprocess_exec(
            *cli_argv(
                "get",
                str(torrent_file),
                "--out",
                str(out),
                "--peer",
                f"127.0.0.1:{slow_seeder.port}",
                "--resume-interval",
                "0.01",
            ),
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.DEVNULL,
        )
        try:
            async with asyncio.timeout(60):
                while (done := recorded(db, meta.infohash)) == 0:  # wait for the record
                    assert process.returncode is None
                    await asyncio.sleep(0.02)
            os.kill(process.pid, signal.SIGKILL)
        finally:
            await process.wait()
    assert process.returncode == -signal.SIGKILL
    kept = recorded(db, meta.infohash)
    assert 0 < done <= kept < meta.info.num_pieces
    async with Session(FAST) as seeder:
        await seeder.add(meta, tmp_path / "seed")
        code, text, err = await run_cli(
            "get", str(torrent_file), "--out", str(out), "--peer", f"127.0.0.1:{seeder.port}"
        )
    assert code == 0, err
    match = re.search(r"(\d+) bytes downloaded", text)
    assert match, text
    assert int(match.group(1)) <= meta.info.total_length - kept * PIECE
    assert (out / "big.bin").read_bytes() == content


async def test_get_without_reachable_peers_fails_with_one_line(tmp_path: Path) -> None:
    meta = make_torrent(tmp_path / "seed", {"n.bin": 1000})
    (tmp_path / "n.torrent").write_bytes(meta.to_bytes())
    with contextlib.closing(__import__("socket").socket()) as sock:
        sock.bind(("127.0.0.1", 0))
        dead = sock.getsockname()[1]  # bound, never listening: connections are refused
        code, _, err = await run_cli(
            "get",
            str(tmp_path / "n.torrent"),
            "--out",
            str(tmp_path / "o"),
            "--peer",
            f"127.0.0.1:{dead}",
            "--timeout",
            "1",
        )
    assert code == 3
    assert err.strip().count("\n") == 0 and "no peers found within 1 s" in err


async def test_seed_command_serves_until_interrupted(tmp_path: Path) -> None:
    meta = make_torrent(tmp_path / "seed", {"s.bin": 150_000})
    (tmp_path / "s.torrent").write_bytes(meta.to_bytes())
    process = await asyncio.create_subprocess_exec(
        *cli_argv(
            "seed",
            str(tmp_path / "s.torrent"),
            "--data",
            str(tmp_path / "seed"),
            "--bind",
            "127.0.0.1",
            "--encryption",
            "require",
        ),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        assert process.stdout is not None
        async with asyncio.timeout(30):
            line = (await process.stdout.readline()).decode()
            assert line.startswith("listening on 127.0.0.1:"), line
            port = int(line.rsplit(":", 1)[1])
            assert (await process.stdout.readline()).startswith(b"seeding s.bin: 150000 of 150000")
        async with Session(FAST) as leecher:
            torrent = await leecher.add(meta, tmp_path / "out", peers=[("127.0.0.1", port)])
            await wait_finished(torrent)
            assert torrent.connections["encrypted"] >= 1
        process.send_signal(signal.SIGINT)
        async with asyncio.timeout(30):
            await process.wait()
        assert process.returncode == 130
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
    assert same_tree(tmp_path / "seed" / "s.bin", tmp_path / "out" / "s.bin")


async def test_ctrl_c_stops_cleanly_after_committing(tmp_path: Path) -> None:
    # 1024 pieces at >= 10 ms each: the seeder needs 10 s or more, twenty times the leecher's
    # resume interval, so the download is part-way when its first commit lands.
    meta = make_torrent(tmp_path / "seed", {"c.bin": 1024 * PIECE})
    content = (tmp_path / "seed" / "c.bin").read_bytes()

    def slow(info: Info, _path: Path) -> MemoryStorage:
        return SlowStorage.filled(info, content)

    out = tmp_path / "out"
    db = out / RESUME_FILE
    async with Session(FAST) as slow_seeder:
        await slow_seeder.add(meta, tmp_path / "x", seed_mode=True, storage_factory=slow)
        torrent_file = tmp_path / "t.torrent"
        torrent_file.write_bytes(meta.to_bytes())
        process = await asyncio.create_subprocess_exec(
            *cli_argv(
                "get",
                str(torrent_file),
                "--out",
                str(out),
                "--peer",
                f"127.0.0.1:{slow_seeder.port}",
                "--resume-interval",
                "0.5",
            ),
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        try:
            # The leecher's own record is the signal: a periodic commit has landed.
            async with asyncio.timeout(60):
                while (before := recorded(db, meta.infohash)) == 0:
                    assert process.returncode is None
                    await asyncio.sleep(0.05)
            process.send_signal(signal.SIGINT)
            async with asyncio.timeout(30):
                out_bytes, err = await process.communicate()
        finally:
            if process.returncode is None:
                process.kill()
                await process.wait()
    assert process.returncode == 130, (out_bytes, err)
    assert err.decode().strip() == "swarmseek: interrupted"
    after = recorded(db, meta.infohash)
    assert before <= after < meta.info.num_pieces
    # Every piece the record claims is on disk and right.
    store = ResumeStore(db)
    try:
        record = store.load(meta.infohash)  # type: ignore[arg-type]
    finally:
        store.close()
    assert record is not None
    on_disk = (out / "c.bin").read_bytes()
    for piece in (i for i, have in enumerate(record.have) if have):
        start = piece * PIECE
        assert on_disk[start : start + PIECE] == content[start : start + PIECE], piece
