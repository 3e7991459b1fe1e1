"""What a DHT node keeps for others: announced peers, BEP 44 items, write tokens,
and per-source rate limits. Pure (time passed in), every structure bounded.
"""

from __future__ import annotations

import bisect
import hashlib
import random
from collections import OrderedDict, deque
from dataclasses import dataclass

from swarmseek.transfer import Value, encode

from .errors import CasConflict, SeqTooLow
from .items import MutableItem
from .krpc import Address

PEER_TTL = 30 * 60.0  # BEP 5 leaves it open; libtorrent forgets peers after 30 min
ITEM_TTL = 2 * 60 * 60.0  # BEP 44: items may be discarded after 2 hours
TOKEN_ROTATE = 5 * 60.0  # a token stays valid for 5-10 minutes (BEP 5: "up to ten")
TOKEN_CACHE = 4096  # tokens remembered per secret (one per requesting IP): bounded memory


class PeerStore:
    """Peers announced per infohash, LRU-bounded in infohashes and peers per infohash."""

    def __init__(self, max_infohashes: int = 2000, max_peers: int = 100) -> None:
        self.max_infohashes = max_infohashes
        self.max_peers = max_peers
        self._peers: OrderedDict[bytes, OrderedDict[Address, float]] = OrderedDict()

    def announce(self, infohash: bytes, addr: Address, now: float) -> None:
        peers = self._peers.get(infohash)
        if peers is None:
            peers = self._peers[infohash] = OrderedDict()
            while len(self._peers) > self.max_infohashes:
                self._peers.popitem(last=False)
        self._peers.move_to_end(infohash)
        peers[addr] = now
        peers.move_to_end(addr)
        while len(peers) > self.max_peers:
            peers.popitem(last=False)

    def peers(self, infohash: bytes, now: float, rng: random.Random, n: int = 50) -> list[Address]:
        entries = self._peers.get(infohash)
        if not entries:
            return []
        live = [a for a, t in entries.items() if now - t < PEER_TTL]
        rng.shuffle(live)
        return live[:n]

    def entries(self) -> list[tuple[bytes, Address, float]]:
        """Every (infohash, peer, time announced), oldest infohash first."""
        return [(ih, addr, t) for ih, peers in self._peers.items() for addr, t in peers.items()]

    def expire(self, now: float) -> None:
        for infohash in list(self._peers):
            entries = self._peers[infohash]
            for addr in [a for a, t in entries.items() if now - t >= PEER_TTL]:
                del entries[addr]
            if not entries:
                del self._peers[infohash]

    def __len__(self) -> int:
        return sum(len(p) for p in self._peers.values())


@dataclass(slots=True)
class StoredItem:
    """An immutable value (``mutable`` None) or a mutable item, with its store time."""

    value: Value
    stored_at: float
    mutable: MutableItem | None = None


class ItemStorage:
    """BEP 44 items held for others: bounded, oldest-touched evicted first, 2 h expiry."""

    def __init__(self, max_items: int = 1000) -> None:
        self.max_items = max_items
        self._items: OrderedDict[bytes, StoredItem] = OrderedDict()
        # (stored_at, target) in the order items were stored (``now`` never goes back),
        # so expiry looks only at the oldest, not at every item: a full scan every 5 s
        # cost a node holding 30,000 items more than the lookups it served. An entry whose
        # item was stored again since is stale and skipped; the queue is rebuilt when
        # stale entries outnumber live ones, so it stays within twice the items held.
        self._by_age: deque[tuple[float, bytes]] = deque()

    def __len__(self) -> int:
        return len(self._items)

    def get(self, target: bytes, now: float) -> StoredItem | None:
        item = self._items.get(target)
        if item is None:
            return None
        if now - item.stored_at >= ITEM_TTL:
            del self._items[target]
            return None
        self._items.move_to_end(target)
        return item

    def _keep(self, target: bytes, item: StoredItem) -> None:
        self._items[target] = item
        self._items.move_to_end(target)
        queue = self._by_age
        if not queue or queue[-1][0] <= item.stored_at:
            queue.append((item.stored_at, target))
        else:  # restored with its age: older than the newest
            bisect.insort(queue, (item.stored_at, target))
        while len(self._items) > self.max_items:
            self._items.popitem(last=False)
        if len(queue) > 2 * len(self._items) + 64:
            self._by_age = deque(sorted((i.stored_at, t) for t, i in self._items.items()))

    def put_immutable(self, target: bytes, value: Value, now: float) -> None:
        """Store a value whose target the caller has checked (SHA-1 of its bencoding)."""
        self._keep(target, StoredItem(value, now))

    def put_mutable(self, item: MutableItem, cas: int | None, now: float) -> None:
        """Store a verified mutable item; BEP 44 rules for ``seq`` and ``cas``.

        Raises CasConflict (301) if ``cas`` differs from the stored seq, SeqTooLow
        (302) if the stored seq is higher, or equal with another value.
        """
        target = item.target
        current = self.get(target, now)
        if current is not None and current.mutable is not None:
            old = current.mutable
            if cas is not None and cas != old.seq:
                raise CasConflict(current_seq=old.seq)
            if item.seq < old.seq or (
                item.seq == old.seq and encode(item.value) != encode(old.value)
            ):
                raise SeqTooLow(current_seq=old.seq)
        self._keep(target, StoredItem(item.value, now, item))

    def expire(self, now: float) -> None:
        queue = self._by_age
        while queue and now - queue[0][0] >= ITEM_TTL:
            stored_at, target = queue.popleft()
            item = self._items.get(target)
            if item is not None and item.stored_at == stored_at:
                del self._items[target]

    def items(self) -> list[tuple[bytes, StoredItem]]:
        return list(self._items.items())


class TokenSecrets:
    """Write tokens bound to the requester's IP from a secret rotated every 5 minutes;
    the current and previous secrets are accepted, so a token lives 5-10 minutes."""

    def __init__(self, rng: random.Random, now: float) -> None:
        self._rng = rng
        self._current = rng.randbytes(16)
        self._previous = self._current
        self._rotated = now
        self._issued: tuple[bytes, dict[str, bytes]] = (self._current, {})

    def _rotate(self, now: float) -> None:
        while now - self._rotated >= TOKEN_ROTATE:
            self._previous, self._current = self._current, self._rng.randbytes(16)
            self._rotated += TOKEN_ROTATE
            if now - self._rotated >= TOKEN_ROTATE:  # long idle: both old secrets stale
                self._previous = self._current = self._rng.randbytes(16)
                self._rotated = now

    @staticmethod
    def _make(secret: bytes, ip: str) -> bytes:
        return hashlib.sha1(secret + ip.encode()).digest()[:8]

    def token_for(self, ip: str, now: float) -> bytes:
        self._rotate(now)
        cache = self._issued
        if cache[0] is not self._current or len(cache[1]) >= TOKEN_CACHE:
            cache = self._issued = (self._current, {})
        token = cache[1].get(ip)
        if token is None:  # every get/get_peers answer carries one: hash once per secret
            token = cache[1][ip] = self._make(self._current, ip)
        return token

    def valid(self, token: bytes, ip: str, now: float) -> bool:
        # Most tokens come back within one secret: check the one issued (cached) first.
        if token == self.token_for(ip, now):
            return True
        return token == self._make(self._previous, ip)


class RateLimiter:
    """A token bucket per source IP (``rate`` packets/s, ``burst`` deep), LRU-bounded."""

    def __init__(self, rate: float, burst: float, max_sources: int = 4096) -> None:
        self.rate = rate
        self.burst = burst
        self.max_sources = max_sources
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()

    def allow(self, ip: str, now: float) -> bool:
        level, last = self._buckets.get(ip, (self.burst, now))
        level = min(self.burst, level + (now - last) * self.rate)
        allowed = level >= 1.0
        self._buckets[ip] = (level - 1.0 if allowed else level, now)
        self._buckets.move_to_end(ip)
        while len(self._buckets) > self.max_sources:
            self._buckets.popitem(last=False)
        return allowed
