"""KRPC (BEP 5, 43, 44) as a pure codec: datagram bytes <-> typed messages, with limits.

Every field that arrives from the network is checked here against a schema, so the
node logic only ever sees well-formed queries, responses and errors. Anything else
raises :class:`KrpcError`.
"""

from __future__ import annotations

import functools
import socket
import struct
from collections.abc import Container
from dataclasses import dataclass, field, replace
from typing import Any

from swarmseek.transfer import BencodeError, Limits, Value, decode, encode

from .errors import KrpcError

Address = tuple[str, int]

# A KRPC message travels in one UDP datagram; BEP 44's largest put (1000-byte value,
# 64-byte salt, signature, key, token) fits in about 1.3 KB and a get_peers reply with
# 100 peers in about 1 KB. 8 KiB leaves room for any sane peer and bounds parsing work;
# the deepest legal message is a BEP 44 value nested inside "a"/"r", and 16 levels is
# more than any index structure of ours uses (libtorrent's bdecode depth_limit is 100
# but its values are capped by size first). The token limit bounds list/dict sizes.
KRPC_LIMITS = Limits(max_size=8 * 1024, max_depth=16, max_tokens=2_000, max_int_digits=20)

MAX_TID = 16  # transaction ids are short strings (libtorrent sends 2-4 bytes)
MAX_TOKEN = 64  # write tokens: libtorrent sends 4-8 bytes; anything longer is hostile
MAX_VERSION = 16  # the optional "v" client version (BEP 20 style, 4 bytes in practice)
MAX_ERROR_TEXT = 256
MAX_VALUES = 200  # peers in one get_peers reply: libtorrent caps at 100
COMPACT_NODE = 26  # BEP 5: 20-byte id + 4-byte IPv4 + 2-byte port
# Replies carry k=8 nodes; some clients send more. 64 is generous and the datagram
# size limit bounds it anyway; a lookup keeps at most 256 candidates in all.
MAX_NODES = 64 * COMPACT_NODE

# BEP 5 / BEP 44 error codes.
GENERIC_ERROR = 201
SERVER_ERROR = 202
PROTOCOL_ERROR = 203
METHOD_UNKNOWN = 204
VALUE_TOO_BIG = 205
INVALID_SIGNATURE = 206
SALT_TOO_BIG = 207
CAS_MISMATCH = 301
SEQ_TOO_LOW = 302

METHODS = (b"ping", b"find_node", b"get_peers", b"announce_peer", b"get", b"put")


@dataclass(frozen=True, slots=True)
class Query:
    """An incoming or outgoing query; ``args`` excludes "id" (kept in ``sender``)."""

    tid: bytes
    method: bytes
    sender: bytes
    args: dict[bytes, Value] = field(default_factory=dict)
    read_only: bool = False


@dataclass(frozen=True, slots=True)
class Response:
    tid: bytes
    sender: bytes
    values: dict[bytes, Value] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class ErrorReply:
    tid: bytes
    code: int
    message: bytes


Message = Query | Response | ErrorReply


class UnknownMethod(KrpcError):
    """A well-formed query with a method we do not implement (answer 204)."""

    def __init__(self, tid: bytes) -> None:
        super().__init__("method unknown")
        self.tid = tid


class BadQuery(KrpcError):
    """A query whose arguments are invalid; ``tid`` lets the node answer 203."""

    def __init__(self, message: str, tid: bytes) -> None:
        super().__init__(message)
        self.tid = tid


def _bytes(value: Value, name: str, *, size: int | None = None, most: int = 1024) -> bytes:
    if not isinstance(value, bytes):
        raise KrpcError(f"{name} must be a string")
    if size is not None and len(value) != size:
        raise KrpcError(f"{name} must be {size} bytes")
    if len(value) > most:
        raise KrpcError(f"{name} too long")
    return value


def _int(value: Value, name: str, lo: int, hi: int) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or not lo <= value <= hi:
        raise KrpcError(f"{name} must be an integer in [{lo}, {hi}]")
    return value


# Per-method argument schema: name -> (required, checker). Checkers raise KrpcError.
def _id20(v: Value, n: str) -> Any:
    return _bytes(v, n, size=20)


def _port(v: Value, n: str) -> Any:
    return _int(v, n, 0, 65535)


def _flag(v: Value, n: str) -> Any:
    return _int(v, n, 0, 1)


def _token(v: Value, n: str) -> Any:
    return _bytes(v, n, most=MAX_TOKEN)


def _seq(v: Value, n: str) -> Any:
    return _int(v, n, -(2**63), 2**63 - 1)


def _key(v: Value, n: str) -> Any:
    return _bytes(v, n, size=32)


def _sig(v: Value, n: str) -> Any:
    return _bytes(v, n, size=64)


def _salt(v: Value, n: str) -> Any:
    return _bytes(v, n, most=1024)  # length checked by the node: BEP 44 answers 207


def _any(v: Value, n: str) -> Any:
    return v  # the BEP 44 value: size checked by the node (answers 205)


Checker = Any
_SCHEMA_SPEC: dict[bytes, dict[bytes, tuple[bool, Checker]]] = {
    b"ping": {},
    b"find_node": {b"target": (True, _id20)},
    b"get_peers": {b"info_hash": (True, _id20)},
    b"announce_peer": {
        b"info_hash": (True, _id20),
        b"port": (True, _port),
        b"token": (True, _token),
        b"implied_port": (False, _flag),
        b"seed": (False, _flag),
    },
    b"get": {b"target": (True, _id20), b"seq": (False, _seq)},
    b"put": {
        b"v": (True, _any),
        b"token": (True, _token),
        b"k": (False, _key),
        b"sig": (False, _sig),
        b"seq": (False, _seq),
        b"cas": (False, _seq),
        b"salt": (False, _salt),
    },
}
# The same with each field's name as text, for error messages (built once, not per query)
_SCHEMAS: dict[bytes, dict[bytes, tuple[bool, Checker, str]]] = {
    method: {name: (required, check, name.decode()) for name, (required, check) in spec.items()}
    for method, spec in _SCHEMA_SPEC.items()
}


def decode_message(data: bytes) -> Message:
    """Decode and validate one datagram. Raises :class:`KrpcError` (or a subclass)."""
    try:
        msg = decode(data, limits=KRPC_LIMITS, strict=False)
    except BencodeError as exc:
        raise KrpcError(f"bad bencoding: {exc}") from exc
    if not isinstance(msg, dict):
        raise KrpcError("a KRPC message is a dictionary")
    tid = msg.get(b"t")
    if type(tid) is not bytes or len(tid) > MAX_TID:  # every datagram: inline the check
        tid = _bytes(tid, "t", most=MAX_TID)
    kind = msg.get(b"y")
    if kind == b"q":
        return _decode_query(msg, tid)
    if kind == b"r":
        body = msg.get(b"r")
        if not isinstance(body, dict):
            raise KrpcError("r must be a dictionary")
        values = dict(body)
        sender = _bytes(values.pop(b"id", None), "id", size=20)
        _check_response_values(values)
        return Response(tid, sender, values)
    if kind == b"e":
        err = msg.get(b"e")
        if not isinstance(err, list) or len(err) < 2:
            raise KrpcError("e must be a list [code, message]")
        code = _int(err[0], "error code", 0, 999)
        text = _bytes(err[1], "error message", most=MAX_ERROR_TEXT)
        return ErrorReply(tid, code, text)
    raise KrpcError("y must be q, r or e")


def _decode_query(msg: dict[bytes, Value], tid: bytes) -> Query:
    method = _bytes(msg.get(b"q"), "q", most=64)
    args = msg.get(b"a")
    if not isinstance(args, dict):
        raise BadQuery("a must be a dictionary", tid)
    sender = args.get(b"id")
    if type(sender) is not bytes or len(sender) != 20:
        raise BadQuery("id must be 20 bytes", tid)
    ro = msg.get(b"ro", 0) == 1  # BEP 43
    schema = _SCHEMAS.get(method)
    if schema is None:
        raise UnknownMethod(tid)
    checked: dict[bytes, Value] = {}
    for name, (required, check, label) in schema.items():
        if name not in args:
            if required:
                raise BadQuery(f"{method.decode()} needs {label}", tid)
            continue
        value = args[name]
        if check is _id20 and type(value) is bytes and len(value) == 20:
            checked[name] = value  # ids and targets: the common case, checked inline
            continue
        try:
            checked[name] = check(value, label)
        except KrpcError as exc:
            raise BadQuery(str(exc), tid) from exc
    return Query(tid, method, sender, checked, ro)


def _check_response_values(values: dict[bytes, Value]) -> None:
    if b"nodes" in values:
        nodes = _bytes(values[b"nodes"], "nodes", most=MAX_NODES)
        if len(nodes) % COMPACT_NODE:
            raise KrpcError("nodes is not a multiple of 26 bytes")
    if b"token" in values:
        _bytes(values[b"token"], "token", most=MAX_TOKEN)
    if b"values" in values:
        peers = values[b"values"]
        if not isinstance(peers, list) or len(peers) > MAX_VALUES:
            raise KrpcError(f"values must be a list of at most {MAX_VALUES} peers")
    for name, check in ((b"k", _key), (b"sig", _sig), (b"seq", _seq)):
        if name in values:
            check(values[name], name.decode())


# Every query we send and every answer we give is encoded here, so these do not build
# the whole message as a dict for the generic encoder: the envelope around the
# arguments is fixed, and only the argument dict (a few flat fields) is walked. Keys
# come out sorted exactly as ``encode`` would sort them (BEP 3: canonical dictionaries);
# a nested value (a BEP 44 "v", a "values" list) still goes through ``encode``. Anything
# unusual (a key or id that is not bytes) takes the generic path, so both always agree
# (tests/property/test_dht_properties.py checks them against each other).
def _fields(fields: dict[bytes, Value]) -> bytes | None:
    """The body of a flat bencoded dictionary (between "d" and "e"), or None if some
    key is not bytes (the caller then encodes generically, which raises)."""
    out = []
    for key in sorted(fields) if len(fields) > 1 else fields:
        if type(key) is not bytes:
            return None
        value = fields[key]
        kind = type(value)
        if kind is bytes:
            out.append(b"%d:%b%d:%b" % (len(key), key, len(value), value))
        elif kind is int:
            out.append(b"%d:%bi%de" % (len(key), key, value))
        else:
            out.append(b"%d:%b%b" % (len(key), key, encode(value)))
    return b"".join(out)


def _flat(value: object) -> bool:
    return type(value) is bytes


class QueryTemplate:
    """A query's bytes around its transaction id, for sending one query to many nodes.

    ``encode(tid)`` equals ``encode_query(Query(tid, method, sender, args, read_only),
    version=version)``; the arguments are encoded once, not once per node asked.
    """

    __slots__ = ("_prefix", "_query", "_suffix", "_version", "args", "method")

    def __init__(
        self,
        method: bytes,
        sender: bytes,
        args: dict[bytes, Value],
        read_only: bool = False,
        version: bytes | None = None,
    ) -> None:
        self.args = args
        self.method = method
        self._query = Query(b"", method, sender, args, read_only)
        self._version = version
        self._prefix: bytes | None = None
        self._suffix = b""
        body = _fields({b"id": sender, **args}) if b"id" not in args else None
        if body is None or not _flat(method) or not (version is None or _flat(version)):
            return  # unusual: every encode takes the generic path (and its errors)
        ro = b"2:roi1e" if read_only else b""
        v = b"1:v%d:%b" % (len(version), version) if version else b""
        self._prefix = b"d1:ad%be1:q%d:%b%b1:t" % (body, len(method), method, ro)
        self._suffix = v + b"1:y1:qe"

    def encode(self, tid: bytes) -> bytes:
        if self._prefix is None or type(tid) is not bytes:
            return encode(_query_dict(replace(self._query, tid=tid), self._version))
        return b"%b%d:%b%b" % (self._prefix, len(tid), tid, self._suffix)


def encode_query(query: Query, *, version: bytes | None = None) -> bytes:
    template = QueryTemplate(query.method, query.sender, query.args, query.read_only, version)
    return template.encode(query.tid)


def _query_dict(query: Query, version: bytes | None) -> dict[bytes, Value]:
    msg: dict[bytes, Value] = {
        b"t": query.tid,
        b"y": b"q",
        b"q": query.method,
        b"a": {b"id": query.sender, **query.args},
    }
    if query.read_only:
        msg[b"ro"] = 1
    if version:
        msg[b"v"] = version
    return msg


def encode_response(
    response: Response, *, version: bytes | None = None, ip: Address | None = None
) -> bytes:
    """Encode a response; ``ip`` is the requester's address, which BEP 42 puts in a
    top-level "ip" key so nodes learn their external address."""
    values = response.values
    body = _fields({b"id": response.sender, **values}) if b"id" not in values else None
    if body is None or not _flat(response.tid):
        return encode(_response_dict(response, version, ip))
    where = b"2:ip6:%b" % compact_address(ip) if ip is not None else b""
    v = b"1:v%d:%b" % (len(version), version) if version else b""
    return b"d%b1:rd%be1:t%d:%b%b1:y1:re" % (where, body, len(response.tid), response.tid, v)


def _response_dict(
    response: Response, version: bytes | None, ip: Address | None
) -> dict[bytes, Value]:
    msg: dict[bytes, Value] = {
        b"t": response.tid,
        b"y": b"r",
        b"r": {b"id": response.sender, **response.values},
    }
    if ip is not None:
        msg[b"ip"] = compact_address(ip)
    if version:
        msg[b"v"] = version
    return msg


def encode_error(error: ErrorReply) -> bytes:
    return encode({b"t": error.tid, b"y": b"e", b"e": [error.code, error.message]})


def encode_message(message: Message, *, version: bytes | None = None) -> bytes:
    if isinstance(message, Query):
        return encode_query(message, version=version)
    if isinstance(message, Response):
        return encode_response(message, version=version)
    return encode_error(message)


# Compact encodings (BEP 5): IPv4 only (BEP 32 is not required). Every answer carries
# the requester's address (BEP 42 "ip"), and a node hears from the same few thousand
# addresses again and again: remembered (bounded), not packed anew each time.
@functools.lru_cache(maxsize=4096)
def compact_address(addr: Address) -> bytes:
    try:
        return socket.inet_aton(addr[0]) + struct.pack("!H", addr[1])
    except (OSError, struct.error) as exc:
        raise KrpcError(f"not an IPv4 address: {addr!r}") from exc


def parse_address(data: bytes) -> Address:
    if len(data) != 6:
        raise KrpcError("a compact peer is 6 bytes")
    return socket.inet_ntoa(data[:4]), struct.unpack("!H", data[4:])[0]


_NODE = struct.Struct("!20s4sH")  # BEP 5 compact node info: id, IPv4, port


def compact_nodes(nodes: list[tuple[bytes, Address]]) -> bytes:
    return b"".join(node_id + compact_address(addr) for node_id, addr in nodes)


def parse_nodes(data: Value, skip: Container[bytes] = ()) -> list[tuple[bytes, Address]]:
    """Decode a "nodes" string; entries with port 0 are dropped (unreachable), and so
    are ids in ``skip`` (a lookup's known candidates: their addresses are not needed)."""
    if not isinstance(data, bytes) or len(data) % COMPACT_NODE or len(data) > MAX_NODES:
        raise KrpcError("bad compact node list")
    ntoa = socket.inet_ntoa  # every reply to a lookup carries k of these: one pass
    return [
        (node_id, (ntoa(ip), port))
        for node_id, ip, port in _NODE.iter_unpack(data)
        if port and node_id not in skip
    ]


def parse_peers(values: Value) -> list[Address]:
    """Decode a get_peers "values" list; malformed entries are skipped."""
    if not isinstance(values, list):
        raise KrpcError("values must be a list")
    out = []
    for v in values[:MAX_VALUES]:
        if isinstance(v, bytes) and len(v) == 6:
            addr = parse_address(v)
            if addr[1]:
                out.append(addr)
    return out
