"""Planning a combined query (keyword or prefix AND a size or time range).

The keyword lookups and the range walks start together. Once the keyword candidates are
known, the range walk may go on only while it costs less than the alternative it
replaces, checking every candidate's card (one get each; exact: a card carries its own
size and time): its node budget is cut to that many gets, and to a couple of rounds'
worth of gets whatever the candidates. A walk fetches the same nodes
whatever a reader's cache holds, so every page of a query takes the same path. So a combined
query costs about its cheapest part: a rare term checks its few cards, a narrow range
narrows a common term's many candidates, and neither ever waits for the other's
expensive half.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

from swarmseek.discovery import DhtError

from .errors import QueryError
from .paging import Candidate
from .query import Query
from .walk import Budget

NARROW_ROUNDS = 2

if TYPE_CHECKING:
    from .search import SearchIndex


async def narrowed_candidates(
    index: SearchIndex, query: Query
) -> tuple[dict[bytes, Candidate], bool]:
    """Keyword candidates, narrowed by the ranges when that is the cheaper way.

    Returns the candidates and whether they are exact (the ranges applied); if not,
    the caller checks the ranges on every candidate's card.
    """
    # The walk may take about what two rounds of gets carry (``in_flight`` each) and no
    # more gets than there are candidates: with one limit only, a broad range walked
    # 2000 nodes before failing, and then the 2000 cards were checked anyway.
    budget = Budget(min(index.config.max_range_nodes, NARROW_ROUNDS * index.config.in_flight))
    failed: Exception | None = None
    async with asyncio.TaskGroup() as tg:
        narrowing = tg.create_task(_narrowing(index, query, budget))
        try:
            candidates = await index._all_candidates(query, ranges=False)
        except Exception as exc:  # re-raised as itself below, not wrapped
            failed = exc  # in the TaskGroup's ExceptionGroup
            candidates = {}
        # Not how many cards are still to fetch (the catalogue has some): every page
        # of one query must take the same path, or the order would change under it.
        if failed is not None or len(candidates) <= index.config.rank_all:
            narrowing.cancel()  # few: their cards come in one round, no more than the walk
        else:
            budget.cap(len(candidates))
    if failed is not None:
        raise failed
    if narrowing.cancelled():
        return candidates, False
    ranged = narrowing.result()
    if ranged is None:
        return candidates, False  # the ranges cover more nodes than there are cards
    return _narrowed(candidates, ranged), True


async def _narrowing(
    index: SearchIndex, query: Query, budget: Budget
) -> dict[bytes, Candidate] | None:
    try:
        return await index._all_candidates(query, ranges=True, max_nodes=budget)
    except (QueryError, DhtError):
        return None  # too broad to walk cheaply: the ranges are checked on the cards


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
