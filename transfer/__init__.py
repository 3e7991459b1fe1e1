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
from .errors import BencodeError, MagnetError, MetainfoError, TransferError, UnsafePathError

__all__ = [
    "DEFAULT_LIMITS",
    "MESSAGE_LIMITS",
    "BencodeError",
    "Document",
    "Limits",
    "MagnetError",
    "MetainfoError",
    "TransferError",
    "UnsafePathError",
    "Value",
    "decode",
    "decode_document",
    "decode_prefix",
    "encode",
]
