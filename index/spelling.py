"""Spelling correction of query words from the keyword tree, at no cost to the index.

A ``kw`` key begins with the term itself (``query.py``), so one prefix walk over a
word's first letters lists every known term there without fetching a single card.
A query that no name matches in full is then retried with each unknown word replaced
by the nearest known term (optimal string alignment distance: a letter wrong, missing,
added, or two swapped); word order never mattered, the query is an AND. Typos in the
first ``PREFIX`` letters are not caught: a walk over fewer letters would cover a large
part of the tree. The walk itself is passed in (``SearchIndex._kw_keys``).
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections import Counter
from collections.abc import Awaitable, Callable, Iterable

from rapidfuzz.distance import OSA

from .errors import QueryError
from .query import TERM_BYTES, Query, term_prefix

# Keys of the kw entries under a key prefix, in every namespace searched; raises
# QueryError when the walk would fetch more PHT nodes than its second argument.
KeyWalk = Callable[[bytes, int], Awaitable[list[bytes]]]

PREFIX = 3  # letters a word is trusted to begin with
# A walk that would fetch more PHT nodes than this is too broad: retried one letter longer.
WALK_NODES = 128
MAX_TRIES = 3  # walks per word (3, 4, 5 letters), each one a few DHT rounds


def max_edits(word: str) -> int:
    """Edits a word may be away from its correction: none below 4 letters (too many
    short terms are one edit apart), one up to 7, two from 8."""
    if len(word) < 4:
        return 0
    return 1 if len(word) < 8 else 2


def walk_prefixes(word: str) -> list[str]:
    """The prefixes to walk for ``word``, shortest first."""
    last = min(len(word) - 1, PREFIX + MAX_TRIES - 1)
    return [word[:n] for n in range(PREFIX, last + 1)]


def terms_of(keys: Iterable[bytes]) -> Counter[str]:
    """Known terms (cut to ``TERM_BYTES``, as stored) and how many entries have each."""
    out: Counter[str] = Counter()
    for key in keys:
        raw = key.split(b"\0", 1)[0][:TERM_BYTES]
        out[raw.decode("utf-8", "ignore")] += 1
    return out


def _stored(word: str) -> str:
    return word.encode("utf-8")[:TERM_BYTES].decode("utf-8", "ignore")


def nearest(word: str, known: Counter[str], *, prefix: bool = False) -> str | None:
    """The known term nearest ``word`` within ``max_edits``: fewest edits, then the most
    entries, then alphabetical. ``prefix``: ``word`` is the start of a word, compared
    with the same number of letters of each term. None if ``word`` is known or none is
    near enough."""
    stored = _stored(word)
    if any(t.startswith(stored) for t in known) if prefix else stored in known:
        return None
    limit = max_edits(word)
    best: tuple[int, int, str] | None = None
    for term in known:
        other = term[: len(stored)] if prefix else term
        edits = OSA.distance(stored, other, score_cutoff=limit)
        if edits > limit:
            continue
        rank = (edits, -known[term], other)
        if best is None or rank < best:
            best = rank
    return None if best is None else best[2]


async def correct(query: Query, walk: KeyWalk) -> Query | None:
    """``query`` with its unknown words (and prefix) replaced by their nearest known
    terms, or None when no word needed, or found, a correction.

    A term of ``TERM_BYTES`` or more is stored cut short, so its whole spelling is not
    known: such a correction becomes the query's prefix (which matches the same names
    but for a longer term sharing those bytes), when the query has no prefix already."""
    words = [(t, False) for t in query.terms]
    if query.prefix:
        words.append((query.prefix, True))
    fixes = await asyncio.gather(*(_spelled(w, p, walk) for w, p in words))
    prefix = (fixes[-1] or query.prefix) if query.prefix else None
    terms = []
    for (word, is_prefix), fix in zip(words, fixes, strict=True):
        if is_prefix:
            continue
        if fix is None or len(fix.encode("utf-8")) < TERM_BYTES:
            terms.append(fix or word)
        elif prefix is None:
            prefix = fix
        else:
            terms.append(word)  # one prefix per query: this word stays as it was
    if tuple(terms) == query.terms and prefix == query.prefix:
        return None
    return dataclasses.replace(query, terms=tuple(terms), prefix=prefix, cursor=None)


async def _spelled(word: str, prefix: bool, walk: KeyWalk) -> str | None:
    if max_edits(word) == 0:
        return None
    for start in walk_prefixes(word):
        try:
            keys = await walk(term_prefix(start, exact=False), WALK_NODES)
        except QueryError:
            continue  # too many terms start so: one letter more
        return nearest(word, terms_of(keys), prefix=prefix)
    return None
