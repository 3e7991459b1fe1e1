"""Helpers for swarm tests: small random torrents on disk, byte comparison."""

from __future__ import annotations

import asyncio
import random
from pathlib import Path

from swarmseek.transfer import Metainfo, create_torrent
from swarmseek.transfer.session import Session
from swarmseek.transfer.swarm_config import SessionConfig, TorrentState

PIECE = 16384
# Fast housekeeping for tests: timeouts still bound failures only.
FAST = SessionConfig(host="127.0.0.1", tick=0.05, resume_interval=0.1, rechoke_interval=1.0)


def make_files(root: Path, files: dict[str, int], seed: int = 1) -> Path:
    """Random content: ``files`` maps relative paths to sizes; returns the torrent's path."""
    rng = random.Random(seed)
    for rel, size in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(rng.randbytes(size))
    top = {Path(rel).parts[0] for rel in files}
    assert len(top) == 1
    return root / top.pop()


def make_torrent(
    root: Path, files: dict[str, int], *, seed: int = 1, trackers: tuple[str, ...] = ()
) -> Metainfo:
    content = make_files(root, files, seed)
    return create_torrent(content, piece_length=PIECE, trackers=trackers).metainfo


def same_tree(a: Path, b: Path) -> bool:
    if a.is_file():
        return b.is_file() and a.read_bytes() == b.read_bytes()
    names_a = sorted(p.relative_to(a) for p in a.rglob("*") if p.is_file())
    names_b = sorted(p.relative_to(b) for p in b.rglob("*") if p.is_file())
    return names_a == names_b and all((a / n).read_bytes() == (b / n).read_bytes() for n in names_a)


async def wait_finished(torrent: object, timeout: float = 60.0) -> None:
    """Wait for a torrent to finish (a timeout only bounds a failure)."""
    async with asyncio.timeout(timeout):
        await torrent.finished.wait()  # type: ignore[attr-defined]
    assert torrent.error is None, torrent.error  # type: ignore[attr-defined]
    assert torrent.state in (TorrentState.SEEDING,), torrent.state  # type: ignore[attr-defined]


__all__ = ["FAST", "PIECE", "Session", "make_torrent", "same_tree", "wait_finished"]
