"""LSH bands over PHTs (DESIGN.md decision 2, "LSH"). Pure.

A signature is cut into b bands of r rows; band i's hash keys tree ``lsh<i>``. Two
signatures with Jaccard J share at least one band with probability 1 - (1 - J^r)^b
(the S-curve; Leskovec, Rajaraman, Ullman, *Mining of Massive Datasets* §3.4).

Content, b=32 bands of r=3 rows (96 of the 256 values): P(candidate) is 0.986 at
J=0.5, 0.88 at J=0.4, 0.58 at J=0.3, 0.23 at J=0.2; the S-curve's midpoint
(1/b)^(1/r) is 0.31. Recall at J >= 0.5 is what we must not lose, and the
candidates below 0.5 that get through are removed by re-ranking on the card's full
256-value signature, so the curve sits well left of 0.5. r=4 (b=32) would give only
0.87 at J=0.5; b=42, r=3 would give 0.996 for 31% more entries per card.

Names, b=16 bands of r=2 rows over a 32-value 3-gram MinHash: P is 0.94 at J=0.4
and 0.77 at J=0.3 (a typo or two in a short name), midpoint 0.25.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass

from .errors import QueryError

BAND_HASH_BYTES = 8


@dataclass(frozen=True, slots=True)
class LshParams:
    bands: int
    rows: int
    family: bytes  # tree name prefix: b"lsh" or b"nlsh"

    def tree(self, band: int) -> bytes:
        return self.family + str(band).encode()

    def probability(self, jaccard: float) -> float:
        """The S-curve: chance that two sets at this Jaccard share a band."""
        return float(1 - (1 - jaccard**self.rows) ** self.bands)

    def band_hashes(self, signature: Sequence[int]) -> list[bytes]:
        """One 8-byte key prefix per band: a hash of the band's values."""
        if len(signature) < self.bands * self.rows:
            raise QueryError("signature shorter than bands x rows")
        out = []
        for i in range(self.bands):
            rows = signature[i * self.rows : (i + 1) * self.rows]
            data = bytes([i]) + b"".join((v & 0xFFFF).to_bytes(2, "big") for v in rows)
            out.append(hashlib.blake2b(data, digest_size=BAND_HASH_BYTES).digest())
        return out


CONTENT_LSH = LshParams(bands=32, rows=3, family=b"lsh")
NAME_LSH = LshParams(bands=16, rows=2, family=b"nlsh")
