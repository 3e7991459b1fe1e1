"""Issue 5: the index works when half the DHT nodes are libtorrent nodes.

Cards from the Debian catalogue are published through one of our nodes into a loopback
DHT where half the nodes are libtorrent sessions (which store BEP 44 items as any
Mainline node does), then searched from another of our nodes with a fresh catalogue,
so every result comes from the DHT. Results must equal a brute-force scan. Then every
node of ours but the reader is stopped, and the same searches, from a fresh index
again, must still find everything: only libtorrent nodes hold the items then.
"""

from __future__ import annotations

import asyncio
import gzip
import json
import random
from pathlib import Path
from typing import Any

import pytest

from swarmseek.discovery import DhtNode
from swarmseek.index import Card, IndexConfig, Query, SearchIndex, normalise
from tests.support.mixed_dht import lt_counters, mixed_dht, our_config

pytestmark = [pytest.mark.interop, pytest.mark.timeout(120)]

CATALOGUE = Path(__file__).parents[2] / "data" / "catalogue" / "debian-bookworm.jsonl.gz"
N_LT = 10
N_OURS = 10
CARDS = 200
# The publisher stores each item on more nodes than we run, so every item has at
# least two libtorrent replicas and survives the death of all our other nodes
# (with k=8 of 20, ~0.4% of items would land on our nodes only).
PUBLISHER_K = N_OURS + 2
# Name-similarity LSH is off: it triples the items per card, and this test is about
# keyword, prefix and range queries (the trees are the same kind of mutable item).
# 16 operations in flight, not 64: libtorrent answers a burst from its own threads at
# once, and where net.core.rmem_max keeps the OS default (~200 KiB) a burst of 64 puts'
# replies overflowed the publisher's socket while its event loop was busy.
CONFIG = IndexConfig(name_lsh=None, in_flight=16)


def catalogue_cards(n: int) -> list[Card]:
    with gzip.open(CATALOGUE, "rt", encoding="utf-8") as f:
        lines = f.read().splitlines()
    step = len(lines) // n
    cards = []
    for i, line in enumerate(lines[::step][:n]):
        row = json.loads(line)
        infohash = bytes.fromhex(row["infohash"])
        cards.append(
            Card.create(infohash, row["name"], row["size"], row["files"], 1_600_000_000 + i)
        )
    return cards


def brute_force(cards: list[Card], query: Query) -> set[bytes]:
    out = set()
    for card in cards:
        terms = set(normalise(card.name))
        if not set(query.terms) <= terms:
            continue
        if query.prefix and not any(t.startswith(query.prefix) for t in terms):
            continue
        if query.min_size is not None and card.size < query.min_size:
            continue
        if query.max_size is not None and card.size > query.max_size:
            continue
        out.add(card.infohash)
    return out


QUERIES = [
    Query(("amd64",), limit=1000),
    Query(("dev", "amd64"), limit=1000),
    Query((), prefix="lib", limit=1000),
    Query(("all",), prefix="python", limit=1000),
    Query((), min_size=1_000_000, max_size=5_000_000, limit=1000),
    Query(("deb",), min_size=5_000_000, limit=1000),
]


async def search_all(index: SearchIndex, cards: list[Card], queries: list[Query] = QUERIES) -> None:
    # In parallel: after our nodes die, every lookup waits out timeouts on them (their
    # ids stay in libtorrent's replies), and parallel queries wait them out together.
    pages = await asyncio.gather(*(index.search(q) for q in queries))
    for query, page in zip(queries, pages, strict=True):
        expected = brute_force(cards, query)
        assert expected, f"a query that matches nothing proves nothing: {query}"
        assert {r.infohash for r in page.results} == expected, query
        assert page.total == len(expected)


def lt_items(sessions: list[Any]) -> int:
    names = ("dht.dht_immutable_data", "dht.dht_mutable_data")
    return sum(sum(lt_counters(s, *names).values()) for s in sessions)


async def test_index_on_half_libtorrent_dht() -> None:
    cards = catalogue_cards(CARDS)
    async with mixed_dht(N_LT, N_OURS - 2) as net:
        rng = random.Random(7)
        boot = tuple(net.lt_addresses) + tuple(n.address for n in net.nodes)
        # Short query timeout for the reader: after our other nodes die, lookups keep
        # meeting them (libtorrent still lists them), each costing one timeout; late
        # answers from live nodes are still taken (DhtNode accepts late replies).
        reader = await net.add(DhtNode(our_config(boot, rng, query_timeout=0.5)))
        publisher = await net.add(DhtNode(our_config(boot, rng, k=PUBLISHER_K)))
        await asyncio.gather(reader.bootstrap(), publisher.bootstrap())
        index = SearchIndex(publisher, config=CONFIG)
        await index.publish(cards)
        written = len(index.stats.items)

        # libtorrent nodes hold index items: each item went to the PUBLISHER_K closest
        # nodes, at least two of them libtorrent sessions.
        held = await asyncio.to_thread(lt_items, net.sessions)
        assert held >= 2 * written, (held, written)

        await search_all(SearchIndex(reader, config=CONFIG), cards)

        # Only libtorrent nodes and the reader are left; the reader never asks itself.
        for node in [n for n in net.nodes if n is not reader]:
            await net.stop(node)
        # A keyword, a prefix and a size range: each tree, and cards, from libtorrent only.
        survivors = [QUERIES[1], QUERIES[2], QUERIES[4]]
        await search_all(SearchIndex(reader, config=CONFIG), cards, survivors)
