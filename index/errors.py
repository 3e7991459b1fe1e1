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
