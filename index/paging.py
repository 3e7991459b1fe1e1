"""Candidates of a search and the order a large result set is paged in. Pure.

A search's candidates come from PHT entries, which carry more than a target: the key
of a ``kw`` entry holds the whole term (so a prefix query knows which completion
matched), a ``size`` or ``time`` key holds the number. When a query matches too many
cards to fetch them all, this is what orders them, so only the cards of the page
asked for are fetched. A ``kw`` entry's value also carries its name's length in terms
and the term's count in it, which is all BM25 needs: a large result set is ranked by
relevance exactly as a small one whose cards were all fetched, and both take the same
order, so a cursor stays valid when a result set grows past ``rank_all``.

Entries are written by anyone in the open namespace, so what they claim is checked
against the card before a result is shown (``entries_agree``): statistics inflated to
rank a card higher make that card's result vanish instead.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from .query import (
    INFOHASH_ID_BYTES,
    KW_VALUE_BYTES,
    TERM_BYTES,
    kw_numbers,
    normalise,
    term_prefix,
)
from .rank import bm25_scores

Entries = dict[bytes, bytes]
UNKNOWN = 2**64  # sorts a candidate whose size or time no entry told after all others


@dataclass(slots=True)
class Candidate:
    """What the entries say about one target; checked against its card before use."""

    namespace: bytes
    infohash: bytes  # its first INFOHASH_ID_BYTES (what a keyword entry carries)
    extra: int = 0  # characters the matched term has beyond the prefix (0: exact)
    size: int = UNKNOWN
    created: int = UNKNOWN
    length: int = 0  # terms in the name (0: no keyword entry said)
    counts: list[int] = field(default_factory=list)  # per wanted term: its count in the name
    score: float = 0.0  # BM25 over the candidate set (``score``), from the entries alone

    def order(self, by_relevance: bool) -> tuple[float, int, int, int, bytes]:
        """The paging order: relevance first when the query has words, else size, time."""
        if by_relevance:
            return (-self.score, self.extra, 0, 0, self.infohash)
        return (0.0, 0, self.size, self.created, self.infohash)


def intersect(
    namespace: bytes, kinds: Sequence[str], found: Sequence[Entries], prefix: str | None
) -> dict[bytes, Candidate]:
    """Targets present in every result set of ``found`` (one per looked-up condition)."""
    if not found:
        return {}
    info: dict[bytes, Candidate] = {}
    sets: list[set[bytes]] = []
    plen = len(term_prefix(prefix, exact=False)) if prefix else 0
    words = sum(1 for kind in kinds if kind in ("kw", "prefix"))
    word = 0
    told: dict[bytes, tuple[int | None, int | None]] = {}  # what kw entries say, agreed
    for kind, entries in zip(kinds, found, strict=True):
        targets: set[bytes] = set()
        for key, value in entries.items():
            target = value[:20]
            targets.add(target)
            c = info.get(target)
            if c is None:
                ident = value[20 : 20 + INFOHASH_ID_BYTES]
                c = info[target] = Candidate(namespace, ident, extra=UNKNOWN, counts=[0] * words)
            if kind in ("kw", "prefix"):
                _tell(told, target, kw_numbers(value))
                stats = 20 + INFOHASH_ID_BYTES
                count = value[stats + 1] if len(value) >= KW_VALUE_BYTES else 1
                if len(value) >= KW_VALUE_BYTES:
                    c.length = max(c.length, value[stats])
                if kind == "kw":  # one entry per card and term: a second is not added
                    c.counts[word] = max(c.counts[word], count)
                else:  # a prefix: one entry per completion in the name
                    c.counts[word] += count
            if kind == "prefix":
                end = key.find(b"\0")  # the term ends at its NUL (query.py, kw keys)
                extra = (end if 0 <= end <= TERM_BYTES else TERM_BYTES) - plen
                c.extra = min(c.extra, max(extra, 0))
            elif kind == "size":
                c.size = int.from_bytes(key[:8], "big")
            elif kind == "time":
                c.created = int.from_bytes(key[:8], "big")
        if kind in ("kw", "prefix"):
            word += 1
        sets.append(targets)
    common = set.intersection(*sets)
    out = {t: info[t] for t in common}
    for t, c in out.items():
        if c.extra == UNKNOWN:
            c.extra = 0  # no prefix in the query: every candidate matches as well
        size, created = told.get(t, (None, None))
        if c.size == UNKNOWN and size is not None:
            c.size = size
        if c.created == UNKNOWN and created is not None:
            c.created = created
    score(out.values())
    return out


def _tell(
    told: dict[bytes, tuple[int | None, int | None]],
    target: bytes,
    numbers: tuple[int | None, int | None],
) -> None:
    """Keep what a target's keyword entries say of its size and time while they agree:
    entries that disagree (a hostile writer's) leave it unknown, checked on the card."""
    known = told.get(target)
    if known is None:
        told[target] = numbers
    elif known != numbers:
        told[target] = (
            known[0] if known[0] == numbers[0] else None,
            known[1] if known[1] == numbers[1] else None,
        )


def score(candidates: Iterable[Candidate]) -> None:
    """BM25 of every candidate, the candidate set being the corpus (as ``rank.bm25``).

    A candidate whose entries carry no length is taken to be of average length.
    """
    group = list(candidates)
    known = [c.length for c in group if c.length]
    avg = round(sum(known) / len(known)) if known else 1
    lengths = [c.length or avg for c in group]
    words = len(group[0].counts) if group else 0
    tfs = [[c.counts[j] for c in group] for j in range(words)]
    for c, s in zip(group, bm25_scores(lengths, tfs), strict=True):
        c.score = s


def in_entry_order(
    candidates: dict[bytes, Candidate], by_relevance: bool = True
) -> list[tuple[bytes, Candidate]]:
    """Candidates in paging order, one per infohash (the first in that order)."""
    seen: set[bytes] = set()
    out = []
    ordered = sorted(candidates.items(), key=lambda item: (item[1].order(by_relevance), item[0]))
    for target, c in ordered:
        if c.infohash not in seen:
            seen.add(c.infohash)
            out.append((target, c))
    return out


def stats_from_name(c: Candidate, name: str, terms: Sequence[str], prefix: str | None) -> None:
    """Give ``c`` the statistics its keyword entries would carry, from its card's name
    (for candidates found through a range tree, whose entries carry none)."""
    words = normalise(name)
    keys = Counter(term_prefix(w, exact=True) for w in words)
    c.length = min(len(words), 255)
    c.counts = [min(keys[term_prefix(t, exact=True)], 255) for t in terms]
    if prefix:
        head = term_prefix(prefix, exact=False)
        c.counts.append(sum(min(n, 255) for key, n in keys.items() if key.startswith(head)))
        # as ``intersect`` reads it from the completions' keys (a term ends at its NUL)
        ends = [len(key) - 1 for key in keys if key.startswith(head)]
        c.extra = max(min(ends) - len(head), 0) if ends else UNKNOWN


def entries_agree(c: Candidate, name: str, terms: Sequence[str]) -> bool:
    """Whether the statistics the entries gave ``c`` are its card's ``name``'s own.

    The length and each exact term's count come from one entry each, so they must
    match. A prefix's count sums several entries and is not checked: anyone may add an
    entry for any card, so a count above the name's would let a writer hide someone
    else's card; inflating it only moves a card up in prefix queries.
    """
    if not c.length:
        return True  # entries without statistics (or a range-only query): nothing claimed
    words = normalise(name)
    if c.length != min(len(words), 255):
        return False
    if len(c.counts) < len(terms):
        return True
    keys = Counter(term_prefix(w, exact=True) for w in words)
    return all(
        c.counts[j] == min(keys[term_prefix(term, exact=True)], 255) for j, term in enumerate(terms)
    )
