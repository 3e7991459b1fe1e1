"""BEP 9 metadata exchange (``ut_metadata``): codec, assembly and serving."""

from __future__ import annotations

import hashlib
from collections.abc import Hashable
from dataclasses import dataclass, field
from typing import TypeAlias

from .bencode import MESSAGE_LIMITS, decode_prefix, encode
from .errors import BencodeError, LocalProtocolError, MetadataHashMismatch, RemoteProtocolError
from .wire_messages import MAX_METADATA_SIZE

METADATA_PIECE_SIZE = 16 * 1024  # BEP 9: "the metadata is handled in blocks of 16KiB"
_REQUEST, _DATA, _REJECT = 0, 1, 2


@dataclass(frozen=True, slots=True)
class MetadataRequest:
    piece: int


@dataclass(frozen=True, slots=True)
class MetadataData:
    piece: int
    total_size: int
    data: bytes = field(repr=False)

    def __repr__(self) -> str:
        return (
            f"MetadataData(piece={self.piece}, total_size={self.total_size}, "
            f"length={len(self.data)})"
        )


@dataclass(frozen=True, slots=True)
class MetadataReject:
    piece: int


MetadataMessage: TypeAlias = MetadataRequest | MetadataData | MetadataReject


def metadata_piece_count(total_size: int) -> int:
    return (total_size + METADATA_PIECE_SIZE - 1) // METADATA_PIECE_SIZE


def metadata_pieces(info: bytes) -> list[bytes]:
    """Split our bencoded info dictionary into the 16 KiB pieces BEP 9 serves."""
    return [info[i : i + METADATA_PIECE_SIZE] for i in range(0, len(info), METADATA_PIECE_SIZE)]


def encode_metadata_message(message: MetadataMessage) -> bytes:
    """The extended-message payload (after the extension id byte) for ``message``."""
    if message.piece < 0:
        raise LocalProtocolError("negative metadata piece")
    if isinstance(message, MetadataData):
        if len(message.data) > METADATA_PIECE_SIZE:
            raise LocalProtocolError("metadata piece over 16 KiB")
        head = {b"msg_type": _DATA, b"piece": message.piece, b"total_size": message.total_size}
        return encode(head) + message.data
    kind = _REQUEST if isinstance(message, MetadataRequest) else _REJECT
    return encode({b"msg_type": kind, b"piece": message.piece})


def decode_metadata_message(payload: bytes) -> MetadataMessage:
    """Parse a ``ut_metadata`` payload; anything malformed is a RemoteProtocolError."""
    try:
        head, used = decode_prefix(payload, limits=MESSAGE_LIMITS)
    except BencodeError as exc:
        raise RemoteProtocolError(f"bad ut_metadata message: {exc}") from exc
    if not isinstance(head, dict):
        raise RemoteProtocolError("ut_metadata message is not a dictionary")
    kind, piece = head.get(b"msg_type"), head.get(b"piece")
    if not isinstance(kind, int) or not isinstance(piece, int) or piece < 0:
        raise RemoteProtocolError("ut_metadata message without msg_type/piece")
    if piece >= metadata_piece_count(MAX_METADATA_SIZE):
        raise RemoteProtocolError("ut_metadata piece index out of range")
    rest = payload[used:]
    if kind == _DATA:
        total = head.get(b"total_size")
        if not isinstance(total, int) or not 0 < total <= MAX_METADATA_SIZE:
            raise RemoteProtocolError(f"ut_metadata total_size {total!r} out of range")
        if len(rest) > METADATA_PIECE_SIZE:
            raise RemoteProtocolError("ut_metadata piece over 16 KiB")
        return MetadataData(piece, total, bytes(rest))
    if rest:
        raise RemoteProtocolError("trailing bytes after ut_metadata message")
    if kind == _REQUEST:
        return MetadataRequest(piece)
    if kind == _REJECT:
        return MetadataReject(piece)
    raise RemoteProtocolError(f"unknown ut_metadata msg_type {kind}")


class MetadataAssembler:
    """Collect BEP 9 pieces from peers; hand out the info dictionary once it is verified.

    Pure bookkeeping: the caller sends ``MetadataRequest(pick(peer))`` and feeds every
    ``MetadataData``/``MetadataReject`` back. Nothing leaves this object unless its
    SHA-1 equals the infohash (BEP 9: "the peer ... MUST verify the info-hash").
    """

    def __init__(self, info_hash: bytes, *, max_size: int = MAX_METADATA_SIZE) -> None:
        self.info_hash = info_hash
        self.max_size = max_size
        self.total_size: int | None = None
        self._pieces: dict[int, bytes] = {}
        self._senders: dict[int, Hashable] = {}
        self._requested: dict[int, set[Hashable]] = {}
        self.result: bytes | None = None

    @property
    def num_pieces(self) -> int:
        return 0 if self.total_size is None else metadata_piece_count(self.total_size)

    @property
    def done(self) -> bool:
        return self.result is not None

    def set_size(self, total_size: int) -> None:
        """Learn the size (extension handshake ``metadata_size`` or a data message)."""
        if not 0 < total_size <= self.max_size:
            raise RemoteProtocolError(f"metadata size {total_size} out of range")
        if self.total_size is None:
            self.total_size = total_size
        elif total_size != self.total_size:
            raise RemoteProtocolError(
                f"metadata size {total_size} disagrees with {self.total_size}"
            )

    def missing(self) -> list[int]:
        return [i for i in range(self.num_pieces) if i not in self._pieces]

    def pick(self, peer: Hashable) -> int | None:
        """A piece to request from ``peer`` (unrequested first), marked requested."""
        if self.done:
            return None
        candidates = [i for i in self.missing() if peer not in self._requested.get(i, ())]
        if not candidates:
            return None
        piece = min(candidates, key=lambda i: len(self._requested.get(i, ())))
        self._requested.setdefault(piece, set()).add(peer)
        return piece

    def release(self, peer: Hashable, piece: int | None = None) -> None:
        """Forget ``peer``'s request for ``piece`` (rejected), or all of them (gone)."""
        for index, peers in self._requested.items():
            if piece is None or index == piece:
                peers.discard(peer)

    def add_piece(self, peer: Hashable, message: MetadataData) -> bytes | None:
        """Store a piece; return the verified info dictionary when it is complete.

        Raises RemoteProtocolError for a piece of the wrong size, and
        MetadataHashMismatch (after dropping every piece) when the whole does not
        hash to the infohash; its ``peers`` say who sent pieces.
        """
        if self.done:
            return None
        self.set_size(message.total_size)
        assert self.total_size is not None
        if message.piece >= self.num_pieces:
            raise RemoteProtocolError(f"metadata piece {message.piece} out of range")
        last = self.num_pieces - 1
        want = (
            self.total_size - last * METADATA_PIECE_SIZE
            if message.piece == last
            else METADATA_PIECE_SIZE
        )
        if len(message.data) != want:
            raise RemoteProtocolError(
                f"metadata piece {message.piece} has {len(message.data)} bytes, not {want}"
            )
        self.release(peer, message.piece)
        self._pieces[message.piece] = message.data
        self._senders[message.piece] = peer
        if len(self._pieces) < self.num_pieces:
            return None
        info = b"".join(self._pieces[i] for i in range(self.num_pieces))
        if hashlib.sha1(info).digest() != self.info_hash:
            senders = frozenset(self._senders.values())
            self._pieces.clear()
            self._senders.clear()
            raise MetadataHashMismatch("metadata does not match the infohash", senders)
        self.result = info
        return info
