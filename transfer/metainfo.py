"""``.torrent`` metainfo (BEP 3, 12, 19, 27, 47): parse, check and encode.

The infohash is SHA-1 of the info dictionary's bytes *as they appear in the file*
(``decode_document(...).raw[b"info"]``), so a real torrent that is not canonically
encoded keeps its identity. Every field from the network is checked against the
limits below; file paths are confined with :mod:`.paths`.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import NewType

from .bencode import Value, decode_document, encode
from .errors import MetainfoError
from .paths import check_component, check_path

InfoHash = NewType("InfoHash", bytes)
"""SHA-1 of the bencoded info dictionary: always exactly 20 bytes."""

HASH_SIZE = 20
# BEP 3 leaves the piece length open; real v1 torrents use 16 KiB..16 MiB and a few
# old ones 1 KiB. Above 256 MiB a single piece would have to be held in memory to
# check it, so we refuse.
MIN_PIECE_LENGTH = 1024
MAX_PIECE_LENGTH = 256 * 1024 * 1024
# 1 PiB: an order of magnitude above the largest public torrents; keeps every offset
# exact in a float too (< 2**53).
MAX_TOTAL_SIZE = 2**50
# The default bencode size limit (10 MiB) already bounds this near 300k entries;
# an explicit cap makes the intent and the error clear.
MAX_FILES = 1_000_000
# Trackers, web seeds: more than this is abuse, not configuration.
MAX_URLS = 200
MAX_URL_LENGTH = 4096
MAX_TEXT_LENGTH = 64 * 1024


def infohash_of(info_bytes: bytes) -> InfoHash:
    """SHA-1 of raw info-dictionary bytes."""
    return InfoHash(hashlib.sha1(info_bytes).digest())


def as_infohash(value: bytes) -> InfoHash:
    """Check that ``value`` has the size of an infohash."""
    if len(value) != HASH_SIZE:
        raise MetainfoError(f"infohash must be {HASH_SIZE} bytes, got {len(value)}")
    return InfoHash(bytes(value))


@dataclass(frozen=True, slots=True)
class FileEntry:
    """One file of a torrent, placed at ``offset`` in the torrent's byte stream.

    ``path`` is relative to the torrent's folder (multi-file) or is just the name
    (single-file). ``pad`` marks BEP 47 padding files: zeros that exist only to
    align the next file to a piece, never written to disk.
    """

    path: tuple[str, ...]
    length: int
    offset: int
    pad: bool = False


@dataclass(frozen=True, slots=True)
class Info:
    """A checked info dictionary, v1 view (hybrid v1+v2 torrents parse too)."""

    name: str
    piece_length: int
    pieces: bytes = field(repr=False)
    files: tuple[FileEntry, ...]
    multi_file: bool
    private: bool
    raw: bytes = field(repr=False)
    infohash: InfoHash

    @classmethod
    def from_bytes(cls, raw: bytes, expected: InfoHash | None = None) -> Info:
        """Build from bencoded info-dict bytes (BEP 9 metadata), checking the hash."""
        if expected is not None and infohash_of(raw) != expected:
            raise MetainfoError("metadata does not match the infohash")
        value = decode_document(raw).value
        return parse_info(value, bytes(raw))

    @property
    def total_length(self) -> int:
        last = self.files[-1]
        return last.offset + last.length

    @property
    def num_pieces(self) -> int:
        return len(self.pieces) // HASH_SIZE

    def piece_hash(self, index: int) -> bytes:
        if not 0 <= index < self.num_pieces:
            raise MetainfoError(f"piece {index} out of range 0..{self.num_pieces - 1}")
        return self.pieces[index * HASH_SIZE : (index + 1) * HASH_SIZE]

    def piece_size(self, index: int) -> int:
        """Length of piece ``index`` (the last piece may be shorter)."""
        self.piece_hash(index)
        start = index * self.piece_length
        return min(self.piece_length, self.total_length - start)

    def file_paths(self) -> list[tuple[str, ...]]:
        """Paths of the real (non-pad) files, relative to the save path."""
        prefix = (self.name,) if self.multi_file else ()
        return [(*prefix, *f.path) for f in self.files if not f.pad]


@dataclass(frozen=True, slots=True)
class Metainfo:
    """A whole ``.torrent``: the info dictionary plus what surrounds it."""

    info: Info
    announce: str | None = None
    announce_list: tuple[tuple[str, ...], ...] = ()
    url_list: tuple[str, ...] = ()
    comment: str | None = None
    created_by: str | None = None
    creation_date: int | None = None

    @property
    def infohash(self) -> InfoHash:
        return self.info.infohash

    @property
    def trackers(self) -> tuple[str, ...]:
        """Every tracker once, tiers flattened in order (BEP 12), else ``announce``."""
        seen: dict[str, None] = {}
        for tier in self.announce_list:
            seen.update(dict.fromkeys(tier))
        if not seen and self.announce:
            seen[self.announce] = None
        return tuple(seen)

    def to_bytes(self) -> bytes:
        """Encode, keeping the info dictionary's exact bytes (and so the infohash)."""
        top: dict[bytes, Value] = {}
        if self.announce is not None:
            top[b"announce"] = self.announce.encode()
        if self.announce_list:
            top[b"announce-list"] = [[u.encode() for u in t] for t in self.announce_list]
        if self.url_list:
            top[b"url-list"] = [u.encode() for u in self.url_list]
        if self.comment is not None:
            top[b"comment"] = self.comment.encode()
        if self.created_by is not None:
            top[b"created by"] = self.created_by.encode()
        if self.creation_date is not None:
            top[b"creation date"] = self.creation_date
        keys = sorted([*top, b"info"])
        body = b"".join(
            encode(k) + (self.info.raw if k == b"info" else encode(top[k])) for k in keys
        )
        return b"d" + body + b"e"


def parse_torrent(data: bytes) -> Metainfo:
    """Parse and check a ``.torrent`` file's bytes."""
    document = decode_document(data)
    top = document.value
    if not isinstance(top, dict):
        raise MetainfoError("a .torrent must be a bencoded dictionary")
    if b"info" not in top:
        raise MetainfoError("no info dictionary")
    info = parse_info(top[b"info"], document.raw[b"info"])
    return Metainfo(
        info=info,
        announce=_opt_text(top, b"announce", MAX_URL_LENGTH),
        announce_list=_announce_list(top.get(b"announce-list")),
        url_list=_url_list(top.get(b"url-list")),
        comment=_opt_text(top, b"comment", MAX_TEXT_LENGTH),
        created_by=_opt_text(top, b"created by", MAX_TEXT_LENGTH),
        creation_date=_opt_int(top, b"creation date"),
    )


def parse_info(value: Value, raw: bytes) -> Info:
    """Check a decoded info dictionary; ``raw`` is its exact encoding."""
    if not isinstance(value, dict):
        raise MetainfoError("info must be a dictionary")
    name = _text(_pick(value, b"name"), "name", 1024)
    check_component(name)
    piece_length = _int(value.get(b"piece length"), "piece length")
    if not MIN_PIECE_LENGTH <= piece_length <= MAX_PIECE_LENGTH:
        raise MetainfoError(
            f"piece length {piece_length} outside {MIN_PIECE_LENGTH}..{MAX_PIECE_LENGTH}"
        )
    pieces = value.get(b"pieces")
    if not isinstance(pieces, bytes):
        raise MetainfoError("pieces missing (v2-only torrents are not supported)")
    if len(pieces) % HASH_SIZE:
        raise MetainfoError(f"pieces length {len(pieces)} is not a multiple of {HASH_SIZE}")
    multi = b"files" in value
    if multi == (b"length" in value):
        raise MetainfoError("info needs exactly one of 'length' and 'files'")
    files = _files(value[b"files"]) if multi else _single(value[b"length"], name)
    total = files[-1].offset + files[-1].length
    if total <= 0:
        raise MetainfoError("torrent has no data")
    if total > MAX_TOTAL_SIZE:
        raise MetainfoError(f"total size {total} exceeds {MAX_TOTAL_SIZE}")
    expected = -(-total // piece_length)
    if len(pieces) // HASH_SIZE != expected:
        raise MetainfoError(
            f"{len(pieces) // HASH_SIZE} piece hashes for {expected} pieces of data"
        )
    private = value.get(b"private", 0) == 1
    return Info(name, piece_length, pieces, files, multi, private, raw, infohash_of(raw))


def _single(length: Value, name: str) -> tuple[FileEntry, ...]:
    size = _int(length, "length")
    if size < 0:
        raise MetainfoError(f"negative length {size}")
    return (FileEntry((name,), size, 0),)


def _files(value: Value) -> tuple[FileEntry, ...]:
    if not isinstance(value, list) or not value:
        raise MetainfoError("files must be a non-empty list")
    if len(value) > MAX_FILES:
        raise MetainfoError(f"{len(value)} files exceeds the limit of {MAX_FILES}")
    entries: list[FileEntry] = []
    seen: set[tuple[str, ...]] = set()
    folders: set[tuple[str, ...]] = set()
    offset = 0
    for item in value:
        entry = _file(item, offset)
        _check_unique(entry.path, seen, folders)
        offset += entry.length
        if offset > MAX_TOTAL_SIZE:
            raise MetainfoError(f"total size exceeds {MAX_TOTAL_SIZE}")
        entries.append(entry)
    return tuple(entries)


def _file(item: Value, offset: int) -> FileEntry:
    if not isinstance(item, dict):
        raise MetainfoError("a files entry must be a dictionary")
    length = _int(item.get(b"length"), "file length")
    if length < 0:
        raise MetainfoError(f"negative file length {length}")
    raw_path = _pick(item, b"path")
    if not isinstance(raw_path, list) or not all(isinstance(p, bytes) for p in raw_path):
        raise MetainfoError("file path must be a list of strings")
    path = check_path(tuple(_decode_name(p) for p in raw_path))
    attr = item.get(b"attr", b"")
    pad = isinstance(attr, bytes) and b"p" in attr
    return FileEntry(path, length, offset, pad)


def _check_unique(
    path: tuple[str, ...], seen: set[tuple[str, ...]], folders: set[tuple[str, ...]]
) -> None:
    # Two entries with one path, or a file where another entry needs a folder,
    # would overwrite each other's data on disk.
    if path in seen or path in folders:
        raise MetainfoError(f"file path {'/'.join(path)!r} appears twice")
    for depth in range(1, len(path)):
        if path[:depth] in seen:
            raise MetainfoError(f"{'/'.join(path[:depth])!r} is both a file and a folder")
        folders.add(path[:depth])
    seen.add(path)


def _pick(d: dict[bytes, Value], key: bytes) -> Value:
    # BEP-less but universal: "name.utf-8"/"path.utf-8" win over the legacy field.
    return d.get(key + b".utf-8", d.get(key))


def _decode_name(raw: bytes) -> str:
    # surrogateescape keeps undecodable bytes, so the file on disk gets the same name.
    return raw.decode("utf-8", "surrogateescape")


def _text(value: Value, what: str, limit: int) -> str:
    if not isinstance(value, bytes):
        raise MetainfoError(f"{what} missing or not a string")
    if len(value) > limit:
        raise MetainfoError(f"{what} longer than {limit} bytes")
    return _decode_name(value)


def _int(value: Value, what: str) -> int:
    if not isinstance(value, int):
        raise MetainfoError(f"{what} missing or not an integer")
    return value


def _opt_text(top: dict[bytes, Value], key: bytes, limit: int) -> str | None:
    value = _pick(top, key)
    if not isinstance(value, bytes):
        return None
    return _text(value, key.decode(), limit)


def _opt_int(top: dict[bytes, Value], key: bytes) -> int | None:
    value = top.get(key)
    return value if isinstance(value, int) else None


def _urls(value: Value) -> tuple[str, ...]:
    if not isinstance(value, list):
        return ()
    urls = [v.decode("utf-8", "replace") for v in value if isinstance(v, bytes) and v]
    if len(urls) > MAX_URLS or any(len(u) > MAX_URL_LENGTH for u in urls):
        raise MetainfoError("too many or too long URLs")
    return tuple(urls)


def _announce_list(value: Value) -> tuple[tuple[str, ...], ...]:
    # BEP 12: a list of tiers, each a list of URLs; malformed tiers are ignored as
    # clients do, but sizes are bounded.
    if not isinstance(value, list):
        return ()
    if len(value) > MAX_URLS:
        raise MetainfoError("too many tracker tiers")
    tiers = tuple(t for t in (_urls(tier) for tier in value) if t)
    if sum(len(t) for t in tiers) > MAX_URLS:
        raise MetainfoError("too many trackers")
    return tiers


def _url_list(value: Value) -> tuple[str, ...]:
    # BEP 19: a single URL string or a list of them.
    if isinstance(value, bytes):
        value = [value]
    return _urls(value)
