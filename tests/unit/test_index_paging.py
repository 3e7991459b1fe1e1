"""Large result sets: only the page's cards are fetched, and paging stays exact.

``rank_all`` is set small here so that ordinary queries take the page-only path
(the default, 64, is reached by popular terms of the real catalogue).
"""

from __future__ import annotations

import asyncio
import hashlib
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from swarmseek.discovery import MemoryItemStore, MutableItem
from swarmseek.index import (
    Card,
    IndexConfig,
    Namespace,
    Query,
    QueryError,
    SearchIndex,
    normalise,
)
from swarmseek.index.paging import Candidate, in_entry_order, intersect
from swarmseek.index.query import KW, kw_entries, kw_key, kw_value, u64_key
from swarmseek.index.rank import bm25
from swarmseek.transfer import Value
from tests.support.node_net import catalogue_lines

CONFIG = IndexConfig(content_lsh=None, name_lsh=None, rank_all=3)


class CountingStore(MemoryItemStore):
    def __init__(self) -> None:
        super().__init__()
        self.card_gets = 0

    async def get_immutable(self, target: bytes) -> Value | None:
        self.card_gets += 1
        return await super().get_immutable(target)


def brute(lines: list[dict[str, Any]], q: Query) -> set[bytes]:
    out = set()
    for line in lines:
        words = set(normalise(line["name"]))
        if not set(q.terms) <= words:
            continue
        if q.prefix and not any(w.startswith(q.prefix) for w in words):
            continue
        if q.min_size is not None and line["size"] < q.min_size:
            continue
        if q.max_size is not None and line["size"] > q.max_size:
            continue
        out.add(bytes.fromhex(line["infohash"]))
    return out


async def pages(index: SearchIndex, q: Query) -> list[list[bytes]]:
    out = []
    cursor = None
    while True:
        page = await index.search(
            Query(q.terms, q.prefix, q.min_size, q.max_size, limit=q.limit, cursor=cursor)
        )
        out.append([r.infohash for r in page.results])
        if (cursor := page.next_cursor) is None:
            return out


QUERIES = [
    Query(("deb",), limit=7),
    Query(("dev", "amd64"), limit=5),
    Query(prefix="lib", limit=9),
    Query(prefix="py", limit=4),
    Query(min_size=100_000, max_size=2_000_000, limit=6),
    Query(("all",), min_size=5_000, max_size=900_000, limit=5),  # combined: ranges looked up
    Query(("deb",), min_size=0, limit=8),  # combined, range as broad as it gets
    Query(("dev",), prefix="libg", limit=3),
]


async def test_paged_results_are_exact_disjoint_and_stable() -> None:
    lines = catalogue_lines(600, step=100)
    cards = [Card.create(bytes.fromhex(x["infohash"]), x["name"], x["size"], 1, 0) for x in lines]
    store = MemoryItemStore()
    await SearchIndex(store, config=CONFIG).publish(cards)
    for q in QUERIES:
        reader = SearchIndex(store, config=CONFIG)
        first = await pages(reader, q)
        flat = [ih for page in first for ih in page]
        assert len(flat) == len(set(flat)), q  # no result on two pages
        assert set(flat) == brute(lines, q), q  # recall 1, nothing extra
        first_page = await reader.search(q)
        if first_page.total_exact:
            assert first_page.total == len(flat), q  # exact, not an estimate
        else:  # a range too broad to walk is checked on the page's cards: an upper bound
            assert first_page.total >= len(flat), q
        assert all(len(page) == q.limit for page in first[:-1]), q
        assert await pages(reader, q) == first, q  # the same order again (warm)
        assert await pages(SearchIndex(store, config=CONFIG), q) == first, q  # and cold


async def test_only_the_pages_cards_are_fetched() -> None:
    lines = catalogue_lines(300, step=200)
    cards = [Card.create(bytes.fromhex(x["infohash"]), x["name"], x["size"], 1, 0) for x in lines]
    store = CountingStore()
    await SearchIndex(store, config=CONFIG).publish(cards)
    reader = SearchIndex(store, config=CONFIG)
    store.card_gets = 0
    page = await reader.search(Query(("deb",), limit=10))
    assert page.total == len(lines) > 10
    assert len(page.results) == 10
    assert store.card_gets == 10  # not one per match
    many = SearchIndex(store, config=IndexConfig(content_lsh=None, name_lsh=None, rank_all=1000))
    store.card_gets = 0
    await many.search(Query(("deb",), limit=10))
    assert store.card_gets == len(lines)  # the ranked path fetches every card, as it must


async def test_a_poisoned_entry_is_skipped_and_the_page_still_fills() -> None:
    lines = catalogue_lines(300, step=200)
    cards = [Card.create(bytes.fromhex(x["infohash"]), x["name"], x["size"], 1, 0) for x in lines]
    store = MemoryItemStore()
    index = SearchIndex(store, config=CONFIG)
    await index.publish(cards)
    ns = Namespace.open_default()
    # An entry for a card nobody stored, sorted first (a one-word name scores highest):
    # it must vanish.
    junk = b"\x01" * 20
    await index._pht(ns, KW).apply({kw_key("deb", junk): kw_value(junk, b"\0" * 20, 1, 1)})
    q = Query(("deb",), limit=6)
    got = [ih for page in await pages(SearchIndex(store, config=CONFIG), q) for ih in page]
    assert set(got) == brute(lines, q)
    first = await SearchIndex(store, config=CONFIG).search(q)
    assert len(first.results) == 6


def test_intersect_keeps_what_every_condition_found_and_what_entries_say() -> None:
    ns = b"n" * 32
    a, b = b"a" * 20, b"b" * 20
    prefix = {kw_key("library", a): kw_value(a, b"1" * 20, 3, 1), kw_key("lib", b): b + b"2" * 20}
    sizes = {u64_key(500, a): a + b"1" * 20}
    out = intersect(ns, ["prefix", "size"], [prefix, sizes], "lib")
    assert list(out) == [a]
    assert out[a].extra == 4 and out[a].size == 500 and out[a].infohash == b"1" * 10
    assert out[a].length == 3 and out[a].counts == [1]
    both = intersect(ns, ["prefix"], [prefix], "lib")
    assert both[b].length == 0 and both[b].counts == [1]  # no statistics: one occurrence
    # b's length is unknown, so it is taken as the average (3): a tie, then the exact term
    assert [t for t, _ in in_entry_order(both)] == [b, a]
    assert intersect(ns, [], [], None) == {}


def test_entry_order_keeps_one_candidate_per_infohash() -> None:
    same = b"i" * 20
    cands = {b"x" * 20: Candidate(b"", same, size=2), b"y" * 20: Candidate(b"", same, size=1)}
    assert [t for t, _ in in_entry_order(cands, by_relevance=False)] == [b"y" * 20]


async def test_a_combined_query_too_broad_for_the_index_is_a_query_error() -> None:
    lines = catalogue_lines(300, step=200)
    cards = [Card.create(bytes.fromhex(x["infohash"]), x["name"], x["size"], 1, 0) for x in lines]
    store = MemoryItemStore()
    await SearchIndex(store, config=CONFIG).publish(cards)
    narrow = SearchIndex(
        store, config=IndexConfig(content_lsh=None, name_lsh=None, max_range_nodes=2)
    )
    with pytest.raises(QueryError):  # itself, not wrapped in an ExceptionGroup
        await narrow.search(Query(prefix="lib", min_size=0, max_size=10**6))


async def test_the_page_only_path_ranks_as_the_all_cards_path_and_cursors_cross() -> None:
    """BM25 from the entries' statistics gives the same order as BM25 over the fetched
    cards, so a cursor taken while a result set had few matches continues exactly once
    it has more than ``rank_all`` (the two paths used to order differently)."""
    lines = catalogue_lines(600, step=100)
    cards = [Card.create(bytes.fromhex(x["infohash"]), x["name"], x["size"], 1, 0) for x in lines]
    store = MemoryItemStore()
    await SearchIndex(store, config=CONFIG).publish(cards)
    everything = IndexConfig(content_lsh=None, name_lsh=None, rank_all=100_000)
    for q in QUERIES:
        few = await pages(SearchIndex(store, config=CONFIG), q)
        many = await pages(SearchIndex(store, config=everything), q)
        assert few == many, q
        if len(many) < 2:
            continue
        first = await SearchIndex(store, config=everything).search(q)
        assert first.next_cursor is not None
        rest = await pages(
            SearchIndex(store, config=CONFIG),
            Query(q.terms, q.prefix, q.min_size, q.max_size, limit=q.limit),
        )
        cont = await SearchIndex(store, config=CONFIG).search(
            Query(
                q.terms, q.prefix, q.min_size, q.max_size, limit=q.limit, cursor=first.next_cursor
            )
        )
        assert [r.infohash for r in cont.results] == rest[1], q


async def test_inflated_statistics_hide_the_liars_card_instead_of_ranking_it_first() -> None:
    lines = catalogue_lines(300, step=200)
    cards = [Card.create(bytes.fromhex(x["infohash"]), x["name"], x["size"], 1, 0) for x in lines]
    store = MemoryItemStore()
    index = SearchIndex(store, config=CONFIG)
    await index.publish(cards)
    liar = Card.create(b"\x07" * 20, "deb spam spam spam spam spam spam", 10, 1, 0)
    await index.publish([liar])
    # Its keyword entry rewritten to claim a one-word name: it would score highest.
    ns = Namespace.open_default()
    await index._pht(ns, KW).apply(
        {kw_key("deb", liar.target): kw_value(liar.target, liar.infohash, 1, 1)}
    )
    q = Query(("deb",), limit=6)
    got = [ih for page in await pages(SearchIndex(store, config=CONFIG), q) for ih in page]
    assert liar.infohash not in got
    assert set(got) == brute(lines, q)  # every honest card is still found


NAMES = st.lists(
    st.sampled_from(["deb", "dev", "lib", "libc", "python3", "x", "amd64"]), max_size=9
)


@settings(max_examples=200)
@given(st.lists(NAMES, min_size=1, max_size=12), st.sampled_from([("deb",), ("deb", "lib"), ()]))
def test_scores_from_entries_equal_bm25_over_the_names(
    names: list[list[str]], terms: tuple[str, ...]
) -> None:
    prefix = "li" if not terms else None
    found: list[dict[bytes, bytes]] = [{} for _ in range(len(terms) + (1 if prefix else 0))]
    for i, words in enumerate(names):
        target = _target(i)
        for key, value in kw_entries(" ".join(words), target, target).items():
            for j, term in enumerate(terms):
                if key.startswith(term.encode() + b"\0"):
                    found[j][key] = value
            if prefix and key.startswith(prefix.encode()):
                found[-1][key] = value
    kinds = ["kw"] * len(terms) + (["prefix"] if prefix else [])
    got = intersect(b"", kinds, found, prefix)
    matching = [
        (i, words)
        for i, words in enumerate(names)
        if set(terms) <= set(words) and (not prefix or any(w.startswith(prefix) for w in words))
    ]
    want = bm25(terms, [normalise(" ".join(w)) for _, w in matching], prefix)
    assert sorted(got) == sorted(_target(i) for i, _ in matching)
    for (i, _), score in zip(matching, want, strict=True):
        assert got[_target(i)].score == pytest.approx(score)


def _target(i: int) -> bytes:
    # distinct leading bytes: a key holds only the target's first bytes after the term
    return hashlib.sha1(i.to_bytes(4, "big")).digest()


class SlowKeywords(MemoryItemStore):
    """Keyword-tree reads take extra event-loop turns (no clock): range walks end first."""

    slow = False

    async def get_mutable(self, public_key: bytes, salt: bytes = b"") -> MutableItem | None:
        if self.slow and salt.startswith(b"pht\x02kw"):
            for _ in range(50):
                await asyncio.sleep(0)
        return await super().get_mutable(public_key, salt)


async def test_a_combined_query_answered_by_its_range_is_still_ranked_by_bm25() -> None:
    lines = catalogue_lines(600, step=100)
    cards = [Card.create(bytes.fromhex(x["infohash"]), x["name"], x["size"], 1, 0) for x in lines]
    store = SlowKeywords()
    await SearchIndex(store, config=CONFIG).publish(cards)
    sizes = sorted(x["size"] for x in lines)
    q = Query(("deb",), min_size=sizes[100], max_size=sizes[130], limit=50)  # 31 in range
    store.slow = True  # the range walk ends first: its cards answer, the words unwalked
    page = await SearchIndex(store, config=IndexConfig(content_lsh=None, name_lsh=None)).search(q)
    assert {r.infohash for r in page.results} == brute(lines, q)
    assert all(r.score > 0 for r in page.results)
    # one term, once in each name: BM25 ranks shorter names first, ties by infohash
    key = [(len(normalise(r.name)), r.infohash) for r in page.results]
    assert key == sorted(key)


async def test_a_broad_range_over_many_candidates_fetches_only_the_pages_cards() -> None:
    # "dev" has more candidates than rank_all, and min_size=1 spans the whole size tree:
    # the keyword entries carry the sizes, so the range is applied to them (no range
    # walk), the total is exact, and only the cards of the page asked for are fetched.
    lines = catalogue_lines(300, step=200)
    cards = [Card.create(bytes.fromhex(x["infohash"]), x["name"], x["size"], 1, 0) for x in lines]
    store = CountingStore()
    await SearchIndex(store, config=CONFIG).publish(cards)
    q = Query(("dev",), min_size=1, limit=5)
    store.card_gets = 0
    first = await SearchIndex(store, config=CONFIG).search(q)
    matches = brute(lines, q)
    assert len(matches) > 2 * q.limit
    assert first.total_exact and first.total == len(matches)
    assert len(first.results) == q.limit
    assert store.card_gets < len(matches)  # not every candidate's card
    got = [ih for page in await pages(SearchIndex(store, config=CONFIG), q) for ih in page]
    assert len(got) == len(set(got)) and set(got) == matches
