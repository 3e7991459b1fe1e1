"""The ``swarmseek`` command line.

Each command lives in its own module and registers itself through a
``register(subparsers)`` function listed in ``_COMMAND_MODULES``; errors are one
clear line on stderr and a non-zero exit, never a traceback.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
from collections.abc import Sequence

from .errors import CliError

# Modules providing ``register(subparsers) -> None``; each sets ``func`` on its parser.
_COMMAND_MODULES: tuple[str, ...] = (
    "cmd_torrent",
    "cmd_tracker",
    "cmd_dht",
    "cmd_transfer",
    "cmd_node",
)

log = logging.getLogger(__name__)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="swarmseek",
        description="Decentralised search and download over BitTorrent and the Mainline DHT.",
    )
    parser.add_argument("-v", "--verbose", action="count", default=0, help="more logging")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name in _COMMAND_MODULES:
        module = importlib.import_module(f"{__package__}.{name}")
        module.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    level = logging.WARNING - 10 * min(args.verbose, 2)
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s")
    try:
        code: int = args.func(args)
    except CliError as exc:
        print(f"swarmseek: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("swarmseek: interrupted", file=sys.stderr)
        return 130
    except (OSError, ValueError) as exc:
        # Our packages raise ValueError subclasses for bad input (bad torrent, bad
        # magnet, unsafe path); the OS raises OSError for missing files and full disks.
        print(f"swarmseek: error: {exc}", file=sys.stderr)
        return 1
    return code


if __name__ == "__main__":
    sys.exit(main())
