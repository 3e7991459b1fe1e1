"""What a card adds to the index: its PHT entries by tree, and the index's settings. Pure.

``kw``, ``size`` and ``time`` entries for every card; ``lsh<i>`` bands of its content
signature, and ``nlsh<i>`` bands of its name's 3-gram signature where enabled.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from .card import Card
from .features import NAME_PERM, name_grams, signature
from .lsh import CONTENT_LSH, NAME_LSH, LshParams
from .pht import TreeSpec
from .query import KW, SIZE, TAIL_BYTES, TIME, VALUE_BYTES, entry_value, kw_entries, u64_key

Entries = dict[bytes, bytes]


@dataclass(frozen=True, slots=True)
class IndexConfig:
    content_lsh: LshParams | None = CONTENT_LSH
    name_lsh: LshParams | None = NAME_LSH
    threshold: float = 0.5  # similar_to: estimated Jaccard kept after re-ranking
    name_threshold: float = 0.3  # similar_names: 3-gram Jaccard kept
    retries: int = 32
    # A leaf write the DHT refused or let time out (no node stored it) is tried again
    # after this, doubling, WRITE_ATTEMPTS times in all (driver.py): a busy moment
    # does not fail an import of 10^5 cards.
    write_retry_delay: float = 0.5
    # A get the DHT could not answer (too few nodes did: discovery's LookupFailed) is
    # tried again after about this long, doubling, ``read_attempts`` times in all
    # (counting.py); then the search or publish fails with ReadError instead of taking
    # the PHT node for absent (a silently partial result, or a write over what it did
    # not see).
    read_attempts: int = 3
    read_retry_delay: float = 0.25
    lookup_width: int = 3  # parallel gets per PHT lookup round: fewer sequential rounds
    in_flight: int = 64  # DHT operations outstanding at once, over all trees
    # Gets searches have outstanding at once, apart from publishing's (None: as many as
    # ``in_flight``). A common word's walk fetches a few hundred nodes, so this bound,
    # not the tree, sets its rounds (2000 matches, 380 gets: 2 rounds at 256, 7 at 64).
    # Not higher by default: at 256 on a 20-node network in one process gets timed out
    # (a get nobody answered once read as an absent node: test_node_search lost entries;
    # now it is retried, then fails the search with ReadError).
    read_in_flight: int | None = None
    max_range_nodes: int = 2048  # PHT nodes one range/prefix query may fetch
    # Up to this many candidates a search fetches every card and ranks by BM25; beyond
    # it, only the page's cards (a popular term at 10^5 cards has thousands).
    rank_all: int = 64


def lsh_spec(params: LshParams, band: int) -> TreeSpec:
    return TreeSpec(params.tree(band), 8 + TAIL_BYTES, VALUE_BYTES)


def name_signature(name: str) -> tuple[int, ...]:
    return signature(name_grams(name), NAME_PERM)


def card_entries(card: Card, config: IndexConfig) -> dict[TreeSpec, Entries]:
    """Every PHT entry one card adds, by tree. Pure."""
    target = card.target
    value = entry_value(target, card.infohash)
    out: dict[TreeSpec, Entries] = {
        KW: kw_entries(card.name, target, card.infohash, card.size, card.created),
        SIZE: {u64_key(card.size, target): value},
        TIME: {u64_key(card.created, target): value},
    }
    bands: list[tuple[LshParams, Sequence[int]]] = []
    if config.content_lsh is not None and card.signature:
        bands.append((config.content_lsh, card.signature))
    if config.name_lsh is not None and card.name:
        bands.append((config.name_lsh, name_signature(card.name)))
    for params, sig in bands:
        for i, band in enumerate(params.band_hashes(sig)):
            out[lsh_spec(params, i)] = {band + target[:TAIL_BYTES]: value}
    return out
