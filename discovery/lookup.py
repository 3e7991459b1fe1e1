"""Iterative Kademlia lookups driven by replies and timeouts (Kademlia §2.3). Pure.

``IterativeLookup`` keeps the candidates sorted by XOR distance to the target, keeps
at most ``alpha`` queries in flight (a query reported slow no longer counts, so a
dead node does not hold a slot until its timeout), and is done when the ``k``
closest candidates that did not fail have all answered (or nobody is left to ask). The same object
drives ``find_node``, ``get_peers`` and BEP 44 ``get``; what a reply carries beyond
nodes (peers, items) is the caller's business, but the write token is kept here so
a following ``announce_peer`` or ``put`` can use it.
"""

from __future__ import annotations

import bisect
from collections.abc import Container, Iterable
from dataclasses import dataclass
from enum import Enum
from typing import Protocol

from .krpc import Address

MAX_CANDIDATES = 256  # bounds memory whatever the replies claim


class State(Enum):
    NEW = "new"
    IN_FLIGHT = "in flight"
    SLOW = "slow"  # asked, no answer yet after query_slow: no longer holds an alpha slot
    ANSWERED = "answered"
    FAILED = "failed"


@dataclass(slots=True)
class Candidate:
    node_id: bytes
    addr: Address
    distance: int
    state: State = State.NEW
    token: bytes | None = None


_Entry = tuple[int, bytes, Address]  # a candidate: distance, node id, address


class KnownNode(Protocol):
    """A node from our routing table (``routing.NodeEntry``): its id also as an int."""

    @property
    def node_id(self) -> bytes: ...

    @property
    def addr(self) -> Address: ...

    @property
    def key(self) -> int: ...


class IterativeLookup:
    """With ``final_round`` (Kademlia §2.3): once a reply brings no node closer than the
    closest already seen, the lookup has converged, and every one of the k closest not
    yet asked is asked at once instead of ``alpha`` at a time (it must hear from all of
    them before it is done anyway); a reply that does bring a closer node goes back to
    ``alpha`` in flight. This cuts the sequential rounds of a lookup that runs to the
    end (find_node, get_peers, a mutable get, the lookup of a put)."""

    def __init__(
        self, target: bytes, k: int = 8, alpha: int = 3, *, final_round: bool = True
    ) -> None:
        self.target = target
        self._key = int.from_bytes(target, "big")
        self.k = k
        self.alpha = alpha
        self.final_round = final_round
        self._width = alpha  # queries allowed in flight: alpha, or k in the final round
        # Every candidate as (distance, id, address), kept sorted by distance: every
        # reply asks for the k closest, so they are maintained on insert instead of
        # sorted per reply (distances are unique, so the tuples never compare further).
        # Most candidates are never asked: they stay bare tuples, and a ``Candidate``
        # with a state is made only when one is asked (a lookup starts from 2k known
        # nodes and asks alpha of them; each reply brings up to k more).
        self._by_distance: list[_Entry] = []
        self._known: dict[bytes, _Entry] = {}
        self._asked: dict[bytes, Candidate] = {}
        self._in_flight = 0
        self._stopped = False
        self.queries_sent = 0

    def add_candidates(self, nodes: Iterable[tuple[bytes, Address]]) -> None:
        known, key = self._known, self._key
        by_distance = self._by_distance
        before = len(by_distance)
        for node_id, addr in nodes:
            if node_id in known or len(node_id) != 20:
                continue
            entry = known[node_id] = (int.from_bytes(node_id, "big") ^ key, node_id, addr)
            by_distance.append(entry)
        if len(by_distance) != before:  # timsort merges the sorted run and the new ones
            by_distance.sort()
        if len(known) > MAX_CANDIDATES:
            self._trim()

    def add_known(self, entries: Iterable[KnownNode]) -> None:
        """Candidates from our routing table. The same as ``add_candidates`` with their
        ids and addresses, without converting each id to an int again (every lookup
        starts here, on the path to its first query)."""
        known, key = self._known, self._key
        by_distance = self._by_distance
        before = len(by_distance)
        for e in entries:
            node_id = e.node_id
            if node_id in known or len(node_id) != 20:
                continue
            entry = known[node_id] = (e.key ^ key, node_id, e.addr)
            by_distance.append(entry)
        if len(by_distance) != before:
            by_distance.sort()
        if len(known) > MAX_CANDIDATES:
            self._trim()

    @property
    def known(self) -> Container[bytes]:
        """The ids of every candidate (replies need not re-add them)."""
        return self._known.keys()

    def candidates(self) -> list[Candidate]:
        """Every candidate with its state, nearest first (for tests and debugging)."""
        asked = self._asked
        return [asked.get(i) or Candidate(i, a, d) for d, i, a in self._by_distance]

    def _trim(self) -> None:
        # Drop the farthest never-asked candidates: they can't matter to the k closest.
        far = self._by_distance[MAX_CANDIDATES:]
        del self._by_distance[MAX_CANDIDATES:]
        for entry in far:
            if entry[1] in self._asked:
                self._by_distance.append(entry)
            else:
                del self._known[entry[1]]

    def _set(self, c: Candidate, state: State) -> None:
        self._in_flight += (state is State.IN_FLIGHT) - (c.state is State.IN_FLIGHT)
        c.state = state

    def next_queries(self, now: float) -> list[Candidate]:
        """The candidates to ask now (at most ``alpha`` in flight), now marked in flight.
        ``now`` is unused but kept so callers that schedule by time share one shape."""
        del now
        if self._stopped:
            return []
        out: list[Candidate] = []
        seen = 0
        width, asked = self._width, self._asked
        for distance, node_id, addr in self._by_distance:  # the k closest not failed
            if seen == self.k or self._in_flight >= width:
                break
            c = asked.get(node_id)
            if c is None:
                c = asked[node_id] = Candidate(node_id, addr, distance, State.IN_FLIGHT)
                self._in_flight += 1
                self.queries_sent += 1
                out.append(c)
            elif c.state is State.FAILED:
                continue
            seen += 1
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
        c = self._asked.get(node_id)
        by_distance = self._by_distance
        closest = by_distance[0][0] if by_distance else None
        if c is None and addr is not None and node_id not in self._known:
            distance = int.from_bytes(node_id, "big") ^ self._key
            c = self._asked[node_id] = Candidate(node_id, addr, distance, State.ANSWERED)
            entry = self._known[node_id] = (distance, node_id, addr)
            bisect.insort(by_distance, entry)
        elif c is None or c.state not in _ASKED:
            return
        else:
            self._set(c, State.ANSWERED)
        c.token = token
        self.add_candidates(nodes)
        if self.final_round and closest is not None:
            converged = by_distance[0][0] >= closest  # nothing closer came in
            self._width = self.k if converged else self.alpha

    def on_slow(self, node_id: bytes) -> None:
        """No answer yet from ``node_id``: free its alpha slot for the next candidate.
        It still counts among the k closest until it answers or times out."""
        c = self._asked.get(node_id)
        if c is not None and c.state is State.IN_FLIGHT:
            self._set(c, State.SLOW)

    def on_timeout(self, node_id: bytes) -> None:
        c = self._asked.get(node_id)
        if c is not None and c.state in _ASKED:
            self._set(c, State.FAILED)

    def revive(self, node_id: bytes) -> None:
        """A node that timed out answered after all: accept its reply next."""
        c = self._asked.get(node_id)
        if c is not None and c.state is State.FAILED:
            self._set(c, State.IN_FLIGHT)

    def stop(self) -> None:
        """End early (an immutable item was found)."""
        self._stopped = True

    @property
    def stopped(self) -> bool:
        """Ended early by ``stop``: the k closest may not all have been asked."""
        return self._stopped

    @property
    def in_flight(self) -> int:
        return self._in_flight

    @property
    def done(self) -> bool:
        if self._stopped:
            return True
        seen = 0
        asked = self._asked
        for entry in self._by_distance:  # done when the k closest live ones all answered
            if seen == self.k:
                break
            c = asked.get(entry[1])
            if c is None:
                return False  # never asked
            if c.state is State.FAILED:
                continue
            if c.state is not State.ANSWERED:
                return False
            seen += 1
        return True

    def closest_outcomes(self, own: bytes | None = None) -> tuple[int, int]:
        """Of the k closest nodes asked, how many answered and how many failed. ``own``:
        a node id (ours, whose store was read without a query) that counts as answered
        if it falls among them. A node not asked, or still waiting, is neither: a done
        lookup has none nearer than its k-th answer."""
        window: list[tuple[int, bool]] = []
        asked, k = self._asked, self.k
        for distance, node_id, _ in self._by_distance:
            c = asked.get(node_id)
            if c is not None and c.state in _SETTLED:
                window.append((distance, c.state is State.ANSWERED))
                if len(window) == k:
                    break
        if own is not None:
            bisect.insort(window, (int.from_bytes(own, "big") ^ self._key, True))
            del window[k:]
        answered = sum(1 for _, ok in window if ok)
        return answered, len(window) - answered

    def result(self) -> list[Candidate]:
        """The k closest candidates that answered, closest first."""
        asked, out = self._asked, []
        for entry in self._by_distance:
            c = asked.get(entry[1])
            if c is not None and c.state is State.ANSWERED:
                out.append(c)
                if len(out) == self.k:
                    break
        return out


_ASKED = (State.IN_FLIGHT, State.SLOW)
_SETTLED = (State.ANSWERED, State.FAILED)
