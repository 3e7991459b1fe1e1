"""Argv for running ``swarmseek`` as a child process that answers Ctrl-C like a terminal's.

A shell starts background jobs with SIGINT ignored and children inherit that, so a test run
launched with ``&`` (or under some CI runners) would give a CLI that never sees the SIGINT a
test sends. The wrapper puts Python's own handler back before running the real entry point.
"""

from __future__ import annotations

import sys

_RUN_WITH_CTRL_C = (
    "import signal, sys\n"
    "signal.signal(signal.SIGINT, signal.default_int_handler)\n"
    "from swarmseek.api.cli import main\n"
    "sys.argv[0] = 'swarmseek'\n"
    "sys.exit(main(sys.argv[1:]))\n"
)


def cli_argv(*args: str) -> list[str]:
    """``python -m swarmseek.api.cli ARGS`` with SIGINT delivered as KeyboardInterrupt."""
    return [sys.executable, "-c", _RUN_WITH_CTRL_C, *args]
