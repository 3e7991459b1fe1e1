"""How a node answers queries from others (BEP 5, 42, 44). Pure: the node hands each
validated query here with the time, and sends back what comes out.
"""

from __future__ import annotations

import hashlib
import random
from collections.abc import Callable

from swarmseek.transfer import Value, encode

from . import krpc
from .errors import CasConflict, ItemError, SeqTooLow
from .items import MAX_SALT_SIZE, MAX_VALUE_SIZE, MutableItem, verify_item
from .krpc import Address, ErrorReply, Query, Response
from .routing import RoutingTable
from .store import ItemStorage, PeerStore, TokenSecrets

Answer = Response | ErrorReply
Handler = Callable[[Query, Address, float], Answer]


class Answers:
    """The answer to each query method, from the node's table and stores."""

    def __init__(
        self,
        node_id: bytes,
        *,
        routing: RoutingTable,
        peers: PeerStore,
        items: ItemStorage,
        tokens: TokenSecrets,
        rng: random.Random,
    ) -> None:
        self.node_id = node_id
        self.routing = routing
        self.peers = peers
        self.items = items
        self.tokens = tokens
        self.rng = rng
        self.handlers: dict[bytes, Handler] = {
            b"ping": self.ping,
            b"find_node": self.find_node,
            b"get_peers": self.get_peers,
            b"announce_peer": self.announce_peer,
            b"get": self.get,
            b"put": self.put,
        }

    def response(self, query: Query, values: dict[bytes, Value] | None = None) -> Response:
        return Response(query.tid, self.node_id, {} if values is None else values)

    def nodes(self, target: bytes) -> bytes:
        return b"".join([e.compact for e in self.routing.closest(target)])

    def ping(self, query: Query, addr: Address, now: float) -> Response | ErrorReply:
        return self.response(query)

    def find_node(self, query: Query, addr: Address, now: float) -> Response | ErrorReply:
        return self.response(query, {b"nodes": self.nodes(query.args[b"target"])})

    def get_peers(self, query: Query, addr: Address, now: float) -> Response | ErrorReply:
        infohash = query.args[b"info_hash"]
        token = self.tokens.token_for(addr[0], now)
        reply = self.response(query, {b"token": token, b"nodes": self.nodes(infohash)})
        peers = self.peers.peers(infohash, now, self.rng)
        if peers:
            reply.values[b"values"] = [krpc.compact_address(p) for p in peers]
        return reply

    def announce_peer(self, query: Query, addr: Address, now: float) -> Response | ErrorReply:
        args = query.args
        if not self.tokens.valid(args[b"token"], addr[0], now):
            return ErrorReply(query.tid, krpc.PROTOCOL_ERROR, b"bad token")
        port = addr[1] if args.get(b"implied_port") == 1 else args[b"port"]
        if port == 0:
            return ErrorReply(query.tid, krpc.PROTOCOL_ERROR, b"bad port")
        self.peers.announce(args[b"info_hash"], (addr[0], port), now)
        return self.response(query)

    def get(self, query: Query, addr: Address, now: float) -> Response | ErrorReply:
        target = query.args[b"target"]
        token = self.tokens.token_for(addr[0], now)
        reply = self.response(query, {b"token": token, b"nodes": self.nodes(target)})
        stored = self.items.get(target, now)
        if stored is None:
            return reply
        item = stored.mutable
        if item is None:
            reply.values[b"v"] = stored.value
        elif b"seq" not in query.args or item.seq > query.args[b"seq"]:
            # BEP 44: omit the value when the requester already has this seq
            reply.values.update(
                {b"v": item.value, b"k": item.public_key, b"sig": item.signature, b"seq": item.seq}
            )
        else:
            reply.values[b"seq"] = item.seq
        return reply

    def put(self, query: Query, addr: Address, now: float) -> Response | ErrorReply:
        args, tid = query.args, query.tid
        if not self.tokens.valid(args[b"token"], addr[0], now):
            return ErrorReply(tid, krpc.PROTOCOL_ERROR, b"bad token")
        value = args[b"v"]
        if len(encode(value)) > MAX_VALUE_SIZE:
            return ErrorReply(tid, krpc.VALUE_TOO_BIG, b"message (v field) too big")
        if b"k" not in args:
            self.items.put_immutable(hashlib.sha1(encode(value)).digest(), value, now)
            return self.response(query)
        salt = args.get(b"salt", b"")
        if len(salt) > MAX_SALT_SIZE:
            return ErrorReply(tid, krpc.SALT_TOO_BIG, b"salt (salt field) too big")
        if b"sig" not in args or b"seq" not in args:
            return ErrorReply(tid, krpc.PROTOCOL_ERROR, b"mutable put needs sig and seq")
        item = MutableItem(value, args[b"seq"], args[b"k"], salt, args[b"sig"])
        try:
            verify_item(item)
        except ItemError:
            return ErrorReply(tid, krpc.INVALID_SIGNATURE, b"invalid signature")
        try:
            self.items.put_mutable(item, args.get(b"cas"), now)
        except CasConflict:
            return ErrorReply(tid, krpc.CAS_MISMATCH, b"the CAS hash mismatched")
        except SeqTooLow:
            return ErrorReply(tid, krpc.SEQ_TOO_LOW, b"sequence number less than current")
        return self.response(query)
