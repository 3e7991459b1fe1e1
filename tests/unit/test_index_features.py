from __future__ import annotations

import pathlib
import random

from swarmseek.index import chunk_boundaries, is_text, signature_of_paths, torrent_signature
from swarmseek.index.features import (
    AVG_CHUNK,
    MAX_CHUNK,
    MIN_CHUNK,
    chunks,
    estimate_jaccard,
    file_features,
    name_grams,
    signature,
    word_shingles,
)
from swarmseek.index.lsh import CONTENT_LSH, NAME_LSH


def test_chunk_sizes_within_bounds_and_average() -> None:
    data = random.Random(1).randbytes(1_000_000)
    ends = chunk_boundaries(data)
    sizes = [b - a for a, b in zip([0, *ends], ends, strict=False)]
    assert ends[-1] == len(data)
    assert all(MIN_CHUNK <= s <= MAX_CHUNK for s in sizes[:-1])
    assert AVG_CHUNK * 0.7 < sum(sizes) / len(sizes) < AVG_CHUNK * 1.6


def test_insertion_shifts_only_nearby_chunks() -> None:
    rng = random.Random(2)
    data = rng.randbytes(400_000)
    before = set(chunks(data))
    for pos in (1000, 200_000, 399_000):
        edited = data[:pos] + rng.randbytes(37) + data[pos:]
        after = set(chunks(edited))
        assert len(before - after) <= 2
        assert len(after - before) <= 2
    # a fixed-size chunker would lose every chunk after the insertion point
    assert len(before) > 30


def test_text_vs_binary_and_features() -> None:
    text = ("the quick brown fox jumps over the lazy dog " * 20).encode()
    assert is_text(text)
    assert not is_text(random.Random(3).randbytes(5000))
    assert not is_text(b"abc\0def")
    assert all(f.startswith(b"w") for f in file_features(text))
    assert all(f.startswith(b"c") for f in file_features(random.Random(3).randbytes(5000)))
    assert word_shingles("a b c d e f") == {b"a b c d e", b"b c d e f"}


def test_signature_estimates_jaccard() -> None:
    rng = random.Random(4)
    universe = [rng.randbytes(8) for _ in range(3000)]
    a = set(universe[:2000])
    b = set(universe[1000:3000])  # J = 1000 / 3000
    est = estimate_jaccard(signature(a), signature(b))
    assert abs(est - 1 / 3) < 0.15
    assert estimate_jaccard(signature(a), signature(a)) == 1.0


def test_name_grams_tolerate_typos_and_order() -> None:
    a = name_grams("Ubuntu 24.04 Desktop amd64")
    b = name_grams("desktop ubunto 24.04 amd64")
    c = name_grams("Debian bookworm netinst")
    assert len(a & b) / len(a | b) > 0.5 > len(a & c) / len(a | c)


def test_s_curves() -> None:
    assert CONTENT_LSH.probability(0.5) > 0.98
    assert CONTENT_LSH.probability(0.1) < 0.05
    assert NAME_LSH.probability(0.4) > 0.9
    assert CONTENT_LSH.bands * CONTENT_LSH.rows <= 128


def test_signature_of_paths_covers_all_files(tmp_path: pathlib.Path) -> None:
    a, b = tmp_path / "a.txt", tmp_path / "b.bin"
    a.write_text("one two three four five six seven eight nine ten " * 30)
    b.write_bytes(random.Random(5).randbytes(50_000))
    both = signature_of_paths([a, b])
    assert both == torrent_signature([a.read_bytes(), b.read_bytes()])
    only_a = torrent_signature([a.read_bytes()])
    assert 0.0 < estimate_jaccard(both, only_a) < 1.0
