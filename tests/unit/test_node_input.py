"""The node's input checks: import lines, download folders, local paths, CLI sizes/dates."""

from __future__ import annotations

import argparse
import gzip
import json
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from swarmseek.api.cmd_node import parse_date, parse_size
from swarmseek.api.errors import BadRequest, Forbidden, HttpError, NotFound
from swarmseek.api.import_lines import parse_lines
from swarmseek.api.services_node import check_folder, check_local_path

IH = "ab" * 20


def line(**fields: object) -> bytes:
    return json.dumps({"infohash": IH, "name": "x", "size": 1, **fields}).encode()


def test_parse_lines_accepts_gzip_and_reports_line_numbers() -> None:
    data = b"\n".join([line(), b"{", line(size=-3), b"", line(name="second", files=3)])
    cards, errors, rejected = parse_lines(gzip.compress(data), now=2_000_000_000)
    assert [c.name for c in cards] == ["x", "second"] and cards[1].files == 3
    assert rejected == 2
    assert errors == ["line 2: not valid JSON", "line 3: 'size' must be a non-negative integer"]


@pytest.mark.parametrize(
    "bad",
    [
        line(infohash="zz" * 20),
        line(infohash=5),
        line(name=""),
        line(name=7),
        line(size="10"),
        line(size=True),
        line(files=-1),
        line(created=4_000_000_000),
        line(description=["x"]),
        b'{"name": "x", "size": 1}',
        b"[]",
        b"null",
        b"x" * 20000,
    ],
)
def test_parse_lines_rejects(bad: bytes) -> None:
    cards, errors, rejected = parse_lines(bad, now=2_000_000_000)
    assert cards == [] and rejected == 1 and errors[0].startswith("line 1: ")


@given(st.binary(max_size=2000))
def test_parse_lines_never_fails_on_arbitrary_bytes(data: bytes) -> None:
    try:
        cards, errors, rejected = parse_lines(data, now=2_000_000_000)
    except BadRequest:
        return  # e.g. a broken gzip stream: our own error
    assert len(cards) + rejected <= data.count(b"\n") + 1
    assert len(errors) <= rejected


@pytest.mark.parametrize(
    ("text", "expected"),
    [(None, ""), ("", ""), (".", ""), ("a/b", "a/b"), ("a//./b/", "a/b"), ("movies", "movies")],
)
def test_folder_ok(text: str | None, expected: str) -> None:
    assert check_folder(text) == expected


@pytest.mark.parametrize(
    "text", ["/etc", "../x", "a/../../b", "..", "~/x", "a\\..\\b", "a\x00b", "x" * 2000]
)
def test_folder_hostile(text: str) -> None:
    with pytest.raises(BadRequest):
        check_folder(text)


def test_local_paths(tmp_path: Path) -> None:
    root = tmp_path / "root"
    data_dir = root / "data"
    data_dir.mkdir(parents=True)
    (root / "file.txt").write_text("x")
    (data_dir / "node.sqlite").write_text("x")
    outside = tmp_path / "outside.txt"
    outside.write_text("x")
    (root / "link").symlink_to(outside)
    ok = check_local_path(str(root / "file.txt"), (root,), data_dir)
    assert ok == (root / "file.txt").resolve()
    cases: list[tuple[str, type[HttpError]]] = [
        (str(outside), Forbidden),
        (str(root / "link"), Forbidden),  # a symlink out of the root
        (str(root / ".." / "outside.txt"), Forbidden),
        (str(data_dir / "node.sqlite"), Forbidden),
        (str(root / "missing"), NotFound),
        ("relative.txt", BadRequest),
        ("", BadRequest),
        ("/dev/null", Forbidden),
    ]
    for text, error in cases:
        with pytest.raises(HttpError) as caught:
            check_local_path(text, (root,), data_dir)
        assert isinstance(caught.value, error) or (
            text == "/dev/null" and isinstance(caught.value, BadRequest)
        ), text


@pytest.mark.parametrize(
    ("text", "value"),
    [("1500", 1500), ("10MB", 10_000_000), ("1GiB", 2**30), ("512k", 512_000), ("2 kib", 2048)],
)
def test_sizes(text: str, value: int) -> None:
    assert parse_size(text) == value


def test_dates_and_bad_values() -> None:
    assert parse_date("2024-01-02") == 1704153600
    assert parse_date("1700000000") == 1700000000
    for bad in ("yesterday", "2024-13-01"):
        with pytest.raises(argparse.ArgumentTypeError):
            parse_date(bad)
    with pytest.raises(argparse.ArgumentTypeError):
        parse_size("ten")
