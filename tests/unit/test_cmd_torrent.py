"""``swarmseek create/info/verify`` through ``main([...])``: output, exit codes, errors."""

from __future__ import annotations

import json
import os
import random
import sys
from pathlib import Path

import pytest

from swarmseek.api.cli import main
from swarmseek.api.cmd_torrent import format_ranges
from swarmseek.transfer import encode, parse_magnet, parse_torrent

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def share(tmp_path: Path) -> Path:
    root = tmp_path / "save" / "share"
    rng = random.Random(3)
    for name, size in {"one.bin": 70_000, "two/three.txt": 50_000, "four": 33}.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_bytes(rng.randbytes(size))
    return root


def _create(share: Path, tmp_path: Path, *extra: str) -> Path:
    out = tmp_path / "t.torrent"
    assert main(["create", str(share), "-o", str(out), "--piece-size", "16384", *extra]) == 0
    return out


def test_create_prints_infohash_and_magnet(
    share: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = _create(share, tmp_path, "--tracker", "http://a/ann", "--tracker", "udp://b:1",
                  "--comment", "hello", "--private")  # fmt: skip
    meta = parse_torrent(out.read_bytes())
    text = capsys.readouterr().out
    assert f"infohash {meta.infohash.hex()}" in text
    lines = dict(line.split(maxsplit=1) for line in text.splitlines())
    magnet = parse_magnet(lines["magnet"])
    assert lines["torrent"] == str(out)
    assert magnet.infohash == meta.infohash
    assert magnet.trackers == ("http://a/ann", "udp://b:1")
    assert meta.comment == "hello" and meta.info.private
    assert meta.info.piece_length == 16384


def test_info_json(share: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = _create(share, tmp_path)
    capsys.readouterr()
    assert main(["info", str(out), "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    meta = parse_torrent(out.read_bytes())
    assert data["infohash"] == meta.infohash.hex()
    assert data["name"] == "share"
    assert data["total_size"] == 120_033
    assert data["piece_length"] == 16384
    assert data["num_pieces"] == 8
    assert data["files"] == [
        {"path": "four", "size": 33},
        {"path": "one.bin", "size": 70_000},
        {"path": "two/three.txt", "size": 50_000},
    ]
    assert main(["info", data["magnet"], "--json"]) == 0
    from_magnet = json.loads(capsys.readouterr().out)
    assert (from_magnet["infohash"], from_magnet["name"]) == (data["infohash"], "share")
    assert main(["info", str(out)]) == 0
    assert "two/three.txt" in capsys.readouterr().out


def test_verify_good_and_damaged(
    share: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = _create(share, tmp_path)
    save = str(share.parent)
    assert main(["verify", str(out), "--data", save]) == 0
    assert "8/8 pieces verified" in capsys.readouterr().out
    os.truncate(share / "one.bin", 20_000)  # stream: four 0..33, one.bin 33..70_033
    (share / "two" / "three.txt").unlink()
    assert main(["verify", str(out), "--data", save]) == 1
    text = capsys.readouterr().out
    assert "missing pieces (7): 1-7" in text
    assert "truncated (20000 bytes) file" in text and "one.bin" in text
    assert "missing file" in text and "three.txt" in text
    assert "1/8 pieces verified" in text


def test_format_ranges() -> None:
    assert format_ranges([0, 1, 2, 5, 7, 8]) == "0-2,5,7-8"
    assert format_ranges([]) == ""
    assert format_ranges([4]) == "4"


def _hostile(tmp_path: Path, name: str, info: dict[bytes, object]) -> str:
    path = tmp_path / f"{name}.torrent"
    path.write_bytes(encode({b"info": info}))
    return str(path)


def _info(**extra: object) -> dict[bytes, object]:
    info: dict[bytes, object] = {b"name": b"x", b"piece length": 16384, b"pieces": b"\0" * 20}
    info.update({k.encode(): v for k, v in extra.items()})
    return info


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["info", "{tmp}/nope.torrent"], "no such file"),
        (["info", "{tmp}"], "a folder, not a .torrent file"),  # it said "no such file"
        (["info", "{tmp}/garbage"], "bad bencode"),
        (["info", "magnet:?xt=urn:btih:xyz"], "infohash"),
        (["verify", "{tmp}/garbage", "--data", "{tmp}"], "bad bencode"),
        (["verify", "{traversal}", "--data", "{tmp}"], "unsafe path"),
        (["verify", "{absolute}", "--data", "{tmp}"], "separator"),
        (["info", "{negative}"], "negative"),
        (["info", "{huge}"], "exceeds"),
        (["info", "{badpieces}"], "multiple of 20"),
        (["info", "{deep}"], "nested"),
        (["create", "{tmp}/missing"], "no such file"),
        (["create", "{tmp}/emptydir"], "no files"),
        (["create", "{tmp}/garbage", "--piece-size", "1000"], "power of two"),
        # Said before hashing (it was an OSError after hashing it all).
        (["create", "{tmp}/garbage", "-o", "{tmp}/nodir/x.torrent"], "no such folder"),
    ],
)
def test_errors_are_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], args: list[str], message: str
) -> None:
    (tmp_path / "garbage").write_bytes(b"this is not bencode")
    (tmp_path / "emptydir").mkdir()
    hostile = {
        "traversal": _info(files=[{b"length": 1, b"path": [b"..", b"..", b"evil"]}]),
        "absolute": _info(files=[{b"length": 1, b"path": [b"/etc"]}]),
        "negative": _info(length=-1),
        "huge": _info(length=2**62),
        "badpieces": _info(length=5, pieces=b"\0" * 21),
        "deep": _info(files=[{b"length": 1, b"path": [b"d"] * 1000}]),
    }
    names = {name: _hostile(tmp_path, name, info) for name, info in hostile.items()}
    names["tmp"] = str(tmp_path)
    before = sorted(p.name for p in tmp_path.parent.iterdir())
    code = main([a.format(**names) for a in args])
    err = capsys.readouterr().err
    assert code != 0
    assert err.startswith("swarmseek: error:") and err.count("\n") == 1, err
    assert message in err
    assert "Traceback" not in err
    assert sorted(p.name for p in tmp_path.parent.iterdir()) == before  # nothing escaped


def test_quick_start_corpus(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # The README's quick start: a torrent of the bundled corpus verifies against it.
    out = tmp_path / "corpus.torrent"
    assert main(["create", str(REPO / "data" / "corpus"), "-o", str(out)]) == 0
    assert main(["verify", str(out), "--data", str(REPO / "data")]) == 0


def test_progress_bar_only_on_a_terminal(
    share: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    out = _create(share, tmp_path)
    assert "verifying" not in capsys.readouterr().err
    monkeypatch.setattr(sys.stderr, "isatty", lambda: True)
    assert main(["verify", str(out), "--data", str(share.parent)]) == 0
    assert "verifying" in capsys.readouterr().err
