"""What is searchable and how: cards, Prefix Hash Trees and MinHash/LSH over BEP 44 items."""

from .cache import LeafCache
from .card import Card
from .catalogue import Catalogue
from .counting import IndexStats
from .driver import Pht, PhtCounters
from .entries import IndexConfig, card_entries
from .errors import (
    CardError,
    NodeError,
    PublishError,
    QueryError,
    ReadError,
    SearchIndexError,
)
from .features import (
    chunk_boundaries,
    file_features,
    is_text,
    signature_of_paths,
    torrent_signature,
)
from .lsh import CONTENT_LSH, NAME_LSH, LshParams
from .namespace import OPEN_NAMESPACE_PHRASE, OPEN_NAMESPACE_SEED, Namespace
from .pht import TreeSpec
from .query import Page, Query, Result, normalise
from .search import SearchIndex

__all__ = [
    "CONTENT_LSH",
    "NAME_LSH",
    "OPEN_NAMESPACE_PHRASE",
    "OPEN_NAMESPACE_SEED",
    "Card",
    "CardError",
    "Catalogue",
    "IndexConfig",
    "IndexStats",
    "LeafCache",
    "LshParams",
    "Namespace",
    "NodeError",
    "Page",
    "Pht",
    "PhtCounters",
    "PublishError",
    "Query",
    "QueryError",
    "ReadError",
    "Result",
    "SearchIndex",
    "SearchIndexError",
    "TreeSpec",
    "card_entries",
    "chunk_boundaries",
    "file_features",
    "is_text",
    "normalise",
    "signature_of_paths",
    "torrent_signature",
]
