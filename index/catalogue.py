"""The local catalogue: cards this node has seen or published (SQLite), and a trie of
the terms in their names (pygtrie) for instant ``suggest(prefix)``.

SQLite calls here are local and short (one row); the facade calls them inline.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Iterator
from pathlib import Path

import pygtrie

from .card import Card
from .errors import CardError
from .query import normalise

_SCHEMA = """
CREATE TABLE IF NOT EXISTS index_cards (
    target BLOB PRIMARY KEY,
    infohash BLOB NOT NULL,
    namespace BLOB NOT NULL,
    value BLOB NOT NULL,
    published INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS index_cards_infohash ON index_cards(infohash);
"""


class Catalogue:
    """Cards by target and infohash; ``published`` marks the ones this node re-puts."""

    def __init__(self, path: str | Path = ":memory:") -> None:
        self._db = sqlite3.connect(str(path))
        self._db.executescript(_SCHEMA)
        self._terms: pygtrie.CharTrie = pygtrie.CharTrie()
        for (value,) in self._db.execute("SELECT value FROM index_cards"):
            self._count_terms(Card.decode(value))

    def close(self) -> None:
        self._db.close()

    def add(self, card: Card, namespace: bytes, *, published: bool = False) -> None:
        self.add_many([card], namespace, published=published)

    def add_many(self, cards: Iterable[Card], namespace: bytes, *, published: bool = False) -> None:
        """``add`` for many cards in one transaction: a commit per card (a sync to disk
        each) held the event loop for minutes in an import of 61,664 cards."""
        with self._db:
            for card in cards:
                self._add(card, namespace, published)

    def _add(self, card: Card, namespace: bytes, published: bool) -> None:
        target = card.target
        existing = self._db.execute(
            "SELECT published FROM index_cards WHERE target = ?", (target,)
        ).fetchone()
        if existing is None:
            self._db.execute(
                "INSERT INTO index_cards VALUES (?, ?, ?, ?, ?)",
                (target, card.infohash, namespace, card.encode(), int(published)),
            )
            self._count_terms(card)
        elif published and not existing[0]:
            self._db.execute("UPDATE index_cards SET published = 1 WHERE target = ?", (target,))

    def _count_terms(self, card: Card) -> None:
        for term in set(normalise(card.name)):
            self._terms[term] = self._terms.get(term, 0) + 1

    def get(self, target: bytes) -> Card | None:
        row = self._db.execute(
            "SELECT value FROM index_cards WHERE target = ?", (target,)
        ).fetchone()
        return None if row is None else _decode(row[0])

    def by_infohash(self, infohash: bytes) -> Card | None:
        row = self._db.execute(
            "SELECT value FROM index_cards WHERE infohash = ? LIMIT 1", (infohash,)
        ).fetchone()
        return None if row is None else _decode(row[0])

    def published(self) -> Iterator[tuple[bytes, Card]]:
        """(namespace public key, card) for every card this node published."""
        rows = self._db.execute(
            "SELECT namespace, value FROM index_cards WHERE published = 1 ORDER BY target"
        ).fetchall()
        for namespace, value in rows:
            yield namespace, _decode(value)

    def suggest(self, prefix: str, limit: int = 10) -> list[str]:
        """Seen terms starting with ``prefix``, most frequent first, then alphabetical."""
        parts = normalise(prefix)
        if not parts or limit <= 0:
            return []
        try:
            found = list(self._terms.iteritems(prefix=parts[-1]))
        except KeyError:
            return []
        found.sort(key=lambda item: (-item[1], item[0]))
        return [term for term, _ in found[:limit]]

    def __len__(self) -> int:
        return int(self._db.execute("SELECT COUNT(*) FROM index_cards").fetchone()[0])


def _decode(value: bytes) -> Card:
    try:
        return Card.decode(value)
    except CardError as exc:  # our own database: corrupt rather than poisoned
        raise CardError(f"corrupt catalogue row: {exc}") from exc
