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
