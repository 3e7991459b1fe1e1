"""Resume records: which pieces were verified, and the files as they were then.

One SQLite table keyed by infohash (DESIGN.md: a node keeps its state in one SQLite
file; pass the node's connection or a path). A record holds a BEP 3 bitfield of
verified pieces plus each file's size and mtime when the record was written: on
restart, pieces of unchanged files are trusted and the rest re-checked.

Order that keeps the promise "never complete unless on disk": write the data,
``storage.flush()`` (fsync), then :meth:`ResumeStore.save`.
"""

from __future__ import annotations

import json
import os
import sqlite3
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from .metainfo import InfoHash

FileStat = tuple[int, int] | None
"""(size, mtime in ns) of a file, or None when it is absent or a pad file."""

_SCHEMA = """
CREATE TABLE IF NOT EXISTS transfer_resume (
    infohash BLOB PRIMARY KEY,
    num_pieces INTEGER NOT NULL,
    bitfield BLOB NOT NULL,
    files TEXT NOT NULL
)
"""


def to_bitfield(have: Sequence[bool]) -> bytes:
    """BEP 3 bitfield: piece 0 is the high bit of the first byte; spare bits zero."""
    out = bytearray((len(have) + 7) // 8)
    for i, bit in enumerate(have):
        if bit:
            out[i >> 3] |= 0x80 >> (i & 7)
    return bytes(out)


def from_bitfield(bitfield: bytes, num_pieces: int) -> list[bool]:
    """Inverse of :func:`to_bitfield`; raises ValueError on a wrong length."""
    if len(bitfield) != (num_pieces + 7) // 8:
        raise ValueError(f"bitfield of {len(bitfield)} bytes for {num_pieces} pieces")
    return [bool(bitfield[i >> 3] & (0x80 >> (i & 7))) for i in range(num_pieces)]


def stat_files(paths: Sequence[Path | None]) -> list[FileStat]:
    """Current (size, mtime_ns) of each file; None for pad files and absent files."""
    out: list[FileStat] = []
    for path in paths:
        try:
            st = os.stat(path) if path is not None else None
        except (FileNotFoundError, NotADirectoryError):
            st = None
        out.append((st.st_size, st.st_mtime_ns) if st is not None else None)
    return out


class Flushable(Protocol):
    def flush(self) -> None: ...


@dataclass(frozen=True, slots=True)
class ResumeRecord:
    have: tuple[bool, ...]
    files: tuple[FileStat, ...]


class ResumeStore:
    """Verified-piece records in SQLite, keyed by infohash."""

    def __init__(self, db: sqlite3.Connection | Path | str) -> None:
        self._own = not isinstance(db, sqlite3.Connection)
        self._db = db if isinstance(db, sqlite3.Connection) else sqlite3.connect(db)
        # Torrents commit from worker threads, several at once on one connection: two
        # transactions on it interleave (one thread's commit ends the other's, whose own
        # commit then fails with "cannot commit - no transaction is active", as a node
        # restoring 26 shares did). One statement-and-commit at a time.
        self._lock = threading.Lock()
        with self._lock, self._db:
            self._db.execute(_SCHEMA)

    def load(self, infohash: InfoHash) -> ResumeRecord | None:
        with self._lock:
            row = self._db.execute(
                "SELECT num_pieces, bitfield, files FROM transfer_resume WHERE infohash = ?",
                (bytes(infohash),),
            ).fetchone()
        if row is None:
            return None
        try:
            have = from_bitfield(row[1], row[0])
            files = tuple(tuple(f) if f is not None else None for f in json.loads(row[2]))
        except (ValueError, TypeError):
            return None  # a damaged record only costs a full re-check
        return ResumeRecord(tuple(have), files)

    def save(self, infohash: InfoHash, record: ResumeRecord) -> None:
        """Store ``record``; call only after the pieces it claims were flushed."""
        with self._lock, self._db:
            self._db.execute(
                "INSERT OR REPLACE INTO transfer_resume VALUES (?, ?, ?, ?)",
                (
                    bytes(infohash),
                    len(record.have),
                    to_bitfield(record.have),
                    json.dumps([list(f) if f else None for f in record.files]),
                ),
            )

    def commit(
        self,
        infohash: InfoHash,
        have: Sequence[bool],
        storage: Flushable,
        paths: Sequence[Path | None],
    ) -> None:
        """Flush ``storage`` (fsync), then record ``have`` with the files' current stats.

        The order is the promise: a piece is recorded only once its data is durable.
        """
        storage.flush()
        self.save(infohash, ResumeRecord(tuple(have), tuple(stat_files(paths))))

    def forget(self, infohash: InfoHash) -> None:
        with self._lock, self._db:
            self._db.execute("DELETE FROM transfer_resume WHERE infohash = ?", (bytes(infohash),))

    def close(self) -> None:
        if self._own:
            self._db.close()
