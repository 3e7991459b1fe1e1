"""`get` and `seed` options reach the session's configuration."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest

from swarmseek.api import cli, cmd_transfer


@pytest.mark.parametrize(
    ("argv", "direct"),
    [
        (["get", "11" * 20, "--out", "d"], True),
        (["get", "11" * 20, "--out", "d", "--no-direct-io"], False),
        (["seed", "t.torrent", "--data", "d", "--no-direct-io"], False),
    ],
)
def test_no_direct_io_writes_through_the_page_cache(argv: list[str], direct: bool) -> None:
    args = cli.build_parser(argv).parse_args(argv)
    assert cmd_transfer._config(args).direct_io is direct


def _torrent(info: bool, verified: int, downloaded: int) -> Any:
    return SimpleNamespace(
        name="big.bin",
        info=object() if info else None,
        verified_bytes=verified,
        total_length=300,
        downloaded=downloaded,
    )


@pytest.mark.parametrize(
    ("torrent", "peers", "message"),
    [
        (_torrent(False, 0, 0), 0, "no peers found within 20 s (big.bin)"),
        (_torrent(False, 0, 0), 2, "metadata never arrived within 20 s (big.bin)"),
        (_torrent(True, 0, 0), 0, "no peers found within 20 s (big.bin: 0 of 300 bytes verified)"),
        (
            _torrent(True, 120, 150),
            0,
            "no peer left within 20 s (big.bin: 120 of 300 bytes verified;"
            " the same command resumes)",
        ),
        (
            _torrent(True, 120, 150),
            1,
            "no progress within 20 s (big.bin: 120 of 300 bytes verified;"
            " the same command resumes)",
        ),
    ],
)
def test_a_stalled_get_says_how_far_it_got(torrent: Any, peers: int, message: str) -> None:
    # Regression: a seeder stopped mid-download; `get` said "no peers found within
    # 20 s", as if it had never found one, and not that the data so far was kept.
    assert cmd_transfer.stall_message(torrent, peers, 20.0) == message
