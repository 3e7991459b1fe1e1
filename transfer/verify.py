"""Whole-torrent verification of data on disk, resumable through a ResumeStore.

Verification only reads: it never creates, truncates or writes the data. Run it off
the event loop (:func:`verify_async`); hashing uses every core (:mod:`.hashing`).
"""

from __future__ import annotations

import asyncio
import os
import stat
from dataclasses import dataclass
from pathlib import Path

from .filemap import FileMap
from .hashing import Progress, check_pieces
from .metainfo import Info
from .resume import FileStat, ResumeRecord, ResumeStore, stat_files
from .storage import data_paths


@dataclass(frozen=True, slots=True)
class FileProblem:
    """A file that is missing, shorter than the torrent says, or not a file."""

    path: Path
    expected: int
    actual: int | None  # None: absent


@dataclass(frozen=True, slots=True)
class VerifyResult:
    """Per-piece outcome of a check, and what is wrong with the files."""

    have: tuple[bool, ...]
    bad: tuple[int, ...]  # data present but the hash does not match
    missing: tuple[int, ...]  # data absent (missing or truncated file)
    files: tuple[FileProblem, ...]
    checked: int  # pieces hashed this time (the rest were trusted from the record)

    @property
    def complete(self) -> bool:
        return all(self.have)

    @property
    def num_have(self) -> int:
        return sum(self.have)


def verify(
    info: Info,
    save_path: Path | str,
    *,
    resume: ResumeStore | None = None,
    workers: int | None = None,
    progress: Progress | None = None,
) -> VerifyResult:
    """Check the data of ``info`` under ``save_path`` (libtorrent's layout).

    With ``resume``, pieces recorded as verified whose files are unchanged (same
    size and mtime) are trusted; every other piece is hashed; the new result is
    saved. File stats are taken before reading, so a file modified meanwhile is
    re-checked next time.
    """
    paths = data_paths(info, save_path)
    filemap = FileMap(info.files, info.piece_length)
    stats = stat_files(paths)
    trusted = _trusted(filemap, stats, resume.load(info.infohash) if resume else None)
    todo = [p for p in range(filemap.num_pieces) if not trusted[p]]
    outcome = check_pieces(paths, filemap, info.pieces, todo, workers=workers, progress=progress)
    have = tuple(trusted[p] or outcome.get(p) is True for p in range(filemap.num_pieces))
    if resume is not None:
        resume.save(info.infohash, ResumeRecord(have, tuple(stats)))
    return VerifyResult(
        have=have,
        bad=tuple(sorted(p for p, ok in outcome.items() if ok is False)),
        missing=tuple(sorted(p for p, ok in outcome.items() if ok is None)),
        files=_file_problems(info, paths),
        checked=len(todo),
    )


async def verify_async(
    info: Info,
    save_path: Path | str,
    *,
    resume: ResumeStore | None = None,
    workers: int | None = None,
) -> VerifyResult:
    """:func:`verify` in a worker thread, so the event loop keeps running."""
    return await asyncio.to_thread(verify, info, save_path, resume=resume, workers=workers)


def _trusted(filemap: FileMap, stats: list[FileStat], record: ResumeRecord | None) -> list[bool]:
    n = filemap.num_pieces
    if record is None or len(record.have) != n or len(record.files) != len(stats):
        return [False] * n
    unchanged = [old == new for old, new in zip(record.files, stats, strict=True)]
    trusted = list(record.have)
    for index, same in enumerate(unchanged):
        if not same:
            for piece in filemap.pieces_of_file(index):
                trusted[piece] = False
    return trusted


def _file_problems(info: Info, paths: list[Path | None]) -> tuple[FileProblem, ...]:
    problems: list[FileProblem] = []
    for entry, path in zip(info.files, paths, strict=True):
        if path is None:
            continue
        try:
            st = os.stat(path)
        except (FileNotFoundError, NotADirectoryError):
            st = None
        if st is None or not stat.S_ISREG(st.st_mode):
            problems.append(FileProblem(path, entry.length, None))
        elif st.st_size < entry.length:
            problems.append(FileProblem(path, entry.length, st.st_size))
    return tuple(problems)
