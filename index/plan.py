"""Planning a combined query (keyword or prefix AND a size or time range).

A keyword entry carries its card's size and creation time (query.py), so the keyword
or prefix walk answers the ranges from its own entries: the candidates it finds are
filtered as they stand, and the result is exact (the total is the number of matches,
no card fetched to count them) unless some entry could not say (a number too large
for its field, or entries of one card that disagree): those are kept and checked on
their cards. So a combined query costs no more than its keyword walk, however broad
its range (a common word AND a quarter of all sizes used to walk a thousand range
leaves or check thousands of cards).

A range walk still starts alongside, for the one case where it is the cheaper side:
a narrow range and a broad word or prefix. It may reach only ``SELECTIVE_LEAVES``
leaves; if it finishes first with few entries, its cards answer (exact: a card
carries its name, size and time) and the keyword walk stops. If the word is too broad
to walk at all (a short prefix), a range walk that finished answers instead.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

from swarmseek.discovery import DhtError

from .errors import QueryError, ReadError
from .paging import UNKNOWN, Candidate, score
from .query import U64, Query
from .walk import Budget

# A range of at most ``rank_all`` (64) entries fills a few size/time leaves (B = 18);
# beyond this many leaves, or nodes fetched, it is not the selective side, and the walk
# stops (it runs in parallel with the keyword walk: it costs gets, not rounds).
SELECTIVE_LEAVES = 16
SELECTIVE_FETCHES = 96

if TYPE_CHECKING:
    from .search import SearchIndex


async def narrowed_candidates(
    index: SearchIndex, query: Query
) -> tuple[dict[bytes, Candidate], bool]:
    """The candidates of a combined query, and whether they are exactly its matches
    (else the caller checks the ranges on every candidate's card)."""
    if _everything(query.min_size, query.max_size) and _everything(query.after, query.before):
        # A range that holds every key (``min_size=0``) filters nothing: no walk at all.
        return await index._all_candidates(query, ranges=False), True
    budget = Budget(SELECTIVE_FETCHES)
    budget.cap(min(index.config.max_range_nodes, SELECTIVE_LEAVES))
    few = index.config.rank_all
    async with asyncio.TaskGroup() as tg:
        keyword = tg.create_task(_keyword(index, query))
        narrowing = tg.create_task(_narrowing(index, query, budget))
        done, _ = await asyncio.wait({keyword, narrowing}, return_when=asyncio.FIRST_COMPLETED)
        ranged = narrowing.result() if narrowing in done else None
        if ranged is not None and len(ranged) <= few and keyword not in done:
            # The range is the selective part: its few cards are checked for the words
            # (exact: a card carries its name), the keyword walk is not needed.
            keyword.cancel()
            return ranged, False
        found = await keyword
        if isinstance(found, Exception):
            ranged = await narrowing  # the word is too broad: the range may answer
        else:
            narrowing.cancel()  # the keyword entries answer the ranges themselves
    if isinstance(found, Exception):
        if ranged is None:
            raise found
        return ranged, False
    return in_ranges(found, query)


def in_ranges(
    candidates: dict[bytes, Candidate], query: Query
) -> tuple[dict[bytes, Candidate], bool]:
    """The candidates whose entries put them in the query's ranges, re-scored over that
    set (BM25 takes the matches as its corpus, as when every card was fetched), and
    whether every one was decided (a candidate whose entries did not say is kept)."""
    out: dict[bytes, Candidate] = {}
    exact = True
    for target, c in candidates.items():
        inside = _inside(c.size, query.min_size, query.max_size) and _inside(
            c.created, query.after, query.before
        )
        if inside is None:
            exact = False
        if inside is not False:
            out[target] = c
    score(out.values())
    return out, exact


def _inside(value: int, lo: int | None, hi: int | None) -> bool | None:
    if lo is None and hi is None:
        return True
    if value == UNKNOWN:
        return None
    return (lo is None or value >= lo) and (hi is None or value <= hi)


async def _keyword(index: SearchIndex, query: Query) -> dict[bytes, Candidate] | Exception:
    try:
        return await index._all_candidates(query, ranges=False)
    except Exception as exc:  # re-raised as itself by the caller, not wrapped in the
        return exc  # TaskGroup's ExceptionGroup


async def _narrowing(
    index: SearchIndex, query: Query, budget: Budget
) -> dict[bytes, Candidate] | None:
    try:
        return await index._all_candidates(query, ranges=True, max_nodes=budget)
    except (QueryError, ReadError, DhtError):
        return None  # not the selective side (or unreadable): the keyword entries answer


def _everything(lo: int | None, hi: int | None) -> bool:
    return (lo is None or lo <= 0) and (hi is None or hi >= U64)
