"""Iterative Kademlia lookups driven by replies and timeouts (Kademlia §2.3). Pure.

``IterativeLookup`` keeps the candidates sorted by XOR distance to the target, keeps
at most ``alpha`` queries in flight, and is done when the ``k`` closest candidates
that did not fail have all answered (or nobody is left to ask). The same object
drives ``find_node``, ``get_peers`` and BEP 44 ``get``; what a reply carries beyond
nodes (peers, items) is the caller's business, but the write token is kept here so
a following ``announce_peer`` or ``put`` can use it.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

from .krpc import Address

MAX_CANDIDATES = 256  # bounds memory whatever the replies claim


class State(Enum):
    NEW = "new"
    IN_FLIGHT = "in flight"
    ANSWERED = "answered"
    FAILED = "failed"


@dataclass(slots=True)
class Candidate:
    node_id: bytes
    addr: Address
    distance: int
    state: State = State.NEW
    token: bytes | None = None


@dataclass(frozen=True, slots=True)
class QueryTo:
    """A query the lookup wants sent."""

    node_id: bytes
    addr: Address


class IterativeLookup:
    def __init__(self, target: bytes, k: int = 8, alpha: int = 3) -> None:
        self.target = target
        self._key = int.from_bytes(target, "big")
        self.k = k
        self.alpha = alpha
        self._candidates: dict[bytes, Candidate] = {}
        self._stopped = False
        self.queries_sent = 0

    def add_candidates(self, nodes: list[tuple[bytes, Address]]) -> None:
        for node_id, addr in nodes:
            if node_id in self._candidates or len(node_id) != 20:
                continue
            self._candidates[node_id] = Candidate(
                node_id, addr, int.from_bytes(node_id, "big") ^ self._key
            )
        if len(self._candidates) > MAX_CANDIDATES:
            self._trim()

    def _trim(self) -> None:
        # Drop the farthest never-asked candidates: they can't matter to the k closest.
        ordered = sorted(self._candidates.values(), key=lambda c: c.distance)
        for c in ordered[MAX_CANDIDATES:]:
            if c.state is State.NEW:
                del self._candidates[c.node_id]

    def _ordered(self) -> list[Candidate]:
        return sorted(
            (c for c in self._candidates.values() if c.state is not State.FAILED),
            key=lambda c: c.distance,
        )

    def next_queries(self, now: float) -> list[QueryTo]:
        """Queries to send now (at most ``alpha`` in flight). ``now`` is unused but kept
        so callers that schedule by time share one shape."""
        del now
        if self.done:
            return []
        ordered = self._ordered()
        in_flight = sum(1 for c in ordered if c.state is State.IN_FLIGHT)
        out = []
        for c in ordered[: self.k]:
            if in_flight >= self.alpha:
                break
            if c.state is State.NEW:
                c.state = State.IN_FLIGHT
                in_flight += 1
                self.queries_sent += 1
                out.append(QueryTo(c.node_id, c.addr))
        return out

    def on_response(
        self,
        node_id: bytes,
        nodes: list[tuple[bytes, Address]],
        token: bytes | None = None,
        addr: Address | None = None,
    ) -> None:
        """A reply from ``node_id``. With ``addr``, a node queried by address only
        (a bootstrap node whose id we did not know) joins as already answered."""
        c = self._candidates.get(node_id)
        if c is None and addr is not None:
            c = Candidate(node_id, addr, int.from_bytes(node_id, "big") ^ self._key)
            c.state = State.IN_FLIGHT
            self._candidates[node_id] = c
        if c is None or c.state is not State.IN_FLIGHT:
            return
        c.state = State.ANSWERED
        c.token = token
        self.add_candidates(nodes)

    def on_timeout(self, node_id: bytes) -> None:
        c = self._candidates.get(node_id)
        if c is not None and c.state is State.IN_FLIGHT:
            c.state = State.FAILED

    def revive(self, node_id: bytes) -> None:
        """A node that timed out answered after all: accept its reply next."""
        c = self._candidates.get(node_id)
        if c is not None and c.state is State.FAILED:
            c.state = State.IN_FLIGHT

    def stop(self) -> None:
        """End early (an immutable item was found)."""
        self._stopped = True

    @property
    def in_flight(self) -> int:
        return sum(1 for c in self._candidates.values() if c.state is State.IN_FLIGHT)

    @property
    def done(self) -> bool:
        if self._stopped:
            return True
        top = self._ordered()[: self.k]
        return all(c.state is State.ANSWERED for c in top)

    def result(self) -> list[Candidate]:
        """The k closest candidates that answered, closest first."""
        answered = [c for c in self._ordered() if c.state is State.ANSWERED]
        return answered[: self.k]
