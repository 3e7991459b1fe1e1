"""bencode decode/encode time per message, next to the original implementation.

Run: ``python tests/benchmarks/bench_bencode.py [rounds]`` (default 5). The reference is
the class-based bencoder ``transfer/bencode.py`` replaced, kept in
``tests/support/bencode_reference.py`` as a test oracle; both run in the same process on
the same bytes, alternating, and each figure is the best of ``rounds`` timed batches.
Decoding is what the DHT does with a datagram (``decode`` with ``MESSAGE_LIMITS``), or
with a .torrent (``decode_document``, which keeps raw spans for the infohash).

Payloads: a KRPC reply to a BEP 44 ``get`` carrying 8 compact nodes and a ~1000-byte
value, a .torrent with a 40-file info dictionary and 400 piece hashes, and a ~1000-byte
BEP 44 value alone (an index card: infohash, name, sizes, a 256-byte MinHash signature).
"""

from __future__ import annotations

import os
import random
import sys
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from swarmseek.transfer import MESSAGE_LIMITS, Value, decode, decode_document, encode
from tests.support import bencode_reference as reference


def card(rng: random.Random) -> dict[bytes, Value]:
    """An index card as ``index/card.py`` lays it out, ~1000 bytes encoded."""
    return {
        b"ih": rng.randbytes(20),
        b"n": ("Some.Linux.Distribution.DVD." * 24).encode()[:640],
        b"s": 4_700_000_000,
        b"f": 3,
        b"t": 1_764_000_000,
        b"m": rng.randbytes(256),
        b"v": 1,
    }


def krpc_get_reply(rng: random.Random) -> dict[bytes, Value]:
    """BEP 44 ``get`` response with BEP 5 compact nodes and a BEP 42 ``ip`` field."""
    return {
        b"ip": rng.randbytes(6),
        b"r": {
            b"id": rng.randbytes(20),
            b"nodes": rng.randbytes(26 * 8),
            b"token": rng.randbytes(8),
            b"v": card(rng),
        },
        b"t": b"aa",
        b"y": b"r",
    }


def torrent(rng: random.Random) -> dict[bytes, Value]:
    files = [
        {
            b"length": rng.randrange(1, 2**32),
            b"path": [b"disc %d" % (i // 10), b"track%02d.flac" % i],
        }
        for i in range(40)
    ]
    info = {
        b"files": files,
        b"name": b"Some Album (2024) [FLAC]",
        b"piece length": 262144,
        b"pieces": rng.randbytes(20 * 400),
    }
    return {
        b"announce": b"udp://tracker.example.org:1337/announce",
        b"creation date": 1_764_000_000,
        b"info": info,
    }


def best_us(action: Callable[[], object], batch: int, rounds: int) -> float:
    best = float("inf")
    for _ in range(rounds):
        start = time.perf_counter()
        for _ in range(batch):
            action()
        best = min(best, time.perf_counter() - start)
    return best / batch * 1e6


def compare(
    label: str, ours: Callable[[], object], theirs: Callable[[], object], rounds: int
) -> None:
    assert ours() == theirs(), label
    batch = max(1, int(0.05 / max(1e-7, _once(theirs))))
    ours_us = theirs_us = float("inf")
    for _ in range(rounds):  # alternate so drift on a shared machine hits both alike
        ours_us = min(ours_us, best_us(ours, batch, 1))
        theirs_us = min(theirs_us, best_us(theirs, batch, 1))
    print(f"{label:<34} {ours_us:9.2f} {theirs_us:11.2f} {theirs_us / ours_us:8.2f}x")


def _once(action: Callable[[], object]) -> float:
    start = time.perf_counter()
    for _ in range(20):
        action()
    return (time.perf_counter() - start) / 20


def main() -> None:
    rounds = int(sys.argv[1]) if len(sys.argv) > 1 else 5
    rng = random.Random(1)
    cases = [
        ("KRPC get reply", krpc_get_reply(rng), True),
        (".torrent", torrent(rng), False),
        ("BEP 44 value (card)", card(rng), True),
    ]
    print(f"cpu_count={os.cpu_count()}  python={sys.version.split()[0]}  best of {rounds}")
    print(f"{'µs per call':<34} {'ours':>9} {'reference':>11} {'speedup':>9}")
    for name, value, message in cases:
        data = encode(value)
        if message:  # what the DHT does with a datagram
            label = f"decode {name} ({len(data)} B)"
            ours = partial(decode, data, limits=MESSAGE_LIMITS)
            theirs = partial(reference.decode, data, limits=MESSAGE_LIMITS)
        else:  # what parse_torrent does: lenient, with raw spans for the infohash
            label = f"decode_document {name} ({len(data)} B)"
            ours = partial(decode_document, data)
            theirs = partial(reference.decode_document, data)
        compare(label, ours, theirs, rounds)
        compare(f"encode {name}", partial(encode, value), partial(reference.encode, value), rounds)


if __name__ == "__main__":
    main()
