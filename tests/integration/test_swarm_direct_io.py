"""A download writes its pieces around the page cache (O_DIRECT) where the file system
takes it, and exactly the same bytes either way (see ``transfer/directio.py``)."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from swarmseek.transfer import DiskStorage
from swarmseek.transfer.directio import ALIGN
from swarmseek.transfer.session import Session
from tests.support.direct_io import direct_supported
from tests.support.swarm_helpers import FAST, PIECE, make_torrent, same_tree, wait_finished

pytestmark = pytest.mark.timeout(120)


@pytest.mark.parametrize("direct_io", [True, False])
async def test_a_download_writes_whole_pieces_around_the_page_cache(
    tmp_path: Path, direct_io: bool
) -> None:
    size = 3 * 1024 * 1024 + 1234  # a short last piece: its tail goes through the cache
    meta = make_torrent(tmp_path / "seed", {"data.bin": size})
    config = dataclasses.replace(FAST, direct_io=direct_io)
    async with Session(FAST) as seeder, Session(config) as leecher:
        await seeder.add(meta, tmp_path / "seed")
        torrent = await leecher.add(meta, tmp_path / "out", peers=[("127.0.0.1", seeder.port)])
        await wait_finished(torrent)
        storage = torrent.storage
    assert same_tree(tmp_path / "seed" / "data.bin", tmp_path / "out" / "data.bin")
    assert isinstance(storage, DiskStorage)
    if not direct_io:
        assert storage.direct_bytes == 0
    elif direct_supported(tmp_path):
        whole = size // PIECE * PIECE
        assert whole <= storage.direct_bytes <= size - size % ALIGN
