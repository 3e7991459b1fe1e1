"""Whether a folder's file system takes direct (O_DIRECT) writes, for the tests of
``transfer/directio.py`` (tmpfs before Linux 6.6 and some network file systems do not)."""

from __future__ import annotations

import os
from pathlib import Path

from swarmseek.transfer.directio import (
    ALIGN,
    DirectRefused,
    aligned_buffer,
    reopen_direct,
    write_direct,
)


def direct_supported(folder: Path) -> bool:
    """Whether a page written directly to a file under ``folder`` gets there."""
    folder.mkdir(parents=True, exist_ok=True)
    probe = folder / ".direct-probe"
    fd = os.open(probe, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        direct = reopen_direct(fd)
        if direct is None:
            return False
        try:
            return write_direct(direct, aligned_buffer(ALIGN), 0) == ALIGN
        except DirectRefused:
            return False
        finally:
            os.close(direct)
    finally:
        os.close(fd)
        probe.unlink()
