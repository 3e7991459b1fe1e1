"""One exception tree for ``swarmseek.transfer``.

Following h11, errors we cause (``LocalProtocolError``) are kept apart from errors
the other side causes (``RemoteProtocolError``); decode errors carry where they
happened so a log line says what was wrong with the input.
"""

from __future__ import annotations

from collections.abc import Hashable


class TransferError(Exception):
    """Base class of every error raised by ``swarmseek.transfer``."""


class BencodeError(TransferError, ValueError):
    """Input is not valid bencode, or breaks a size/depth/token limit."""

    def __init__(self, message: str, position: int | None = None) -> None:
        self.position = position
        where = f" at byte {position}" if position is not None else ""
        super().__init__(f"{message}{where}")


class MetainfoError(TransferError, ValueError):
    """A .torrent file or info dictionary is malformed or unsafe."""


class MagnetError(TransferError, ValueError):
    """A magnet URI is malformed."""


class UnsafePathError(MetainfoError):
    """A file path from metadata would escape the download folder."""


class TrackerError(TransferError):
    """A tracker could not be reached, refused us, or answered nonsense."""


class StorageError(TransferError, OSError):
    """Piece data cannot be read or written (missing file, short file, disk error)."""


class MseError(TransferError):
    """The MSE/PE (encrypted) handshake failed; ``reason`` is one line for a log.

    ``stage`` names the handshake stage it failed in (an ``MseStage`` value), or is
    ``None`` when no handshake machine was involved (a refused first packet).
    """

    def __init__(self, reason: str, stage: str | None = None) -> None:
        self.reason = reason
        self.stage = stage
        where = f" (during {stage})" if stage is not None else ""
        super().__init__(f"{reason}{where}")


class MseProtocolError(MseError):
    """The peer broke the MSE/PE protocol: bad key, no sync, wrong VC, bad padding."""


class MseRefused(MseError):
    """We refuse the connection by policy: no common method, unknown torrent, plaintext."""


class MseTimeout(MseError):
    """The peer did not finish the handshake before its deadline."""


class MseStateError(MseError):
    """We misused the machine (h11's LocalProtocolError): e.g. fed data after it failed."""


class ProtocolError(TransferError):
    """A peer wire protocol rule was broken (h11's split: by us or by the peer)."""


class LocalProtocolError(ProtocolError):
    """We tried to do something the protocol or the connection's state forbids.

    A bug in our own code: the adapter should not catch this and carry on.
    """


class RemoteProtocolError(ProtocolError):
    """The peer broke the protocol; the connection must be closed (and may be banned)."""


class MetadataHashMismatch(RemoteProtocolError):
    """BEP 9: metadata assembled from peers does not hash to the infohash.

    ``peers`` are the keys of the peers that sent pieces of it (candidates for a ban).
    """

    def __init__(self, message: str, peers: frozenset[Hashable] = frozenset()) -> None:
        self.peers = peers
        super().__init__(message)
