"""The writeback hint: data written and hinted reads back; a bad descriptor is no error."""

from __future__ import annotations

import os
from pathlib import Path

from swarmseek.transfer import writeback


def test_hinted_range_reads_back(tmp_path: Path) -> None:
    path = tmp_path / "data"
    fd = os.open(path, os.O_RDWR | os.O_CREAT)
    try:
        os.pwrite(fd, b"x" * 65536, 4096)
        writeback.start_writeback(fd, 4096, 65536)
        os.fsync(fd)
    finally:
        os.close(fd)
    assert path.read_bytes()[4096:] == b"x" * 65536


def test_a_failed_hint_raises_nothing() -> None:
    fd = os.open(os.devnull, os.O_WRONLY)
    os.close(fd)
    writeback.start_writeback(fd, 0, 1)  # EBADF: the later fsync would do the work
    writeback.start_writeback(-1)
