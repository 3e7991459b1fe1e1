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
# Which module registers each command: a command line naming one imports that module
# alone (``get`` then loads neither the DHT commands nor the node's, ~0.05 s of start-up
# CPU). Anything else (help, a typo, a command missing here) registers them all.
_COMMAND_OF: dict[str, str] = {
    "create": "cmd_torrent",
    "info": "cmd_torrent",
    "verify": "cmd_torrent",
    "tracker": "cmd_tracker",
    "dht": "cmd_dht",
    "get": "cmd_transfer",
    "seed": "cmd_transfer",
    "node": "cmd_node",
    "share": "cmd_node",
    "import": "cmd_node",
    "search": "cmd_node",
    "similar": "cmd_node",
    "demo": "cmd_node",
}

log = logging.getLogger(__name__)


def build_parser(argv: Sequence[str] | None = None) -> argparse.ArgumentParser:
    """The whole command line, or (given ``argv`` naming a known command) only the
    module that command needs."""
    parser = argparse.ArgumentParser(
        prog="swarmseek",
        description="Decentralised search and download over BitTorrent and the Mainline DHT.",
    )
    parser.add_argument("-v", "--verbose", action="count", default=0, help="more logging")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name in _modules_for(argv):
        module = importlib.import_module(f"{__package__}.{name}")
        module.register(sub)
    return parser


def _modules_for(argv: Sequence[str] | None) -> tuple[str, ...]:
    words = [a for a in (argv or ()) if not a.startswith("-")]
    if words and words[0] in _COMMAND_OF:
        return (_COMMAND_OF[words[0]],)
    return _COMMAND_MODULES


def main(argv: Sequence[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    parser = build_parser(argv)
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
