"""File paths: confining metadata paths to a folder, and walking a folder to share.

Paths in a ``.torrent`` come from strangers; each component is checked so that the
joined path can only name something under the download folder, on Linux, macOS and
Windows alike (DESIGN.md "Never trust the network").
"""

from __future__ import annotations

import os
import re
import stat
from dataclasses import dataclass
from pathlib import Path

from .errors import MetainfoError, UnsafePathError

# Windows device names are reserved with any extension ("CON", "nul.txt", "COM1.log").
_RESERVED = re.compile(r"^(con|prn|aux|nul|com[0-9]|lpt[0-9]|conin\$|conout\$)(\..*)?$", re.I)
# "C:" at the start of a component makes it absolute (or drive-relative) on Windows.
_DRIVE = re.compile(r"^[A-Za-z]:")
# Linux and most filesystems cap a name at 255 bytes.
MAX_COMPONENT_BYTES = 255
# Deeper than this is not a real torrent; it bounds work on hostile input.
MAX_PATH_DEPTH = 64
# PATH_MAX on Linux.
MAX_PATH_BYTES = 4096


def check_component(name: str) -> str:
    """Return ``name`` if it is a safe single path component, else raise."""
    if name in ("", ".", ".."):
        raise UnsafePathError(f"unsafe path component {name!r}")
    if "/" in name or "\\" in name or "\x00" in name:
        raise UnsafePathError(f"path component {name!r} contains a separator or NUL")
    if _DRIVE.match(name):
        raise UnsafePathError(f"path component {name!r} looks like a drive letter")
    if _RESERVED.match(name):
        raise UnsafePathError(f"path component {name!r} is a reserved device name")
    if len(name.encode("utf-8", "surrogateescape")) > MAX_COMPONENT_BYTES:
        raise UnsafePathError(f"path component of {len(name)} characters is too long")
    return name


def check_path(parts: tuple[str, ...]) -> tuple[str, ...]:
    """Check a relative path given as components (as in a multi-file ``path`` list)."""
    if not parts:
        raise UnsafePathError("empty file path")
    if len(parts) > MAX_PATH_DEPTH:
        raise UnsafePathError(f"file path nested {len(parts)} deep (limit {MAX_PATH_DEPTH})")
    for part in parts:
        check_component(part)
    if sum(len(p.encode("utf-8", "surrogateescape")) + 1 for p in parts) > MAX_PATH_BYTES:
        raise UnsafePathError("file path too long")
    return parts


def confined(root: Path, parts: tuple[str, ...]) -> Path:
    """Join checked ``parts`` under ``root``; the result never leaves ``root``."""
    return root.joinpath(*check_path(parts))


@dataclass(frozen=True, slots=True)
class FoundFile:
    """A regular file found when walking a folder to share."""

    parts: tuple[str, ...]
    path: Path
    size: int


@dataclass(frozen=True, slots=True)
class Skipped:
    """Something in a shared folder that is not part of the torrent, and why."""

    path: Path
    reason: str


@dataclass(frozen=True, slots=True)
class Walk:
    files: tuple[FoundFile, ...]
    skipped: tuple[Skipped, ...]


def walk_folder(root: Path) -> Walk:
    """List the files to share under ``root`` in a deterministic order.

    Order: components compared as strings, so ``a/b`` sorts before ``a.txt`` as in
    libtorrent. Hidden files are included (libtorrent's default). Symlinks are followed
    only when they resolve to a regular file inside ``root``; symlinked folders,
    links leading out of the tree, dangling links and special files are skipped and
    reported in ``Walk.skipped``, never silently.
    """
    root = Path(root)
    real_root = root.resolve()
    files: list[FoundFile] = []
    skipped: list[Skipped] = []
    _walk(root, real_root, (), files, skipped)
    files.sort(key=lambda f: f.parts)
    return Walk(tuple(files), tuple(skipped))


def _walk(
    folder: Path,
    real_root: Path,
    prefix: tuple[str, ...],
    files: list[FoundFile],
    skipped: list[Skipped],
) -> None:
    if len(prefix) >= MAX_PATH_DEPTH:
        raise MetainfoError(f"{folder}: nested more than {MAX_PATH_DEPTH} folders deep")
    with os.scandir(folder) as entries:
        for entry in sorted(entries, key=lambda e: e.name):
            _visit(
                Path(entry.path),
                entry,
                real_root,
                (*prefix, entry.name),
                files=files,
                skipped=skipped,
            )


def _visit(
    path: Path,
    entry: os.DirEntry[str],
    real_root: Path,
    parts: tuple[str, ...],
    *,
    files: list[FoundFile],
    skipped: list[Skipped],
) -> None:
    if entry.is_symlink():
        target = path.resolve()
        if not target.is_relative_to(real_root):
            skipped.append(Skipped(path, "symlink leads out of the shared folder"))
            return
        if not target.exists():
            skipped.append(Skipped(path, "dangling symlink"))
            return
        if target.is_dir():
            skipped.append(Skipped(path, "symlink to a folder (not followed)"))
            return
    mode = path.stat().st_mode
    if stat.S_ISDIR(mode):
        _walk(path, real_root, parts, files, skipped)
    elif stat.S_ISREG(mode):
        check_path(parts)
        files.append(FoundFile(parts, path, path.stat().st_size))
    else:
        skipped.append(Skipped(path, "not a regular file"))
