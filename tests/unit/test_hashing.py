"""Piece hashing over file spans, pad files and holes."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from swarmseek.transfer import FileEntry, FileMap, StorageError, check_pieces, piece_hashes


def _files(tmp_path: Path, contents: list[bytes | None]) -> tuple[list[Path | None], FileMap]:
    paths: list[Path | None] = []
    entries, offset = [], 0
    for i, data in enumerate(contents):
        size = len(data) if data is not None else 100
        if data is None:
            paths.append(None)  # a pad file: zeros, never on disk
        else:
            path = tmp_path / f"f{i}"
            path.write_bytes(data)
            paths.append(path)
        entries.append(FileEntry((f"f{i}",), size, offset, pad=data is None))
        offset += size
    return paths, FileMap(entries, 1024)


def _expected(contents: list[bytes | None]) -> bytes:
    stream = b"".join(d if d is not None else bytes(100) for d in contents)
    return b"".join(
        hashlib.sha1(stream[i : i + 1024]).digest() for i in range(0, len(stream), 1024)
    )


@pytest.mark.parametrize("workers", [1, 2, 5])
def test_piece_hashes_match_hashlib_over_the_stream(tmp_path: Path, workers: int) -> None:
    contents: list[bytes | None] = [b"a" * 1500, None, b"", b"b" * 3000, None, b"c" * 7]
    paths, fm = _files(tmp_path, contents)
    assert piece_hashes(paths, fm, workers=workers) == _expected(contents)


def test_progress_reports_every_byte(tmp_path: Path) -> None:
    paths, fm = _files(tmp_path, [b"x" * 5000])
    seen: list[int] = []
    piece_hashes(paths, fm, progress=seen.append)
    assert sum(seen) == 5000


def test_missing_data_is_an_error_when_creating(tmp_path: Path) -> None:
    paths, fm = _files(tmp_path, [b"a" * 1500, b"b" * 1500])
    assert paths[1] is not None
    paths[1].write_bytes(b"b" * 10)
    with pytest.raises(StorageError, match="piece 1"):
        piece_hashes(paths, fm)


def test_check_pieces_marks_holes_missing_and_changes_bad(tmp_path: Path) -> None:
    contents: list[bytes | None] = [b"a" * 1500, b"b" * 1500, b"c" * 1500]
    paths, fm = _files(tmp_path, contents)
    expected = _expected(contents)
    assert paths[0] is not None and paths[2] is not None
    paths[0].write_bytes(b"A" + b"a" * 1499)  # piece 0 bad
    paths[2].unlink()  # stream 3000..4500: pieces 2 (partly), 3, 4 missing
    result = check_pieces(paths, fm, expected)
    assert result == {0: False, 1: True, 2: None, 3: None, 4: None}
    assert check_pieces(paths, fm, expected, [1, 4]) == {1: True, 4: None}
