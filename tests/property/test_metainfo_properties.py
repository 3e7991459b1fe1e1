"""Round trips and invariants of magnets, metainfo and the piece->file map; fuzzing."""

from __future__ import annotations

import contextlib
import tempfile
from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st

from swarmseek.transfer import (
    FileEntry,
    FileMap,
    Info,
    InfoHash,
    Magnet,
    TransferError,
    create_torrent,
    parse_magnet,
    parse_torrent,
)

_text = st.text(st.characters(blacklist_categories=("Cs",)), max_size=40)
_host = st.one_of(
    st.ip_addresses().map(str),
    st.from_regex(r"[a-z][a-z0-9.-]{0,20}", fullmatch=True),
)
_magnets = st.builds(
    Magnet,
    st.binary(min_size=20, max_size=20).map(InfoHash),
    st.none() | _text,
    st.lists(_text.filter(bool), max_size=5, unique=True).map(tuple),
    st.lists(st.tuples(_host, st.integers(1, 65535)), max_size=5).map(tuple),
)


@given(_magnets)
def test_magnet_round_trip(magnet: Magnet) -> None:
    assert parse_magnet(magnet.to_uri()) == magnet


@given(st.text(max_size=300))
def test_parse_magnet_fuzz_raises_only_our_error(text: str) -> None:
    with contextlib.suppress(TransferError):
        parse_magnet("magnet:?" + text)


@given(st.binary(max_size=2000))
def test_parse_torrent_fuzz_raises_only_our_error(data: bytes) -> None:
    with contextlib.suppress(TransferError):
        parse_torrent(data)


@given(st.binary(max_size=300))
def test_parse_torrent_fuzz_on_valid_prefix(noise: bytes) -> None:
    data = b"d4:infod5:filesld6:lengthi5e4:pathl1:aeee4:name1:x12:piece lengthi16384e" + noise
    with contextlib.suppress(TransferError):
        parse_torrent(data)


_names = st.from_regex(r"[a-zA-Z0-9_][a-zA-Z0-9_.-]{0,8}", fullmatch=True).filter(
    lambda n: n.lower() not in {"con", "prn", "aux", "nul"} and ".." not in n
)


@given(
    files=st.dictionaries(_names, st.binary(max_size=3000), min_size=1, max_size=6).filter(
        lambda d: any(d.values())
    ),
    piece_exp=st.integers(14, 15),
    trackers=st.lists(st.from_regex(r"http://[a-z]{1,8}/ann", fullmatch=True), max_size=3),
    private=st.booleans(),
    comment=st.none() | _text,
)
def test_create_encode_parse_round_trip(
    files: dict[str, bytes],
    piece_exp: int,
    trackers: list[str],
    private: bool,
    comment: str | None,
) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "share"
        root.mkdir()
        for name, data in files.items():
            (root / name).write_bytes(data)
        meta = create_torrent(
            root,
            piece_length=1 << piece_exp,
            trackers=trackers,
            private=private,
            comment=comment,
            workers=1,
        ).metainfo
    parsed = parse_torrent(meta.to_bytes())
    assert parsed == meta
    assert [f.path for f in parsed.info.files] == [(n,) for n in sorted(files)]
    assert parsed.info.total_length == sum(len(d) for d in files.values())
    assert parsed.info.private is private


@given(
    sizes=st.lists(st.integers(0, 70_000), min_size=1, max_size=12).filter(lambda s: sum(s) > 0),
    piece_length=st.sampled_from([1024, 4096, 16384, 65536]),
)
def test_file_map_invariants(sizes: list[int], piece_length: int) -> None:
    entries, offset = [], 0
    for i, size in enumerate(sizes):
        entries.append(FileEntry((f"f{i}",), size, offset))
        offset += size
    fm = FileMap(entries, piece_length)
    assert fm.num_pieces == -(-offset // piece_length)
    covered = 0
    for piece in range(fm.num_pieces):
        spans = fm.piece_spans(piece)
        # Spans tile the piece exactly, in file order, inside their files.
        assert sum(s.length for s in spans) == fm.piece_size(piece)
        assert all(s.length > 0 for s in spans)
        assert [s.file_index for s in spans] == sorted({s.file_index for s in spans})
        for s in spans:
            entry = entries[s.file_index]
            assert s.file_offset >= 0 and s.file_offset + s.length <= entry.length
            # Contiguous: each span starts where the previous one ended in the stream.
            assert entry.offset + s.file_offset == covered
            assert piece in fm.pieces_of_file(s.file_index)
            covered += s.length
    assert covered == offset
    # pieces_of_file is exactly the set of pieces whose spans name the file.
    for index in range(len(entries)):
        expected = {p for p in range(fm.num_pieces) if index in fm.files_of_piece(p)}
        assert set(fm.pieces_of_file(index)) == expected


@given(st.binary(max_size=1000))
def test_info_from_bytes_fuzz_raises_only_our_error(data: bytes) -> None:
    with contextlib.suppress(TransferError):
        Info.from_bytes(data)
