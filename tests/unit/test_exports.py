"""Packages import each other only through their public ``__init__`` (trio's test_exports)."""

from __future__ import annotations

import ast
import importlib
import pathlib

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
PACKAGES = ("transfer", "discovery", "index", "api")
# Arrows point one way (DESIGN.md): api -> index -> discovery -> transfer, api -> transfer.
ALLOWED = {
    "transfer": set(),
    "discovery": {"transfer"},
    "index": {"discovery", "transfer"},
    "api": {"index", "discovery", "transfer"},
}


@pytest.mark.parametrize("package", PACKAGES)
def test_public_names_exist(package: str) -> None:
    module = importlib.import_module(f"swarmseek.{package}")
    for name in module.__all__:
        assert hasattr(module, name), f"swarmseek.{package}.{name} listed but missing"


@pytest.mark.parametrize("package", PACKAGES)
def test_imports_follow_the_arrows(package: str) -> None:
    for path in (ROOT / package).rglob("*.py"):
        tree = ast.parse(path.read_text(), filename=str(path))
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                parts = node.module.split(".")
                assert parts[0] not in PACKAGES, f"{path}: bare import of {node.module}"
                if parts[0] == "swarmseek" and len(parts) > 1:
                    other = parts[1]
                    if other != package:
                        assert other in ALLOWED[package], f"{path}: {package} imports {other}"
                        assert len(parts) == 2, f"{path}: reaches into {node.module}"
            if isinstance(node, ast.Import):
                for alias in node.names:
                    assert alias.name.split(".")[0] not in PACKAGES, f"{path}: bare import"
