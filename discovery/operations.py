"""DHT operations as pure state machines: ping, find_node, get_peers/announce_peer,
BEP 44 get and put. Each one is fed replies, errors and timeouts by the node and
hands back the queries it wants sent; when ``finished`` it holds an ``outcome``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import cast

from swarmseek.transfer import Value

from .errors import DhtError, KrpcError, LookupFailed, PutError
from .krpc import (
    Address,
    ErrorReply,
    Response,
    parse_nodes,
    parse_peers,
)
from .lookup import IterativeLookup, KnownNode


@dataclass(frozen=True, slots=True)
class Send:
    """A query an operation wants sent; ``node_id`` None when only the address is known."""

    node_id: bytes | None
    addr: Address
    method: bytes
    args: dict[bytes, Value]


def too_few_answered(
    nodes_found: bool, answered: int, failed: int, quorum: int, alone: bool
) -> bool:
    """Whether a lookup that found nothing may not say "none": no node answered (unless
    we know of none at all: a network of one), or of the k closest asked fewer than
    ``quorum`` answered (all of them, when fewer were asked). ``GetOp._absent_or_unknown``
    says why this rule and this quorum."""
    if not nodes_found and not alone:
        return True
    return answered < max(1, min(quorum, answered + failed))


def lookup_failed(
    what: str, target: bytes, answered: int, failed: int, seeds_failed: int
) -> LookupFailed:
    silent = f", {seeds_failed} bootstrap nodes silent" if seeds_failed else ""
    return LookupFailed(
        f"too few DHT nodes answered the {what} of {target.hex()}"
        f" ({answered} of the {answered + failed} closest asked{silent})",
        target,
        answered,
        failed,
    )


@dataclass(frozen=True, slots=True)
class PeersFound:
    peers: list[Address]
    nodes: list[tuple[bytes, Address]]


@dataclass(slots=True)
class Stats:
    queries: int = 0
    replies: int = 0
    timeouts: int = 0


class Operation:
    """Base: ``finished`` with ``outcome`` (a result, or a DhtError to raise)."""

    def __init__(self) -> None:
        self.finished = False
        self.outcome: object = None
        self.stats = Stats()
        self.internal = False  # maintenance work the node does for itself

    def sends(self, now: float) -> list[Send]:
        raise NotImplementedError

    def on_reply(self, node_id: bytes | None, addr: Address, reply: Response) -> None:
        raise NotImplementedError

    def on_error(self, node_id: bytes | None, addr: Address, error: ErrorReply) -> None:
        self.on_timeout(node_id, addr)

    def on_timeout(self, node_id: bytes | None, addr: Address) -> None:
        raise NotImplementedError

    def on_late_reply(self, node_id: bytes, addr: Address, reply: Response) -> None:
        """A reply that came after its query timed out; ignored unless overridden."""

    def on_slow(self, node_id: bytes | None, addr: Address) -> None:
        """A query is still unanswered after ``query_slow``; ignored unless overridden."""

    def finish(self, outcome: object) -> None:
        self.finished = True
        self.outcome = outcome


class PingOp(Operation):
    def __init__(self, addr: Address) -> None:
        super().__init__()
        self.addr = addr
        self._sent = False

    def sends(self, now: float) -> list[Send]:
        if self._sent:
            return []
        self._sent = True
        return [Send(None, self.addr, b"ping", {})]

    def on_reply(self, node_id: bytes | None, addr: Address, reply: Response) -> None:
        self.finish(reply.sender)

    def on_error(self, node_id: bytes | None, addr: Address, error: ErrorReply) -> None:
        self.finish(DhtError(f"{addr[0]}:{addr[1]} answered error {error.code}"))

    def on_timeout(self, node_id: bytes | None, addr: Address) -> None:
        self.finish(DhtError(f"no answer from {addr[0]}:{addr[1]}"))


class LookupOp(Operation):
    """An iterative lookup sending ``method`` with ``args``; subclasses read replies."""

    method = b"find_node"

    def __init__(
        self,
        target: bytes,
        known: Sequence[tuple[bytes, Address]] | Sequence[KnownNode],
        seeds: list[Address],
        k: int,
        alpha: int,
    ) -> None:
        super().__init__()
        self.target = target
        self.lookup = IterativeLookup(target, k, alpha)
        if known and isinstance(known[0], tuple):
            self.lookup.add_candidates(cast(Sequence[tuple[bytes, Address]], known))
        else:  # routing table entries (the node's own lookups): ids already as ints
            self.lookup.add_known(cast(Sequence[KnownNode], known))
        self._seeds = list(dict.fromkeys(seeds)) if seeds else []
        self._seeds_out = 0
        self.seeds_failed = 0  # bootstrap addresses that did not answer
        self.exclude: bytes | None = None  # our own id: never a candidate
        self._query_args: dict[bytes, Value] | None = None

    def args(self) -> dict[bytes, Value]:
        return {b"target": self.target}

    def sends(self, now: float) -> list[Send]:
        # One arguments dict for every query of the lookup: the node then encodes it
        # once (krpc.QueryTemplate), not once per node asked.
        args = self._query_args
        if args is None:
            args = self._query_args = self.args()
        method = self.method
        out = []
        if self._seeds:
            out = [Send(None, a, method, args) for a in self._seeds]
            self._seeds_out += len(self._seeds)
            self._seeds = []
        if self.lookup.done:
            if self._seeds_out == 0:
                out += self._after_lookup()
        else:
            out += [Send(q.node_id, q.addr, method, args) for q in self.lookup.next_queries(now)]
        self._check_done()
        return out

    def on_reply(self, node_id: bytes | None, addr: Address, reply: Response) -> None:
        try:
            nodes = parse_nodes(reply.values.get(b"nodes", b""), self.lookup.known)
        except KrpcError:
            nodes = []
        if self.exclude is not None:
            nodes = [n for n in nodes if n[0] != self.exclude]
        token = reply.values.get(b"token")
        token = token if isinstance(token, bytes) else None
        if node_id is None:
            self._seeds_out -= 1
            self.lookup.on_response(reply.sender, nodes, token, addr)
        else:
            self.lookup.on_response(node_id, nodes, token)
        self.read(reply)

    def on_timeout(self, node_id: bytes | None, addr: Address) -> None:
        if node_id is None:
            self._seeds_out -= 1
            self.seeds_failed += 1
        else:
            self.lookup.on_timeout(node_id)

    def on_slow(self, node_id: bytes | None, addr: Address) -> None:
        if node_id is not None:  # a store-phase query is not the lookup's: no-op there
            self.lookup.on_slow(node_id)

    def on_late_reply(self, node_id: bytes, addr: Address, reply: Response) -> None:
        if self.lookup.done:
            return  # too late to matter (and a store phase may be under way)
        self.lookup.revive(node_id)
        LookupOp.on_reply(self, node_id, addr, reply)

    def read(self, reply: Response) -> None:
        """Take what a reply carries beyond nodes (peers, items)."""

    def _after_lookup(self) -> list[Send]:
        return []

    def _check_done(self) -> None:
        if not self.finished and self._seeds_out == 0 and self.lookup.done:
            self.finish(self.result())

    def result(self) -> object:
        return [(c.node_id, c.addr) for c in self.lookup.result()]


class FindNodeOp(LookupOp):
    pass


class GetPeersOp(LookupOp):
    """A get_peers lookup. With a ``quorum`` (the node's own lookups; an announce has
    none), finding no peer is "none" only if enough of the k closest nodes answered, as
    for a BEP 44 get; otherwise the outcome is ``LookupFailed`` ("unknown"), so that a
    swarm whose DHT said nothing is not told the torrent has no peers. ``own``: the
    peers our own store holds, when we are a replica like any other (read without a
    query, and counted among the k closest where our id falls)."""

    method = b"get_peers"

    def __init__(
        self,
        *args: object,
        quorum: int = 0,
        alone: bool = False,
        own: Sequence[Address] | None = None,
        **kwargs: object,
    ) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.quorum = quorum
        self.alone = alone  # we know no other node and have none to bootstrap from
        self.own_replica = own is not None
        self.peers: dict[Address, None] = dict.fromkeys(own or ())

    def args(self) -> dict[bytes, Value]:
        return {b"info_hash": self.target}

    def read(self, reply: Response) -> None:
        if b"values" in reply.values:
            try:
                for peer in parse_peers(reply.values[b"values"]):
                    if len(self.peers) < 1000:  # bounded whatever nodes claim
                        self.peers[peer] = None
            except KrpcError:
                pass

    def result(self) -> object:
        nodes = [(c.node_id, c.addr) for c in self.lookup.result()]
        if self.peers or not self.quorum:
            return PeersFound(list(self.peers), nodes)
        own = self.exclude if self.own_replica else None
        answered, failed = self.lookup.closest_outcomes(own)
        if too_few_answered(bool(nodes), answered, failed, self.quorum, self.alone):
            return lookup_failed("get_peers", self.target, answered, failed, self.seeds_failed)
        return PeersFound([], nodes)


class StorePhase:
    """Phase two of announce/put: one query to each of the k closest that gave a token."""

    def __init__(self, sends: list[Send], accepted: int = 0) -> None:
        self.todo = sends
        self.waiting = {s.addr for s in sends}
        self.accepted = accepted  # counting nodes that took it before this phase
        self.took: list[Address] = []
        self.errors: list[ErrorReply] = []
        self.refused: dict[Address, ErrorReply] = {}  # errors by node (timeouts included)

    def sends(self) -> list[Send]:
        out, self.todo = self.todo, []
        return out

    def answered(self, addr: Address, error: ErrorReply | None = None) -> bool:
        """Record an answer; True if it belonged to this phase."""
        if addr not in self.waiting:
            return False
        self.waiting.discard(addr)
        if error is None:
            self.accepted += 1
            self.took.append(addr)
        else:
            self.errors.append(error)
            self.refused[addr] = error
        return True


class StoringLookup(LookupOp):
    """A lookup followed by a store phase to the closest nodes that answered."""

    store_method = b"put"

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.store: StorePhase | None = None
        # Nodes that already took the item (an earlier store phase): not asked again,
        # but counted in the outcome.
        self.stored_at: set[Address] = set()

    def store_args(self, token: bytes) -> dict[bytes, Value]:
        raise NotImplementedError

    def store_args_for(self, addr: Address, token: bytes) -> dict[bytes, Value]:
        """The store query for one node (the same for all unless a subclass says)."""
        return self.store_args(token)

    def _after_lookup(self) -> list[Send]:
        if self.store is None:
            early = self.outcome_before_store()
            if early is not None:
                self.finish(early)
                return []
            sends = [
                Send(c.node_id, c.addr, self.store_method, self.store_args_for(c.addr, c.token))
                for c in self.lookup.result()
                if c.token is not None and c.addr not in self.stored_at
            ]
            self.store = StorePhase(sends, accepted=len(self.stored_at))
        return self.store.sends()

    def outcome_before_store(self) -> object | None:
        """A result that makes the store phase pointless (None: store)."""
        return None

    def on_reply(self, node_id: bytes | None, addr: Address, reply: Response) -> None:
        if self.store is not None and self.store.answered(addr):
            return
        super().on_reply(node_id, addr, reply)

    def on_error(self, node_id: bytes | None, addr: Address, error: ErrorReply) -> None:
        if self.store is not None and self.store.answered(addr, error):
            return
        super().on_timeout(node_id, addr)

    def on_timeout(self, node_id: bytes | None, addr: Address) -> None:
        if self.store is not None and self.store.answered(addr, ErrorReply(b"", 0, b"timeout")):
            return
        super().on_timeout(node_id, addr)

    def _check_done(self) -> None:
        if self.finished or self.store is None or self.store.waiting:
            return
        self.finish(self.store_outcome(self.store))

    def store_outcome(self, store: StorePhase) -> object:
        if store.accepted:
            return store.accepted
        return PutError(f"no node stored it ({len(store.errors)} refused or timed out)")


class AnnounceOp(StoringLookup, GetPeersOp):
    store_method = b"announce_peer"

    def __init__(self, port: int, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)
        self.port = port

    def store_args(self, token: bytes) -> dict[bytes, Value]:
        if self.port == 0:  # BEP 5: implied_port asks the node to use the UDP source port
            return {b"info_hash": self.target, b"port": 0, b"token": token, b"implied_port": 1}
        return {b"info_hash": self.target, b"port": self.port, b"token": token}
