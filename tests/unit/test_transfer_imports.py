"""Importing ``swarmseek.transfer`` stays light: aiohttp loads only with HTTP trackers."""

from __future__ import annotations

import subprocess
import sys


def test_importing_transfer_does_not_load_aiohttp() -> None:
    code = "import sys, swarmseek.transfer; print('aiohttp' in sys.modules)"
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert result.stdout.strip() == "False"


def test_the_cli_parser_does_not_load_the_index() -> None:
    # datasketch (through the index) pulls in scipy: over a second of start-up that
    # `swarmseek get`, `create`, `seed` and the API clients do not need.
    code = (
        "import sys; from swarmseek.api.cli import build_parser; build_parser();"
        " print(sorted(m for m in ('datasketch', 'scipy', 'swarmseek.index') if m in sys.modules))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert result.stdout.strip() == "[]"


def test_the_index_loads_datasketch_only_to_compute_a_signature() -> None:
    # A node that searches and imports metadata never computes a MinHash: it should not
    # pay scipy's start-up (datasketch imports it).
    code = (
        "import sys; import swarmseek.index as i; before = 'datasketch' in sys.modules;"
        " i.features.signature([b'a', b'b'], 8); print(before, 'datasketch' in sys.modules)"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert result.stdout.strip() == "False True"
