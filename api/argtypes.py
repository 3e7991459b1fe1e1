"""argparse types shared by the commands: a bad value is a usage error (exit 2) with
one line, never a traceback from deep in the socket layer."""

from __future__ import annotations

import argparse


def port_number(text: str) -> int:
    """A TCP/UDP port, 0-65535 (0: the OS picks a free one)."""
    try:
        port = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a port number: {text!r}") from None
    if not 0 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"port {port} is not in 0-65535 (0 picks a free one)")
    return port
