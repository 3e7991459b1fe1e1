"""Resume records committed from many worker threads on one shared connection (a node
restoring many shares, or downloading several torrents, does exactly this)."""

from __future__ import annotations

import sqlite3
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from swarmseek.transfer import InfoHash, ResumeStore
from swarmseek.transfer.resume import ResumeRecord


def test_concurrent_saves_on_one_connection_all_land(tmp_path: Path) -> None:
    # Regression: two threads' transactions interleaved on the shared connection and
    # one failed with "cannot commit - no transaction is active" (a restart of a demo
    # node with 26 shares crashed in Node._restore).
    db = sqlite3.connect(tmp_path / "node.sqlite", check_same_thread=False)
    store = ResumeStore(db)
    hashes = [InfoHash(bytes([i % 256, i // 256]) * 10) for i in range(800)]

    def save(i: int) -> None:
        have = tuple(bool((i >> b) & 1) for b in range(12))
        store.save(hashes[i], ResumeRecord(have, ((i, i),)))
        if i % 7 == 0:
            store.forget(hashes[i])

    with ThreadPoolExecutor(16) as pool:
        list(pool.map(save, range(len(hashes))))  # re-raises any thread's error
    for i, infohash in enumerate(hashes):
        record = store.load(infohash)
        if i % 7 == 0:
            assert record is None
        else:
            assert record is not None and record.files == ((i, i),)
    db.close()
