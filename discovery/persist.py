"""Routing table, stored items and announced peers in the node's SQLite file, so a
restart is warm.

Tables are prefixed ``dht_`` because the same file holds the rest of the node's state
(DESIGN.md decision 5). Items are saved with their age, not a clock reading, so the
monotonic clock of the next run can place them.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass, field
from pathlib import Path

from swarmseek.transfer import MESSAGE_LIMITS, BencodeError, Value, decode, encode

from .errors import ItemError
from .items import MutableItem, verify_item
from .krpc import Address

_SCHEMA = """
CREATE TABLE IF NOT EXISTS dht_meta (key TEXT PRIMARY KEY, value BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS dht_nodes (
    id BLOB PRIMARY KEY, host TEXT NOT NULL, port INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS dht_peers (
    infohash BLOB NOT NULL, host TEXT NOT NULL, port INTEGER NOT NULL, age REAL NOT NULL,
    PRIMARY KEY (infohash, host, port)
);
CREATE TABLE IF NOT EXISTS dht_items (
    target BLOB PRIMARY KEY, value BLOB NOT NULL, age REAL NOT NULL,
    public_key BLOB, salt BLOB, seq INTEGER, sig BLOB
);
"""


@dataclass(slots=True)
class SavedState:
    node_id: bytes | None = None
    nodes: list[tuple[bytes, Address]] = field(default_factory=list)
    # (target, value, age in seconds, mutable item or None)
    items: list[tuple[bytes, Value, float, MutableItem | None]] = field(default_factory=list)
    # (infohash, peer address, age in seconds): announces others made to us. Without
    # them a restarted node, often the only one holding a small swarm's announces,
    # knows no seeder until each re-announces (libtorrent's interval: 30 min; ours: 5).
    peers: list[tuple[bytes, Address, float]] = field(default_factory=list)


def _connect(path: Path) -> sqlite3.Connection:
    conn = sqlite3.connect(path)
    conn.executescript(_SCHEMA)
    return conn


def load_state(path: Path) -> SavedState:
    """Read what a previous run saved; rows that fail validation are skipped."""
    state = SavedState()
    with _connect(path) as conn:
        row = conn.execute("SELECT value FROM dht_meta WHERE key = 'node_id'").fetchone()
        if row is not None and len(row[0]) == 20:
            state.node_id = bytes(row[0])
        for node_id, host, port in conn.execute("SELECT id, host, port FROM dht_nodes"):
            if len(node_id) == 20 and 0 < port < 65536:
                state.nodes.append((bytes(node_id), (host, port)))
        for target, raw, age, key, salt, seq, sig in conn.execute(
            "SELECT target, value, age, public_key, salt, seq, sig FROM dht_items"
        ):
            try:
                # The file is ours but may be old or damaged: decode with message limits.
                value = decode(bytes(raw), limits=MESSAGE_LIMITS)
                item = None
                if key is not None:
                    item = MutableItem(value, seq, bytes(key), bytes(salt), bytes(sig))
                    verify_item(item)
            except (BencodeError, ItemError):
                continue
            state.items.append((bytes(target), value, float(age), item))
        for infohash, host, port, age in conn.execute(
            "SELECT infohash, host, port, age FROM dht_peers"
        ):
            if len(infohash) == 20 and isinstance(host, str) and 0 < port < 65536:
                state.peers.append((bytes(infohash), (host, int(port)), float(age)))
    conn.close()
    return state


def save_state(path: Path, state: SavedState) -> None:
    """Replace the saved routing table and items with ``state``."""
    with _connect(path) as conn:
        if state.node_id is not None:
            conn.execute(
                "INSERT OR REPLACE INTO dht_meta (key, value) VALUES ('node_id', ?)",
                (state.node_id,),
            )
        conn.execute("DELETE FROM dht_nodes")
        conn.executemany(
            "INSERT OR REPLACE INTO dht_nodes (id, host, port) VALUES (?, ?, ?)",
            [(nid, host, port) for nid, (host, port) in state.nodes],
        )
        conn.execute("DELETE FROM dht_items")
        conn.executemany(
            "INSERT OR REPLACE INTO dht_items VALUES (?, ?, ?, ?, ?, ?, ?)",
            [
                (
                    target,
                    encode(value),
                    age,
                    None if m is None else m.public_key,
                    None if m is None else m.salt,
                    None if m is None else m.seq,
                    None if m is None else m.signature,
                )
                for target, value, age, m in state.items
            ],
        )
        conn.execute("DELETE FROM dht_peers")
        conn.executemany(
            "INSERT OR REPLACE INTO dht_peers VALUES (?, ?, ?, ?)",
            [(infohash, host, port, age) for infohash, (host, port), age in state.peers],
        )
    conn.close()
