"""Planning a combined query (keyword or prefix AND a size or time range).

The keyword walk and the range walk start together. If the range finishes first with
few entries, its cards answer (exact: a card carries its name, size and time) and the
keyword walk stops. Once the keyword candidates are known, the range walk may go on
only while it costs less than the alternative, checking every candidate's card: its
budget is cut to a quarter of that many leaves. The budget counts leaves covered, a
property of the tree, so every page of a query takes the same path whatever a reader's
cache holds. So a combined query costs about its cheapest part: a rare term checks its
few cards, a narrow range answers alone or narrows a common term's many candidates.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

from swarmseek.discovery import DhtError

from .errors import QueryError
from .paging import Candidate
from .query import U64, Query
from .walk import Budget

NARROW_LEAVES = 32

if TYPE_CHECKING:
    from .search import SearchIndex


async def narrowed_candidates(
    index: SearchIndex, query: Query
) -> tuple[dict[bytes, Candidate], bool]:
    """Keyword candidates, narrowed by the ranges when that is the cheaper way.

    Returns the candidates and whether they are exact (the ranges applied); if not,
    the caller checks the ranges on every candidate's card.
    """
    if _everything(query.min_size, query.max_size) and _everything(query.after, query.before):
        # A range that holds every key (``min_size=0``) filters nothing: no walk at all.
        return await index._all_candidates(query, ranges=False), True
    # The walk may go on while the leaves it reaches stay fewer than a quarter of the
    # keyword candidates (a walk fetches two to three nodes a leaf) and fewer than
    # NARROW_LEAVES. A walk that stops costs little: the candidates are then paged in
    # BM25 order from their entries and only the page's cards are checked (search.py),
    # about limit/selectivity cards. 32, not 128: with that fallback, 128 leaves cost a
    # common word AND a quarter of all sizes 410 node gets and 10/20 rounds (p50/max)
    # on the 63,664-card catalogue, 32 leaves 340 gets and 10/14 rounds (16 leaves:
    # 300 and 10/13, but "lib*" AND a 15% range took 22 rounds). Counted in leaves, a
    # property of the tree, so a warm reader's cache decides nothing.
    budget = Budget(None)
    budget.cap(min(index.config.max_range_nodes, NARROW_LEAVES))
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
        # Not how many cards are still to fetch (the catalogue has some): every page
        # of one query must take the same path, or the order would change under it.
        if isinstance(found, Exception) or len(found) <= few:
            narrowing.cancel()  # few: their cards come in one round, no more than the walk
        else:
            budget.cap(len(found) // 4)
    if isinstance(found, Exception):
        raise found
    ranged = None if narrowing.cancelled() else narrowing.result()
    if ranged is None or budget.exceeded:  # (it may have ended before the cut)
        return found, False  # the ranges cover more nodes than the candidates: cards
    return _narrowed(found, ranged), True


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
    except (QueryError, DhtError):
        return None  # too broad to walk cheaply: the ranges are checked on the cards


def _everything(lo: int | None, hi: int | None) -> bool:
    return (lo is None or lo <= 0) and (hi is None or hi >= U64)


def _narrowed(
    candidates: dict[bytes, Candidate], ranged: dict[bytes, Candidate]
) -> dict[bytes, Candidate]:
    out = {}
    for target, c in candidates.items():
        r = ranged.get(target)
        if r is not None:
            c.size, c.created = r.size, r.created
            out[target] = c
    return out
