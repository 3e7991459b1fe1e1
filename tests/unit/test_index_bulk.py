"""A 10^4-card bulk import: each leaf is written about once, and every card is found."""

from __future__ import annotations

import hashlib
import random

from swarmseek.discovery import MemoryItemStore
from swarmseek.index import Card, IndexConfig, Query, SearchIndex

CARDS = 10_000


def synthetic_cards(n: int) -> list[Card]:
    rng = random.Random(0)
    alphabet = "abcdefghijklmnopqrstuvwxyz0123456789"
    words = ["".join(rng.choice(alphabet) for _ in range(rng.randint(3, 9))) for _ in range(5000)]
    return [
        Card.create(
            hashlib.sha1(b"%d" % i).digest(),
            " ".join(rng.choice(words) for _ in range(rng.randint(2, 6))),
            rng.randrange(10**11),
            1,
            1_500_000_000 + rng.randrange(300_000_000),
        )
        for i in range(n)
    ]


async def test_bulk_import_puts_and_items_per_card() -> None:
    cards = synthetic_cards(CARDS)
    store = MemoryItemStore()
    config = IndexConfig(content_lsh=None, name_lsh=None)  # the LSH trees: see the benchmark
    index = SearchIndex(store, config=config)
    await index.publish(cards)
    puts_per_card = store.counters.puts / CARDS
    items_per_card = len(store) / CARDS
    # ~6 entries per card (terms, size, time) in leaves of B=17..19, plus the card itself
    assert items_per_card < 4.5, items_per_card
    # each item written about once: a rewrite of a leaf would show as puts > items
    assert puts_per_card < items_per_card * 1.05, (puts_per_card, items_per_card)
    assert index.stats.puts_per_card == puts_per_card  # the index counts what it costs
    assert index.stats.items_per_card == items_per_card
    reader = SearchIndex(store, config=config)
    rng = random.Random(1)
    for card in rng.sample(cards, 30):
        term = card.name.split()[-1]
        page = await reader.search(Query((term,), limit=1000))
        assert card.infohash in {r.infohash for r in page.results}
        page = await reader.search(Query(min_size=card.size, max_size=card.size))
        assert [r.infohash for r in page.results] == [card.infohash]
