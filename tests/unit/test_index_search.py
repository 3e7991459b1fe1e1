from __future__ import annotations

import contextlib
import hashlib
import pathlib
import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from swarmseek.discovery import KeyPair, MemoryItemStore, MutableItem, PutError, mutable_target
from swarmseek.index import (
    Card,
    Catalogue,
    IndexConfig,
    Namespace,
    PublishError,
    Query,
    QueryError,
    Result,
    SearchIndex,
)
from swarmseek.index.features import file_features, signature, word_shingles
from swarmseek.index.pht import node_salt
from swarmseek.index.query import KW, kw_key, kw_value, read_cursor
from swarmseek.transfer import Value
from tests.support.index_corpus import fake_infohash, near_duplicates, shingle_jaccard

NO_LSH = IndexConfig(content_lsh=None, name_lsh=None)


def card(name: str, size: int = 100, created: int = 1000, sig: tuple[int, ...] = ()) -> Card:
    return Card.create(hashlib.sha1(name.encode()).digest(), name, size, 1, created, sig)


NAMES = [
    ("Ubuntu 24.04 Desktop amd64", 6_000_000_000, 1_710_000_000),
    ("Ubuntu 22.04 Server arm64", 2_000_000_000, 1_650_000_000),
    ("Debian 12 netinst amd64", 600_000_000, 1_690_000_000),
    ("The Art of Computer Programming", 50_000_000, 1_000_000_000),
    ("Big Buck Bunny 1080p", 700_000_000, 1_200_000_000),
    ("Sintel 4K", 4_000_000_000, 1_300_000_000),
]


@pytest.fixture
async def index() -> SearchIndex:
    idx = SearchIndex(MemoryItemStore())
    await idx.publish([card(n, s, t) for n, s, t in NAMES])
    return idx


def names(page: list) -> list[str]:  # type: ignore[type-arg]
    return [r.name for r in page]


async def test_keyword_and_prefix_and_ranges(index: SearchIndex) -> None:
    page = await index.search(Query.from_text("ubuntu"))
    assert sorted(names(page.results)) == [
        "Ubuntu 22.04 Server arm64",
        "Ubuntu 24.04 Desktop amd64",
    ]
    page = await index.search(Query.from_text("ubuntu AMD64"))
    assert names(page.results) == ["Ubuntu 24.04 Desktop amd64"]
    page = await index.search(Query.from_text("ubu*"))
    assert len(page.results) == 2
    page = await index.search(Query.from_text("amd64 deb*"))
    assert names(page.results) == ["Debian 12 netinst amd64"]
    page = await index.search(Query(min_size=1_000_000_000, max_size=5_000_000_000))
    assert sorted(names(page.results)) == ["Sintel 4K", "Ubuntu 22.04 Server arm64"]
    page = await index.search(Query(after=1_650_000_000))
    assert len(page.results) == 3
    page = await index.search(Query(("ubuntu",), after=1_700_000_000))
    assert names(page.results) == ["Ubuntu 24.04 Desktop amd64"]
    # stopwords are not indexed, other words are
    assert names((await index.search(Query.from_text("art computer"))).results) == [
        "The Art of Computer Programming"
    ]
    assert (await index.search(Query.from_text("nothing"))).results == []


async def test_paging_with_cursor_is_stable() -> None:
    idx = SearchIndex(MemoryItemStore(), config=NO_LSH)
    await idx.publish([card(f"linux image {i:02d}") for i in range(25)])
    seen: list[Result] = []
    query = Query(("linux",), limit=10)
    while True:
        page = await idx.search(query)
        assert page.total == 25
        seen += page.results
        if page.next_cursor is None:
            break
        query = Query(("linux",), limit=10, cursor=page.next_cursor)
    # every name scores the same (three terms, "linux" once): ties go by infohash
    assert [r.infohash for r in seen] == sorted(r.infohash for r in seen)
    assert len({r.name for r in seen}) == 25
    assert seen == (await idx.search(Query(("linux",), limit=25))).results
    with pytest.raises(QueryError):
        await idx.search(Query(("other",), cursor=page.next_cursor or "AAAA"))
    with pytest.raises(QueryError):
        await idx.search(Query())


async def test_ranking_prefers_more_relevant_names() -> None:
    idx = SearchIndex(MemoryItemStore(), config=NO_LSH)
    await idx.publish([card("linux tools and linux docs"), card("linux"), card("linux kernel")])
    page = await idx.search(Query(("linux",)))
    assert page.results[0].name == "linux"  # shortest match scores highest (BM25 length norm)
    assert [r.score for r in page.results] == sorted((r.score for r in page.results), reverse=True)


async def test_suggest_and_catalogue(index: SearchIndex, tmp_path: object) -> None:
    assert await index.suggest("ub") == ["ubuntu"]
    assert await index.suggest("Debian 12 net") == ["netinst"]
    assert await index.suggest("zz") == []


async def test_catalogue_persists(tmp_path: object) -> None:
    path = f"{tmp_path}/cat.sqlite"
    cat = Catalogue(path)
    cat.add(card("Sintel 4K"), b"ns", published=True)
    cat.close()
    again = Catalogue(path)
    assert again.suggest("sin") == ["sintel"]
    assert [c.name for _, c in again.published()] == ["Sintel 4K"]


async def test_other_node_finds_cards_through_the_dht(index: SearchIndex) -> None:
    other = SearchIndex(index.store)  # fresh catalogue: everything comes from items
    page = await other.search(Query.from_text("bunny"))
    assert names(page.results) == ["Big Buck Bunny 1080p"]


async def test_poisoned_entry_cannot_fake_a_match(index: SearchIndex) -> None:
    # an attacker in the open namespace adds a kw entry for "ubuntu" pointing at Sintel
    sintel = card(*NAMES[5])
    pht = index._pht(index.namespaces[0], KW)
    await pht.apply(
        {kw_key("ubuntu", sintel.target): kw_value(sintel.target, sintel.infohash, 2, 1)}
    )
    other = SearchIndex(index.store)
    assert "Sintel 4K" not in names((await other.search(Query(("ubuntu",)))).results)


async def test_curated_namespaces_and_search_across() -> None:
    store = MemoryItemStore()
    mine = Namespace.curated(KeyPair.from_seed(b"\x05" * 32), "mine")
    open_ns = Namespace.open_default()
    idx = SearchIndex(store, [open_ns, mine])
    await idx.publish([card("alpha release")], open_ns)
    await idx.publish([card("alpha preview")], mine)
    both = await SearchIndex(store, [open_ns, Namespace.follow(mine.public_key)]).search(
        Query(("alpha",))
    )
    assert sorted(names(both.results)) == ["alpha preview", "alpha release"]
    only = await SearchIndex(store, [Namespace.follow(mine.public_key)]).search(Query(("alpha",)))
    assert names(only.results) == ["alpha preview"]
    with pytest.raises(PublishError):
        await SearchIndex(store, [Namespace.follow(mine.public_key)]).publish([card("x")])


async def test_republish_restores_dropped_items(index: SearchIndex) -> None:
    store = index.backend
    assert isinstance(store, MemoryItemStore)
    ns = index.namespaces[0]
    pht = index._pht(ns, KW)
    ubuntu = card(*NAMES[0])
    label, _ = await pht.lookup(kw_key("ubuntu", ubuntu.target))
    store.drop(mutable_target(ns.public_key, node_salt(KW, label)))
    store.drop(ubuntu.target)
    assert await index.republish() > 0
    other = SearchIndex(store)
    assert "Ubuntu 24.04 Desktop amd64" in names((await other.search(Query(("ubuntu",)))).results)


async def test_similar_names_finds_typos() -> None:
    idx = SearchIndex(MemoryItemStore())
    await idx.publish([card(n, s, t) for n, s, t in NAMES])
    found = await SearchIndex(idx.store).similar_names("ubunto desktop 24.04")
    assert found and found[0].name == "Ubuntu 24.04 Desktop amd64"


async def test_similarity_recall_and_precision_on_near_duplicates() -> None:
    texts = near_duplicates(families=12, members=8, seed=5)
    shingles = [word_shingles(t) for t in texts]
    cards = [
        Card.create(
            fake_infohash(t), f"doc {i}", len(t), 1, 0, signature(file_features(t.encode()))
        )
        for i, t in enumerate(texts)
    ]
    idx = SearchIndex(MemoryItemStore(), config=IndexConfig(name_lsh=None))
    await idx.publish(cards)
    reader = SearchIndex(idx.store, config=IndexConfig(name_lsh=None))
    true_pos = found = relevant = 0
    for i, c in enumerate(cards):
        truth = {
            cards[j].infohash
            for j in range(len(cards))
            if j != i and shingle_jaccard(shingles[i], shingles[j]) >= 0.5
        }
        got = {r.infohash for r in await reader.similar_to(c.signature, limit=100)} - {c.infohash}
        relevant += len(truth)
        found += len(got)
        true_pos += len(truth & got)
    assert relevant > 50
    assert true_pos / relevant >= 0.9
    assert true_pos / found >= 0.85


@given(st.text(max_size=80))
def test_cursor_fuzz_raises_only_query_error(text: str) -> None:
    with contextlib.suppress(QueryError):
        read_cursor(Query(("x",), cursor=text))


async def test_similar_to_by_infohash_leaves_the_torrent_out() -> None:
    texts = near_duplicates(families=2, members=4, seed=11)
    cards = [
        Card.create(
            fake_infohash(t), f"doc {i}", len(t), 1, 0, signature(file_features(t.encode()))
        )
        for i, t in enumerate(texts)
    ]
    idx = SearchIndex(MemoryItemStore(), config=IndexConfig(name_lsh=None))
    await idx.publish(cards)
    found = await idx.similar_to(cards[0].infohash)
    assert cards[0].infohash not in {r.infohash for r in found}
    assert {r.infohash for r in found} <= {c.infohash for c in cards[:4]}  # its own family
    assert found and all(r.score >= 0.5 for r in found)
    with pytest.raises(QueryError, match="no card for that infohash here"):
        await idx.similar_to(b"\0" * 20)


async def test_similar_to_a_card_without_a_signature_says_why() -> None:
    # It said "no card with a signature for that infohash" of a card it had.
    listed = card("bash_5.2.15-2_amd64.deb")  # a catalogue line: no content signature
    idx = SearchIndex(MemoryItemStore(), config=IndexConfig(name_lsh=None))
    await idx.publish([listed])
    with pytest.raises(QueryError, match=re.escape(f"{listed.name} has no content signature")):
        await idx.similar_to(listed.infohash)


async def test_too_broad_range_is_refused_not_silently_cut() -> None:
    idx = SearchIndex(MemoryItemStore(), config=IndexConfig(content_lsh=None, name_lsh=None))
    await idx.publish([card(f"item {i}", size=i * 1000) for i in range(400)])
    narrow = SearchIndex(idx.backend, config=IndexConfig(max_range_nodes=8))
    with pytest.raises(QueryError):
        await narrow.search(Query(min_size=0))
    assert (await narrow.search(Query(min_size=5000, max_size=5000))).total == 1
    assert (await idx.search(Query(min_size=0, limit=1000))).total == 400


class FlakyStore(MemoryItemStore):
    """Refuses every mutable put after ``allow`` of them, as a DHT whose nodes time out."""

    def __init__(self) -> None:
        super().__init__()
        self.allow: int | None = None
        self.refuse_next = 0
        self.refuse_cards = 0

    async def put_immutable(self, value: Value) -> bytes:
        if self.refuse_cards > 0:
            self.refuse_cards -= 1
            raise PutError("no node stored the item (0 refused or timed out)")
        return await super().put_immutable(value)

    async def put_mutable(self, item: MutableItem, *, cas: int | None = None) -> None:
        if self.refuse_next > 0:
            self.refuse_next -= 1
            raise PutError("no node stored the item (8 refused or timed out)")
        if self.allow is not None:
            if self.allow <= 0:
                raise PutError("no node stored the item (8 refused or timed out)")
            self.allow -= 1
        await super().put_mutable(item, cas=cas)


NO_WAIT = IndexConfig(content_lsh=None, name_lsh=None, write_retry_delay=0.0)


async def test_a_leaf_write_no_node_stored_is_tried_again() -> None:
    store = FlakyStore()
    index = SearchIndex(store, config=NO_WAIT)
    await index.publish([card("first tool")])
    store.refuse_next = 2  # a moment of timeouts: two writes refused, then all is well
    await index.publish([card("second tool")])
    assert store.refuse_next == 0
    page = await SearchIndex(store, config=NO_LSH).search(Query(("tool",)))
    assert sorted(r.name for r in page.results) == ["first tool", "second tool"]


async def test_a_card_put_no_node_stored_is_tried_again() -> None:
    # Regression: the 10^5-card import through 100 loaded nodes failed whole on one card
    # put that timed out everywhere (leaf writes were retried, card puts were not).
    store = FlakyStore()
    index = SearchIndex(store, config=NO_WAIT)
    store.refuse_cards = 2
    await index.publish([card("first tool"), card("second tool")])
    assert store.refuse_cards == 0
    page = await SearchIndex(store, config=NO_LSH).search(Query(("tool",)))
    assert sorted(r.name for r in page.results) == ["first tool", "second tool"]


async def test_a_publish_that_fails_part_way_is_completed_by_the_next_republish() -> None:
    store = FlakyStore()
    index = SearchIndex(store, config=NO_WAIT)
    cards = [card(f"tool {i} release") for i in range(40)]
    store.allow = 5  # a few leaf writes land, then the DHT refuses
    with pytest.raises(PutError):
        await index.publish(cards)
    reader = SearchIndex(store, config=NO_LSH)
    assert (await reader.search(Query(("tool",), limit=100))).total < len(cards)
    store.allow = None  # the network is back: the hourly republish repairs the index
    await index.republish()
    page = await SearchIndex(store, config=NO_LSH).search(Query(("tool",), limit=100))
    assert sorted(r.name for r in page.results) == sorted(c.name for c in cards)


async def test_publishing_a_batch_commits_the_catalogue_per_thousand_cards(
    tmp_path: pathlib.Path,
) -> None:
    # Regression: one commit (a sync to disk) per card held the node's event loop, and
    # so every DHT node in the demo's process, for minutes in a 61,664-card import.
    catalogue = Catalogue(tmp_path / "catalogue.sqlite")
    commits: list[str] = []
    catalogue._db.set_trace_callback(
        lambda sql: commits.append(sql) if sql.strip().upper() == "COMMIT" else None
    )
    index = SearchIndex(MemoryItemStore(), catalogue=catalogue, config=NO_LSH)
    await index.publish([card(f"tool {i}") for i in range(2500)])
    assert len(commits) <= 3, len(commits)
    assert len(list(catalogue.published())) == 2500


async def test_cards_another_process_published_are_searched_locally_and_republished() -> None:
    # The demo's importer is another process: the API node records its cards as its own
    # published ones, so its searches read them locally and its republish keeps them.
    store = MemoryItemStore()
    cards = [card(f"tool {i} release") for i in range(30)]
    await SearchIndex(store, config=NO_LSH).publish(cards)  # the importer
    node = SearchIndex(store, config=NO_LSH)
    await node.remember_published(cards)
    assert sorted(c.target for _, c in node.catalogue.published()) == sorted(
        c.target for c in cards
    )
    for c in cards:  # the items expired: only the node's republish can bring them back
        store.drop(c.target)
    assert await node.republish() > 0
    page = await SearchIndex(store, config=NO_LSH).search(Query(("tool",), limit=100))
    assert sorted(r.name for r in page.results) == sorted(c.name for c in cards)
