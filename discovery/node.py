"""The DHT node as pure logic: datagrams in, datagrams and finished operations out.

``KrpcNode`` answers queries (BEP 5 ping/find_node/get_peers/announce_peer, BEP 44
get/put), tracks the queries it sends in a bounded transaction table, and drives
operations (lookups, announces, puts). Time is passed in as ``now``; timeouts and
upkeep happen in ``tick(now)``. The asyncio adapter is ``transport.DhtNode``.
"""

from __future__ import annotations

import heapq
import logging
import math
import random
from collections import OrderedDict
from dataclasses import dataclass

from swarmseek.transfer import Value

from . import krpc
from .answers import Answers
from .bep42 import valid_node_id
from .config import DhtConfig
from .errors import CasConflict, KrpcError, SeqTooLow
from .itemops import GetOp, LostWrites, PutOp, WriteTokens
from .items import MutableItem, immutable_target, verify_own_item
from .krpc import Address, ErrorReply, Query, Response
from .operations import (
    AnnounceOp,
    FindNodeOp,
    GetPeersOp,
    LookupOp,
    Operation,
    PingOp,
    Send,
)
from .persist import SavedState
from .routing import NodeEntry, RoutingTable
from .store import PEER_TTL, ItemStorage, PeerStore, RateLimiter, TokenSecrets

log = logging.getLogger(__name__)

VERSION = b"SS\x00\x01"  # our client version in "v" (BEP 5 suggests 2 letters + 2 bytes)
UPKEEP_EVERY = 5.0  # seconds between refresh/expiry passes
# A node that knows fewer than k usable nodes bootstraps again, first after this many
# seconds, then at doubling intervals up to REBOOTSTRAP_MAX (a node started while its
# bootstrap nodes or its network were down would otherwise stay alone until some lookup
# of its own went out). libtorrent's routing table asks for a new bootstrap every 30 s
# while it holds no confirmed node; ours also tops up a table of fewer than k, and
# backs off so that a node that is offline for hours does not keep knocking.
REBOOTSTRAP_FIRST = 30.0
REBOOTSTRAP_MAX = 900.0
LATE_ANSWERS = 256  # timed-out queries whose late answers we still accept (bounded)
# Targets whose last get's write tokens we keep for a put right after (bounded: the
# index runs a few dozen read-modify-writes at once, each one target).
KEPT_TOKENS = 256


@dataclass(frozen=True, slots=True)
class OperationFinished:
    """An operation ended; ``outcome`` is its result or the DhtError to raise."""

    op_id: int
    outcome: object


@dataclass(frozen=True, slots=True)
class NodeStats:
    """A snapshot of what a node holds and has done, for status pages and debugging."""

    node_id: bytes
    routing_nodes: int
    buckets: int
    items: int
    peers: int
    pending_queries: int
    queries_sent: int
    dropped: int


@dataclass(slots=True)
class _Pending:
    op_id: int | None
    node_id: bytes | None
    addr: Address
    deadline: float
    slow_at: float  # query_slow after sending; inf once reported (or for none)


Outgoing = tuple[bytes, Address]


class KrpcNode:
    """One DHT node's protocol logic, without sockets or clocks."""

    def __init__(self, config: DhtConfig, node_id: bytes, rng: random.Random, now: float) -> None:
        self.config = config
        self.node_id = node_id
        self.rng = rng
        self.routing = RoutingTable(node_id, config.k)
        self.peers = PeerStore(config.max_infohashes, config.max_peers_per_infohash)
        self.items = ItemStorage(config.max_items)
        self.tokens = TokenSecrets(rng, now)
        self.limiter = RateLimiter(config.rate_limit, config.rate_burst)
        self._pending: dict[bytes, _Pending] = {}
        # A slow node's answer after its timeout still proves it alive and may still
        # help a running lookup (libtorrent's traversals accept late replies too).
        self._late: OrderedDict[bytes, _Pending] = OrderedDict()
        self._deadlines: list[tuple[float, bytes]] = []
        self._next_tid = rng.randrange(1 << 16)
        self._ops: dict[int, Operation] = {}
        self._next_op = 1
        self._pinging: set[bytes] = set()
        self._template: krpc.QueryTemplate | None = None
        self._write_tokens: OrderedDict[bytes, WriteTokens] = OrderedDict()
        self._lost = LostWrites()
        self._outbox: list[Outgoing] = []
        self._events: list[OperationFinished] = []
        self._next_upkeep = now
        self._rebootstrap_at = now + REBOOTSTRAP_FIRST
        self._rebootstrap_wait = REBOOTSTRAP_FIRST
        self.rebootstraps = 0  # bootstraps started by upkeep (the table had too few nodes)
        self.queries_sent = 0  # every query we sent (benchmarks count per lookup)
        self.dropped = 0  # datagrams ignored: malformed, rate-limited, unsolicited
        self.answers = Answers(
            node_id,
            routing=self.routing,
            peers=self.peers,
            items=self.items,
            tokens=self.tokens,
            rng=rng,
        )
        self._handlers = self.answers.handlers

    # -- output -----------------------------------------------------------------
    def datagrams_to_send(self) -> list[Outgoing]:
        out, self._outbox = self._outbox, []
        return out

    def events(self) -> list[OperationFinished]:
        out, self._events = self._events, []
        return out

    def has_events(self) -> bool:
        """Has an operation finished since ``events`` was last called?"""
        return bool(self._events)

    def stats(self) -> NodeStats:
        return NodeStats(
            self.node_id,
            len(self.routing),
            len(self.routing.buckets),
            len(self.items),
            len(self.peers),
            len(self._pending),
            self.queries_sent,
            self.dropped,
        )

    def next_deadline(self) -> float | None:
        """When ``tick`` next has a query to time out or report slow (None: none)."""
        deadlines, pending = self._deadlines, self._pending
        while deadlines and deadlines[0][1] not in pending:
            heapq.heappop(deadlines)  # answered: no wakeup for it (an idle node sleeps)
        return deadlines[0][0] if deadlines else None

    def next_wakeup(self) -> float:
        """When ``tick`` next has work: a query deadline or periodic upkeep."""
        deadline = self.next_deadline()
        return self._next_upkeep if deadline is None else min(deadline, self._next_upkeep)

    # -- input ------------------------------------------------------------------
    def receive_datagram(self, data: bytes, addr: Address, now: float) -> list[Outgoing]:
        """Handle one datagram; returns what to send (replies and follow-up queries)."""
        try:
            message = krpc.decode_message(data)
        except krpc.UnknownMethod as exc:
            self._reply_error(exc.tid, krpc.METHOD_UNKNOWN, b"method unknown", addr, now)
        except krpc.BadQuery as exc:
            self._reply_error(exc.tid, krpc.PROTOCOL_ERROR, str(exc).encode()[:200], addr, now)
        except KrpcError:
            self.dropped += 1
        else:
            if isinstance(message, Query):
                self._on_query(message, addr, now)
            else:
                self._on_answer(message, addr, now)
        return self.datagrams_to_send()

    def tick(self, now: float) -> list[Outgoing]:
        """Time out unanswered queries and do periodic upkeep."""
        while self._deadlines and self._deadlines[0][0] <= now:
            _, tid = heapq.heappop(self._deadlines)
            pending = self._pending.get(tid)
            if pending is None:
                continue  # answered already: a stale heap entry
            if pending.deadline <= now:
                del self._pending[tid]
                self._late[tid] = pending
                while len(self._late) > LATE_ANSWERS:
                    self._late.popitem(last=False)
                self._timed_out(pending, now)
            elif pending.slow_at <= now:
                pending.slow_at = math.inf
                # one heap entry per query at a time: its deadline goes in only now
                heapq.heappush(self._deadlines, (pending.deadline, tid))
                self._slow(pending, now)
        if now >= self._next_upkeep:
            self._next_upkeep = now + UPKEEP_EVERY
            self._upkeep(now)
        return self.datagrams_to_send()

    def _upkeep(self, now: float) -> None:
        self.peers.expire(now)
        self.items.expire(now)
        if self.config.bootstrap:
            self._maybe_rebootstrap(now)
        if len(self.routing) == 0:
            return
        for target in self.routing.stale_buckets(now, self.rng):
            op = FindNodeOp(target, self._known(target), [], self.config.k, self.config.alpha)
            op.internal = True
            self._start(op, now)

    def _maybe_rebootstrap(self, now: float) -> None:
        k = self.config.k
        usable = sum(1 for e in self.routing.entries() if not e.is_bad())
        if usable >= k:  # joined: a later loss starts the backoff afresh
            self._rebootstrap_at = now + REBOOTSTRAP_FIRST
            self._rebootstrap_wait = REBOOTSTRAP_FIRST
            return
        if now < self._rebootstrap_at:
            return
        self._rebootstrap_at = now + self._rebootstrap_wait
        self._rebootstrap_wait = min(2 * self._rebootstrap_wait, REBOOTSTRAP_MAX)
        self.rebootstraps += 1
        seeds = list(self.config.bootstrap)
        op = FindNodeOp(self.node_id, self._known(self.node_id), seeds, k, self.config.alpha)
        op.internal = True
        self._start(op, now)

    # -- persistence ------------------------------------------------------------
    def snapshot(self, now: float) -> SavedState:
        """The routing table, stored items and peers, for ``persist.save_state``."""
        nodes = [(e.node_id, e.addr) for e in self.routing.entries() if not e.is_bad()]
        items = [
            (target, s.value, now - s.stored_at, s.mutable) for target, s in self.items.items()
        ]
        peers = [(ih, addr, now - t) for ih, addr, t in self.peers.entries() if now - t < PEER_TTL]
        return SavedState(self.node_id, nodes, items, peers)

    def restore(self, state: SavedState, now: float) -> None:
        """Load a previous run's table (as questionable nodes), items and peers."""
        for node_id, addr in state.nodes:
            self.routing.heard_from(node_id, addr, now, responded=False)
        for target, value, age, item in state.items:
            if item is None:
                self.items.put_immutable(target, value, now - age)
            else:
                self.items.put_mutable(item, None, now - age)
        for infohash, addr, age in state.peers:
            if 0 <= age < PEER_TTL:
                self.peers.announce(infohash, addr, now - age)

    # -- operations -------------------------------------------------------------
    def _known(self, target: bytes) -> list[NodeEntry]:
        return self.routing.closest(target, self.config.k * 2)

    def _seeds(self) -> list[Address]:
        # (no bootstrap nodes configured: the table is not even counted, per lookup)
        bootstrap = self.config.bootstrap
        return list(bootstrap) if bootstrap and len(self.routing) < self.config.k else []

    def _lookup_args(self, target: bytes) -> tuple[bytes, list[NodeEntry], list[Address], int, int]:
        return target, self._known(target), self._seeds(), self.config.k, self.config.alpha

    def ping(self, addr: Address, now: float) -> int:
        return self._start(PingOp(addr), now)

    def bootstrap(self, now: float, extra: tuple[Address, ...] = ()) -> int:
        """Find our own neighbours through the bootstrap nodes, ``extra`` addresses
        and the nodes we know (BEP 5: a lookup of our own id)."""
        target = self.node_id
        seeds = list(self.config.bootstrap) + list(extra)
        op = FindNodeOp(target, self._known(target), seeds, self.config.k, self.config.alpha)
        return self._start(op, now)

    def find_node(self, target: bytes, now: float) -> int:
        return self._start(FindNodeOp(*self._lookup_args(target)), now)

    def get_peers(self, infohash: bytes, now: float) -> int:
        alone = not self.config.bootstrap and len(self.routing) == 0
        own = None if self.config.read_only else self.peers.peers(infohash, now, self.rng)
        op = GetPeersOp(
            *self._lookup_args(infohash), quorum=self.config.read_quorum, alone=alone, own=own
        )
        return self._start(op, now)

    def announce_peer(self, infohash: bytes, port: int, now: float) -> int:
        return self._start(AnnounceOp(port, *self._lookup_args(infohash)), now)

    def get(
        self, target: bytes, now: float, public_key: bytes | None = None, salt: bytes = b""
    ) -> int:
        quorum, own = self.config.read_quorum, not self.config.read_only
        alone = not self.config.bootstrap and len(self.routing) == 0
        if public_key is None:
            op = GetOp(*self._lookup_args(target), quorum=quorum, own_replica=own, alone=alone)
            stored = self.items.get(target, now)
            if stored is not None and stored.mutable is None:
                # We are one of the replicas: our copy is as good as any node's (it was
                # hash-checked when stored), and no query need leave.
                op.read_own_immutable(stored.value)
            return self._start(op, now)
        avoid = self._lost.avoid(target)
        op = GetOp(
            *self._lookup_args(target),
            public_key=public_key,
            salt=salt,
            avoid=avoid,
            quorum=quorum,
            own_replica=own,
            alone=alone,
        )
        op.read_own(self._own_item(target, now))
        return self._start(op, now)

    def put_immutable(self, value: Value, now: float) -> int:
        target = immutable_target(value)
        return self._start(PutOp(value, *self._lookup_args(target)), now)

    def put_mutable(self, item: MutableItem, now: float, cas: int | None = None) -> int:
        """Put a mutable item to the k closest nodes. Right after a get of the same
        target (within ``config.token_reuse`` seconds) it goes straight to the nodes
        that get found, with their tokens, instead of looking them up again."""
        verify_own_item(item)
        args = self._lookup_args(item.target)
        reuse = self._take_tokens(item.target, now)
        op = PutOp(
            item.value,
            *args,
            item=item,
            cas=cas,
            public_key=item.public_key,
            salt=item.salt,
            reuse=reuse,
            avoid=self._lost.avoid(item.target),
            local=lambda own, cas: self._put_own(own, cas, now),
        )
        if reuse is None:
            op.read_own(self._own_item(item.target, now))
        return self._start(op, now)

    def _own_item(self, target: bytes, now: float) -> MutableItem | None:
        stored = self.items.get(target, now)
        return None if stored is None else stored.mutable

    def _put_own(self, item: MutableItem, cas: int | None, now: float) -> int | None:
        try:
            self.items.put_mutable(item, cas, now)
        except CasConflict:
            return krpc.CAS_MISMATCH
        except SeqTooLow:
            return krpc.SEQ_TOO_LOW
        return None

    def _keep_tokens(self, op: GetOp, now: float) -> None:
        if self.config.token_reuse <= 0 or isinstance(op, PutOp):
            return
        tokens = op.write_tokens(now)
        if tokens is None:
            return
        kept = self._write_tokens
        kept[tokens.target] = tokens
        kept.move_to_end(tokens.target)
        while len(kept) > KEPT_TOKENS:
            kept.popitem(last=False)

    def _take_tokens(self, target: bytes, now: float) -> WriteTokens | None:
        # Taken once: after the put, the seqs the get saw are out of date.
        tokens = self._write_tokens.pop(target, None)
        if tokens is None or now - tokens.at > self.config.token_reuse:
            return None
        return tokens

    def operation(self, op_id: int) -> Operation | None:
        return self._ops.get(op_id)

    def _start(self, op: Operation, now: float) -> int:
        op_id = self._next_op
        self._next_op += 1
        if isinstance(op, LookupOp):
            op.exclude = self.node_id
        self._ops[op_id] = op
        self._pump(op_id, now)
        return op_id

    def _pump(self, op_id: int, now: float) -> None:
        op = self._ops.get(op_id)
        if op is None:
            return
        while True:
            refused = [s for s in op.sends(now) if not self._send_query(op_id, s, now, op)]
            for s in refused:  # transaction table full: count as a timeout
                op.on_timeout(s.node_id, s.addr)
            if not refused:
                break
        if op.finished:
            del self._ops[op_id]
            if isinstance(op, PutOp):
                self._lost.record(op)
            elif isinstance(op, GetOp):
                self._keep_tokens(op, now)
            if not op.internal:
                self._events.append(OperationFinished(op_id, op.outcome))

    # -- sending ----------------------------------------------------------------
    def _send_query(
        self, op_id: int | None, send: Send, now: float, op: Operation | None = None
    ) -> bool:
        config = self.config
        pending = self._pending
        if len(pending) >= config.max_pending:
            return False
        tid = self._new_tid()
        deadline = now + config.query_timeout
        slow_at = now + config.query_slow if op_id is not None else math.inf
        pending[tid] = _Pending(op_id, send.node_id, send.addr, deadline, slow_at)
        # One heap entry per query: its slow time (the deadline goes in when that passes).
        deadlines = self._deadlines
        heapq.heappush(deadlines, (slow_at if slow_at < deadline else deadline, tid))
        if len(deadlines) > 4 * config.max_pending:
            # answered queries leave stale heap entries: rebuild so memory stays bounded
            self._deadlines = [(min(p.slow_at, p.deadline), t) for t, p in pending.items()]
            heapq.heapify(self._deadlines)
        self._outbox.append((self._encode_query(tid, send), send.addr))
        self.queries_sent += 1
        if op is None and op_id is not None:
            op = self._ops.get(op_id)
        if op is not None:
            op.stats.queries += 1
        return True

    def _encode_query(self, tid: bytes, send: Send) -> bytes:
        # A lookup sends the same method and arguments to every node it asks: encode
        # them once (krpc.QueryTemplate) and splice in each query's transaction id.
        template = self._template
        if template is None or template.args is not send.args or template.method != send.method:
            template = self._template = krpc.QueryTemplate(
                send.method, self.node_id, send.args, self.config.read_only, VERSION
            )
        return template.encode(tid)

    def _new_tid(self) -> bytes:
        pending, late = self._pending, self._late
        while True:
            self._next_tid = (self._next_tid + 1) & 0xFFFF
            tid = self._next_tid.to_bytes(2, "big")
            if tid not in pending:
                if tid in late:
                    del late[tid]  # reused: a stale answer must not match it
                return tid

    def _reply_error(self, tid: bytes, code: int, text: bytes, addr: Address, now: float) -> None:
        if self.config.read_only or not self.limiter.allow(addr[0], now):
            return
        self._outbox.append((krpc.encode_error(ErrorReply(tid, code, text)), addr))

    # -- answers to our queries -------------------------------------------------
    def _on_answer(self, message: Response | ErrorReply, addr: Address, now: float) -> None:
        pending = self._pending.get(message.tid)
        late = self._late.get(message.tid)
        if pending is None and late is not None and late.addr == addr:
            del self._late[message.tid]
            self._on_late_answer(message, late, addr, now)
            return
        if pending is None or pending.addr != addr:
            self.dropped += 1  # unsolicited or spoofed: a reply must come from whom we asked
            return
        del self._pending[message.tid]
        if isinstance(message, Response):
            self._learn(message.sender, addr, now, responded=True)
            self._pinging.discard(message.sender)
        op = self._ops.get(pending.op_id) if pending.op_id is not None else None
        if op is None:
            return
        if isinstance(message, Response):
            op.stats.replies += 1
            op.on_reply(pending.node_id, addr, message)
        else:
            op.on_error(pending.node_id, addr, message)
        assert pending.op_id is not None
        self._pump(pending.op_id, now)

    def _on_late_answer(
        self, message: Response | ErrorReply, late: _Pending, addr: Address, now: float
    ) -> None:
        if not isinstance(message, Response):
            return
        self._learn(message.sender, addr, now, responded=True)
        op = self._ops.get(late.op_id) if late.op_id is not None else None
        if op is not None and late.op_id is not None and late.node_id is not None:
            op.on_late_reply(late.node_id, addr, message)
            self._pump(late.op_id, now)

    def _slow(self, pending: _Pending, now: float) -> None:
        op = self._ops.get(pending.op_id) if pending.op_id is not None else None
        if op is not None and pending.op_id is not None:
            op.on_slow(pending.node_id, pending.addr)
            self._pump(pending.op_id, now)

    def _timed_out(self, pending: _Pending, now: float) -> None:
        if pending.node_id is not None:
            self.routing.failed(pending.node_id, now)
            self._pinging.discard(pending.node_id)
        op = self._ops.get(pending.op_id) if pending.op_id is not None else None
        if op is not None and pending.op_id is not None:
            op.stats.timeouts += 1
            op.on_timeout(pending.node_id, pending.addr)
            self._pump(pending.op_id, now)

    def _learn(self, node_id: bytes, addr: Address, now: float, *, responded: bool) -> None:
        if node_id == self.node_id or addr[1] == 0:
            return
        if self.config.enforce_node_id and not valid_node_id(node_id, addr[0]):
            return  # BEP 42: answer such a node, but never route through it
        stale = self.routing.heard_from(node_id, addr, now, responded=responded)
        if stale is not None and stale.node_id not in self._pinging:
            # BEP 5: a full bucket pings its least recently seen questionable node.
            self._pinging.add(stale.node_id)
            self._send_query(None, Send(stale.node_id, stale.addr, b"ping", {}), now)

    # -- queries from others ----------------------------------------------------
    def _on_query(self, query: Query, addr: Address, now: float) -> None:
        if self.config.read_only or query.sender == self.node_id:
            return  # BEP 43: a read-only node does not answer queries
        if not self.limiter.allow(addr[0], now):
            self.dropped += 1
            return
        if not query.read_only:  # BEP 43: read-only nodes never enter routing tables
            self._learn(query.sender, addr, now, responded=False)
        answer = self._handlers[query.method](query, addr, now)
        if isinstance(answer, ErrorReply):
            self._outbox.append((krpc.encode_error(answer), addr))
        else:
            data = krpc.encode_response(answer, version=VERSION, ip=addr)  # BEP 42 "ip"
            self._outbox.append((data, addr))
