"""Hypothesis: KRPC round trips, and no datagram whatsoever crashes the decoder or node."""

from __future__ import annotations

import contextlib
import random
from dataclasses import replace

from hypothesis import given
from hypothesis import strategies as st

from swarmseek.discovery import DhtConfig, KrpcNode, RoutingTable, krpc
from swarmseek.discovery.errors import KrpcError
from swarmseek.discovery.krpc import Query, Response
from swarmseek.transfer import encode

ids = st.binary(min_size=20, max_size=20)
tids = st.binary(min_size=1, max_size=4)
bvalues = st.recursive(
    st.binary(max_size=30) | st.integers(min_value=-(2**63), max_value=2**63 - 1),
    lambda inner: (
        st.lists(inner, max_size=5) | st.dictionaries(st.binary(max_size=8), inner, max_size=5)
    ),
    max_leaves=20,
)
keys = st.sampled_from(
    [
        b"t",
        b"y",
        b"q",
        b"a",
        b"r",
        b"e",
        b"id",
        b"target",
        b"info_hash",
        b"port",
        b"token",
        b"v",
        b"k",
        b"sig",
        b"seq",
        b"cas",
        b"salt",
        b"nodes",
        b"values",
        b"implied_port",
        b"ro",
    ]
)
methods = st.sampled_from((*krpc.METHODS, b"vote", b""))
krpc_like = st.fixed_dictionaries(
    {b"t": tids, b"y": st.sampled_from([b"q", b"r", b"e", b"x"])},
    optional={
        b"q": methods,
        b"a": st.dictionaries(keys, bvalues | ids, max_size=8).map(
            lambda d: {b"id": b"P" * 20, **d}
        ),
        b"r": st.dictionaries(keys, bvalues | ids, max_size=8),
        b"e": st.lists(bvalues, max_size=3),
        b"ro": st.integers(0, 2),
    },
)


@given(st.binary(max_size=2000))
def test_decoder_raises_only_krpc_error(data: bytes) -> None:
    with contextlib.suppress(KrpcError):
        krpc.decode_message(data)


@given(krpc_like)
def test_decoder_on_krpc_shaped_input(message: dict[bytes, object]) -> None:
    with contextlib.suppress(KrpcError):
        krpc.decode_message(encode(message))


def fresh_node() -> KrpcNode:
    return KrpcNode(DhtConfig(rate_limit=1e9, rate_burst=1e9), b"M" * 20, random.Random(0), 0.0)


@given(st.lists(st.binary(max_size=300) | krpc_like.map(encode), max_size=20))
def test_node_never_crashes_and_only_replies_to_sender(datagrams: list[bytes]) -> None:
    node = fresh_node()
    node.ping(("10.0.0.9", 9), 0.0)
    node.datagrams_to_send()
    for i, data in enumerate(datagrams):
        out = node.receive_datagram(data, ("10.0.0.1", 1000 + i), float(i))
        assert all(addr == ("10.0.0.1", 1000 + i) for _, addr in out) or not out
    node.tick(1e6)


@given(tids, methods.filter(lambda m: m in (b"ping",)), ids, st.booleans())
def test_ping_query_round_trip(tid: bytes, method: bytes, sender: bytes, ro: bool) -> None:
    q = Query(tid, method, sender, {}, ro)
    assert krpc.decode_message(krpc.encode_query(q)) == q


@given(
    tids,
    ids,
    st.lists(
        st.tuples(ids, st.tuples(st.ip_addresses(v=4).map(str), st.integers(1, 65535))), max_size=8
    ),
)
def test_find_node_response_round_trip(tid: bytes, sender: bytes, nodes: list) -> None:
    r = Response(tid, sender, {b"nodes": krpc.compact_nodes(nodes)})
    decoded = krpc.decode_message(krpc.encode_response(r))
    assert decoded == r
    assert isinstance(decoded, Response)
    assert krpc.parse_nodes(decoded.values[b"nodes"]) == nodes


@given(
    st.lists(st.tuples(ids, st.booleans(), st.sampled_from(["seen", "failed"])), max_size=300),
    ids,
)
def test_routing_table_invariants(events: list[tuple[bytes, bool, str]], own: bytes) -> None:
    table = RoutingTable(own)
    for i, (node_id, responded, what) in enumerate(events):
        if what == "seen":
            table.heard_from(node_id, ("10.0.0.1", 1 + i % 60000), float(i), responded=responded)
        else:
            table.failed(node_id, float(i))
    # buckets tile the id space in order, hold at most k nodes, and only their own ids
    assert table.buckets[0].lo == 0 and table.buckets[-1].hi == 1 << 160
    for left, right in zip(table.buckets, table.buckets[1:], strict=False):
        assert left.hi == right.lo
    for bucket in table.buckets:
        assert len(bucket.nodes) <= table.k and len(bucket.replacements) <= table.k
        for entry in bucket.nodes + bucket.replacements:
            assert bucket.covers(int.from_bytes(entry.node_id, "big"))
    assert own not in {e.node_id for e in table.entries()}


# --- the spliced encoders (krpc._fields, QueryTemplate) against the generic encoder --
arg_keys = keys | st.binary(max_size=10)
flat_args = st.dictionaries(arg_keys, bvalues | ids, max_size=7)
versions = st.none() | st.binary(max_size=6)


def generic_query(q: Query, version: bytes | None) -> bytes:
    msg: dict[bytes, object] = {b"t": q.tid, b"y": b"q", b"q": q.method}
    msg[b"a"] = {b"id": q.sender, **q.args}
    if q.read_only:
        msg[b"ro"] = 1
    if version:
        msg[b"v"] = version
    return encode(msg)


@given(tids, st.binary(max_size=12), ids, flat_args, st.booleans(), versions)
def test_query_encoding_equals_generic_encode(
    tid: bytes, method: bytes, sender: bytes, args: dict, ro: bool, version: bytes | None
) -> None:
    q = Query(tid, method, sender, args, ro)
    expected = generic_query(q, version)
    assert krpc.encode_query(q, version=version) == expected
    template = krpc.QueryTemplate(method, sender, args, ro, version)
    assert template.encode(tid) == expected
    # one template, many transaction ids (a lookup's queries)
    assert template.encode(tid + b"x") == generic_query(replace(q, tid=tid + b"x"), version)


@given(tids, ids, flat_args, versions, st.none() | st.ip_addresses(v=4).map(str))
def test_response_encoding_equals_generic_encode(
    tid: bytes, sender: bytes, values: dict, version: bytes | None, ip: str | None
) -> None:
    msg: dict[bytes, object] = {b"t": tid, b"y": b"r", b"r": {b"id": sender, **values}}
    where = None if ip is None else (ip, 6881)
    if where is not None:
        msg[b"ip"] = krpc.compact_address(where)
    if version:
        msg[b"v"] = version
    got = krpc.encode_response(Response(tid, sender, values), version=version, ip=where)
    assert got == encode(msg)


@given(
    st.lists(st.tuples(ids, st.tuples(st.ip_addresses(v=4).map(str), st.integers(0, 65535)))),
    st.sets(ids),
)
def test_parse_nodes_skips_known_ids(nodes: list, skip: set[bytes]) -> None:
    nodes = nodes[:64]
    skip |= {node_id for node_id, _ in nodes[::2]}
    data = krpc.compact_nodes(nodes)
    expected = [(i, a) for i, a in krpc.parse_nodes(data) if i not in skip]
    assert krpc.parse_nodes(data, skip) == expected
