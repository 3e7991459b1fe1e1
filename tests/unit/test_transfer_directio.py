"""Direct (O_DIRECT) piece writes: what is aligned goes around the page cache, the rest
through it, and the files hold exactly the same bytes either way."""

from __future__ import annotations

import ctypes
import random
from pathlib import Path

import pytest

from swarmseek.transfer import DiskStorage, Info, create_torrent, verify
from swarmseek.transfer import storage as storage_module
from swarmseek.transfer.directio import (
    ALIGN,
    DirectRefused,
    aligned_buffer,
    direct_length,
)
from tests.support.direct_io import direct_supported

PL = 64 * 1024
# A file that ends on a page boundary, then files that start mid-page (their pieces'
# spans cannot go direct), and a torrent whose last piece has a short tail.
SIZES = {"a": 3 * PL, "b": 5000, "c/d": 200_000, "e": PL + 7}


def _address(view: memoryview) -> int:
    return ctypes.addressof(ctypes.c_char.from_buffer(view))


@pytest.fixture
def share(tmp_path: Path) -> tuple[Info, list[bytes]]:
    rng = random.Random(3)
    root = tmp_path / "seed" / "t"
    for name, size in SIZES.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_bytes(rng.randbytes(size))
    info = create_torrent(root, piece_length=PL).metainfo.info
    stream = b"".join((root / name).read_bytes() for name in SIZES)
    pieces = [stream[p * PL : p * PL + info.piece_size(p)] for p in range(info.num_pieces)]
    return info, pieces


def _in_aligned_buffers(pieces: list[bytes]) -> list[memoryview]:
    buffers = []
    for data in pieces:
        buf = aligned_buffer(len(data))
        buf[:] = data
        buffers.append(buf)
    return buffers


def _files(root: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()
    }


def test_aligned_buffers_start_on_a_page_and_are_zeroed() -> None:
    for size in (1, ALIGN, PL, PL + 7):
        buf = aligned_buffer(size)
        assert len(buf) == size and not buf.readonly
        assert _address(buf) % ALIGN == 0
        assert bytes(buf) == bytes(size)
    assert len(aligned_buffer(0)) == 0


def test_direct_length_takes_only_what_is_aligned() -> None:
    buf = aligned_buffer(3 * ALIGN + 100)
    assert direct_length(buf, 0) == 3 * ALIGN  # the tail goes through the page cache
    assert direct_length(buf, 5 * ALIGN) == 3 * ALIGN
    assert direct_length(buf, 100) == 0  # the file offset is mid-page
    assert direct_length(buf[1:], 0) == 0  # the memory is mid-page
    assert direct_length(buf[:100], 0) == 0  # less than a page
    assert direct_length(memoryview(bytes(2 * ALIGN)), 0) == 0  # read-only: not ours


@pytest.mark.parametrize("direct", [True, False])
def test_pieces_written_direct_or_not_give_the_same_files(
    share: tuple[Info, list[bytes]], tmp_path: Path, direct: bool
) -> None:
    info, pieces = share
    out = tmp_path / "out"
    storage = DiskStorage(info, out, direct=direct)
    buffers = _in_aligned_buffers(pieces)
    for piece in reversed(range(info.num_pieces)):  # the last piece (and its tail) first
        storage.write_block(piece, 0, buffers[piece])
    storage.close()
    assert _files(out) == _files(tmp_path / "seed")
    assert verify(info, out).complete
    if not direct:
        assert storage.direct_bytes == 0
    elif direct_supported(tmp_path / "probe"):
        # Every whole page of "a" and the pages of "e" that start on one, not "b", "c/d".
        assert storage.direct_bytes >= 3 * PL


def test_unaligned_and_read_only_data_is_written_through_the_page_cache(
    share: tuple[Info, list[bytes]], tmp_path: Path
) -> None:
    info, pieces = share
    out = tmp_path / "out"
    storage = DiskStorage(info, out)
    for piece, data in enumerate(pieces):
        if piece % 2:
            storage.write_block(piece, 0, data)  # bytes: read-only
        else:
            holder = aligned_buffer(len(data) + 1)
            holder[1:] = data
            storage.write_block(piece, 0, holder[1:])  # mid-page memory
    storage.close()
    assert storage.direct_bytes == 0
    assert _files(out) == _files(tmp_path / "seed")


def test_a_file_system_that_refuses_direct_writes_gets_them_through_the_page_cache(
    share: tuple[Info, list[bytes]], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # As tmpfs before Linux 6.6 or some network file systems do: EINVAL, nothing written.
    def refuse(fd: int, data: memoryview, file_offset: int) -> int:
        raise DirectRefused

    monkeypatch.setattr(storage_module, "write_direct", refuse)
    info, pieces = share
    out = tmp_path / "out"
    storage = DiskStorage(info, out)
    for piece, buf in enumerate(_in_aligned_buffers(pieces)):
        storage.write_block(piece, 0, buf)
    storage.close()
    assert storage.direct_bytes == 0
    assert _files(out) == _files(tmp_path / "seed")
