"""Torrents, the peer wire protocol and the swarm: swarmseek's transfer engine."""

from .bencode import (
    DEFAULT_LIMITS,
    MESSAGE_LIMITS,
    Document,
    Limits,
    Value,
    decode,
    decode_document,
    decode_prefix,
    encode,
)
from .errors import (
    BencodeError,
    MagnetError,
    MetainfoError,
    TrackerError,
    TransferError,
    UnsafePathError,
)
from .tracker import Announce, AnnounceResponse, Event
from .tracker_client import TrackerClientConfig, announce
from .tracker_server import TrackerConfig, TrackerServer

__all__ = [
    "DEFAULT_LIMITS",
    "MESSAGE_LIMITS",
    "Announce",
    "AnnounceResponse",
    "BencodeError",
    "Document",
    "Event",
    "Limits",
    "MagnetError",
    "MetainfoError",
    "TrackerClientConfig",
    "TrackerConfig",
    "TrackerError",
    "TrackerServer",
    "TransferError",
    "UnsafePathError",
    "Value",
    "announce",
    "decode",
    "decode_document",
    "decode_prefix",
    "encode",
]
