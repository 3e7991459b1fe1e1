"""The node's own rows in its SQLite file: downloads and shares, so both survive a restart.

Tables are prefixed ``node_`` because the same file holds the DHT's (``dht_``), the
catalogue's (``index_cards``) and the resume records (``transfer_resume``), DESIGN.md
decision 5. Every call is one short statement, run inline on the event loop.
"""

from __future__ import annotations

import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path

_SCHEMA = """
CREATE TABLE IF NOT EXISTS node_downloads (
    infohash BLOB PRIMARY KEY,
    source BLOB NOT NULL,      -- bencoded info dictionary, .torrent bytes, or a magnet URI
    kind TEXT NOT NULL,        -- 'info', 'torrent', 'magnet' or 'infohash'
    folder TEXT NOT NULL,      -- relative to the download directory ('' for itself)
    name TEXT,
    paused INTEGER NOT NULL DEFAULT 0,
    added REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS node_shares (
    infohash BLOB PRIMARY KEY,
    torrent BLOB NOT NULL,     -- the .torrent we made
    path TEXT NOT NULL,        -- the shared file or folder
    added REAL NOT NULL
);
"""


@dataclass(frozen=True, slots=True)
class DownloadRow:
    infohash: bytes
    source: bytes
    kind: str
    folder: str
    name: str | None
    paused: bool


@dataclass(frozen=True, slots=True)
class ShareRow:
    infohash: bytes
    torrent: bytes
    path: str


class NodeState:
    """Downloads and shares by infohash (one connection, autocommitted statements)."""

    def __init__(self, path: Path | str) -> None:
        self._db = sqlite3.connect(str(path), timeout=30.0)
        self._db.executescript(_SCHEMA)

    def close(self) -> None:
        self._db.close()

    def add_download(self, row: DownloadRow) -> None:
        with self._db:
            self._db.execute(
                "INSERT OR REPLACE INTO node_downloads VALUES (?, ?, ?, ?, ?, ?, ?)",
                (
                    row.infohash,
                    row.source,
                    row.kind,
                    row.folder,
                    row.name,
                    int(row.paused),
                    time.time(),
                ),
            )

    def set_info(self, infohash: bytes, info: bytes, name: str) -> None:
        """Metadata arrived (BEP 9): keep it, so a restart needs no peer for it again."""
        with self._db:
            self._db.execute(
                "UPDATE node_downloads SET source = ?, kind = 'info', name = ? "
                "WHERE infohash = ? AND kind IN ('magnet', 'infohash')",
                (info, name, infohash),
            )

    def set_paused(self, infohash: bytes, paused: bool) -> None:
        with self._db:
            self._db.execute(
                "UPDATE node_downloads SET paused = ? WHERE infohash = ?", (int(paused), infohash)
            )

    def remove_download(self, infohash: bytes) -> None:
        with self._db:
            self._db.execute("DELETE FROM node_downloads WHERE infohash = ?", (infohash,))

    def downloads(self) -> list[DownloadRow]:
        rows = self._db.execute(
            "SELECT infohash, source, kind, folder, name, paused FROM node_downloads ORDER BY added"
        ).fetchall()
        return [DownloadRow(bytes(r[0]), bytes(r[1]), r[2], r[3], r[4], bool(r[5])) for r in rows]

    def add_share(self, row: ShareRow) -> None:
        with self._db:
            self._db.execute(
                "INSERT OR REPLACE INTO node_shares VALUES (?, ?, ?, ?)",
                (row.infohash, row.torrent, row.path, time.time()),
            )

    def shares(self) -> list[ShareRow]:
        rows = self._db.execute(
            "SELECT infohash, torrent, path FROM node_shares ORDER BY added"
        ).fetchall()
        return [ShareRow(bytes(r[0]), bytes(r[1]), r[2]) for r in rows]
