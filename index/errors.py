"""One exception tree for ``swarmseek.index`` (never the builtin ``IndexError``)."""

from __future__ import annotations


class SearchIndexError(Exception):
    """Base class of every error raised by ``swarmseek.index``."""


class CardError(SearchIndexError, ValueError):
    """A card is malformed, too large or poisoned (the network's fault)."""


class NodeError(SearchIndexError, ValueError):
    """A PHT node item is malformed (a poisoned or foreign item in the namespace)."""


class QueryError(SearchIndexError, ValueError):
    """A query or cursor is malformed (the caller's fault)."""


class PublishError(SearchIndexError):
    """A write to the index could not be completed (every CAS retry lost, or no node)."""


class ReadError(SearchIndexError):
    """The DHT could not say what a node of the index holds: too few nodes answered its
    get, retries included. A search stops rather than return what it read elsewhere
    (a partial answer), and a write stops rather than decide on a read that saw
    nothing. Trying again later (a loaded or churning network) may succeed."""
