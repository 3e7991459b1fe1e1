"""BEP 44 get and put as operations: an iterative get lookup, and a put that stores
to the k closest nodes with the write tokens their get answers carried.
"""

from __future__ import annotations

import hashlib
from collections import OrderedDict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from swarmseek.transfer import Value, encode

from .errors import CasConflict, ItemError, LookupFailed, PutError, SeqTooLow
from .items import MAX_VALUE_SIZE, MutableItem, verify_item
from .krpc import CAS_MISMATCH, SEQ_TOO_LOW, Address, ErrorReply, Response
from .operations import (
    LookupOp,
    Send,
    StorePhase,
    StoringLookup,
    lookup_failed,
    too_few_answered,
)

# Our own item store, when we are one of the k closest to a target: a replica like the
# others (no node has the address ("", 0)). A writer that skipped itself left its own
# node to whichever rival's put came first; that leftover, which every other writer
# reads, was what several lost-entry races in test_concurrent_publishers started from.
OWN: Address = ("", 0)

# A put into our own store: the item and the cas it is sent with -> None if stored, or
# the error code a remote node would answer (301, 302).
LocalPut = Callable[[MutableItem, int | None], int | None]


@dataclass(slots=True)
class GetFound:
    """What a BEP 44 get found: an immutable value or the highest-seq mutable item."""

    value: Value | None = None
    found: bool = False
    item: MutableItem | None = None
    newest_seq: int = 0  # the highest seq any node answered with (``item`` may be older)
    nodes: list[tuple[bytes, Address]] = field(default_factory=list)
    # Of the k closest nodes asked, how many answered (our own store counted when it is
    # one of them) and how many timed out or refused: how far an "absent" is trusted.
    answered: int = 0
    failed: int = 0


@dataclass(frozen=True, slots=True)
class WriteTokens:
    """What a finished mutable get leaves for a put to the same target right after it
    (a read-modify-write): the k closest nodes that answered, each with the write token
    it gave (BEP 44: a token is bound to our IP and the target, and lives 5-10 minutes
    in libtorrent and here), the seq each one held, and the item the get chose.
    """

    target: bytes
    at: float  # when the get finished
    nodes: tuple[tuple[bytes, Address, bytes], ...]  # node id, address, token
    seen_seq: tuple[tuple[Address, int], ...]
    item: MutableItem | None


def _inverse(data: bytes) -> bytes:
    """Sorts descending where ``data`` sorts ascending (for max() tie-breaks)."""
    return bytes(255 - b for b in data)


class GetOp(LookupOp):
    """BEP 44 get. Immutable: stops at the first value whose hash is the target.
    Mutable (``public_key`` given): the valid version most replicas hold (see below)."""

    method = b"get"

    def __init__(
        self,
        target: bytes,
        *args: object,
        public_key: bytes | None = None,
        salt: bytes = b"",
        stop_early: bool = True,
        avoid: frozenset[bytes] = frozenset(),
        quorum: int = 2,
        own_replica: bool = True,
        alone: bool = False,
        **kwargs: object,
    ) -> None:
        super().__init__(target, *args, **kwargs)  # type: ignore[arg-type]
        self.quorum = quorum  # answers from the k closest that make "absent" trusted
        self.own_replica = own_replica  # our store was read (a read-only node holds none)
        self.alone = alone  # we know no other node and have none to bootstrap from
        self.public_key = public_key
        self.salt = salt
        self.avoid = avoid  # signatures of our own lost writes (``LostWrites``)
        self.stop_early = stop_early
        # An immutable get ends at the first value, mostly in its first round: asking
        # all of the k closest at once would spend queries for a round it rarely needs.
        self.lookup.final_round = not (stop_early and public_key is None)
        self.found = GetFound()
        # Replicas can disagree: BEP 44's cas is decided by each node on its own, so
        # two writers may each win on some of the k nodes, and a writer that lost such
        # a race leaves its item (possibly at a higher seq, built on an older version)
        # on the replicas it reached first. Every reader must then pick the same
        # version: the one most replicas hold, then the highest seq, then the smallest
        # signature, until a writer settles the replicas with a clean write (PutOp).
        # Picking the highest seq instead let a lost write's leftover on one replica
        # hide the entries of the writer that had won everywhere else.
        self._votes: dict[bytes, int] = {}  # by signature
        self._versions: dict[bytes, MutableItem] = {}
        self._voted: dict[Address, bytes] = {}  # one vote per node, however often asked
        self.seen_seq: dict[Address, int] = {}  # the seq each node held (0: no item)
        self._from: Address | None = None

    def args(self) -> dict[bytes, Value]:
        return {b"target": self.target}

    def on_reply(self, node_id: bytes | None, addr: Address, reply: Response) -> None:
        if self.stop_early and self.public_key is None and node_id is not None:
            if self.lookup.stopped:
                return  # found already: the answers still coming in change nothing
            v = reply.values.get(b"v")
            if v is not None and hashlib.sha1(encode(v)).digest() == self.target:
                # The immutable value itself: the lookup ends here, so the nodes this
                # reply names need no parsing (the answer is on the caller's path).
                token = reply.values.get(b"token")
                self.lookup.on_response(node_id, [], token if isinstance(token, bytes) else None)
                if not self.found.found:
                    self.found.value, self.found.found = v, True
                self.lookup.stop()
                return
        self._from = addr  # read() runs inside and records this node's seq
        super().on_reply(node_id, addr, reply)

    def on_late_reply(self, node_id: bytes, addr: Address, reply: Response) -> None:
        self._from = addr
        super().on_late_reply(node_id, addr, reply)

    def read(self, reply: Response) -> None:
        v = reply.values.get(b"v")
        if v is None:
            if self.public_key is not None and self._from is not None:
                # Holds no item: a put must find it still empty (cas 0, CAS_ABSENT).
                self.seen_seq.setdefault(self._from, 0)
            return
        if self.public_key is None:
            if not self.found.found and hashlib.sha1(encode(v)).digest() == self.target:
                self.found.value, self.found.found = v, True
                if self.stop_early:
                    self.lookup.stop()
            return
        item = self._mutable(reply, v)
        if item is not None:
            self._vote(item)

    def read_own_immutable(self, value: Value) -> None:
        """Our own store holds the immutable item: with ``stop_early`` the get ends
        before its first query (a put we received was checked against the target)."""
        if self.public_key is None and not self.found.found:
            self.found.value, self.found.found = value, True
            if self.stop_early:
                self.lookup.stop()

    def read_own(self, item: MutableItem | None) -> None:
        """Our own store's copy (already verified when stored) counts as a replica's."""
        if self.public_key is None:
            return
        self._from = OWN
        if item is None:
            self.seen_seq.setdefault(OWN, 0)
        else:
            self._vote(item)

    def _vote(self, item: MutableItem) -> None:
        votes, versions = self._votes, self._versions
        if self._from is not None:
            # A node can answer twice (asked as a bootstrap address and by its id, or
            # late after a timeout): its vote moves, it is not counted again.
            self.seen_seq[self._from] = item.seq
            before = self._voted.get(self._from)
            if before is not None:
                votes[before] -= 1
            self._voted[self._from] = item.signature
        self.found.newest_seq = max(self.found.newest_seq, item.seq)
        votes[item.signature] = votes.get(item.signature, 0) + 1
        versions[item.signature] = item
        if len(versions) == 1:  # the replicas agree (the common case): nothing to choose
            chosen = item.signature
        else:
            avoid = self.avoid
            chosen = max(
                votes,
                key=lambda sig: (
                    votes[sig],
                    sig not in avoid,  # a tie goes to a version that is not our lost write
                    versions[sig].seq,
                    _inverse(sig),
                ),
            )
        self.found.item = versions[chosen]

    def _mutable(self, reply: Response, v: Value) -> MutableItem | None:
        key, sig, seq = (reply.values.get(n) for n in (b"k", b"sig", b"seq"))
        if self.public_key is None or key != self.public_key:
            return None
        if not isinstance(sig, bytes) or not isinstance(seq, int):
            return None
        item = MutableItem(v, seq, self.public_key, self.salt, sig)
        if self._versions.get(sig) == item:
            return item  # equal to a version already verified (k replicas send the same)
        try:
            verify_item(item)
        except ItemError:
            return None
        return item

    def result(self) -> object:
        found = self.found
        found.nodes = [(c.node_id, c.addr) for c in self.lookup.result()]
        own = self.exclude if self.own_replica else None
        found.answered, found.failed = self.lookup.closest_outcomes(own)
        if found.found or found.item is not None:
            # BEP 44: any valid answer is the item (a mutable one may lag behind the
            # version most replicas hold, as with any reader; a writer's cas finds out).
            return found
        return self._absent_or_unknown(found)

    def _absent_or_unknown(self, found: GetFound) -> GetFound | LookupFailed:
        """Nothing found: "absent" only if enough of the k closest answered.

        The rule: some other node answered, unless we know of none at all (a network
        of one, whose own store is the whole DHT); and of the k closest nodes asked
        (our own store counted among them where it falls) at least ``quorum``
        answered, or all of them when fewer were asked (a network smaller than
        ``quorum``). Our own store alone is no evidence once the network was there
        and said nothing (every contact timed out, or went bad and is no longer
        asked). Failed nodes nearer than the answers count: if the k closest all
        failed, the answers came from nodes farther out that were never the item's
        replicas (a departed region), so their "absent" says nothing.

        ``quorum`` is 2 by default (``DhtConfig.read_quorum``). BEP 44 readers take
        whatever the nodes they reached hold (libtorrent), but one answer is one
        replica's word, and a mutable put counts once just over half of the k closest
        took it: the one node that answered may be one that missed it, while those
        holding it timed out under load. On a 20-node loopback network with 256 gets
        in flight and replies late (tests/benchmarks/stress_reads.py 256 5 0.02), with
        retries in the index, 5 of 80 searches silently lost 41 entries at quorum 1,
        none of 80 at 2 (before this rule: 11 of 80 lost 642). A majority (k/2) would
        make an absent certain on a stable network, but on the public DHT, where a
        fair share of any k closest do not answer, it would turn many true absences
        into errors (every PHT lookup reads absent nodes below its leaf): with 40% of
        them silent, 17% of the gets of absent items would come back unknown at 4,
        under 1% at 2 (and the index retries those).
        """
        answered, failed = found.answered, found.failed
        if too_few_answered(bool(found.nodes), answered, failed, self.quorum, self.alone):
            return lookup_failed("get", self.target, answered, failed, self.seeds_failed)
        return found

    def write_tokens(self, now: float) -> WriteTokens | None:
        """The tokens of a finished mutable get that asked every one of the k closest
        (None for an immutable get: it stops at the first value)."""
        if self.public_key is None or self.lookup.stopped or not self.lookup.done:
            return None
        nodes = tuple(
            (c.node_id, c.addr, c.token) for c in self.lookup.result() if c.token is not None
        )
        if not nodes:
            return None
        seen = tuple(self.seen_seq.items())
        return WriteTokens(self.target, now, nodes, seen, self.found.item)


class PutOp(StoringLookup, GetOp):
    """BEP 44 put: a get lookup (for tokens), then put to the k closest.

    With ``reuse`` (the tokens of a get of this target that just finished), the put goes
    straight to those nodes, and the lookup runs only if that falls short: when no node
    took the item, or some refused it for a reason other than a cas/seq race (a stale
    token, 203) or did not answer. That lookup then stores to the k closest it finds
    that did not take the item already. A race (301/302) ends the put as usual: the
    writer must read again anyway.
    """

    def __init__(
        self,
        value: Value,
        target: bytes,
        *args: object,
        item: MutableItem | None = None,
        cas: int | None = None,
        reuse: WriteTokens | None = None,
        local: LocalPut | None = None,
        **kwargs: object,
    ) -> None:
        super().__init__(target, *args, stop_early=False, **kwargs)
        self.value = value
        self.item = item
        self.cas = cas
        self.local = local  # our own store, written when we are among the k closest
        self.reuse = reuse if _reusable(reuse, target, cas) else None
        if self.reuse is not None:
            self.seen_seq.update(self.reuse.seen_seq)
            self.found.item = self.reuse.item

    @property
    def reused_tokens(self) -> bool:
        """Is the put still going straight to the nodes of the get before it?"""
        return self.reuse is not None

    def sends(self, now: float) -> list[Send]:
        reuse = self.reuse
        if reuse is None:
            return super().sends(now)
        if self.store is None:
            self.store = StorePhase(
                [
                    Send(node_id, addr, b"put", self.store_args_for(addr, token))
                    for node_id, addr, token in reuse.nodes
                ]
            )
            self._store_own(self.store, (node_id for node_id, _, _ in reuse.nodes))
        store = self.store
        out = store.sends()
        if store.waiting:
            return out
        outcome = self.store_outcome(store)
        if not self._falls_short(store, outcome):
            self.finish(outcome)
            return []
        # Look the k closest up after all, as a put without tokens would.
        self.reuse = self.store = None
        self.stored_at.update(store.took)
        self.seen_seq.clear()
        self.found = GetFound()
        return super().sends(now)

    @staticmethod
    def _falls_short(store: StorePhase, outcome: object) -> bool:
        if isinstance(outcome, (CasConflict, SeqTooLow)):
            return False
        raced = (CAS_MISMATCH, SEQ_TOO_LOW)
        return not store.took or any(e.code not in raced for e in store.refused.values())

    def _after_lookup(self) -> list[Send]:
        fresh = self.store is None
        out = super()._after_lookup()
        if fresh and self.store is not None:
            self._store_own(self.store, (c.node_id for c in self.lookup.result()))
        return out

    def _store_own(self, store: StorePhase, replicas: Iterable[bytes]) -> None:
        """Put the item into our own store too if we are one of the k closest."""
        own_id = self.exclude
        if self.local is None or self.item is None or own_id is None or OWN in self.stored_at:
            return
        key = int.from_bytes(self.target, "big")
        ours = int.from_bytes(own_id, "big") ^ key
        closer = sum(1 for i in replicas if int.from_bytes(i, "big") ^ key < ours)
        if closer >= self.lookup.k:
            return
        cas = None if self.cas is None else self.seen_seq.get(OWN, self.cas)
        code = self.local(self.item, cas)
        store.waiting.add(OWN)
        store.answered(OWN, None if code is None else ErrorReply(b"", code, b"own store"))

    def store_args(self, token: bytes) -> dict[bytes, Value]:
        return self.store_args_for(None, token)

    def store_args_for(self, addr: Address | None, token: bytes) -> dict[bytes, Value]:
        args: dict[bytes, Value] = {b"token": token, b"v": self.value}
        if self.item is not None:
            args.update(
                {b"k": self.item.public_key, b"seq": self.item.seq, b"sig": self.item.signature}
            )
            if self.item.salt:
                args[b"salt"] = self.item.salt
            # Each replica's cas is the seq it held when we read: a replica that lags
            # behind the version we read (it missed a write) or holds a lost race's
            # leftover would refuse the version's cas forever. It takes our item only
            # if nobody wrote to it since, so no write we did not see is overwritten.
            if self.cas is not None:
                seen = self.seen_seq.get(addr) if addr is not None else None
                args[b"cas"] = self.cas if seen is None else seen
        return args

    def outcome_before_store(self) -> object | None:
        # Someone wrote since our read: the put can only lose, so skip it.
        current = self.found.item
        if self.cas is not None and current is not None and current.seq > self.cas:
            if current == self.item and self.stored_at:
                return None  # our own item, which an earlier store phase put there
            return CasConflict(current_seq=current.seq)
        return None

    def store_outcome(self, store: StorePhase) -> object:
        # The highest seq any replica held (a lost race's leftover may be above the
        # version we read): a writer's next attempt must go above it.
        newest = max(self.seen_seq.values(), default=self.found.newest_seq)
        current = None if self.found.item is None else max(newest, self.found.item.seq)
        if self.cas is not None:
            # BEP 44's cas is decided by each replica alone, so two writers can each win
            # on part of the k closest. A put counts only when no replica refused it
            # (each was sent the seq it held when we read, see ``store_args_for``): then
            # every other writer was refused wherever we were accepted, and must read
            # again (and will see our version). A writer that did meet a refusal
            # retries, and its next write settles the replicas on one version
            # (update_mutable's ``settle``). Timeouts do not refuse (a dead replica
            # would block every writer for good), but readers follow the version most
            # replicas hold, so a put that fewer than half of the replicas took is not
            # a win either: the writer tries again.
            raced = [e for e in store.refused.values() if e.code in (CAS_MISMATCH, SEQ_TOO_LOW)]
            if raced:
                return CasConflict(current_seq=current, landed=store.accepted)
            if store.accepted * 2 > store.accepted + len(store.refused):
                return store.accepted
            return PutError(
                f"only {store.accepted} of {store.accepted + len(store.refused)} nodes stored"
                " the item (the others refused or timed out)"
            )
        too_low = [e for e in store.errors if e.code == SEQ_TOO_LOW]
        if store.accepted:
            return store.accepted
        if too_low:
            return SeqTooLow(current_seq=current)
        return PutError(f"no node stored the item ({len(store.errors)} refused or timed out)")


class LostWrites:
    """Our own mutable puts that lost a race yet landed on some replicas, by target.

    Such a leftover was built on a version that others then overwrote, so it may lack
    a winner's changes: when as many replicas hold another version, our next read
    takes that one (a three-way tie once went to ours by seq, and our settling re-put
    erased a winner's PHT entry). A clean win on the target forgets them. Bounded: the
    oldest targets go first.
    """

    LIMIT = 256  # targets (a node runs a few dozen read-modify-writes at once)

    def __init__(self) -> None:
        self._by_target: OrderedDict[bytes, frozenset[bytes]] = OrderedDict()

    def avoid(self, target: bytes) -> frozenset[bytes]:
        return self._by_target.get(target, frozenset())

    def record(self, op: PutOp) -> None:
        item, outcome = op.item, op.outcome
        if item is None:
            return
        if isinstance(outcome, int):
            self._by_target.pop(item.target, None)
        elif isinstance(outcome, CasConflict) and outcome.landed:
            lost = self._by_target.pop(item.target, frozenset())
            self._by_target[item.target] = lost | {item.signature}
            while len(self._by_target) > self.LIMIT:
                self._by_target.popitem(last=False)


def _reusable(reuse: WriteTokens | None, target: bytes, cas: int | None) -> bool:
    """Are these a get's tokens for this put, from a read of the version ``cas`` names?
    (The seqs the get saw become each replica's cas: they must be of the same read.)"""
    if reuse is None or reuse.target != target:
        return False
    read = reuse.item.seq if reuse.item is not None else 0  # 0: CAS_ABSENT
    return cas is None or cas == read


def check_value_size(value: Value) -> int:
    size = len(encode(value))
    if size > MAX_VALUE_SIZE:
        raise ItemError(f"value of {size} bytes exceeds BEP 44's {MAX_VALUE_SIZE}")
    return size
