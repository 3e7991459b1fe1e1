"""Peer counts for search results: a bounded DHT ``get_peers`` per result of a page."""

from __future__ import annotations

import asyncio
import time

from swarmseek.discovery import DhtError

from .node import Node

PEER_LOOKUP_SECONDS = 1.0  # a page waits at most this for its get_peers lookups
PEER_COUNT_RESULTS = 20  # results of a page whose peers are counted (the first ones)
PEER_COUNT_TTL = 300.0  # seconds a count is reused (paging, repeated searches)
PEER_COUNT_CACHE = 4096  # counts remembered at most


class PeerCounts:
    """How many peers the DHT knows for each result of a page (BEP 5 ``get_peers``).

    Only the page's first results are asked, all in parallel, and the page waits at
    most ``PEER_LOOKUP_SECONDS``: a result whose lookup did not finish shows ``None``
    (unknown), never a guess. Counts are reused for a few minutes.
    """

    def __init__(self, node: Node, timeout: float = PEER_LOOKUP_SECONDS) -> None:
        self.node = node
        self.timeout = timeout
        self._known: dict[bytes, tuple[float, int]] = {}

    async def counts(self, infohashes: list[bytes]) -> dict[bytes, int]:
        now = time.monotonic()
        out = {}
        wanted = []
        for infohash in infohashes[:PEER_COUNT_RESULTS]:
            known = self._known.get(infohash)
            if known is not None and now - known[0] < PEER_COUNT_TTL:
                out[infohash] = known[1]
            else:
                wanted.append(infohash)
        if wanted:
            found = await asyncio.gather(*(self._count(ih) for ih in wanted))
            for infohash, count in zip(wanted, found, strict=True):
                if count is not None:
                    out[infohash] = count
                    self._remember(infohash, now, count)
        return out

    async def _count(self, infohash: bytes) -> int | None:
        try:
            async with asyncio.timeout(self.timeout):
                return len(set(await self.node.dht.get_peers(infohash)))
        except (TimeoutError, DhtError):
            return None

    def _remember(self, infohash: bytes, now: float, count: int) -> None:
        if len(self._known) >= PEER_COUNT_CACHE:
            self._known = {k: v for k, v in self._known.items() if now - v[0] < PEER_COUNT_TTL}
            if len(self._known) >= PEER_COUNT_CACHE:
                self._known.clear()
        self._known[infohash] = (now, count)
