"""Similarity on the real corpus in data/corpus (made by another helper; README there
lists its near-duplicate groups): every pair at J >= 0.5 over word 5-shingles is found."""

from __future__ import annotations

import hashlib
import pathlib

import pytest

from swarmseek.discovery import MemoryItemStore
from swarmseek.index import Card, IndexConfig, SearchIndex
from swarmseek.index.features import file_features, signature, word_shingles
from tests.support.index_corpus import shingle_jaccard

CORPUS = pathlib.Path(__file__).resolve().parents[2] / "data" / "corpus"


@pytest.fixture
def files() -> list[tuple[str, bytes]]:
    assert CORPUS.is_dir(), f"the bundled corpus is missing: {CORPUS}"
    return [
        (str(p.relative_to(CORPUS)), p.read_bytes())
        for p in sorted(CORPUS.rglob("*"))
        if p.is_file()
    ]


async def test_corpus_near_duplicates_found(files: list[tuple[str, bytes]]) -> None:
    cards = [
        Card.create(hashlib.sha1(d).digest(), name, len(d), 1, 0, signature(file_features(d)))
        for name, d in files
    ]
    config = IndexConfig(name_lsh=None)
    store = MemoryItemStore()
    await SearchIndex(store, config=config).publish(cards)
    reader = SearchIndex(store, config=config)
    sets = [word_shingles(d.decode("utf-8", "replace")) for _, d in files]
    missed = []
    for i, card in enumerate(cards):
        found = {r.infohash for r in await reader.similar_to(card.signature, limit=100)}
        for j, other in enumerate(cards):
            if j != i and shingle_jaccard(sets[i], sets[j]) >= 0.5 and other.infohash not in found:
                missed.append((files[i][0], files[j][0]))
    assert not missed
    # the binary pair (tar archives differing in one member) shares most chunks
    tars = [i for i, (name, _) in enumerate(files) if name.endswith(".tar")]
    if len(tars) == 2:
        hits = await reader.similar_to(cards[tars[0]].signature, threshold=0.3)
        assert cards[tars[1]].infohash in {r.infohash for r in hits}
