"""Piece hashing on all cores, for creating torrents and verifying data.

hashlib releases the GIL on buffers over 2 KiB and ``os.preadv`` releases it while
reading, so plain threads use every core. Work is cut into piece-aligned chunks of
about :data:`CHUNK_BYTES`; each worker reads a chunk into its own reused buffer and
hashes its pieces, so one thread's read overlaps another's hashing (the trick
mktorrent and torf use). Measured in ``tests/benchmarks/bench_hashing.py``.
"""

from __future__ import annotations

import hashlib
import os
import threading
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from .errors import StorageError
from .filemap import FileMap

# Large enough to amortise syscalls and task overhead, small enough that
# 2 x workers chunks in flight stay a few tens of MiB.
CHUNK_BYTES = 8 * 1024 * 1024

Progress = Callable[[int], None]
"""Called in the calling thread with the number of bytes just processed."""


def sha1(data: bytes | bytearray | memoryview) -> bytes:
    """SHA-1 of one piece."""
    return hashlib.sha1(data).digest()


@dataclass(frozen=True, slots=True)
class _Chunk:
    first: int
    count: int


class _Reader:
    """Reads torrent byte ranges from files; ``None`` paths are pad files (zeros)."""

    def __init__(self, paths: Sequence[Path | None], filemap: FileMap) -> None:
        self.paths = paths
        self.filemap = filemap
        self._local = threading.local()

    def buffer(self, size: int) -> memoryview:
        buf: bytearray | None = getattr(self._local, "buf", None)
        if buf is None or len(buf) < size:
            buf = bytearray(size)
            self._local.buf = buf
        return memoryview(buf)[:size]

    def read(self, offset: int, out: memoryview) -> list[tuple[int, int]]:
        """Fill ``out`` from torrent offset ``offset``; return unreadable (start, end)."""
        holes: list[tuple[int, int]] = []
        pos = 0
        for span in self.filemap.spans(offset, len(out)):
            target = out[pos : pos + span.length]
            path = self.paths[span.file_index]
            got = span.length if path is None else _pread(path, span.file_offset, target)
            if path is None:
                target[:] = bytes(span.length)
            if got < span.length:
                holes.append((offset + pos + got, offset + pos + span.length))
            pos += span.length
        return holes


# Where a file should be there is nothing, or a folder, or a path through a file:
# all mean "the data is not there", which verification reports per piece.
_ABSENT = (FileNotFoundError, NotADirectoryError, IsADirectoryError)


def _pread(path: Path, offset: int, target: memoryview) -> int:
    try:
        fd = os.open(path, os.O_RDONLY)
    except _ABSENT:
        return 0
    except OSError as exc:
        raise StorageError(f"cannot read {path}: {exc.strerror}") from exc
    try:
        done = 0
        while done < len(target):
            n = os.preadv(fd, [target[done:]], offset + done)
            if n == 0:
                break
            done += n
        return done
    except _ABSENT:
        return 0
    except OSError as exc:
        raise StorageError(f"cannot read {path}: {exc.strerror}") from exc
    finally:
        os.close(fd)


def _chunks(pieces: Iterable[int], per_chunk: int) -> Iterator[_Chunk]:
    first = count = -1
    for piece in pieces:
        if count > 0 and piece == first + count and count < per_chunk:
            count += 1
            continue
        if count > 0:
            yield _Chunk(first, count)
        first, count = piece, 1
    if count > 0:
        yield _Chunk(first, count)


def _hash_chunk(reader: _Reader, chunk: _Chunk) -> tuple[list[bytes | None], int]:
    fm = reader.filemap
    start = chunk.first * fm.piece_length
    end = min(fm.total_length, (chunk.first + chunk.count) * fm.piece_length)
    view = reader.buffer(end - start)
    holes = reader.read(start, view)
    digests: list[bytes | None] = []
    for i in range(chunk.count):
        a = i * fm.piece_length
        b = min(a + fm.piece_length, end - start)
        broken = any(h0 < start + b and h1 > start + a for h0, h1 in holes)
        digests.append(None if broken else hashlib.sha1(view[a:b]).digest())
    return digests, end - start


def _run(
    reader: _Reader,
    pieces: Iterable[int],
    workers: int | None,
    progress: Progress | None,
) -> Iterator[tuple[int, bytes | None]]:
    per_chunk = max(1, CHUNK_BYTES // reader.filemap.piece_length)
    workers = workers or os.cpu_count() or 1
    with ThreadPoolExecutor(workers, thread_name_prefix="swarmseek-hash") as pool:
        pending: deque[tuple[_Chunk, Future[tuple[list[bytes | None], int]]]] = deque()
        for chunk in _chunks(pieces, per_chunk):
            pending.append((chunk, pool.submit(_hash_chunk, reader, chunk)))
            if len(pending) >= 2 * workers:
                yield from _collect(pending.popleft(), progress)
        while pending:
            yield from _collect(pending.popleft(), progress)


def _collect(
    item: tuple[_Chunk, Future[tuple[list[bytes | None], int]]], progress: Progress | None
) -> Iterator[tuple[int, bytes | None]]:
    chunk, future = item
    digests, size = future.result()
    if progress is not None:
        progress(size)
    for i, digest in enumerate(digests):
        yield chunk.first + i, digest


def piece_hashes(
    paths: Sequence[Path | None],
    filemap: FileMap,
    *,
    workers: int | None = None,
    progress: Progress | None = None,
) -> bytes:
    """The concatenated SHA-1 of every piece of files ``paths`` (``None``: pad file).

    Raises :class:`StorageError` if a file is missing or shorter than expected.
    """
    reader = _Reader(paths, filemap)
    out: list[bytes] = []
    for piece, digest in _run(reader, range(filemap.num_pieces), workers, progress):
        if digest is None:
            raise StorageError(f"piece {piece}: a file is missing or shorter than expected")
        out.append(digest)
    return b"".join(out)


def check_pieces(
    paths: Sequence[Path | None],
    filemap: FileMap,
    expected: bytes,
    pieces: Iterable[int] | None = None,
    *,
    workers: int | None = None,
    progress: Progress | None = None,
) -> dict[int, bool | None]:
    """Hash ``pieces`` (default all) and compare with ``expected`` piece hashes.

    Returns piece -> True (good), False (hash mismatch) or None (data missing).
    Only reads: never writes, truncates or creates anything.
    """
    reader = _Reader(paths, filemap)
    todo = range(filemap.num_pieces) if pieces is None else sorted(set(pieces))
    result: dict[int, bool | None] = {}
    for piece, digest in _run(reader, todo, workers, progress):
        want = expected[piece * 20 : piece * 20 + 20]
        result[piece] = None if digest is None else digest == want
    return result
