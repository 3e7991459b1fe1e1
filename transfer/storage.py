"""Piece storage: blocks read and written by (piece, offset), on disk or in memory.

The swarm talks to a :class:`PieceStorage` and never opens a file (anacrolix's
``PieceImpl``): the picker and the wire protocol stay pure, tests use
:class:`MemoryStorage`. :class:`DiskStorage` maps pieces onto the files with a
:class:`FileMap`, creates files lazily (sparse: it writes at offsets and never
pre-allocates), keeps a bounded LRU of open file descriptors, and uses positional
I/O (``pread``/``pwrite``) so it is safe to call from several threads at once. What is
aligned of a write goes around the page cache (``O_DIRECT``, see ``directio.py``).
"""

from __future__ import annotations

import os
import threading
from collections import OrderedDict
from pathlib import Path
from typing import Protocol

from .directio import DirectRefused, direct_length, reopen_direct, write_direct
from .errors import StorageError
from .filemap import FileMap, Span
from .metainfo import Info
from .paths import confined
from .writeback import start_writeback

# Each open torrent holds at most this many descriptors (libtorrent's
# file_pool_size defaults to 40); Linux's default soft limit is 1024.
DEFAULT_MAX_OPEN_FILES = 32
# Bytes written to a file between two writeback hints (see ``writeback.py``).
WRITEBACK_EVERY = 32 << 20


class PieceStorage(Protocol):
    """What the swarm needs from storage; offsets are within the piece."""

    def read_block(self, piece: int, offset: int, length: int) -> bytes:
        """Read bytes previously written; raise :class:`StorageError` if absent."""
        ...

    def write_block(self, piece: int, offset: int, data: bytes | memoryview) -> None:
        """Write bytes of a piece (not yet verified)."""
        ...

    def read_piece(self, piece: int) -> bytes:
        """The whole piece, to hash it."""
        ...

    def flush(self) -> None:
        """Make every write so far durable; call before recording pieces complete."""
        ...

    def close(self) -> None: ...


def data_paths(info: Info, save_path: Path | str) -> list[Path | None]:
    """Where each file of ``info`` lives under ``save_path`` (``None``: pad file).

    As in libtorrent: a single-file torrent's file is ``save_path/name``, a
    multi-file torrent's files are under ``save_path/name/``. Paths are confined.
    """
    root = Path(save_path)
    prefix = (info.name,) if info.multi_file else ()
    return [None if f.pad else confined(root, (*prefix, *f.path)) for f in info.files]


class _Handle:
    """An open descriptor of one file, and how many calls are using it right now."""

    __slots__ = ("direct", "evicted", "fd", "unhinted", "users", "write")

    def __init__(self, fd: int, write: bool, direct: int | None = None) -> None:
        self.fd = fd
        self.write = write
        self.direct = direct  # the same file open with O_DIRECT, for aligned writes
        self.users = 0
        self.evicted = False  # left the LRU while in use: closed by its last user
        self.unhinted = 0  # bytes written since the last writeback hint


class DiskStorage:
    """Pieces stored in the torrent's files under a save path."""

    def __init__(
        self,
        info: Info,
        save_path: Path | str,
        *,
        max_open_files: int = DEFAULT_MAX_OPEN_FILES,
        direct: bool = True,
    ) -> None:
        self.info = info
        self.filemap = FileMap(info.files, info.piece_length)
        self.paths = data_paths(info, save_path)
        self._max_open = max(1, max_open_files)
        self._fds: OrderedDict[int, _Handle] = OrderedDict()
        self._dirty: set[_Handle] = set()
        self._lock = threading.Lock()
        # Aligned writes bypass the page cache (see ``directio.py``) until the file
        # system refuses one.
        self._direct = direct
        self.direct_bytes = 0  # written around the page cache so far

    # The lock guards the descriptor LRU only; reads and writes run outside it, so the
    # hashing/writing threads and the upload reader do their I/O at the same time. A
    # descriptor in use is never closed (the OS could reuse its number for another
    # file mid-call): eviction marks it and its last user closes it.

    def read_block(self, piece: int, offset: int, length: int) -> bytes:
        out = bytearray(length)
        view = memoryview(out)
        pos = 0
        for span in self._spans(piece, offset, length):
            target = view[pos : pos + span.length]
            if self.paths[span.file_index] is not None:
                self._read_into(span.file_index, span.file_offset, target, piece)
            pos += span.length
        return bytes(out)

    def write_block(self, piece: int, offset: int, data: bytes | memoryview) -> None:
        view = memoryview(data)
        pos = 0
        for span in self._spans(piece, offset, len(view)):
            if self.paths[span.file_index] is not None:
                self._write(span.file_index, span.file_offset, view[pos : pos + span.length])
            pos += span.length

    def read_piece(self, piece: int) -> bytes:
        return self.read_block(piece, 0, self.filemap.piece_size(piece))

    def flush(self) -> None:
        # fsync outside the lock too (it can take a second): the handles are held in
        # use meanwhile, so none is closed under us; a write that lands during the
        # fsync marks its handle dirty again for the next flush.
        with self._lock:
            handles = list(self._dirty)
            self._dirty.clear()
            for handle in handles:
                handle.users += 1
        synced = 0
        try:
            for handle in handles:
                os.fsync(handle.fd)
                synced += 1
        finally:
            with self._lock:
                self._dirty.update(handles[synced:])  # a failed fsync leaves them dirty
            for handle in handles:
                self._release(handle)

    def create_empty_files(self) -> None:
        """Create the torrent's zero-length files (they hold no piece, so no write does)."""
        with self._lock:
            for entry, path in zip(self.info.files, self.paths, strict=True):
                if path is not None and entry.length == 0:
                    path.parent.mkdir(parents=True, exist_ok=True)
                    os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_NOFOLLOW, 0o644))

    def close(self) -> None:
        self.flush()
        with self._lock:  # after close, a new call reopens files as needed
            for handle in self._fds.values():
                self._evict(handle)
            self._fds.clear()

    def __enter__(self) -> DiskStorage:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _spans(self, piece: int, offset: int, length: int) -> list[Span]:
        try:
            return list(self.filemap.piece_spans(piece, offset, length))
        except ValueError as exc:
            raise StorageError(str(exc)) from exc

    def _read_into(self, index: int, file_offset: int, target: memoryview, piece: int) -> None:
        handle = self._acquire(index, write=False)
        if handle is None:
            raise StorageError(f"piece {piece}: file {self.paths[index]} does not exist")
        try:
            done = 0
            while done < len(target):
                n = os.preadv(handle.fd, [target[done:]], file_offset + done)
                if n == 0:
                    raise StorageError(f"piece {piece}: file {self.paths[index]} is too short")
                done += n
        finally:
            self._release(handle)

    def _write(self, index: int, file_offset: int, data: memoryview) -> None:
        handle = self._acquire(index, write=True)
        assert handle is not None
        try:
            direct = self._write_direct(handle, file_offset, data)
            done = direct
            while done < len(data):
                done += os.pwrite(handle.fd, data[done:], file_offset + done)
            # To disk now, while the download goes on: the next fsync finds less to do.
            # The whole file at once, every few MiB: the kernel then writes its dirty
            # pages in file order, merged (pieces arrive in random order).
            handle.unhinted += done - direct
            if handle.unhinted >= WRITEBACK_EVERY:
                handle.unhinted = 0
                start_writeback(handle.fd)
        finally:
            self._release(handle)

    def _write_direct(self, handle: _Handle, file_offset: int, data: memoryview) -> int:
        """Write what is aligned of ``data`` around the page cache; return its length."""
        length = direct_length(data, file_offset) if self._direct else 0
        if not length or handle.direct is None:
            return 0
        try:
            written = write_direct(handle.direct, data[:length], file_offset)
        except DirectRefused:
            self._direct = False  # this file system: the page cache from now on
            return 0
        with self._lock:
            self.direct_bytes += written
        return written

    def _acquire(self, index: int, *, write: bool) -> _Handle | None:
        # An LRU of descriptors, upgraded to read-write on the first write; a handle
        # taken for writing is dirty (fsynced by ``flush`` or before it is closed).
        with self._lock:
            held = self._fds.get(index)
            if held is not None and (held.write or not write):
                self._fds.move_to_end(index)
                handle = held
            else:
                fd = self._open(index, write)
                if fd is None:
                    return None
                if held is not None:
                    self._evict(held)
                direct = reopen_direct(fd) if write and self._direct else None
                if write and direct is None:
                    self._direct = False  # no O_DIRECT here: not tried for every file
                handle = self._fds[index] = _Handle(fd, write, direct)
                while len(self._fds) > self._max_open:
                    _, old = self._fds.popitem(last=False)
                    self._evict(old)
            handle.users += 1
            if write:
                self._dirty.add(handle)
            return handle

    def _release(self, handle: _Handle) -> None:
        with self._lock:
            handle.users -= 1
            if handle.evicted and handle.users == 0:
                self._close(handle)

    def _evict(self, handle: _Handle) -> None:
        # Caller holds the lock.
        handle.evicted = True
        if handle.users == 0:
            self._close(handle)

    def _close(self, handle: _Handle) -> None:
        # Caller holds the lock; nobody is using the descriptor.
        if handle in self._dirty:
            os.fsync(handle.fd)  # the file's: what was written direct too
            self._dirty.discard(handle)
        if handle.direct is not None:
            os.close(handle.direct)
        os.close(handle.fd)

    def _open(self, index: int, write: bool) -> int | None:
        path = self.paths[index]
        assert path is not None
        # O_NOFOLLOW: a symlink planted at a file's place must not redirect I/O.
        try:
            if not write:
                return os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
            path.parent.mkdir(parents=True, exist_ok=True)
            return os.open(path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o644)
        except FileNotFoundError:
            if write:
                raise StorageError(f"cannot create {path}") from None
            return None
        except OSError as exc:
            raise StorageError(f"cannot open {path}: {exc.strerror}") from exc


class MemoryStorage:
    """In-memory storage for tests and fakes: same behaviour, no files."""

    def __init__(self, info: Info) -> None:
        self.info = info
        self.filemap = FileMap(info.files, info.piece_length)
        self._pieces: dict[int, bytearray] = {}
        self._written: dict[int, bytearray] = {}  # one byte per byte: 1 once written
        self.flushes = 0

    @classmethod
    def filled(cls, info: Info, data: bytes) -> MemoryStorage:
        """A storage holding all of ``data`` (the torrent's byte stream): a seeder's."""
        if len(data) != info.total_length:
            raise StorageError(f"{len(data)} bytes of data for {info.total_length}")
        storage = cls(info)
        for piece in range(storage.filemap.num_pieces):
            start = piece * info.piece_length
            storage.write_block(piece, 0, data[start : start + storage.filemap.piece_size(piece)])
        return storage

    def read_block(self, piece: int, offset: int, length: int) -> bytes:
        self._check(piece, offset, length)
        written = self._written.get(piece)
        if length and (written is None or written.find(0, offset, offset + length) != -1):
            raise StorageError(f"piece {piece}: bytes {offset}+{length} were never written")
        return bytes(self._pieces[piece][offset : offset + length]) if length else b""

    def write_block(self, piece: int, offset: int, data: bytes | memoryview) -> None:
        self._check(piece, offset, len(data))
        buf = self._pieces.setdefault(piece, bytearray(self.filemap.piece_size(piece)))
        buf[offset : offset + len(data)] = data
        mask = self._written.setdefault(piece, bytearray(len(buf)))
        mask[offset : offset + len(data)] = b"\x01" * len(data)

    def read_piece(self, piece: int) -> bytes:
        return self.read_block(piece, 0, self.filemap.piece_size(piece))

    def flush(self) -> None:
        self.flushes += 1

    def close(self) -> None:
        self.flush()

    def _check(self, piece: int, offset: int, length: int) -> None:
        try:
            self.filemap.piece_spans(piece, offset, length)
        except ValueError as exc:
            raise StorageError(str(exc)) from exc
