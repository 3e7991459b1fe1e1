"""The pure node, bytes in and bytes out: answers, errors, tokens, limits (no sockets)."""

from __future__ import annotations

import hashlib
import itertools
import random

from swarmseek.discovery import DhtConfig, KeyPair, krpc, sign_item
from swarmseek.discovery.krpc import ErrorReply, Query, Response
from swarmseek.discovery.lookup import IterativeLookup
from swarmseek.discovery.node import KrpcNode
from swarmseek.transfer import Value, decode, encode

ME = b"M" * 20
PEER = ("10.1.1.1", 7000)
PEER_ID = b"P" * 20
LOOSE = DhtConfig(rate_limit=1e9, rate_burst=1e9)


def make(config: DhtConfig = LOOSE) -> KrpcNode:
    return KrpcNode(config, ME, random.Random(0), 0.0)


def ask(
    node: KrpcNode, method: bytes, args: dict[bytes, Value], *, addr=PEER, now=0.0, ro: bool = False
) -> krpc.Message | None:
    data = krpc.encode_query(Query(b"tx", method, PEER_ID, args, ro))
    out = node.receive_datagram(data, addr, now)
    if not out:
        return None
    assert len(out) == 1 and out[0][1] == addr
    return krpc.decode_message(out[0][0])


def token(node: KrpcNode, target: bytes, method: bytes = b"get") -> bytes:
    key = b"info_hash" if method == b"get_peers" else b"target"
    reply = ask(node, method, {key: target})
    assert isinstance(reply, Response)
    return reply.values[b"token"]


def test_ping_answered_and_sender_learned() -> None:
    node = make()
    reply = ask(node, b"ping", {})
    assert isinstance(reply, Response) and reply.sender == ME and reply.tid == b"tx"
    assert node.routing.get(PEER_ID) is not None


def test_read_only_querier_not_added_bep43() -> None:
    node = make()
    assert isinstance(ask(node, b"ping", {}, ro=True), Response)
    assert node.routing.get(PEER_ID) is None


def test_read_only_node_does_not_answer() -> None:
    node = make(DhtConfig(read_only=True))
    assert ask(node, b"ping", {}) is None


def test_unknown_method_204_and_bad_args_203() -> None:
    node = make()
    data = encode({b"t": b"zz", b"y": b"q", b"q": b"vote", b"a": {b"id": PEER_ID}})
    out = node.receive_datagram(data, PEER, 0.0)
    assert krpc.decode_message(out[0][0]) == ErrorReply(b"zz", 204, b"method unknown")
    data = encode({b"t": b"zz", b"y": b"q", b"q": b"find_node", b"a": {b"id": PEER_ID}})
    reply = krpc.decode_message(node.receive_datagram(data, PEER, 0.0)[0][0])
    assert isinstance(reply, ErrorReply) and reply.code == 203


def test_find_node_returns_closest() -> None:
    node = make()
    for i in range(20):
        node.routing.heard_from(bytes([i * 10]) * 20, ("10.0.0.2", 1000 + i), 0.0, responded=True)
    reply = ask(node, b"find_node", {b"target": bytes([50]) * 20})
    assert isinstance(reply, Response)
    nodes = krpc.parse_nodes(reply.values[b"nodes"])
    assert len(nodes) == 8 and nodes[0][0] == bytes([50]) * 20


def test_announce_needs_valid_token_from_same_ip() -> None:
    node = make()
    infohash = b"I" * 20
    tok = token(node, infohash, b"get_peers")
    bad = ask(node, b"announce_peer", {b"info_hash": infohash, b"port": 5, b"token": b"nope"})
    assert isinstance(bad, ErrorReply) and bad.code == 203
    other_ip = ("10.9.9.9", 7000)
    args = {b"info_hash": infohash, b"port": 5555, b"token": tok}
    assert isinstance(ask(node, b"announce_peer", args, addr=other_ip), ErrorReply)
    assert isinstance(ask(node, b"announce_peer", args), Response)
    reply = ask(node, b"get_peers", {b"info_hash": infohash})
    assert isinstance(reply, Response)
    assert krpc.parse_peers(reply.values[b"values"]) == [("10.1.1.1", 5555)]


def test_announce_implied_port() -> None:
    node = make()
    infohash = b"I" * 20
    tok = token(node, infohash, b"get_peers")
    args = {b"info_hash": infohash, b"port": 1, b"token": tok, b"implied_port": 1}
    assert isinstance(ask(node, b"announce_peer", args), Response)
    assert node.peers.peers(infohash, 0.0, random.Random(0)) == [PEER]


def test_put_get_immutable() -> None:
    node = make()
    value = {b"name": b"card"}
    target = hashlib.sha1(encode(value)).digest()
    tok = token(node, target)
    assert isinstance(ask(node, b"put", {b"v": value, b"token": tok}), Response)
    reply = ask(node, b"get", {b"target": target})
    assert isinstance(reply, Response) and reply.values[b"v"] == value


def test_own_replica_answers_an_immutable_get_without_a_query() -> None:
    node = make()
    ask(node, b"ping", {})  # a node to ask: without the local copy a query would leave
    value = {b"name": b"card"}
    target = hashlib.sha1(encode(value)).digest()
    assert isinstance(ask(node, b"put", {b"v": value, b"token": token(node, target)}), Response)
    sent = node.queries_sent
    op = node.get(target, 1.0)
    assert node.datagrams_to_send() == [] and node.queries_sent == sent
    [event] = node.events()
    assert event.op_id == op and event.outcome.found and event.outcome.value == value
    other = hashlib.sha1(b"absent").digest()  # not held: the lookup goes out as before
    node.get(other, 1.0)
    assert len(node.datagrams_to_send()) == 1 and node.events() == []


def test_put_errors_205_206_207() -> None:
    node = make()
    keys = KeyPair.from_seed(bytes(32))
    tok = token(node, b"x" * 20)
    big = ask(node, b"put", {b"v": b"x" * 1000, b"token": tok})
    assert isinstance(big, ErrorReply) and big.code == 205
    item = sign_item(keys, b"hello", 1)
    forged = {
        b"v": b"evil",
        b"token": tok,
        b"k": keys.public_key,
        b"seq": 1,
        b"sig": item.signature,
    }
    reply = ask(node, b"put", forged)
    assert isinstance(reply, ErrorReply) and reply.code == 206
    salty = {**forged, b"v": b"hello", b"salt": b"s" * 65}
    reply = ask(node, b"put", salty)
    assert isinstance(reply, ErrorReply) and reply.code == 207


def put_args(item, tok: bytes, cas: int | None = None) -> dict[bytes, Value]:
    args: dict[bytes, Value] = {
        b"v": item.value,
        b"token": tok,
        b"k": item.public_key,
        b"seq": item.seq,
        b"sig": item.signature,
    }
    if item.salt:
        args[b"salt"] = item.salt
    if cas is not None:
        args[b"cas"] = cas
    return args


def test_mutable_cas_301_and_seq_302() -> None:
    node = make()
    keys = KeyPair.from_seed(bytes(32))
    one = sign_item(keys, b"one", 1, b"salt")
    tok = token(node, one.target)
    assert isinstance(ask(node, b"put", put_args(one, tok)), Response)
    two = sign_item(keys, b"two", 2, b"salt")
    reply = ask(node, b"put", put_args(two, tok, cas=7))
    assert isinstance(reply, ErrorReply) and reply.code == 301
    reply = ask(node, b"put", put_args(sign_item(keys, b"zero", 0, b"salt"), tok))
    assert isinstance(reply, ErrorReply) and reply.code == 302
    assert isinstance(ask(node, b"put", put_args(two, tok, cas=1)), Response)
    reply = ask(node, b"get", {b"target": one.target})
    assert isinstance(reply, Response)
    assert reply.values[b"seq"] == 2 and reply.values[b"v"] == b"two"
    reply = ask(node, b"get", {b"target": one.target, b"seq": 2})
    assert isinstance(reply, Response) and b"v" not in reply.values  # BEP 44: already has it


def test_rate_limit_drops_excess_queries() -> None:
    node = make(DhtConfig(rate_limit=1.0, rate_burst=5.0))
    answers = [ask(node, b"ping", {}) for _ in range(10)]
    assert sum(a is not None for a in answers) == 5
    assert ask(node, b"ping", {}, addr=("10.2.2.2", 1)) is not None  # per source


def test_transaction_table_bounded() -> None:
    node = make(DhtConfig(max_pending=10, rate_limit=1e9, rate_burst=1e9))
    for i in range(50):
        node.ping(("10.0.0.3", 1000 + i), 0.0)
    assert len(node._pending) == 10
    # the refused pings fail at once instead of growing the table
    assert sum(isinstance(e.outcome, Exception) for e in node.events()) == 40


def test_reply_from_wrong_address_ignored() -> None:
    node = make()
    op = node.ping(PEER, 0.0)
    ((data, _),) = node.datagrams_to_send()
    tid = krpc.decode_message(data).tid
    reply = krpc.encode_response(Response(tid, PEER_ID))
    node.receive_datagram(reply, ("10.6.6.6", 7000), 0.1)
    assert node.events() == []
    node.receive_datagram(reply, PEER, 0.2)
    (event,) = node.events()
    assert event.op_id == op and event.outcome == PEER_ID


def test_timeout_fails_ping_and_marks_node() -> None:
    node = make()
    node.routing.heard_from(PEER_ID, PEER, 0.0, responded=True)
    node.ping(PEER, 0.0)
    node.datagrams_to_send()
    node.tick(100.0)
    (event,) = node.events()
    assert isinstance(event.outcome, Exception)


def test_response_includes_requester_ip_bep42() -> None:
    node = make()
    data = krpc.encode_query(Query(b"tx", b"ping", PEER_ID))
    ((reply, _),) = node.receive_datagram(data, PEER, 0.0)
    assert krpc.parse_address(decode(reply)[b"ip"]) == PEER  # top level, as BEP 42 says


def test_snapshot_restore_round_trip() -> None:
    node = make()
    node.routing.heard_from(PEER_ID, PEER, 0.0, responded=True)
    node.items.put_immutable(b"t" * 20, b"v", 0.0)
    other = KrpcNode(LOOSE, ME, random.Random(1), 50.0)
    other.restore(node.snapshot(10.0), 50.0)
    assert other.routing.get(PEER_ID) is not None
    stored = other.items.get(b"t" * 20, 50.0)
    assert stored is not None and stored.stored_at == 40.0
    assert decode(encode(stored.value)) == b"v"


def test_stale_buckets_refreshed_by_tick() -> None:
    node = make()
    node.routing.heard_from(PEER_ID, PEER, 0.0, responded=True)
    node.tick(1.0)
    node.datagrams_to_send()
    out = node.tick(16 * 60.0)  # BEP 5: refresh a bucket untouched for 15 minutes
    queries = [krpc.decode_message(data) for data, _ in out]
    assert any(isinstance(q, Query) and q.method == b"find_node" for q in queries)


def test_outgoing_queries_of_read_only_node_carry_ro() -> None:
    node = make(DhtConfig(read_only=True))
    node.ping(PEER, 0.0)
    ((data, _),) = node.datagrams_to_send()
    query = krpc.decode_message(data)
    assert isinstance(query, Query) and query.read_only


def test_late_answer_still_counts() -> None:
    node = make()
    node.routing.heard_from(PEER_ID, PEER, 0.0, responded=True)
    op = node.find_node(b"T" * 20, 0.0)
    ((data, _),) = node.datagrams_to_send()
    tid = krpc.decode_message(data).tid
    node.tick(10.0)  # timed out: the node has one failure, the lookup ends empty
    (event,) = node.events()
    assert event.op_id == op and event.outcome == []
    entry = node.routing.get(PEER_ID)
    assert entry is not None and entry.fails == 1
    node.receive_datagram(krpc.encode_response(Response(tid, PEER_ID)), PEER, 11.0)
    assert entry.fails == 0  # the late answer proves it alive
    assert node.dropped == 0


def test_late_answer_joins_running_lookup() -> None:
    lookup = IterativeLookup(bytes(20), k=2)
    lookup.add_candidates([(b"\x01" * 20, PEER), (b"\x02" * 20, PEER), (b"\x03" * 20, PEER)])
    lookup.next_queries(0.0)
    lookup.on_timeout(b"\x01" * 20)
    lookup.revive(b"\x01" * 20)
    lookup.on_response(b"\x01" * 20, [])
    lookup.on_response(b"\x02" * 20, [])
    assert lookup.done
    assert [c.node_id for c in lookup.result()] == [b"\x01" * 20, b"\x02" * 20]


def test_slow_query_frees_a_slot_then_times_out() -> None:
    node = make(DhtConfig(rate_limit=1e9, rate_burst=1e9, alpha=1, query_slow=0.5))
    near, far = b"\x01" * 20, b"\x02" * 20
    node.routing.heard_from(near, PEER, 0.0, responded=True)
    node.routing.heard_from(far, ("10.1.1.2", 7000), 0.0, responded=True)
    node.find_node(bytes(20), 0.0)
    assert [addr for _, addr in node.datagrams_to_send()] == [PEER]  # alpha 1: nearest
    assert node.next_deadline() == 0.5  # one wakeup per query: its slow time first
    # slow: its slot goes to the next candidate, and its deadline becomes the next wakeup
    assert [addr for _, addr in node.tick(0.5)] == [("10.1.1.2", 7000)]
    assert node.next_deadline() == 1.0  # the second query's slow time
    node.tick(1.0)
    assert node.next_deadline() == 2.0  # the first query's deadline
    node.tick(2.0)
    entry = node.routing.get(near)
    assert entry is not None and entry.fails == 1


def test_answered_queries_leave_no_wakeup() -> None:
    node = make()
    node.routing.heard_from(PEER_ID, PEER, 0.0, responded=True)
    node.ping(PEER, 0.0)
    ((data, _),) = node.datagrams_to_send()
    assert node.next_deadline() == 0.5  # query_slow
    tid = krpc.decode_message(data).tid
    node.receive_datagram(krpc.encode_response(Response(tid, PEER_ID)), PEER, 0.1)
    assert node.next_deadline() is None  # an idle node sleeps until its upkeep


def test_a_node_whose_bootstrap_went_unanswered_bootstraps_again_with_backoff() -> None:
    # Regression: upkeep did nothing for an empty table, so a node started while its
    # bootstrap nodes (or its network) were down stayed alone until a lookup of its own.
    from swarmseek.discovery.node import REBOOTSTRAP_FIRST, REBOOTSTRAP_MAX  # noqa: PLC0415

    router = ("10.9.9.9", 6881)
    node = make(DhtConfig(rate_limit=1e9, rate_burst=1e9, bootstrap=(router,)))
    node.bootstrap(0.0)
    assert [to for _, to in node.datagrams_to_send()] == [router]
    now, sent_at = 0.0, []
    while now < 3600.0:  # nobody ever answers
        now += 1.0
        for data, to in node.tick(now):
            query = krpc.decode_message(data)
            if to == router and isinstance(query, Query) and query.method == b"find_node":
                assert query.args[b"target"] == ME  # a lookup of our own id
                sent_at.append(now)
    gaps = [b - a for a, b in itertools.pairwise(sent_at)]
    assert sent_at and sent_at[0] <= REBOOTSTRAP_FIRST + 10  # soon after the first failed
    assert all(b >= a for a, b in itertools.pairwise(gaps))  # backing off ...
    assert max(gaps) <= REBOOTSTRAP_MAX + 10  # ... up to a ceiling
    assert 4 <= len(sent_at) <= 10 and node.rebootstraps == len(sent_at)

    # The network comes up: the next retry fills the table, and retries stop.
    others = {(f"10.0.0.{i}", 6881): bytes([i]) * 20 for i in range(1, 9)}
    ids = {router: b"R" * 20, **others}
    compact = b"".join(
        nid + bytes([10, 0, 0, i]) + (6881).to_bytes(2, "big")
        for i, nid in enumerate(others.values(), 1)
    )

    def answer_all(out: list[tuple[bytes, tuple[str, int]]]) -> None:
        for data, to in out:
            query = krpc.decode_message(data)
            if isinstance(query, Query) and to in ids:
                nodes = compact if to == router else b""
                reply = Response(query.tid, ids[to], {b"nodes": nodes})
                answer_all(node.receive_datagram(krpc.encode_response(reply), to, now))

    for _ in range(int(REBOOTSTRAP_MAX) + 60):
        now += 1.0
        answer_all(node.tick(now))
        if len(node.routing) >= 8:
            break
    assert len(node.routing) >= 8
    done = node.rebootstraps
    for _ in range(600):  # joined (8 nodes not known bad): no more bootstraps
        now += 1.0
        node.tick(now)
    assert node.rebootstraps == done
