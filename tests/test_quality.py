"""ruff and mypy stay clean: checked in the test run, so CI enforces it.

mypy cannot see through setuptools' editable-install import hook, so the test
builds a throwaway ``swarmseek`` tree of symlinks to the four packages and points
mypy at it; this works the same whatever way the project was installed.
"""

from __future__ import annotations

import os
import pathlib
import subprocess
import sys

ROOT = pathlib.Path(__file__).resolve().parents[1]
PACKAGES = ("transfer", "discovery", "index", "api")


def test_ruff_clean() -> None:
    for command in (["check"], ["format", "--check"]):
        result = subprocess.run(
            [sys.executable, "-m", "ruff", *command, "--no-cache", str(ROOT)],
            capture_output=True,
            text=True,
            check=False,
        )
        assert result.returncode == 0, result.stdout + result.stderr


def test_mypy_clean(tmp_path: pathlib.Path) -> None:
    tree = tmp_path / "swarmseek"
    tree.mkdir()
    for package in PACKAGES:
        (tree / package).symlink_to(ROOT / package, target_is_directory=True)
    env = dict(os.environ, MYPYPATH=str(tmp_path))
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "mypy",
            "--config-file",
            str(ROOT / "pyproject.toml"),
            "--cache-dir",
            str(tmp_path / ".mypy_cache"),
            "-p",
            "swarmseek",
        ],
        capture_output=True,
        text=True,
        check=False,
        cwd=tmp_path,
        env=env,
    )
    assert result.returncode == 0, result.stdout + result.stderr
