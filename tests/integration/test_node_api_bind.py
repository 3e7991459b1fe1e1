"""``swarmseek node`` refuses to expose its API beyond loopback without a real token."""

from __future__ import annotations

import pathlib

import pytest

from swarmseek.api.cli import main


@pytest.mark.parametrize(
    ("extra", "message"),
    [([], "give a token"), (["--token", "short"], "at least 16 characters")],
)
def test_public_api_needs_a_token(
    tmp_path: pathlib.Path, capsys: pytest.CaptureFixture[str], extra: list[str], message: str
) -> None:
    argv = ["node", "--data-dir", str(tmp_path), "--port", "0", "--api-port", "0"]
    code = main([*argv, "--api-host", "0.0.0.0", *extra])
    err = capsys.readouterr().err
    assert code == 1
    assert message in err and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1
