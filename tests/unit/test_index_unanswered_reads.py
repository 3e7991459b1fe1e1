"""A read the DHT could not answer (LookupFailed) is retried, then fails the search or
the publish with ReadError: never an absent PHT node, never a silently partial page."""

from __future__ import annotations

import hashlib
from collections.abc import Callable

import pytest

from swarmseek.discovery import LookupFailed, MemoryItemStore, MutableItem, mutable_target
from swarmseek.index import Card, IndexConfig, Namespace, Query, ReadError, SearchIndex
from swarmseek.index.pht import ROOT, node_salt
from swarmseek.index.query import KW, SIZE
from swarmseek.transfer import Value

# No wait between attempts (a retry's pause is an asyncio.sleep of 0 here).
CONFIG = IndexConfig(content_lsh=None, name_lsh=None, read_retry_delay=0.0)
NS = Namespace.open_default()


def card(name: str, size: int = 100) -> Card:
    return Card.create(hashlib.sha1(name.encode()).digest(), name, size, 1, 1000, ())


CARDS = [card(f"ubuntu release {i:02d} amd64", 100 + i) for i in range(40)]


class UnansweredStore:
    """A ``MemoryItemStore`` whose gets of the chosen targets go unanswered (raise
    ``LookupFailed``, as a DHT get whose every query timed out) ``failures`` times
    each, then answer (None: for good)."""

    def __init__(self, inner: MemoryItemStore, failures: int | None) -> None:
        self.inner = inner
        self.failures = failures
        self.silent: set[bytes] = set()
        self.refused: dict[bytes, int] = {}

    def _answers(self, target: bytes) -> None:
        if target not in self.silent:
            return
        done = self.refused.get(target, 0)
        if self.failures is None or done < self.failures:
            self.refused[target] = done + 1
            raise LookupFailed("nobody answered", target, 0, 8)

    async def get_immutable(self, target: bytes) -> Value | None:
        self._answers(target)
        return await self.inner.get_immutable(target)

    async def put_immutable(self, value: Value) -> bytes:
        return await self.inner.put_immutable(value)

    async def get_mutable(self, public_key: bytes, salt: bytes = b"") -> MutableItem | None:
        self._answers(mutable_target(public_key, salt))
        return await self.inner.get_mutable(public_key, salt)

    async def put_mutable(self, item: MutableItem, *, cas: int | None = None) -> None:
        await self.inner.put_mutable(item, cas=cas)


async def published() -> MemoryItemStore:
    store = MemoryItemStore()
    await SearchIndex(store, config=CONFIG).publish(CARDS)
    return store


def kw_nodes(store: MemoryItemStore) -> list[bytes]:
    """The targets of every kw tree node the publish wrote (the root and below)."""
    prefix = node_salt(KW, ROOT)[:-1]  # the tree's name; the label follows
    found = []
    for target, item in store._mutable.items():
        if item.salt.startswith(prefix):
            found.append(target)
    return found


def reader(store: UnansweredStore) -> SearchIndex:
    # A fresh index: empty catalogue and leaf cache, so everything is read from the DHT.
    return SearchIndex(store, config=CONFIG)


async def search_ubuntu(index: SearchIndex) -> set[str]:
    page = await index.search(Query(("ubuntu",), limit=100))
    return {r.name for r in page.results}


@pytest.mark.parametrize("silence", ["root", "every kw node", "a card"])
async def test_a_read_nobody_answered_once_is_retried_and_the_search_is_whole(
    silence: str,
) -> None:
    inner = await published()
    store = UnansweredStore(inner, failures=1)
    store.silent = _targets(inner, silence)
    index = reader(store)
    assert await search_ubuntu(index) == {c.name for c in CARDS}
    assert store.refused and all(n == 1 for n in store.refused.values())
    assert index.stats.unanswered_gets == len(store.refused)


@pytest.mark.parametrize("silence", ["root", "every kw node", "a card"])
async def test_a_read_nobody_ever_answers_fails_the_search_with_read_error(
    silence: str,
) -> None:
    # Regression: the unanswered node read as absent, and the page silently lacked its
    # entries (a card: its result silently left out).
    inner = await published()
    store = UnansweredStore(inner, failures=None)
    store.silent = _targets(inner, silence)
    with pytest.raises(ReadError, match="did not answer") as info:
        await search_ubuntu(reader(store))
    assert isinstance(info.value.__cause__, LookupFailed)
    assert max(store.refused.values()) >= CONFIG.read_attempts  # tried, then gave up


async def test_the_same_search_answers_whole_once_the_network_does() -> None:
    inner = await published()
    store = UnansweredStore(inner, failures=None)
    store.silent = _targets(inner, "every kw node")
    index = reader(store)
    with pytest.raises(ReadError):
        await search_ubuntu(index)
    store.silent = set()
    assert await search_ubuntu(index) == {c.name for c in CARDS}


async def test_a_range_query_fails_rather_than_lose_a_leaf() -> None:
    inner = await published()
    store = UnansweredStore(inner, failures=None)
    prefix = node_salt(SIZE, ROOT)[:-1]
    store.silent = {t for t, item in inner._mutable.items() if item.salt.startswith(prefix)}
    assert store.silent
    with pytest.raises(ReadError):
        await reader(store).search(Query(min_size=100, max_size=200, limit=100))


async def test_a_publish_does_not_write_over_a_node_it_could_not_read() -> None:
    inner = await published()
    store = UnansweredStore(inner, failures=None)
    store.silent = set(kw_nodes(inner))
    before = {t: (i.seq, i.value) for t, i in inner._mutable.items()}
    writer = SearchIndex(store, [NS], config=CONFIG)
    with pytest.raises(ReadError):
        await writer.publish([card("ubuntu release 99 amd64")])
    after = {t: (i.seq, i.value) for t, i in inner._mutable.items() if t in store.silent}
    assert after == {t: before[t] for t in store.silent}  # no kw node written blind


async def test_a_publish_whose_reads_are_answered_on_retry_completes() -> None:
    inner = await published()
    store = UnansweredStore(inner, failures=2)
    store.silent = set(kw_nodes(inner))
    writer = SearchIndex(store, [NS], config=CONFIG)
    extra = card("ubuntu release 99 amd64")
    await writer.publish([extra])
    assert await search_ubuntu(reader(UnansweredStore(inner, 0))) == {
        c.name for c in [*CARDS, extra]
    }


def _targets(store: MemoryItemStore, which: str) -> set[bytes]:
    choose: dict[str, Callable[[], set[bytes]]] = {
        "root": lambda: {mutable_target(NS.public_key, node_salt(KW, ROOT))},
        "every kw node": lambda: set(kw_nodes(store)),
        "a card": lambda: {CARDS[7].target},
    }
    return choose[which]()
