"""Our torrents in libtorrent, libtorrent's torrents in ours, and verify vs its check."""

from __future__ import annotations

import os
import random
from pathlib import Path
from typing import Any

import libtorrent as lt
import pytest

from swarmseek.transfer import Metainfo, create_torrent, parse_torrent, verify
from tests.support.clients import lt_session, wait_for_alert

pytestmark = [
    pytest.mark.interop,
    # add_files / create_torrent(file_storage) / files() are deprecated in 2.x
    # but are the only way the Python binding exposes them.
    pytest.mark.filterwarnings("ignore::DeprecationWarning"),
]


def _write(path: Path, size: int, seed: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(random.Random(seed).randbytes(size))


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    """A multi-file folder whose pieces span files (sizes not piece-aligned)."""
    root = tmp_path / "data" / "tree"
    _write(root / "a.bin", 100_000, 1)
    _write(root / "c", 5, 2)
    _write(root / "sub" / "b.bin", 300_007, 3)
    _write(root / ".hidden", 40_000, 4)
    (root / "empty").write_bytes(b"")
    return root


def _lt_files(ti: Any) -> list[tuple[str, int, int]]:
    fs = ti.files()
    pad = lt.file_storage.flag_pad_file
    return [
        (fs.file_path(i).replace(os.sep, "/"), fs.file_size(i), fs.file_offset(i))
        for i in range(fs.num_files())
        if not fs.file_flags(i) & pad
    ]


def _our_files(meta: Metainfo) -> list[tuple[str, int, int]]:
    info = meta.info
    prefix = [info.name] if info.multi_file else []
    return [("/".join([*prefix, *f.path]), f.length, f.offset) for f in info.files if not f.pad]


def _lt_hashes(ti: Any) -> bytes:
    return b"".join(ti.hash_for_piece(i) for i in range(ti.num_pieces()))


def _lt_create(path: Path, piece_size: int, flags: int) -> bytes:
    fs = lt.file_storage()
    lt.add_files(fs, str(path))
    ct = lt.create_torrent(fs, piece_size, flags=flags)
    ct.add_tracker("http://tracker.example/announce")
    ct.set_comment("made by libtorrent")
    ct.set_creator("libtorrent interop test")
    lt.set_piece_hashes(ct, str(path.parent))
    return bytes(lt.bencode(ct.generate()))


@pytest.mark.parametrize("single", [False, True])
def test_our_torrent_loads_in_libtorrent(tree: Path, single: bool) -> None:
    target = tree / "sub" / "b.bin" if single else tree
    meta = create_torrent(target, trackers=["http://t.example/a", "http://u.example/b"]).metainfo
    ti = lt.torrent_info(meta.to_bytes())
    assert str(ti.info_hashes().v1) == meta.infohash.hex()
    assert ti.piece_length() == meta.info.piece_length
    assert _lt_files(ti) == _our_files(meta)
    assert _lt_hashes(ti) == meta.info.pieces
    assert [t.url for t in ti.trackers()] == list(meta.trackers)


@pytest.mark.parametrize(
    ("flags", "single"),
    [(lt.create_torrent.v1_only, False), (lt.create_torrent.v1_only, True), (0, False)],
    ids=["v1-multi", "v1-single", "hybrid-multi-with-pad-files"],
)
def test_libtorrent_torrent_parses_in_ours(tree: Path, flags: int, single: bool) -> None:
    target = tree / "a.bin" if single else tree
    data = _lt_create(target, 16384, flags)
    ti = lt.torrent_info(data)
    meta = parse_torrent(data)
    assert meta.infohash.hex() == str(ti.info_hashes().v1)
    assert meta.info.multi_file is not single
    assert _our_files(meta) == _lt_files(ti)
    assert meta.info.pieces == _lt_hashes(ti)
    assert meta.info.num_pieces == ti.num_pieces()
    assert meta.trackers == ("http://tracker.example/announce",)
    assert meta.comment == "made by libtorrent"
    assert meta.created_by == "libtorrent interop test"
    assert meta.creation_date is not None
    # And the data libtorrent hashed verifies in ours (pad files count as zeros).
    assert verify(meta.info, target.parent).complete
    assert str(lt.torrent_info(meta.to_bytes()).info_hashes().v1) == meta.infohash.hex()


def _libtorrent_check(data: bytes, save_path: Path) -> list[bool]:
    session = lt_session()
    params = lt.add_torrent_params()
    params.ti = lt.torrent_info(data)
    params.save_path = str(save_path)
    # upload_mode: check only, never download or allocate, so the data stays as is.
    params.flags = lt.torrent_flags.upload_mode
    handle = session.add_torrent(params)
    wait_for_alert(session, lambda a: isinstance(a, lt.torrent_checked_alert))
    return list(handle.status().pieces)


def _snapshot(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in root.rglob("*") if p.is_file()}


@pytest.mark.parametrize("damage", ["none", "flip", "missing", "truncate"])
def test_verify_agrees_with_libtorrent_check(tree: Path, damage: str) -> None:
    meta = create_torrent(tree, piece_length=16384).metainfo
    if damage == "flip":
        with (tree / "sub" / "b.bin").open("r+b") as f:
            f.seek(123_456)
            byte = f.read(1)
            f.seek(123_456)
            f.write(bytes([byte[0] ^ 0xFF]))
    elif damage == "missing":
        (tree / "a.bin").unlink()
    elif damage == "truncate":
        os.truncate(tree / "sub" / "b.bin", 150_000)
    before = _snapshot(tree.parent)
    ours = verify(meta.info, tree.parent)
    assert _snapshot(tree.parent) == before
    theirs = _libtorrent_check(meta.to_bytes(), tree.parent)
    assert list(ours.have) == theirs
    assert ours.complete is (damage == "none")


@pytest.mark.parametrize("damage", ["flip-in-last-file", "missing-middle-file"])
def test_verify_agrees_on_libtorrent_hybrid_torrent_with_pad_files(tree: Path, damage: str) -> None:
    data = _lt_create(tree, 16384, 0)  # v1+v2 hybrid: pad files align every file
    meta = parse_torrent(data)
    assert any(f.pad for f in meta.info.files)
    if damage == "flip-in-last-file":
        target = tree / "sub" / "b.bin"
        raw = bytearray(target.read_bytes())
        raw[-1] ^= 0x55
        target.write_bytes(raw)
    else:
        (tree / "c").unlink()
    before = _snapshot(tree.parent)
    ours = verify(meta.info, tree.parent)
    assert _snapshot(tree.parent) == before
    assert list(ours.have) == _libtorrent_check(data, tree.parent)
    assert not ours.complete
