"""Who we upload to: BEP 3 tit-for-tat choking, and how deep to queue requests.

Pure: the adapter passes peer statistics and ``now``; the choker answers which
peers to choke and unchoke. BEP 3 ("choking"): unchoke the peers that upload to us
fastest, re-evaluated every 10 seconds, plus one *optimistic unchoke* rotated every
30 seconds so new peers get a chance to prove themselves. A seed has nothing to
download, so it ranks peers by how fast it uploads to them instead.
"""

from __future__ import annotations

import random
from collections.abc import Hashable, Sequence
from dataclasses import dataclass

from .wire_messages import BLOCK_SIZE

Peer = Hashable

# BEP 3: "rechoking every ten seconds", optimistic unchoke "rotates every 30 seconds".
UNCHOKE_INTERVAL = 10.0
OPTIMISTIC_INTERVAL = 30.0
# A peer that sent us no block for 60 s while we wanted data and were unchoked is
# "snubbed" (libtorrent and the original client use 60 s).
SNUB_TIMEOUT = 60.0
# Peers connected for less than this get 3x the weight in the optimistic draw: the
# original client's rule, so newcomers obtain a first piece to trade quickly.
NEW_PEER_WINDOW = 3 * OPTIMISTIC_INTERVAL


@dataclass(frozen=True, slots=True)
class PeerStats:
    """What the choker needs to know about one connected peer."""

    peer: Peer
    interested: bool  # the peer is interested in us
    download_rate: float  # bytes/s the peer sends us
    upload_rate: float  # bytes/s we send the peer
    connected_at: float
    snubbed: bool = False


@dataclass(frozen=True, slots=True)
class ChokeDecision:
    unchoke: frozenset[Peer]  # send Unchoke to these (they were choked)
    choke: frozenset[Peer]  # send Choke to these (they were unchoked)
    optimistic: Peer | None


def is_snubbed(
    now: float,
    *,
    am_interested: bool,
    peer_choking: bool,
    last_block_at: float | None,
    unchoked_at: float | None,
    timeout: float = SNUB_TIMEOUT,
) -> bool:
    """No block for ``timeout`` seconds while we are interested and unchoked by the peer."""
    if not am_interested or peer_choking or unchoked_at is None:
        return False
    since = unchoked_at if last_block_at is None else max(last_block_at, unchoked_at)
    return now - since >= timeout


def desired_queue_depth(
    download_rate: float,
    *,
    queue_time: float = 3.0,
    block_size: int = BLOCK_SIZE,
    minimum: int = 2,
    maximum: int = 500,
    snubbed: bool = False,
    received: int = 0,
) -> int:
    """How many block requests to keep outstanding with a peer.

    libtorrent's ``update_desired_queue_size``: rate x ``request_queue_time`` (3 s) /
    block size, clamped to [2, ``max_out_request_queue`` = 500]; a snubbed peer gets 1.
    Enough requests in flight to cover the round trip keep the pipe full.

    Until the rate is known (0), ``received`` blocks from the peer so far add one
    request each: libtorrent's slow start, which doubles the queue every round trip
    (a fast peer is not held to ``minimum`` for its first second).
    """
    if snubbed:
        return 1
    if download_rate <= 0:
        return max(minimum, min(maximum, minimum + received))
    depth = int(download_rate * queue_time / block_size)
    return max(minimum, min(maximum, depth))


class Choker:
    """Tit-for-tat unchoking. Call ``rechoke`` whenever ``due(now)``; apply the result."""

    def __init__(
        self,
        rng: random.Random,
        *,
        slots: int = 4,
        interval: float = UNCHOKE_INTERVAL,
        optimistic_interval: float = OPTIMISTIC_INTERVAL,
        new_peer_window: float = NEW_PEER_WINDOW,
    ) -> None:
        if slots < 0:
            raise ValueError("slots must be >= 0")
        self.rng = rng
        self.slots = slots
        self.interval = interval
        self.optimistic_interval = optimistic_interval
        self.new_peer_window = new_peer_window
        self.unchoked: frozenset[Peer] = frozenset()
        self.optimistic: Peer | None = None
        self._next_at: float | None = None
        self._optimistic_until: float | None = None

    def due(self, now: float) -> bool:
        return self._next_at is None or now >= self._next_at

    @property
    def next_at(self) -> float | None:
        """When the adapter should call ``rechoke`` next (None: right away)."""
        return self._next_at

    def forget(self, peer: Peer) -> None:
        """A peer disconnected."""
        self.unchoked = self.unchoked - {peer}
        if self.optimistic == peer:
            self.optimistic = None
            self._optimistic_until = None

    def rechoke(self, now: float, peers: Sequence[PeerStats], *, seeding: bool) -> ChokeDecision:
        """Choose who is unchoked from ``now`` on; returns the changes to send."""
        self._next_at = now + self.interval
        known = {s.peer: s for s in peers}
        regular = self._regular(peers, seeding)
        optimistic = self._optimistic(now, known, regular)
        wanted = frozenset(regular) | ({optimistic} if optimistic is not None else set())
        decision = ChokeDecision(wanted - self.unchoked, self.unchoked - wanted, optimistic)
        self.unchoked = wanted
        return decision

    def _regular(self, peers: Sequence[PeerStats], seeding: bool) -> list[Peer]:
        def rate(s: PeerStats) -> float:
            return s.upload_rate if seeding else s.download_rate

        eligible = [s for s in peers if s.interested and not s.snubbed]
        # Ties (e.g. everyone at 0 at start) are broken at random, not by list order.
        ranked = sorted(eligible, key=lambda s: (-rate(s), self.rng.random()))
        return [s.peer for s in ranked[: self.slots]]

    def _optimistic(
        self, now: float, known: dict[Peer, PeerStats], regular: list[Peer]
    ) -> Peer | None:
        current = self.optimistic
        keep = (
            current is not None
            and current in known
            and current not in regular
            and known[current].interested
            and self._optimistic_until is not None
            and now < self._optimistic_until
        )
        if keep:
            return current
        choices = [s for s in known.values() if s.interested and s.peer not in regular]
        if len(choices) > 1:  # rotate: someone else gets the next turn
            choices = [s for s in choices if s.peer != current]
        if not choices:
            self.optimistic, self._optimistic_until = None, None
            return None
        weights = [3.0 if now - s.connected_at < self.new_peer_window else 1.0 for s in choices]
        self.optimistic = self.rng.choices(choices, weights)[0].peer
        self._optimistic_until = now + self.optimistic_interval
        return self.optimistic
