"""Creating v1 torrents from a file or a folder."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from .bencode import Value, encode
from .errors import MetainfoError
from .filemap import FileMap
from .hashing import Progress, piece_hashes
from .metainfo import (
    MAX_FILES,
    MAX_TOTAL_SIZE,
    MIN_PIECE_LENGTH,
    FileEntry,
    Info,
    Metainfo,
    parse_info,
)
from .paths import FoundFile, Skipped, check_component, walk_folder

# libtorrent and qBittorrent pick the smallest power of two from 16 KiB to 16 MiB
# that keeps a torrent at or under about 2000 pieces (so 1000-2000 pieces).
AUTO_MIN_PIECE = 16 * 1024
AUTO_MAX_PIECE = 16 * 1024 * 1024
AUTO_TARGET_PIECES = 2000


def choose_piece_length(total_size: int) -> int:
    """The piece length mainstream clients would choose for ``total_size`` bytes."""
    length = AUTO_MIN_PIECE
    while length < AUTO_MAX_PIECE and -(-total_size // length) > AUTO_TARGET_PIECES:
        length *= 2
    return length


@dataclass(frozen=True, slots=True)
class Created:
    """A new torrent, the files it holds on disk, and what the walk left out."""

    metainfo: Metainfo
    paths: tuple[Path, ...]
    skipped: tuple[Skipped, ...]


def create_torrent(
    path: Path | str,
    *,
    piece_length: int | None = None,
    trackers: Sequence[str] = (),
    web_seeds: Sequence[str] = (),
    comment: str | None = None,
    created_by: str | None = "swarmseek 0.1.0",
    creation_date: int | None = None,
    private: bool = False,
    workers: int | None = None,
    progress: Progress | None = None,
) -> Created:
    """Hash a file or a folder into a v1 torrent (blocking; run it off the event loop).

    A file gives a single-file torrent named after it; a folder gives a multi-file
    torrent (see :func:`walk_folder` for order and what is skipped). Each tracker
    becomes its own tier (BEP 12), the first is also ``announce``.
    """
    root = Path(path)
    name = check_component(root.resolve().name)
    if root.is_dir():
        walk = walk_folder(root)
        found, skipped, multi = walk.files, walk.skipped, True
    elif root.is_file():
        found, skipped, multi = (FoundFile((name,), root, root.stat().st_size),), (), False
    else:
        raise MetainfoError(f"{root}: no such file or folder")
    entries = _entries(root, found)
    total = entries[-1].offset + entries[-1].length
    if piece_length is None:
        piece_length = choose_piece_length(total)
    _check_piece_length(piece_length)
    filemap = FileMap(entries, piece_length)
    paths = tuple(f.path for f in found)
    hashes = piece_hashes(paths, filemap, workers=workers, progress=progress)
    info_dict: dict[bytes, Value] = {
        b"name": name.encode("utf-8", "surrogateescape"),
        b"piece length": piece_length,
        b"pieces": hashes,
    }
    if multi:
        info_dict[b"files"] = [
            {b"length": e.length, b"path": [p.encode("utf-8", "surrogateescape") for p in e.path]}
            for e in entries
        ]
    else:
        info_dict[b"length"] = total
    if private:
        info_dict[b"private"] = 1
    raw = encode(info_dict)
    info: Info = parse_info(info_dict, raw)
    metainfo = Metainfo(
        info=info,
        announce=trackers[0] if trackers else None,
        announce_list=tuple((t,) for t in trackers) if len(trackers) > 1 else (),
        url_list=tuple(web_seeds),
        comment=comment,
        created_by=created_by,
        creation_date=creation_date,
    )
    return Created(metainfo, paths, skipped)


def _entries(root: Path, found: Sequence[FoundFile]) -> list[FileEntry]:
    if not found:
        raise MetainfoError(f"{root}: no files to share")
    if len(found) > MAX_FILES:
        raise MetainfoError(f"{root}: {len(found)} files exceeds the limit of {MAX_FILES}")
    entries: list[FileEntry] = []
    offset = 0
    for f in found:
        entries.append(FileEntry(f.parts, f.size, offset))
        offset += f.size
    if offset == 0:
        raise MetainfoError(f"{root}: every file is empty; a torrent needs data")
    if offset > MAX_TOTAL_SIZE:
        raise MetainfoError(f"{root}: {offset} bytes exceeds the limit of {MAX_TOTAL_SIZE}")
    return entries


def _check_piece_length(piece_length: int) -> None:
    # Other clients require a power of two (BEP 52 does for v2); 16 KiB is the block.
    if piece_length < max(MIN_PIECE_LENGTH, AUTO_MIN_PIECE) or piece_length & (piece_length - 1):
        raise MetainfoError(f"piece size {piece_length} must be a power of two >= 16 KiB")
    if piece_length > AUTO_MAX_PIECE * 16:
        raise MetainfoError(f"piece size {piece_length} is too large")
