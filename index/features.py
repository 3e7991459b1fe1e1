"""What a MinHash signature is computed over (DESIGN.md decision 3). Pure.

Binary data: content-defined chunks from a gear rolling hash (FastCDC-style, Xia et al.
2016, with normalised chunking), so an insertion changes only the chunks around it.
Text: word 5-shingles. Names: character 3-grams (typos, reordered words).

The chunker is written here rather than taken from PyPI (``fastcdc``): its gear table
and masks are part of what every node must compute identically for signatures to be
comparable across the network, so they are pinned in our code, not in a dependency
that may change them in a release.
"""

from __future__ import annotations

import hashlib
import random
import re
import unicodedata
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from datasketch import MinHash

NUM_PERM = 256  # content signature length (see card.py for why 256 x 8 bits)
SIG_BITS = 8  # b-bit MinHash: the low bits kept of each value
NAME_PERM = 32  # name 3-gram signature (computed locally, never stored in cards)
MINHASH_SEED = 1  # fixed: every node must use the same permutations
SHINGLE_WORDS = 5
# A file's first 32 MiB stand for it: the pure-Python chunker runs at ~10 MB/s.
MAX_SIGNED_BYTES = 32 * 1024 * 1024
MIN_CHUNK, AVG_CHUNK, MAX_CHUNK = 2048, 8192, 65536

_GEAR_RNG = random.Random(0x5EED_C0DE)  # pinned: the table is part of the signature format
_GEAR = [_GEAR_RNG.getrandbits(64) for _ in range(256)]
_MASK64 = (1 << 64) - 1
# Normalised chunking: a stricter mask before the average size, a looser one after,
# which narrows the chunk size distribution (FastCDC §3.3, normalisation level 2).
_MASK_S = ((1 << 15) - 1) << 49  # 15 bits: harder to hit before AVG_CHUNK
_MASK_L = ((1 << 11) - 1) << 53  # 11 bits: easier after it


def chunk_boundaries(data: bytes) -> list[int]:
    """End offsets of the content-defined chunks of ``data``."""
    ends: list[int] = []
    start, n = 0, len(data)
    while start < n:
        ends.append(start + _cut(data, start, n))
        start = ends[-1]
    return ends


def _cut(data: bytes, start: int, n: int) -> int:
    remaining = n - start
    if remaining <= MIN_CHUNK:
        return remaining
    end = min(remaining, MAX_CHUNK)
    normal = min(end, AVG_CHUNK)
    h = 0
    gear = _GEAR
    i = MIN_CHUNK
    while i < normal:
        h = ((h << 1) + gear[data[start + i]]) & _MASK64
        if not h & _MASK_S:
            return i + 1
        i += 1
    while i < end:
        h = ((h << 1) + gear[data[start + i]]) & _MASK64
        if not h & _MASK_L:
            return i + 1
        i += 1
    return end


def chunks(data: bytes) -> Iterator[bytes]:
    start = 0
    for end in chunk_boundaries(data):
        yield data[start:end]
        start = end


def is_text(data: bytes) -> bool:
    """UTF-8 without NULs and mostly printable: shingle it as words."""
    sample = data[:65536]
    if b"\0" in sample:
        return False
    try:
        text = sample.decode("utf-8")
    except UnicodeDecodeError as exc:
        if exc.start < len(sample) - 4:  # a character cut by the sample's end is fine
            return False
        text = sample[: exc.start].decode("utf-8")
    if not text:
        return False
    printable = sum(1 for c in text if c.isprintable() or c in "\n\r\t")
    return printable / len(text) >= 0.95


def words(text: str) -> list[str]:
    return re.findall(r"\w+", unicodedata.normalize("NFKC", text).casefold())


def word_shingles(text: str, k: int = SHINGLE_WORDS) -> set[bytes]:
    tokens = words(text)
    if len(tokens) < k:
        return {" ".join(tokens).encode()} if tokens else set()
    return {" ".join(tokens[i : i + k]).encode() for i in range(len(tokens) - k + 1)}


def file_features(data: bytes) -> set[bytes]:
    """The set behind a file's MinHash: word shingles for text, chunk hashes otherwise."""
    if is_text(data):
        return {b"w" + s for s in word_shingles(data.decode("utf-8", "replace"))}
    return {b"c" + hashlib.sha1(c).digest()[:8] for c in chunks(data)}


def name_grams(name: str, n: int = 3) -> set[bytes]:
    text = " " + " ".join(words(name)) + " "
    return {text[i : i + n].encode() for i in range(max(1, len(text) - n + 1))}


def minhash(features: Iterable[bytes], num_perm: int = NUM_PERM) -> MinHash:
    # Imported on first use: datasketch loads scipy (~0.5-1.3 s), which a node that
    # only searches and imports metadata never needs.
    from datasketch import MinHash  # noqa: PLC0415

    m = MinHash(num_perm=num_perm, seed=MINHASH_SEED)
    m.update_batch(list(features))
    return m


def signature(features: Iterable[bytes], num_perm: int = NUM_PERM) -> tuple[int, ...]:
    """b-bit MinHash (Li and König 2010): each value kept to its low SIG_BITS bits."""
    values = minhash(features, num_perm).hashvalues
    mask = (1 << SIG_BITS) - 1
    return tuple(int(v) & mask for v in values)


def torrent_signature(files: Iterable[bytes]) -> tuple[int, ...]:
    """A torrent's signature covers all its files: MinHash of the union of features."""
    union: set[bytes] = set()
    for data in files:
        union |= file_features(data)
    return signature(union)


def signature_of_paths(
    paths: Iterable[Path], max_bytes_per_file: int = MAX_SIGNED_BYTES
) -> tuple[int, ...]:
    """``torrent_signature`` of files on disk, reading at most ``max_bytes_per_file``
    of each. Blocking and CPU-bound (the chunker runs at roughly 10 MB/s in pure
    Python): call it off the event loop, e.g. ``await asyncio.to_thread(...)``."""

    def head(path: Path) -> bytes:
        with path.open("rb") as f:
            return f.read(max_bytes_per_file)

    return torrent_signature(head(p) for p in paths)


def estimate_jaccard(a: Sequence[int], b: Sequence[int], bits: int = SIG_BITS) -> float:
    """Jaccard from b-bit signatures, corrected for chance collisions (Li and König)."""
    if len(a) != len(b) or not a:
        return 0.0
    agree = sum(1 for x, y in zip(a, b, strict=True) if x == y) / len(a)
    chance = 2.0**-bits
    return max(0.0, (agree - chance) / (1 - chance))
