"""Deterministic near-duplicate text families for the index's similarity tests.

Each family is a base text of random words; its members replace, insert and delete a
growing fraction of words, so the Jaccard of word 5-shingles spreads from ~1 down to
~0 within a family and is ~0 across families.
"""

from __future__ import annotations

import hashlib
import random


def near_duplicates(families: int, members: int, words: int = 300, seed: int = 0) -> list[str]:
    rng = random.Random(seed)
    vocabulary = [
        "".join(rng.choice("abcdefghijklmnopqrstuvwxyz") for _ in range(rng.randint(3, 9)))
        for _ in range(5000)
    ]
    texts = []
    for _ in range(families):
        base = [rng.choice(vocabulary) for _ in range(words)]
        for m in range(members):
            rate = 0.15 * m / members  # 0 .. 15% of the words edited: J from 1 to ~0.2
            doc = list(base)
            for i in range(len(doc)):
                if rng.random() < rate:
                    doc[i] = rng.choice(vocabulary)
            texts.append(" ".join(doc))
    return texts


def fake_infohash(text: str) -> bytes:
    return hashlib.sha1(text.encode()).digest()


def shingle_jaccard(a: set[bytes], b: set[bytes]) -> float:
    return len(a & b) / len(a | b) if a or b else 1.0
