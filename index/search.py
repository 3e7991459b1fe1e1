"""``SearchIndex``: the facade the node and the HTTP API call (publish, search, similar).

It turns cards into PHT entries (``kw``, ``size``, ``time``, ``lsh<i>``, ``nlsh<i>``),
writes each tree's entries in one batched ``Pht.apply``, and answers queries by PHT
lookups and range walks in parallel, verifying every candidate against its card
(a poisoned entry can hide or add a candidate, never make a card match that doesn't).
"""

from __future__ import annotations

import asyncio
import dataclasses
import random
from collections.abc import Awaitable, Iterable, Sequence

from swarmseek.discovery import ItemStore, PutError, immutable_target

from .cache import LeafCache
from .card import Card
from .catalogue import Catalogue
from .counting import CountingStore, IndexStats, ReadRetry
from .driver import WRITE_ATTEMPTS, Pht, PhtCounters
from .entries import Entries, IndexConfig, card_entries, lsh_spec, name_signature
from .errors import CardError, PublishError, QueryError
from .features import estimate_jaccard, name_grams
from .lsh import LshParams
from .namespace import Namespace
from .paging import (
    Candidate,
    entries_agree,
    in_entry_order,
    intersect,
    score,
    stats_from_name,
)
from .pht import TreeSpec
from .plan import narrowed_candidates
from .query import (
    KW,
    SIZE,
    TERM_BYTES,
    TIME,
    Page,
    Query,
    Result,
    make_cursor,
    normalise,
    read_cursor,
    term_prefix,
    u64_bounds,
)
from .spelling import correct
from .walk import Budget

CATALOGUE_CHUNK = 1000  # cards per catalogue transaction while publishing


def _matches(card: Card, query: Query) -> bool:
    terms = set(normalise(card.name))
    if not set(query.terms) <= terms:
        return False
    if query.prefix and not any(t.startswith(query.prefix) for t in terms):
        return False
    return _in_ranges(card, query)


def _in_ranges(card: Card, query: Query) -> bool:
    lo_s, hi_s = query.min_size, query.max_size
    if (lo_s is not None and card.size < lo_s) or (hi_s is not None and card.size > hi_s):
        return False
    lo_t, hi_t = query.after, query.before
    return not (
        (lo_t is not None and card.created < lo_t) or (hi_t is not None and card.created > hi_t)
    )


class SearchIndex:
    """Publish cards into, and search, one or more namespaces over an ``ItemStore``."""

    def __init__(
        self,
        store: ItemStore,
        namespaces: Sequence[Namespace] | None = None,
        catalogue: Catalogue | None = None,
        *,
        config: IndexConfig | None = None,
        rng: random.Random | None = None,
    ) -> None:
        self.stats = IndexStats()
        self.backend = store
        self.config = config or IndexConfig()
        rng = rng if rng is not None else random.Random()
        retry = ReadRetry(self.config.read_attempts, self.config.read_retry_delay)

        def counting(in_flight: int) -> ItemStore:
            return CountingStore(store, self.stats, in_flight, retry=retry, rng=rng)

        self.store: ItemStore = counting(self.config.in_flight)
        reads = self.config.read_in_flight or self.config.in_flight
        self.reader: ItemStore = counting(reads)
        # The size and time trees' own: a combined query's selective range probe must
        # not wait behind its keyword walk's hundreds of gets (it would answer later).
        self._range_reader: ItemStore = counting(reads)
        self.namespaces = list(namespaces) if namespaces else [Namespace.open_default()]
        self.catalogue = catalogue if catalogue is not None else Catalogue()
        self.counters = PhtCounters()
        self._caches = {ns.public_key: LeafCache() for ns in self.namespaces}
        self._trees: dict[tuple[bytes, bytes, bool], Pht] = {}

    def _pht(self, ns: Namespace, spec: TreeSpec, *, read: bool = False) -> Pht:
        """The tree ``spec`` of ``ns``; ``read``: the one searches use (``reader``)."""
        pht = self._trees.get((ns.public_key, spec.name, read))
        if pht is None:
            pht = Pht(
                self.store if not read else self._reader_of(spec),
                ns.signer,
                spec,
                cache=self._caches[ns.public_key],
                counters=self.counters,
                retries=self.config.retries,
                width=self.config.lookup_width,
            )
            pht.writable = ns.writable
            pht.max_range_nodes = self.config.max_range_nodes
            pht.write_retry_delay = self.config.write_retry_delay
            self._trees[(ns.public_key, spec.name, read)] = pht
        return pht

    def _reader_of(self, spec: TreeSpec) -> ItemStore:
        return self._range_reader if spec in (SIZE, TIME) else self.reader

    def _writer(self, namespace: Namespace | None) -> Namespace:
        ns = namespace or next((n for n in self.namespaces if n.writable), None)
        if ns is None or not ns.writable:
            raise PublishError("no writable namespace to publish into")
        if ns.public_key not in self._caches:
            self._caches[ns.public_key] = LeafCache()
        return ns

    # -- publishing -------------------------------------------------------------

    async def publish(self, cards: Sequence[Card], namespace: Namespace | None = None) -> None:
        """Store the cards and add their entries, one batched write per tree."""
        ns = self._writer(namespace)
        by_tree: dict[TreeSpec, Entries] = {}
        for card in cards:
            for spec, entries in card_entries(card, self.config).items():
                by_tree.setdefault(spec, {}).update(entries)
        # Cards first, so that an entry a reader finds always names a stored card. The
        # larger the batch, the fewer times each leaf is rewritten (a leaf is touched
        # once per batch that has an entry for it).
        await asyncio.gather(*(self._put_card(c) for c in cards))
        # Remembered as ours before the trees are written: if a write fails part-way
        # (the DHT refused or timed out), the error reaches the caller and the next
        # ``republish`` writes every entry again, so nothing stays half-indexed.
        await self.remember_published(cards, ns)
        await asyncio.gather(*(self._pht(ns, s).apply(e) for s, e in by_tree.items()))
        self.stats.cards_published += len(cards)

    async def remember_published(
        self, cards: Sequence[Card], namespace: Namespace | None = None
    ) -> None:
        """Record cards as published into ``namespace`` by this index, whoever writes
        them to the DHT (``publish``, or another process on our behalf, as the demo's
        importer): searches then read them from the catalogue, and ``republish`` keeps
        their items alive."""
        ns = self._writer(namespace)
        for first in range(0, len(cards), CATALOGUE_CHUNK):
            part = cards[first : first + CATALOGUE_CHUNK]
            self.catalogue.add_many(part, ns.public_key, published=True)
            await asyncio.sleep(0)  # the DHT (same event loop) answers between them

    async def _put_card(self, card: Card) -> None:
        # A put no node stored (all refused or timed out: a loaded network) is tried
        # again like a leaf write (driver.py): one card must not fail a batch of 10^5,
        # which the node would then retry whole. An immutable put is idempotent.
        for attempt in range(WRITE_ATTEMPTS):
            try:
                await self.store.put_immutable(card.to_value())
                return
            except PutError:
                if attempt == WRITE_ATTEMPTS - 1:
                    raise
                await asyncio.sleep(self.config.write_retry_delay * 2**attempt)

    async def republish(self) -> int:
        """Re-put every card this node published and every node on its entries' paths.

        BEP 44 items may expire after 2 hours: call this hourly. Returns the puts made.
        """
        puts = 0
        by_ns: dict[bytes, list[Card]] = {}
        for public_key, card in self.catalogue.published():
            by_ns.setdefault(public_key, []).append(card)
        for ns in self.namespaces:
            cards = by_ns.get(ns.public_key, [])
            if not cards or not ns.writable:
                continue
            await asyncio.gather(*(self.store.put_immutable(c.to_value()) for c in cards))
            puts += len(cards)
            by_tree: dict[TreeSpec, Entries] = {}
            for card in cards:
                for spec, entries in card_entries(card, self.config).items():
                    by_tree.setdefault(spec, {}).update(entries)
            done = await asyncio.gather(
                *(self._pht(ns, s).republish(e) for s, e in by_tree.items())
            )
            puts += sum(done)
        return puts

    # -- reading ----------------------------------------------------------------

    async def card(self, target: bytes, namespace: bytes = b"") -> Card | None:
        """A card from the catalogue, else from the DHT (validated, then remembered)."""
        known = self.catalogue.get(target)
        if known is not None:
            return known
        value = await self.reader.get_immutable(target)
        if value is None:
            return None
        try:
            card = Card.from_value(value)
            if immutable_target(card.to_value()) != target:
                return None  # a store that returned the wrong item: not this card
        except (CardError, ValueError):
            return None  # poisoned: hides this result, cannot fake one
        self.catalogue.add(card, namespace)
        return card

    async def _cards(self, candidates: dict[bytes, bytes]) -> list[tuple[bytes, Card]]:
        targets = sorted(candidates)
        cards = await asyncio.gather(*(self.card(t, candidates[t]) for t in targets))
        return [(candidates[t], c) for t, c in zip(targets, cards, strict=True) if c is not None]

    async def _candidates(
        self,
        ns: Namespace,
        query: Query,
        *,
        ranges: bool = False,
        max_nodes: int | Budget | None = None,
    ) -> dict[bytes, Candidate]:
        """Targets matching every looked-up condition, from PHT range queries in parallel.

        Terms and the prefix are looked up; size and time ranges only when there are
        neither, or when ``ranges`` asks for them (else they are checked on the cards).
        """
        jobs: list[tuple[str, Awaitable[Entries]]] = []
        if not ranges:
            for term in query.terms:
                head = term_prefix(term, exact=True)
                jobs.append(("kw", self._pht(ns, KW, read=True).get_prefix(head)))
            if query.prefix:
                raw = term_prefix(query.prefix, exact=False)
                jobs.append(("prefix", self._pht(ns, KW, read=True).get_prefix(raw)))
        if ranges or not jobs:
            if query.min_size is not None or query.max_size is not None:
                bounds = u64_bounds(query.min_size, query.max_size)
                size = self._pht(ns, SIZE, read=True).get_range(*bounds, max_nodes=max_nodes)
                jobs.append(("size", size))
            if query.after is not None or query.before is not None:
                bounds = u64_bounds(query.after, query.before)
                when = self._pht(ns, TIME, read=True).get_range(*bounds, max_nodes=max_nodes)
                jobs.append(("time", when))
        found = await asyncio.gather(*(job for _, job in jobs))
        return intersect(ns.public_key, [kind for kind, _ in jobs], found, query.prefix)

    async def search(self, query: Query) -> Page:
        """Keyword AND / prefix / ranges over every namespace, ranked, one page.

        Up to ``IndexConfig.rank_all`` candidates, every card is fetched and checked.
        Beyond that, only the cards of the page asked for are fetched. Either way the
        order is BM25 over the names, computed from what the keyword entries carry
        (paging.py), then infohash; a range-only query orders by size, then time. The
        cursor is a position in that order, so pages are disjoint and stable, and
        ``total`` is exact unless ``total_exact`` says it is an upper bound.
        """
        query.validate()
        offset = read_cursor(query)
        exact = True  # the candidates are exactly the matches (poison aside)
        if query.has_ranges and (query.terms or query.prefix):
            candidates, exact = await narrowed_candidates(self, query)
        else:
            candidates = await self._all_candidates(query, ranges=False)
        # A term or prefix longer than a kw key keeps matches more than it should.
        words = [*query.terms, *([query.prefix] if query.prefix else [])]
        exact = exact and all(len(w.encode("utf-8")) <= TERM_BYTES for w in words)
        if len(candidates) <= self.config.rank_all:
            # every card checked: ``total`` is exact whatever the entries say
            return await self._ranked_page(query, candidates, offset)
        page = await self._ordered_page(query, candidates, offset)
        if not exact:
            # Candidates a range or a long word may still reject: only the page's cards
            # were checked (checking all of a common word's 2,000 cards took 49 rounds,
            # bench_index), so ``total`` counts what may match, not what does.
            page = dataclasses.replace(page, total_exact=False)
        return page

    async def _all_candidates(
        self, query: Query, *, ranges: bool, max_nodes: int | Budget | None = None
    ) -> dict[bytes, Candidate]:
        per_ns = await asyncio.gather(
            *(
                self._candidates(ns, query, ranges=ranges, max_nodes=max_nodes)
                for ns in self.namespaces
            )
        )
        candidates: dict[bytes, Candidate] = {}
        for part in per_ns:
            for target, found in part.items():
                candidates.setdefault(target, found)
        return candidates

    async def _ranked_page(
        self, query: Query, candidates: dict[bytes, Candidate], offset: int
    ) -> Page:
        """Every card fetched and checked: ``total`` is exact whatever the entries say."""
        fetched = {
            card.target: card
            for _, card in await self._cards({t: c.namespace for t, c in candidates.items()})
        }
        words = len(query.terms) + (1 if query.prefix else 0)
        if words and any(len(c.counts) != words for c in candidates.values()):
            # Found through a range tree (a combined query's selective range): its
            # entries carry no word statistics, the cards' names give them.
            for t, c in candidates.items():
                if (card := fetched.get(t)) is not None:
                    stats_from_name(c, card.name, query.terms, query.prefix)
            score(
                c
                for t, c in candidates.items()
                if len(c.counts) == words and _matches(fetched[t], query)
            )
        by_relevance = _by_relevance(query)
        ordered = sorted(candidates.items(), key=lambda i: (i[1].order(by_relevance), i[0]))
        results = [
            _result(card, c.namespace, c.score)
            for t, c in ordered
            if (card := fetched.get(t)) is not None and _valid(card, c, query)
        ]
        ranked = _dedupe(results)
        page = ranked[offset : offset + query.limit]
        more = offset + query.limit < len(ranked)
        return Page(page, len(ranked), make_cursor(query, offset + query.limit) if more else None)

    async def _ordered_page(
        self, query: Query, candidates: dict[bytes, Candidate], offset: int
    ) -> Page:
        """Only the page's cards fetched, in the order the entries give (the same order
        ``_ranked_page`` takes, so a cursor stays valid when the set grows or shrinks)."""
        ordered = in_entry_order(candidates, _by_relevance(query))
        results: list[Result] = []
        position = offset
        chunk = query.limit
        while position < len(ordered) and len(results) < query.limit:
            # A candidate whose card is missing or does not match (poison, a range not
            # looked up, a term longer than a key keeps) is skipped and the next fill
            # its place; the chunk doubles each round, so a sparse match costs
            # log2 rounds, not one per page's worth of candidates.
            batch = ordered[position : position + chunk]
            cards = await asyncio.gather(*(self.card(t, c.namespace) for t, c in batch))
            used = len(batch)
            for i, ((_, found), card) in enumerate(zip(batch, cards, strict=True)):
                if card is not None and _valid(card, found, query):
                    results.append(_result(card, found.namespace, found.score))
                    if len(results) == query.limit:
                        used = i + 1  # the rest of the chunk waits (in the catalogue)
                        break
            position += used
            chunk *= 2
        more = position < len(ordered)
        return Page(results, len(ordered), make_cursor(query, position) if more else None)

    async def _probe(self, params: LshParams, sig: Sequence[int]) -> dict[bytes, bytes]:
        jobs = []
        owners = []
        for ns in self.namespaces:
            for i, band in enumerate(params.band_hashes(sig)):
                jobs.append(self._pht(ns, lsh_spec(params, i), read=True).get_prefix(band))
                owners.append(ns.public_key)
        found = await asyncio.gather(*jobs)
        out: dict[bytes, bytes] = {}
        for ns_key, part in zip(owners, found, strict=True):
            for value in part.values():
                out.setdefault(value[:20], ns_key)
        return out

    async def similar_to(
        self, what: Sequence[int] | bytes, *, threshold: float | None = None, limit: int = 20
    ) -> list[Result]:
        """Cards whose content signature is similar: LSH probes, then re-ranked by the
        Jaccard estimated from the cards' full signatures. ``what`` is a signature or
        the infohash of a card in the catalogue (that torrent itself is left out)."""
        params = self.config.content_lsh
        if params is None:
            raise QueryError("content similarity is disabled in this index")
        exclude = b""
        if isinstance(what, bytes):
            card = self.catalogue.by_infohash(what)
            if card is None:
                raise QueryError("no card for that infohash here (search for it first)")
            if not card.signature:
                raise QueryError(
                    f"{card.name} has no content signature (listed from a catalogue,"
                    " not shared): there is nothing to compare"
                )
            sig, exclude = card.signature, what
        else:
            sig = tuple(what)
        cut = self.config.threshold if threshold is None else threshold
        found = await self._cards(await self._probe(params, sig))
        results = []
        for ns_key, card in found:
            if card.signature and card.infohash != exclude:
                score = estimate_jaccard(sig, card.signature)
                if score >= cut:
                    results.append(_result(card, ns_key, score))
        return _sorted(results)[:limit]

    async def similar_names(
        self, text: str, *, limit: int = 20, within: Query | None = None
    ) -> list[Result]:
        """Fuzzy name search (typos, word order): 3-gram MinHash LSH, exact re-rank.
        ``within`` keeps only cards in its size and time ranges (its words are unused)."""
        params = self.config.name_lsh
        if params is None:
            raise QueryError("name similarity is disabled in this index")
        grams = name_grams(text)
        found = await self._cards(await self._probe(params, name_signature(text)))
        results = []
        for ns_key, card in found:
            if within is not None and not _in_ranges(card, within):
                continue
            theirs = name_grams(card.name)
            score = len(grams & theirs) / len(grams | theirs)
            if score >= self.config.name_threshold:
                results.append(_result(card, ns_key, score))
        return _sorted(results)[:limit]

    async def corrected(self, query: Query) -> Query | None:
        """``query`` with each word no name has replaced by the nearest known term (see
        ``spelling.py``), or None if no word needed, or found, a correction."""
        return await correct(query, self._kw_keys)

    async def _kw_keys(self, raw: bytes, max_nodes: int) -> list[bytes]:
        walks = [self._pht(ns, KW).get_prefix(raw, max_nodes=max_nodes) for ns in self.namespaces]
        return [key for entries in await asyncio.gather(*walks) for key in entries]

    async def suggest(self, prefix: str, limit: int = 10) -> list[str]:
        """Terms seen in cards that start with the last word of ``prefix``."""
        return self.catalogue.suggest(prefix, limit)


def _by_relevance(query: Query) -> bool:
    return bool(query.terms or query.prefix)


def _valid(card: Card, found: Candidate, query: Query) -> bool:
    """The card is the one the entries named, matches, and has the statistics claimed."""
    return (
        card.infohash[: len(found.infohash)] == found.infohash
        and _matches(card, query)
        and entries_agree(found, card.name, query.terms)
    )


def _result(card: Card, namespace: bytes, score: float) -> Result:
    return Result(
        card.infohash,
        card.name,
        card.size,
        card.files,
        card.created,
        score,
        card.target,
        namespace,
        bool(card.signature),
    )


def _sorted(results: Iterable[Result]) -> list[Result]:
    ordered = sorted(results, key=lambda r: (-r.score, r.name.casefold(), r.infohash))
    return _dedupe(ordered)


def _dedupe(results: Iterable[Result]) -> list[Result]:
    """One result per infohash (the best-ranked card for it)."""
    seen: set[bytes] = set()
    out = []
    for r in results:
        if r.infohash not in seen:
            seen.add(r.infohash)
            out.append(r)
    return out
