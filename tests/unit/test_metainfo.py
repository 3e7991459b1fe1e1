"""Metainfo parsing, hostile .torrent files, creation and path confinement."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import pytest

from swarmseek.transfer import (
    Info,
    InfoHash,
    MetainfoError,
    TransferError,
    UnsafePathError,
    choose_piece_length,
    create_torrent,
    encode,
    parse_torrent,
    walk_folder,
)

PL = 16384


def _info(**fields: Any) -> dict[bytes, Any]:
    info: dict[bytes, Any] = {b"name": b"x", b"piece length": PL, b"pieces": b"\0" * 20}
    if "files" not in fields:
        info[b"length"] = 10
    info.update({k.encode(): v for k, v in fields.items()})
    return info


def _torrent(info: dict[bytes, Any], **top: Any) -> bytes:
    return encode({b"info": info, **{k.replace("_", " ").encode(): v for k, v in top.items()}})


def test_single_file_fields() -> None:
    data = _torrent(
        _info(private=1),
        announce=b"http://a/ann",
        comment=b"hi",
        created_by=b"me",
        creation_date=1700000000,
        **{
            "announce-list": [[b"http://a/ann", b"http://b/ann"], [b"udp://c:80"]],
            "url-list": b"http://seed/",
        },
    )
    meta = parse_torrent(data)
    assert meta.info.name == "x"
    assert meta.info.total_length == 10
    assert meta.info.num_pieces == 1
    assert meta.info.private
    assert not meta.info.multi_file
    assert meta.announce == "http://a/ann"
    assert meta.trackers == ("http://a/ann", "http://b/ann", "udp://c:80")
    assert meta.url_list == ("http://seed/",)
    assert (meta.comment, meta.created_by, meta.creation_date) == ("hi", "me", 1700000000)
    assert parse_torrent(meta.to_bytes()) == meta  # url-list comes back as a list


def test_infohash_is_over_the_raw_bytes_of_a_non_canonical_info() -> None:
    # Keys out of order: a lenient parse must keep the exact bytes it was given.
    raw = b"d6:lengthi10e4:name1:x12:piece lengthi16384e6:pieces20:" + b"\0" * 20 + b"e"
    raw = raw.replace(b"6:lengthi10e4:name1:x", b"4:name1:x6:lengthi10e")
    raw_swapped = b"d4:name1:x6:lengthi10e12:piece lengthi16384e6:pieces20:" + b"\0" * 20 + b"e"
    assert raw == raw_swapped
    meta = parse_torrent(b"d4:info" + raw + b"e")
    assert meta.infohash == hashlib.sha1(raw).digest()
    assert meta.infohash != hashlib.sha1(encode(_info())).digest()
    assert b"4:info" + raw in meta.to_bytes()


def test_multi_file_offsets() -> None:
    files = [
        {b"length": 5, b"path": [b"a"]},
        {b"length": 0, b"path": [b"d", b"empty"]},
        {b"length": 20000, b"path": [b"d", b"b"]},
    ]
    meta = parse_torrent(_torrent(_info(files=files, pieces=b"\0" * 40)))
    assert [(f.path, f.length, f.offset) for f in meta.info.files] == [
        (("a",), 5, 0),
        (("d", "empty"), 0, 5),
        (("d", "b"), 20000, 5),
    ]
    assert meta.info.file_paths() == [("x", "a"), ("x", "d", "empty"), ("x", "d", "b")]
    assert meta.info.piece_size(1) == 20005 - PL


def test_utf8_fields_win() -> None:
    info = _info(**{"name.utf-8": "é".encode()})
    assert parse_torrent(_torrent(info)).info.name == "é"


@pytest.mark.parametrize(
    ("info", "message"),
    [
        (_info(files=[{b"length": 1, b"path": [b"..", b"etc"]}]), "unsafe"),
        (_info(files=[{b"length": 1, b"path": [b"/etc/passwd"]}]), "separator"),
        (_info(files=[{b"length": 1, b"path": [b"a", b""]}]), "unsafe"),
        (_info(files=[{b"length": 1, b"path": []}]), "empty"),
        (_info(files=[{b"length": 1, b"path": [b"a\0b"]}]), "NUL"),
        (_info(files=[{b"length": 1, b"path": [b"C:", b"x"]}]), "drive"),
        (_info(files=[{b"length": 1, b"path": [b"aux.txt"]}]), "reserved"),
        (_info(files=[{b"length": 1, b"path": [b"a\\..\\b"]}]), "separator"),
        (_info(files=[{b"length": 1, b"path": [b"d"] * 65}]), "nested"),
        (_info(name=b".."), "unsafe"),
        (_info(name=b"a/b"), "separator"),
    ],
)
def test_unsafe_paths_are_rejected(info: dict[bytes, Any], message: str) -> None:
    with pytest.raises(UnsafePathError, match=message):
        parse_torrent(_torrent(info))


@pytest.mark.parametrize(
    ("info", "message"),
    [
        (_info(length=-1), "negative"),
        (_info(length=0), "no data"),
        (_info(length=2**60), "exceeds"),
        (_info(pieces=b"\0" * 19), "multiple of 20"),
        (_info(pieces=b"\0" * 40), "2 piece hashes for 1 pieces"),
        (_info(**{"piece length": 0}), "piece length"),
        (_info(**{"piece length": -16384}), "piece length"),
        (_info(**{"piece length": 2**40}), "piece length"),
        (_info(files=[{b"length": -5, b"path": [b"a"]}]), "negative"),
        (_info(files=[]), "non-empty"),
        (_info(files=[{b"length": 1, b"path": [b"a"]}] * 2, pieces=b"\0" * 20), "twice"),
        (
            _info(files=[{b"length": 1, b"path": [b"a"]}, {b"length": 1, b"path": [b"a", b"b"]}]),
            "both a file and a folder",
        ),
        (_info(files=[{b"length": 1, b"path": [b"a"]}], length=1), "exactly one"),
        ({b"name": b"x", b"piece length": PL, b"length": 1}, "v2-only"),
        (_info(name=5), "name"),
    ],
)
def test_hostile_info_dicts(info: dict[bytes, Any], message: str) -> None:
    with pytest.raises(MetainfoError, match=message):
        parse_torrent(_torrent(info))


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"le",
        b"d4:infoi1ee",
        b"d8:announce3:abce",
        b"d4:info" + b"l" * 5000 + b"e" * 5000 + b"e",  # deep nesting
        b"d4:infod4:name1:x6:lengthi" + b"9" * 500 + b"ee",  # absurd integer
    ],
    ids=["empty", "list", "info-not-dict", "no-info", "deep-nesting", "absurd-integer"],
)
def test_garbage_is_a_clear_error(data: bytes) -> None:
    with pytest.raises(TransferError):
        parse_torrent(data)


def test_info_from_bep9_bytes_checks_the_hash() -> None:
    raw = encode(_info())
    info = Info.from_bytes(raw, InfoHash(hashlib.sha1(raw).digest()))
    assert info.raw == raw
    with pytest.raises(MetainfoError, match="does not match"):
        Info.from_bytes(raw, InfoHash(b"\1" * 20))


@pytest.mark.parametrize(
    ("size", "expected"),
    [
        (1, 16384),
        (2000 * 16384, 16384),
        (2000 * 16384 + 1, 32768),
        (1 << 30, 1 << 20),
        (1 << 50, 16 << 20),
    ],
)
def test_piece_length_choice(size: int, expected: int) -> None:
    assert choose_piece_length(size) == expected


def test_create_folder_order_hidden_and_symlinks(tmp_path: Path) -> None:
    root = tmp_path / "share"
    (root / "b").mkdir(parents=True)
    (root / "b" / "z").write_bytes(b"z" * 10)
    (root / "a.txt").write_bytes(b"a" * 20)
    (root / ".hidden").write_bytes(b"h")
    (root / "empty").write_bytes(b"")
    outside = tmp_path / "secret"
    outside.write_bytes(b"secret")
    (root / "link-out").symlink_to(outside)
    (root / "link-in").symlink_to(root / "a.txt")
    (root / "link-dir").symlink_to(root / "b")
    (root / "dangling").symlink_to(tmp_path / "nothing")
    created = create_torrent(root)
    paths = [f.path for f in created.metainfo.info.files]
    assert paths == [(".hidden",), ("a.txt",), ("b", "z"), ("empty",), ("link-in",)]
    reasons = {s.path.name: s.reason for s in created.skipped}
    assert set(reasons) == {"link-out", "link-dir", "dangling"}
    assert walk_folder(root).files == walk_folder(root).files


def test_create_rejects_empty_and_bad_piece_size(tmp_path: Path) -> None:
    (tmp_path / "e").mkdir()
    with pytest.raises(MetainfoError, match="no files"):
        create_torrent(tmp_path / "e")
    (tmp_path / "e" / "zero").write_bytes(b"")
    with pytest.raises(MetainfoError, match="empty"):
        create_torrent(tmp_path / "e")
    (tmp_path / "f").write_bytes(b"1")
    with pytest.raises(MetainfoError, match="power of two"):
        create_torrent(tmp_path / "f", piece_length=3 * 16384)
    with pytest.raises(MetainfoError, match="no such"):
        create_torrent(tmp_path / "missing")
