"""Candidates of a search and the order a large result set is paged in. Pure.

A search's candidates come from PHT entries, which carry more than a target: the key
of a ``kw`` entry holds the whole term (so a prefix query knows which completion
matched), a ``size`` or ``time`` key holds the number. When a query matches too many
cards to fetch them all, this is what orders them, so only the cards of the page
asked for are fetched (BM25 needs each name's length, which no entry carries).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from .query import TERM_BYTES, term_prefix

Entries = dict[bytes, bytes]
UNKNOWN = 2**64  # sorts a candidate whose size or time no entry told after all others


@dataclass(slots=True)
class Candidate:
    """What the entries say about one target; checked against its card before use."""

    namespace: bytes
    infohash: bytes
    extra: int = 0  # characters the matched term has beyond the prefix (0: exact)
    size: int = UNKNOWN
    created: int = UNKNOWN

    def order(self) -> tuple[int, int, int, bytes]:
        return (self.extra, self.size, self.created, self.infohash)

    @property
    def score(self) -> float:
        """Closeness of the matched term to the prefix (1.0: the prefix is the term)."""
        return 1.0 / (1 + self.extra)


def intersect(
    namespace: bytes, kinds: Sequence[str], found: Sequence[Entries], prefix: str | None
) -> dict[bytes, Candidate]:
    """Targets present in every result set of ``found`` (one per looked-up condition)."""
    if not found:
        return {}
    info: dict[bytes, Candidate] = {}
    sets: list[set[bytes]] = []
    plen = len(term_prefix(prefix, exact=False)) if prefix else 0
    for kind, entries in zip(kinds, found, strict=True):
        targets: set[bytes] = set()
        for key, value in entries.items():
            target = value[:20]
            targets.add(target)
            c = info.get(target)
            if c is None:
                c = info[target] = Candidate(namespace, value[20:40], extra=UNKNOWN)
            if kind == "prefix":
                end = key.find(b"\0")  # the term ends at its NUL (query.py, kw keys)
                extra = (end if 0 <= end <= TERM_BYTES else TERM_BYTES) - plen
                c.extra = min(c.extra, max(extra, 0))
            elif kind == "size":
                c.size = int.from_bytes(key[:8], "big")
            elif kind == "time":
                c.created = int.from_bytes(key[:8], "big")
        sets.append(targets)
    common = set.intersection(*sets)
    out = {t: info[t] for t in common}
    for c in out.values():
        if c.extra == UNKNOWN:
            c.extra = 0  # no prefix in the query: every candidate matches as well
    return out


def in_entry_order(candidates: dict[bytes, Candidate]) -> list[tuple[bytes, Candidate]]:
    """Candidates in paging order, one per infohash (the first in that order)."""
    seen: set[bytes] = set()
    out = []
    for target, c in sorted(candidates.items(), key=lambda item: (item[1].order(), item[0])):
        if c.infohash not in seen:
            seen.add(c.infohash)
            out.append((target, c))
    return out
