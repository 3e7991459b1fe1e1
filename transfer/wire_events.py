"""What a peer did: events a :class:`~.wire.PeerConnection` reports (past tense)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TypeAlias

from .bitfield import Bitfield
from .extension import ExtensionHandshake
from .wire_messages import Request


@dataclass(frozen=True, slots=True)
class HandshakeReceived:
    info_hash: bytes
    peer_id: bytes
    reserved: bytes
    extensions: bool  # both sides set the BEP 10 bit
    fast: bool  # both sides set the BEP 6 bit
    dht: bool  # the peer set the BEP 5 bit (it may send PORT)


@dataclass(frozen=True, slots=True)
class KeepAliveReceived:
    pass


@dataclass(frozen=True, slots=True)
class PeerChoked:
    """The peer choked us. Without BEP 6 our outstanding requests are dropped (listed)."""

    cancelled: tuple[Request, ...] = ()


@dataclass(frozen=True, slots=True)
class PeerUnchoked:
    pass


@dataclass(frozen=True, slots=True)
class PeerInterested:
    pass


@dataclass(frozen=True, slots=True)
class PeerNotInterested:
    pass


@dataclass(frozen=True, slots=True)
class HaveReceived:
    piece: int


@dataclass(frozen=True, slots=True)
class BitfieldReceived:
    """The peer's bitfield; ``bitfield.size`` is a multiple of 8 while the piece count
    is unknown (no metadata yet): re-check it with ``Bitfield.from_bytes`` later."""

    bitfield: Bitfield

    __hash__ = None  # type: ignore[assignment]  # a Bitfield is mutable


@dataclass(frozen=True, slots=True)
class HaveAllReceived:
    pass


@dataclass(frozen=True, slots=True)
class HaveNoneReceived:
    pass


@dataclass(frozen=True, slots=True)
class RequestReceived:
    piece: int
    offset: int
    length: int

    @property
    def request(self) -> Request:
        return Request(self.piece, self.offset, self.length)


@dataclass(frozen=True, slots=True)
class BlockReceived:
    """A block arrived. ``solicited`` is False for a block we never asked for or had
    already cancelled (a cancel can cross the block on the wire)."""

    piece: int
    offset: int
    data: bytes = field(repr=False)
    solicited: bool = True

    def __repr__(self) -> str:
        return (
            f"BlockReceived(piece={self.piece}, offset={self.offset}, "
            f"length={len(self.data)}, solicited={self.solicited})"
        )


@dataclass(frozen=True, slots=True)
class CancelReceived:
    piece: int
    offset: int
    length: int


@dataclass(frozen=True, slots=True)
class PortReceived:
    port: int


@dataclass(frozen=True, slots=True)
class SuggestReceived:
    piece: int


@dataclass(frozen=True, slots=True)
class RejectReceived:
    piece: int
    offset: int
    length: int


@dataclass(frozen=True, slots=True)
class AllowedFastReceived:
    piece: int


@dataclass(frozen=True, slots=True)
class ExtensionHandshakeReceived:
    handshake: ExtensionHandshake


@dataclass(frozen=True, slots=True)
class ExtensionMessageReceived:
    """An extended message other than ``ut_metadata``; ``name`` is None for an id we
    never advertised."""

    name: bytes | None
    ext_id: int
    payload: bytes = field(repr=False)


@dataclass(frozen=True, slots=True)
class MetadataRequestReceived:
    piece: int


@dataclass(frozen=True, slots=True)
class MetadataDataReceived:
    piece: int
    total_size: int
    data: bytes = field(repr=False)


@dataclass(frozen=True, slots=True)
class MetadataRejectReceived:
    piece: int


@dataclass(frozen=True, slots=True)
class UnknownMessageReceived:
    """BEP 3: unknown message ids are ignored; reported so the adapter can log it."""

    message_id: int
    length: int


Event: TypeAlias = (
    HandshakeReceived
    | KeepAliveReceived
    | PeerChoked
    | PeerUnchoked
    | PeerInterested
    | PeerNotInterested
    | HaveReceived
    | BitfieldReceived
    | HaveAllReceived
    | HaveNoneReceived
    | RequestReceived
    | BlockReceived
    | CancelReceived
    | PortReceived
    | SuggestReceived
    | RejectReceived
    | AllowedFastReceived
    | ExtensionHandshakeReceived
    | ExtensionMessageReceived
    | MetadataRequestReceived
    | MetadataDataReceived
    | MetadataRejectReceived
    | UnknownMessageReceived
)
