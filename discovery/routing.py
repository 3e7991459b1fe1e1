"""The Kademlia routing table (BEP 5): k-buckets that split around our own id. Pure.

Liveness follows BEP 5: a node is *good* if it answered one of our queries in the
last 15 minutes, or answered once and sent us a query in the last 15 minutes;
*questionable* after 15 minutes of silence; *bad* after failing to answer several
queries in a row. A full bucket that cannot split keeps new contacts in a bounded
replacement cache, used when a bad node is evicted.
"""

from __future__ import annotations

import bisect
import random
from dataclasses import dataclass, field

from .errors import KrpcError
from .krpc import Address, compact_address

ID_BITS = 160
K = 8
GOOD_FOR = 15 * 60.0  # BEP 5: "good" within 15 minutes
REFRESH_AFTER = 15 * 60.0  # BEP 5: refresh a bucket not changed for 15 minutes
MAX_FAILS = 2  # libtorrent evicts after a couple of consecutive timeouts
REPLACEMENTS = K  # replacement cache per bucket (bounded memory)


def distance(a: bytes, b: bytes) -> int:
    return int.from_bytes(a, "big") ^ int.from_bytes(b, "big")


@dataclass(slots=True)
class NodeEntry:
    node_id: bytes
    addr: Address
    last_seen: float = 0.0  # last query or response from it
    last_response: float | None = None  # last answer to one of our queries
    fails: int = 0
    key: int = field(init=False, repr=False)  # the id as an integer, for XOR distance
    # BEP 5 compact node info, built once: every find_node/get_peers/get answer sends
    # k of them. Empty for an address that has none (IPv6: BEP 32 is not supported).
    compact: bytes = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self.key = int.from_bytes(self.node_id, "big")
        try:
            self.compact = self.node_id + compact_address(self.addr)
        except KrpcError:
            self.compact = b""

    def is_good(self, now: float) -> bool:
        return (
            self.fails == 0 and self.last_response is not None and now - self.last_seen < GOOD_FOR
        )

    def is_bad(self) -> bool:
        return self.fails >= MAX_FAILS


@dataclass(slots=True)
class Bucket:
    lo: int  # ids in [lo, hi)
    hi: int
    nodes: list[NodeEntry]
    replacements: list[NodeEntry]
    changed: float = 0.0
    mask: int = field(init=False, repr=False)  # -(hi - lo): clears the bits inside the range

    def __post_init__(self) -> None:
        self.mask = -(self.hi - self.lo)

    def covers(self, value: int) -> bool:
        return self.lo <= value < self.hi

    def find(self, node_id: bytes) -> NodeEntry | None:
        for entry in self.nodes:
            if entry.node_id == node_id:
                return entry
        return None


class RoutingTable:
    """k-buckets over the 160-bit id space; the bucket holding our id splits when full."""

    def __init__(self, own_id: bytes, k: int = K) -> None:
        if len(own_id) != 20:
            raise ValueError("a node id is 20 bytes")
        self.own_id = own_id
        self._own = int.from_bytes(own_id, "big")
        self.k = k
        self.buckets = [Bucket(0, 1 << ID_BITS, [], [])]
        self._los = [0]  # each bucket's lo, in order: bisect finds a node's bucket

    def __len__(self) -> int:
        return sum(len(b.nodes) for b in self.buckets)

    def bucket_for(self, node_id: bytes) -> Bucket:
        # Every datagram lands here (heard_from): bisect, not a scan of ~log2 N buckets.
        return self.buckets[bisect.bisect_right(self._los, int.from_bytes(node_id, "big")) - 1]

    def get(self, node_id: bytes) -> NodeEntry | None:
        return self.bucket_for(node_id).find(node_id)

    def heard_from(
        self, node_id: bytes, addr: Address, now: float, *, responded: bool
    ) -> NodeEntry | None:
        """Record contact with a node. Returns a questionable node to ping when the
        new node's bucket is full of live-looking nodes (BEP 5), else None."""
        if node_id == self.own_id:
            return None
        bucket = self.bucket_for(node_id)
        entry = bucket.find(node_id)
        if entry is not None:
            if entry.addr != addr:
                if not entry.fails:
                    return None  # same id from another address: keep the one we know
                # ...unless the one we know stopped answering: the node restarted on a
                # new port (`swarmseek node --port 0` keeps its id), and with no other
                # node for its bucket the dead address would stay forever.
                entry = self._readdress(bucket, entry, addr)
            entry.last_seen = now
            if responded:
                entry.last_response = now
                entry.fails = 0
            bucket.changed = now
            return None
        if len(bucket.nodes) >= self.k and not bucket.covers(self._own):
            # A full bucket that cannot split: a contact it keeps in its replacement
            # cache (a node that queries us again and again) is refreshed in place,
            # exactly as re-adding it would, without building a new entry each time.
            for i, old in enumerate(bucket.replacements):
                if old.node_id == node_id and old.addr == addr:
                    if not any(e.fails >= MAX_FAILS for e in bucket.nodes):
                        return self._refresh_replacement(bucket, i, now, responded)
                    break
        entry = NodeEntry(node_id, addr, now, now if responded else None)
        return self._insert(bucket, entry, now)

    @staticmethod
    def _readdress(bucket: Bucket, entry: NodeEntry, addr: Address) -> NodeEntry:
        fresh = NodeEntry(entry.node_id, addr, entry.last_seen, None)
        bucket.nodes[bucket.nodes.index(entry)] = fresh
        return fresh

    def _refresh_replacement(
        self, bucket: Bucket, i: int, now: float, responded: bool
    ) -> NodeEntry | None:
        entry = bucket.replacements.pop(i)
        entry.last_seen = now
        entry.last_response = now if responded else None
        entry.fails = 0
        bucket.replacements.append(entry)
        return self._stale(bucket, now)

    def _insert(self, bucket: Bucket, entry: NodeEntry, now: float) -> NodeEntry | None:
        while True:
            if len(bucket.nodes) < self.k:
                bucket.nodes.append(entry)
                bucket.changed = now
                self._drop_replacement(bucket, entry.node_id)
                return None
            for i, old in enumerate(bucket.nodes):
                if old.is_bad():
                    bucket.nodes[i] = entry
                    bucket.changed = now
                    return None
            if bucket.covers(self._own) and bucket.hi - bucket.lo > 1:
                self._split(bucket)
                bucket = self.bucket_for(entry.node_id)
                continue
            self._add_replacement(bucket, entry)
            return self._stale(bucket, now)

    @staticmethod
    def _stale(bucket: Bucket, now: float) -> NodeEntry | None:
        # BEP 5: ping the least recently seen node that is not good (is_good inlined:
        # every query from a node outside our table comes here)
        stale = None
        for e in bucket.nodes:
            good = not e.fails and e.last_response is not None and now - e.last_seen < GOOD_FOR
            if not good and (stale is None or e.last_seen < stale.last_seen):
                stale = e
        return stale

    def _split(self, bucket: Bucket) -> None:
        mid = (bucket.lo + bucket.hi) // 2
        low = Bucket(bucket.lo, mid, [], [], bucket.changed)
        high = Bucket(mid, bucket.hi, [], [], bucket.changed)
        for e in bucket.nodes:
            (low if int.from_bytes(e.node_id, "big") < mid else high).nodes.append(e)
        for e in bucket.replacements:
            (low if int.from_bytes(e.node_id, "big") < mid else high).replacements.append(e)
        i = self.buckets.index(bucket)
        self.buckets[i : i + 1] = [low, high]
        self._los.insert(i + 1, mid)

    def _add_replacement(self, bucket: Bucket, entry: NodeEntry) -> None:
        replacements = bucket.replacements
        for i, old in enumerate(replacements):
            if old.node_id == entry.node_id:
                del replacements[i]
                break
        replacements.append(entry)
        del replacements[:-REPLACEMENTS]  # keep the most recent

    @staticmethod
    def _drop_replacement(bucket: Bucket, node_id: bytes) -> None:
        bucket.replacements = [e for e in bucket.replacements if e.node_id != node_id]

    def failed(self, node_id: bytes, now: float) -> None:
        """A query to ``node_id`` timed out; a bad node is replaced from the cache."""
        bucket = self.bucket_for(node_id)
        entry = bucket.find(node_id)
        if entry is None:
            self._drop_replacement(bucket, node_id)
            return
        entry.fails += 1
        if entry.is_bad() and bucket.replacements:
            bucket.nodes.remove(entry)
            bucket.nodes.append(bucket.replacements.pop())
            bucket.changed = now

    def remove(self, node_id: bytes) -> None:
        bucket = self.bucket_for(node_id)
        entry = bucket.find(node_id)
        if entry is not None:
            bucket.nodes.remove(entry)

    def closest(self, target: bytes, n: int | None = None) -> list[NodeEntry]:
        """The ``n`` (default k) closest known nodes that are not bad, by XOR distance."""
        want = self.k if n is None else n
        key = int.from_bytes(target, "big")
        # Every bucket is an aligned power-of-two range of ids, and XOR with the target
        # maps it onto a range of distances disjoint from every other bucket's: whole
        # buckets are taken nearest first until ``want`` nodes are in hand, and only
        # those are sorted (every answer to find_node/get_peers/get calls this).
        # The target's own bucket is nearest of all: when it holds enough live nodes,
        # no other bucket needs a look.
        # Sorted as (distance, entry) pairs: no Python key function per entry, and no
        # tie ever reaches the entries (two entries never share an id).
        buckets = self.buckets
        home = buckets[bisect.bisect_right(self._los, key) - 1].nodes
        if len(home) >= want:
            near = [(e.key ^ key, e) for e in home if e.fails < MAX_FAILS]
            if len(near) >= want:
                near.sort()
                return [e for _, e in near[:want]]
        near = []
        for bucket in sorted(buckets, key=lambda b: (b.lo ^ key) & b.mask):
            near += [(e.key ^ key, e) for e in bucket.nodes if e.fails < MAX_FAILS]
            if len(near) >= want:
                break
        near.sort()
        return [e for _, e in near[:want]]

    def entries(self) -> list[NodeEntry]:
        return [e for b in self.buckets for e in b.nodes]

    def stale_buckets(self, now: float, rng: random.Random) -> list[bytes]:
        """A random target inside each bucket untouched for 15 minutes (BEP 5 refresh)."""
        targets = []
        for bucket in self.buckets:
            if now - bucket.changed >= REFRESH_AFTER:
                bucket.changed = now
                value = rng.randrange(bucket.lo, bucket.hi)
                targets.append(value.to_bytes(20, "big"))
        return targets

    def questionable(self, now: float) -> list[NodeEntry]:
        return [e for e in self.entries() if not e.is_good(now) and not e.is_bad()]
