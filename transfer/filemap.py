"""Mapping pieces onto files: pure arithmetic over the torrent's byte stream.

A v1 torrent's pieces cut the concatenation of its files (BEP 3), so one piece may
span several files and one file several pieces. Lookups use bisect over file
offsets: O(log files) per piece.
"""

from __future__ import annotations

import bisect
from collections.abc import Sequence
from dataclasses import dataclass

from .metainfo import FileEntry


@dataclass(frozen=True, slots=True)
class Span:
    """``length`` bytes of file ``file_index`` starting at ``file_offset``."""

    file_index: int
    file_offset: int
    length: int


class FileMap:
    """Where each piece's bytes live among a torrent's files."""

    __slots__ = ("_offsets", "files", "num_pieces", "piece_length", "total_length")

    def __init__(self, files: Sequence[FileEntry], piece_length: int) -> None:
        if piece_length <= 0:
            raise ValueError("piece length must be positive")
        self.files = tuple(files)
        self.piece_length = piece_length
        self._offsets = [f.offset for f in self.files]
        last = self.files[-1]
        self.total_length = last.offset + last.length
        self.num_pieces = -(-self.total_length // piece_length)

    def piece_size(self, piece: int) -> int:
        self._check_piece(piece)
        return min(self.piece_length, self.total_length - piece * self.piece_length)

    def spans(self, offset: int, length: int) -> list[Span]:
        """The file spans covering torrent bytes ``[offset, offset + length)``.

        Zero-length files never appear; spans come in file order and their lengths
        add up to ``length``.
        """
        if offset < 0 or length < 0 or offset + length > self.total_length:
            raise ValueError(f"range {offset}+{length} outside 0..{self.total_length}")
        out: list[Span] = []
        index = bisect.bisect_right(self._offsets, offset) - 1
        end = offset + length
        while offset < end:
            entry = self.files[index]
            file_end = entry.offset + entry.length
            if file_end > offset:
                take = min(end, file_end) - offset
                out.append(Span(index, offset - entry.offset, take))
                offset += take
            index += 1
        return out

    def piece_spans(self, piece: int, offset: int = 0, length: int | None = None) -> list[Span]:
        """Spans of ``length`` bytes at ``offset`` inside ``piece`` (default: all of it)."""
        size = self.piece_size(piece)
        if length is None:
            length = size - offset
        if offset < 0 or length < 0 or offset + length > size:
            raise ValueError(f"block {offset}+{length} outside piece {piece} of {size} bytes")
        return self.spans(piece * self.piece_length + offset, length)

    def pieces_of_file(self, file_index: int) -> range:
        """Pieces holding at least one byte of the file (empty for empty files)."""
        entry = self.files[file_index]
        if entry.length == 0:
            return range(0)
        first = entry.offset // self.piece_length
        last = (entry.offset + entry.length - 1) // self.piece_length
        return range(first, last + 1)

    def files_of_piece(self, piece: int) -> list[int]:
        """Indices of the files holding bytes of ``piece``."""
        return [s.file_index for s in self.piece_spans(piece)]

    def _check_piece(self, piece: int) -> None:
        if not 0 <= piece < self.num_pieces:
            raise ValueError(f"piece {piece} out of range 0..{self.num_pieces - 1}")
