"""Peer wire messages (BEP 3, BEP 6, BEP 10 framing): what we send and how it is coded.

Messages we send are nouns (``Request``, ``Piece``); what the peer did is reported
as past-tense events (see ``wire_events``). Codecs here are stateless; the rules that
depend on the connection's state live in :mod:`wire`.
"""

from __future__ import annotations

import hashlib
import struct
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TypeAlias

from .bitfield import Bitfield
from .errors import LocalProtocolError, RemoteProtocolError

PROTOCOL = b"BitTorrent protocol"
HANDSHAKE_LENGTH = 1 + len(PROTOCOL) + 8 + 20 + 20  # 68 bytes, BEP 3

# Reserved bits (BEP 10 "extension protocol": reserved[5] & 0x10; BEP 6: reserved[7] & 0x04;
# BEP 5: reserved[7] & 0x01).
EXTENSION_BIT = (5, 0x10)
FAST_BIT = (7, 0x04)
DHT_BIT = (7, 0x01)

BLOCK_SIZE = 16 * 1024
# A block request longer than 16 KiB: BEP 3 notes clients close the connection on
# requests over 16 KiB; libtorrent (peer_connection.cpp, incoming_request) rejects any
# request with ``r.length > t->block_size()`` (16 KiB) instead of serving it, and
# (bt_peer_connection.cpp, on_piece) disconnects with ``packet_too_large`` when a piece
# payload exceeds the block size. We do the same on both sides.
MAX_REQUEST_LENGTH = BLOCK_SIZE
MAX_PIECE_MESSAGE = 1 + 8 + BLOCK_SIZE
# BEP 9 metadata pieces are 16 KiB; a ``data`` message adds a small bencoded dictionary.
# 2 KiB of slack also covers BEP 10 handshakes and ut_pex messages seen in the wild
# (libtorrent's own extended handshake is a few hundred bytes).
MAX_EXTENDED_MESSAGE = 2 + BLOCK_SIZE + 2048
# Metadata (an info dictionary) larger than this is refused. libtorrent ignores a
# ``metadata_size`` over 4 MiB in the extension handshake (ut_metadata.cpp) and refuses
# ``total_size`` over ``max_metadata_size`` (settings_pack default 30 MiB); 8 MiB holds
# 400,000 piece hashes (a 6 TiB torrent at 16 MiB pieces) and bounds what we buffer.
MAX_METADATA_SIZE = 8 * 1024 * 1024
# Without metadata the piece count is unknown; bound the bitfield by the largest piece
# count such metadata can describe (20 bytes of hash per piece).
MAX_UNKNOWN_PIECES = MAX_METADATA_SIZE // 20
MAX_BITFIELD_MESSAGE = 1 + (MAX_UNKNOWN_PIECES + 7) // 8
# Any other message (one we do not know) is held to the largest we otherwise accept.
MAX_MESSAGE_LENGTH = max(MAX_PIECE_MESSAGE, MAX_EXTENDED_MESSAGE, MAX_BITFIELD_MESSAGE)

CHOKE, UNCHOKE, INTERESTED, NOT_INTERESTED, HAVE, BITFIELD, REQUEST, PIECE, CANCEL, PORT = range(10)
SUGGEST, HAVE_ALL, HAVE_NONE, REJECT, ALLOWED_FAST = 0x0D, 0x0E, 0x0F, 0x10, 0x11  # BEP 6
EXTENDED = 20  # BEP 10
FAST_MESSAGE_IDS = frozenset({SUGGEST, HAVE_ALL, HAVE_NONE, REJECT, ALLOWED_FAST})
# Exact payload lengths (id byte included) of fixed-size messages.
FIXED_LENGTHS = {
    CHOKE: 1,
    UNCHOKE: 1,
    INTERESTED: 1,
    NOT_INTERESTED: 1,
    HAVE: 5,
    REQUEST: 13,
    CANCEL: 13,
    PORT: 3,
    SUGGEST: 5,
    HAVE_ALL: 1,
    HAVE_NONE: 1,
    REJECT: 13,
    ALLOWED_FAST: 5,
}

_U32 = 0xFFFFFFFF


@dataclass(frozen=True, slots=True)
class Handshake:
    """The 68-byte BEP 3 handshake."""

    info_hash: bytes
    peer_id: bytes
    reserved: bytes = bytes(8)

    def has(self, bit: tuple[int, int]) -> bool:
        return bool(self.reserved[bit[0]] & bit[1])


def make_reserved(*, extensions: bool, fast: bool, dht: bool) -> bytes:
    reserved = bytearray(8)
    for wanted, (index, mask) in ((extensions, EXTENSION_BIT), (fast, FAST_BIT), (dht, DHT_BIT)):
        if wanted:
            reserved[index] |= mask
    return bytes(reserved)


def encode_handshake(handshake: Handshake) -> bytes:
    if len(handshake.info_hash) != 20 or len(handshake.peer_id) != 20:
        raise LocalProtocolError("info hash and peer id must be 20 bytes")
    if len(handshake.reserved) != 8:
        raise LocalProtocolError("reserved must be 8 bytes")
    return (
        bytes([len(PROTOCOL)])
        + PROTOCOL
        + handshake.reserved
        + handshake.info_hash
        + handshake.peer_id
    )


def check_handshake_prefix(data: bytes) -> None:
    """Reject a wrong protocol string as soon as its first bytes arrive."""
    expected = bytes([len(PROTOCOL)]) + PROTOCOL
    n = min(len(data), len(expected))
    if data[:n] != expected[:n]:
        raise RemoteProtocolError("not a BitTorrent handshake")


def decode_handshake(data: bytes) -> Handshake:
    if len(data) != HANDSHAKE_LENGTH:
        raise RemoteProtocolError("handshake must be 68 bytes")
    check_handshake_prefix(data)
    return Handshake(info_hash=data[28:48], peer_id=data[48:68], reserved=data[20:28])


# --- messages we send (and the core messages decoded before state checks) -----------


@dataclass(frozen=True, slots=True)
class KeepAlive:
    pass


@dataclass(frozen=True, slots=True)
class Choke:
    pass


@dataclass(frozen=True, slots=True)
class Unchoke:
    pass


@dataclass(frozen=True, slots=True)
class Interested:
    pass


@dataclass(frozen=True, slots=True)
class NotInterested:
    pass


@dataclass(frozen=True, slots=True)
class Have:
    piece: int


@dataclass(frozen=True, slots=True)
class BitfieldMessage:
    """Our ``bitfield`` message; ``HaveAll``/``HaveNone`` are shorter with BEP 6."""

    bitfield: Bitfield = field(compare=False)
    raw: bytes = b""

    @classmethod
    def of(cls, bitfield: Bitfield) -> BitfieldMessage:
        return cls(bitfield, bitfield.to_bytes())

    def __eq__(self, other: object) -> bool:
        return isinstance(other, BitfieldMessage) and self.raw == other.raw

    def __hash__(self) -> int:
        return hash(self.raw)


@dataclass(frozen=True, slots=True, order=True)
class Request:
    """A block request; also the key for a block (piece, offset, length)."""

    piece: int
    offset: int
    length: int


@dataclass(frozen=True, slots=True)
class Piece:
    piece: int
    offset: int
    data: bytes = field(repr=False)

    def __repr__(self) -> str:
        return f"Piece(piece={self.piece}, offset={self.offset}, length={len(self.data)})"

    @property
    def request(self) -> Request:
        return Request(self.piece, self.offset, len(self.data))


@dataclass(frozen=True, slots=True)
class Cancel:
    piece: int
    offset: int
    length: int


@dataclass(frozen=True, slots=True)
class Port:
    port: int


@dataclass(frozen=True, slots=True)
class HaveAll:
    pass


@dataclass(frozen=True, slots=True)
class HaveNone:
    pass


@dataclass(frozen=True, slots=True)
class Suggest:
    piece: int


@dataclass(frozen=True, slots=True)
class Reject:
    piece: int
    offset: int
    length: int


@dataclass(frozen=True, slots=True)
class AllowedFast:
    piece: int


@dataclass(frozen=True, slots=True)
class Extended:
    """A raw BEP 10 extended message as framed on the wire (id 0 is the handshake)."""

    ext_id: int
    payload: bytes = field(repr=False)


@dataclass(frozen=True, slots=True)
class ExtensionMessage:
    """Send ``payload`` as the BEP 10 extension ``name``; the peer must have advertised it.

    ``ut_metadata`` has typed messages of its own (``MetadataRequest`` and friends).
    """

    name: bytes
    payload: bytes = field(repr=False)


CoreMessage: TypeAlias = (
    KeepAlive
    | Choke
    | Unchoke
    | Interested
    | NotInterested
    | Have
    | BitfieldMessage
    | Request
    | Piece
    | Cancel
    | Port
    | HaveAll
    | HaveNone
    | Suggest
    | Reject
    | AllowedFast
    | Extended
)


def _frame(message_id: int, body: bytes = b"") -> bytes:
    return struct.pack(">IB", len(body) + 1, message_id) + body


def _u32(*values: int) -> bytes:
    for value in values:
        if not 0 <= value <= _U32:
            raise LocalProtocolError(f"{value} does not fit in 32 bits")
    return struct.pack(f">{len(values)}I", *values)


def _encode_piece(m: Piece) -> bytes:
    if len(m.data) > BLOCK_SIZE or not m.data:
        raise LocalProtocolError("a block is 1 to 16 KiB")
    return _frame(PIECE, _u32(m.piece, m.offset) + m.data)


def _encode_port(m: Port) -> bytes:
    if not 0 <= m.port <= 0xFFFF:
        raise LocalProtocolError("port out of range")
    return _frame(PORT, struct.pack(">H", m.port))


def _encode_extended(m: Extended) -> bytes:
    if not 0 <= m.ext_id <= 255:
        raise LocalProtocolError("extension id out of range")
    if len(m.payload) + 2 > MAX_EXTENDED_MESSAGE:
        raise LocalProtocolError("extended message too long")
    return _frame(EXTENDED, bytes([m.ext_id]) + m.payload)


_ENCODERS: dict[type, Callable[[CoreMessage], bytes]] = {
    KeepAlive: lambda m: b"\0\0\0\0",
    Choke: lambda m: _frame(CHOKE),
    Unchoke: lambda m: _frame(UNCHOKE),
    Interested: lambda m: _frame(INTERESTED),
    NotInterested: lambda m: _frame(NOT_INTERESTED),
    Have: lambda m: _frame(HAVE, _u32(m.piece)),  # type: ignore[union-attr]
    BitfieldMessage: lambda m: _frame(BITFIELD, m.raw),  # type: ignore[union-attr]
    Request: lambda m: _frame(REQUEST, _u32(m.piece, m.offset, m.length)),  # type: ignore[union-attr]
    Piece: _encode_piece,  # type: ignore[dict-item]
    Cancel: lambda m: _frame(CANCEL, _u32(m.piece, m.offset, m.length)),  # type: ignore[union-attr]
    Port: _encode_port,  # type: ignore[dict-item]
    HaveAll: lambda m: _frame(HAVE_ALL),
    HaveNone: lambda m: _frame(HAVE_NONE),
    Suggest: lambda m: _frame(SUGGEST, _u32(m.piece)),  # type: ignore[union-attr]
    Reject: lambda m: _frame(REJECT, _u32(m.piece, m.offset, m.length)),  # type: ignore[union-attr]
    AllowedFast: lambda m: _frame(ALLOWED_FAST, _u32(m.piece)),  # type: ignore[union-attr]
    Extended: _encode_extended,  # type: ignore[dict-item]
}


def encode_message(message: CoreMessage) -> bytes:
    """Frame one core message (length prefix included)."""
    try:
        encoder = _ENCODERS[type(message)]
    except KeyError:
        raise LocalProtocolError(f"cannot send {type(message).__name__}") from None
    return encoder(message)


def max_length(message_id: int, num_pieces: int | None) -> int:
    """The largest payload (id byte included) we accept for ``message_id``."""
    if message_id in FIXED_LENGTHS:
        return FIXED_LENGTHS[message_id]
    if message_id == BITFIELD:
        return MAX_BITFIELD_MESSAGE if num_pieces is None else 1 + (num_pieces + 7) // 8
    if message_id == PIECE:
        return MAX_PIECE_MESSAGE
    if message_id == EXTENDED:
        return MAX_EXTENDED_MESSAGE
    return MAX_MESSAGE_LENGTH


def _triple(body: bytes) -> tuple[int, int, int]:
    a, b, c = struct.unpack(">III", body)
    return int(a), int(b), int(c)


def _one(body: bytes) -> int:
    return int(struct.unpack(">I", body)[0])


def _decode_piece(body: bytes) -> Piece:
    if len(body) < 9:
        raise RemoteProtocolError("piece message too short")
    piece, offset = struct.unpack(">II", body[1:9])
    return Piece(int(piece), int(offset), bytes(body[9:]))


def _decode_extended(body: bytes) -> Extended:
    if len(body) < 2:
        raise RemoteProtocolError("extended message without an id")
    return Extended(body[1], bytes(body[2:]))


_DECODERS: dict[int, Callable[[bytes], CoreMessage]] = {
    CHOKE: lambda b: Choke(),
    UNCHOKE: lambda b: Unchoke(),
    INTERESTED: lambda b: Interested(),
    NOT_INTERESTED: lambda b: NotInterested(),
    HAVE: lambda b: Have(_one(b[1:])),
    BITFIELD: lambda b: BitfieldMessage(Bitfield(0), bytes(b[1:])),
    REQUEST: lambda b: Request(*_triple(b[1:])),
    PIECE: _decode_piece,
    CANCEL: lambda b: Cancel(*_triple(b[1:])),
    PORT: lambda b: Port(int(struct.unpack(">H", b[1:])[0])),
    SUGGEST: lambda b: Suggest(_one(b[1:])),
    HAVE_ALL: lambda b: HaveAll(),
    HAVE_NONE: lambda b: HaveNone(),
    REJECT: lambda b: Reject(*_triple(b[1:])),
    ALLOWED_FAST: lambda b: AllowedFast(_one(b[1:])),
    EXTENDED: _decode_extended,
}


def decode_message(body: bytes) -> CoreMessage | None:
    """Decode one message body (id byte first, no length prefix); None if unknown id.

    Only the framing is checked here: exact lengths of fixed-size messages. A
    ``BitfieldMessage`` comes back with its raw bytes; the connection sizes it.
    """
    if not body:
        return KeepAlive()
    message_id = body[0]
    decoder = _DECODERS.get(message_id)
    if decoder is None:
        return None
    fixed = FIXED_LENGTHS.get(message_id)
    if fixed is not None and len(body) != fixed:
        raise RemoteProtocolError(f"message {message_id} has length {len(body)}, not {fixed}")
    return decoder(body)


def allowed_fast_set(info_hash: bytes, ip: bytes, num_pieces: int, k: int) -> list[int]:
    """BEP 6 "Allowed Fast": the ``k`` pieces a peer at IPv4 ``ip`` may always request.

    Follows BEP 6's reference algorithm: hash (ip & 0xFFFFFF00) + infohash, then take
    32-bit words of successive SHA-1 digests modulo the piece count, skipping repeats.
    """
    if len(ip) != 4:
        raise ValueError("BEP 6 defines the allowed fast set for IPv4 only")
    k = min(k, num_pieces)
    x = bytes([ip[0], ip[1], ip[2], 0]) + info_hash
    result: list[int] = []
    while len(result) < k:
        x = hashlib.sha1(x).digest()
        for i in range(5):
            if len(result) >= k:
                break
            index = int.from_bytes(x[4 * i : 4 * i + 4], "big") % num_pieces
            if index not in result:
                result.append(index)
    return result
