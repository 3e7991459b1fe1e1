"""`get` and `seed` options reach the session's configuration."""

from __future__ import annotations

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
