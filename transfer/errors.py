"""One exception tree for ``swarmseek.transfer``.

Following h11, errors we cause (``LocalProtocolError``) are kept apart from errors
the other side causes (``RemoteProtocolError``); decode errors carry where they
happened so a log line says what was wrong with the input.
"""

from __future__ import annotations


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
