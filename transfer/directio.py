"""Writing verified pieces around the page cache (``O_DIRECT``) where the system allows.

A downloader writes each byte once and (until it seeds) never reads it back, yet a
plain ``pwrite`` copies every byte into page-cache pages the kernel must first find,
and on a VM those pages may first have to be faulted in from the host. Measured here
on a 1 GiB download over loopback from one libtorrent seeder, alternating runs: 1.2-2.6
s of system CPU through the page cache, 0.5-0.6 s with ``O_DIRECT`` (the disk reads our
piece buffer itself), and ``dd`` shows the same (2.4 s of system time per GiB into
never-used pages, 0.26 s into just-freed ones, 0.3-0.5 s direct). On 2 cores shared
with the seeders every CPU second we spare is theirs. libtorrent 1.x offered the same
trade (``disable_os_cache``); qBittorrent still does.

Direct I/O wants the memory address, the file offset and the length aligned to the
device's logical block size. Pieces are assembled in :func:`aligned_buffer` memory
(page-aligned), a single-file torrent's pieces start at multiples of the piece length
(a power of two, at least 16 KiB), so every piece but a short last one goes direct
whole; what is not aligned (a last piece's tail, files of a multi-file torrent that
start mid-page, a caller's ``bytes``) is written through the page cache as before.
Where the file system refuses (tmpfs before Linux 6.6, some network file systems:
``EINVAL``) the storage falls back to the page cache for good. Durability is unchanged:
``O_DIRECT`` promises nothing about metadata, and ``DiskStorage.flush`` still fsyncs
before any piece is recorded complete.
"""

from __future__ import annotations

import ctypes
import errno
import mmap
import os

# 4096 covers the logical block size of every common device (512 or 4096 bytes) and is
# the page size, so aligned_buffer memory is always aligned to it.
ALIGN = 4096
_O_DIRECT: int = getattr(os, "O_DIRECT", 0)


def aligned_buffer(size: int) -> memoryview:
    """A writable zeroed buffer of ``size`` bytes starting on a page boundary.

    Anonymous private memory, as ``malloc`` gives for large blocks, only aligned."""
    if size <= 0:
        return memoryview(bytearray(0))
    flags = getattr(mmap, "MAP_PRIVATE", 0) | getattr(mmap, "MAP_ANONYMOUS", 0)
    memory = mmap.mmap(-1, size, flags=flags) if flags else mmap.mmap(-1, size)
    return memoryview(memory)


def direct_length(data: memoryview, file_offset: int) -> int:
    """How many leading bytes of ``data`` may be written at ``file_offset`` directly
    (a multiple of ``ALIGN``; 0 when the offset or the memory is not aligned)."""
    if not _O_DIRECT or file_offset % ALIGN or len(data) < ALIGN or data.readonly:
        return 0
    if not data.c_contiguous or _address(data) % ALIGN:
        return 0
    return len(data) - len(data) % ALIGN


def _address(data: memoryview) -> int:
    # from_buffer needs a writable buffer (checked by the caller); the ctypes object
    # is dropped at once, releasing its export of the memory.
    return ctypes.addressof(ctypes.c_char.from_buffer(data))


def reopen_direct(fd: int) -> int | None:
    """A second descriptor of the file open as ``fd``, for direct writes (``None``
    where the system has no ``O_DIRECT`` or the file system refuses it).

    Reopened through ``/proc/self/fd``: the same file, even if its path has changed
    since, and no symlink planted at that path is followed."""
    if not _O_DIRECT:
        return None
    try:
        return os.open(f"/proc/self/fd/{fd}", os.O_WRONLY | _O_DIRECT)
    except OSError:
        return None


def write_direct(fd: int, data: memoryview, file_offset: int) -> int:
    """Write ``data`` (aligned, see :func:`direct_length`) at ``file_offset``; return the
    bytes written. Raises :class:`DirectRefused` when the file system will not."""
    done = 0
    try:
        while done < len(data):
            written = os.pwrite(fd, data[done:], file_offset + done)
            done += written
            if written % ALIGN or written == 0:
                break  # a short write leaves the rest unaligned: the caller writes it
    except OSError as exc:
        if exc.errno == errno.EINVAL and done == 0:
            raise DirectRefused from None
        raise
    return done


class DirectRefused(Exception):
    """The file system refused a direct write (nothing was written)."""
