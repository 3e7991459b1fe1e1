"""Spelling correction from the keyword tree's terms (index/spelling.py)."""

from __future__ import annotations

from collections import Counter

from hypothesis import given
from hypothesis import strategies as st

from swarmseek.discovery import MemoryItemStore
from swarmseek.index import Card, IndexConfig, Query, QueryError, SearchIndex
from swarmseek.index.query import kw_key
from swarmseek.index.spelling import correct, max_edits, nearest, terms_of, walk_prefixes

NO_LSH = IndexConfig(content_lsh=None, name_lsh=None)


def test_terms_are_read_from_keyword_keys() -> None:
    keys = [
        kw_key("ubuntu", b"\x01" * 20),
        kw_key("ubuntu", b"\x02" * 20),
        kw_key("ub", b"\x03" * 20),
    ]
    assert terms_of(keys) == Counter({"ubuntu": 2, "ub": 1})


def test_nearest_takes_fewest_edits_then_most_entries() -> None:
    known = Counter({"ubuntu": 5, "ubunta": 9, "kubuntu": 3, "debian": 7})
    assert nearest("ubunto", known) == "ubunta"  # one edit from both: the commoner
    assert nearest("ubuntuu", known) == "ubuntu"  # one edit; ubunta is two
    assert nearest("ubuntu", known) is None  # known already
    assert nearest("xyzzyq", known) is None  # nothing near


def test_swapped_letters_are_one_edit() -> None:
    assert nearest("pyhton", Counter({"python": 1, "pylon": 1})) == "python"


def test_short_words_are_never_corrected() -> None:
    assert max_edits("vim") == 0 and max_edits("emacs") == 1 and max_edits("libreoffice") == 2
    assert nearest("vin", Counter({"vim": 1})) is None


def test_a_prefix_is_compared_with_the_start_of_terms() -> None:
    known = Counter({"desktop": 4, "deskjet": 1})
    assert nearest("dexkt", known, prefix=True) == "deskt"
    assert nearest("deskt", known, prefix=True) is None  # some term starts so


async def test_a_term_stored_cut_short_becomes_the_prefix() -> None:
    async def walk(raw: bytes, max_nodes: int) -> list[bytes]:
        return [kw_key("humanfriendly", b"\x01" * 20), kw_key("python3", b"\x02" * 20)]

    fixed = await correct(Query(("humnfriendly", "pyhton3")), walk)
    assert fixed is not None and fixed.terms == ("python3",) and fixed.prefix == "humanfriendl"
    # With a prefix already, the long word is left as it was.
    kept = await correct(Query(("humnfriendly", "pyhton3"), "doc"), walk)
    assert kept is not None and kept.terms == ("humnfriendly", "python3")


@given(st.text(alphabet="abcdefghij", min_size=4, max_size=20))
def test_walks_start_at_three_letters_and_stay_inside_the_word(word: str) -> None:
    prefixes = walk_prefixes(word)
    assert prefixes[0] == word[:3] and len(prefixes) <= 3
    assert all(word.startswith(p) and len(p) < len(word) for p in prefixes)


async def test_a_too_broad_walk_is_retried_one_letter_longer() -> None:
    asked: list[bytes] = []

    async def walk(raw: bytes, max_nodes: int) -> list[bytes]:
        asked.append(raw)
        if len(raw) < 5:
            raise QueryError("range too broad for the index: narrow it down")
        return [kw_key("libreoffice", b"\x01" * 20)]

    fixed = await correct(Query(("libreofice", "writer")), walk)
    assert [raw for raw in asked if raw.startswith(b"lib")] == [b"lib", b"libr", b"libre"]
    assert fixed is not None and fixed.terms == ("libreoffice", "writer")


async def test_corrected_query_finds_what_the_typo_missed() -> None:
    names = ["Ubuntu 24.04 Desktop amd64", "Debian 13 netinst", "Python 3.13 docs"]
    idx = SearchIndex(MemoryItemStore(), config=NO_LSH)
    await idx.publish(
        [Card.create(bytes([i]) * 20, n, 1000 + i, 1, 1_700_000_000) for i, n in enumerate(names)]
    )
    reader = SearchIndex(idx.store, config=NO_LSH)
    query = Query(("desktop", "ubunto"), "amd6", limit=5)
    assert not (await reader.search(query)).results
    fixed = await reader.corrected(query)
    assert fixed is not None and fixed.terms == ("desktop", "ubuntu") and fixed.prefix == "amd6"
    found = await reader.search(fixed)
    assert [r.name for r in found.results] == ["Ubuntu 24.04 Desktop amd64"]
    assert await reader.corrected(Query(("python",))) is None  # nothing to correct
