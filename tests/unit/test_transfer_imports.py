"""Start-up stays light: ``swarmseek.transfer`` loads aiohttp only with HTTP trackers,
the CLI parser never loads the index, a `get` from given peers never loads the DHT."""

from __future__ import annotations

import socket
import subprocess
import sys
from pathlib import Path

from swarmseek.api import cli


def _output(code: str) -> str:
    """What ``code`` prints in a fresh interpreter, stripped."""
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    return result.stdout.strip()


def test_importing_transfer_does_not_load_aiohttp() -> None:
    code = "import sys, swarmseek.transfer; print('aiohttp' in sys.modules)"
    assert _output(code) == "False"


def test_the_cli_parser_does_not_load_the_index() -> None:
    # datasketch (through the index) pulls in scipy: over a second of start-up that
    # `swarmseek get`, `create`, `seed` and the API clients do not need.
    code = (
        "import sys; from swarmseek.api.cli import build_parser; build_parser();"
        " print(sorted(m for m in ('datasketch', 'scipy', 'swarmseek.index') if m in sys.modules))"
    )
    assert _output(code) == "[]"


def test_the_index_loads_datasketch_only_to_compute_a_signature() -> None:
    # A node that searches and imports metadata never computes a MinHash: it should not
    # pay scipy's start-up (datasketch imports it).
    code = (
        "import sys; import swarmseek.index as i; before = 'datasketch' in sys.modules;"
        " i.features.signature([b'a', b'b'], 8); print(before, 'datasketch' in sys.modules)"
    )
    assert _output(code) == "False True"


# Loaded only where needed: the DHT (a `get` without peers, trackers or --dht-bootstrap),
# tqdm (a progress bar on a terminal), cryptography (RC4 where libcrypto is missing).
LAZY = ("swarmseek.discovery", "tqdm", "cryptography")


def _run(code: str) -> list[str]:
    """Run ``code`` in a fresh interpreter; its output lines, then the lazy modules
    it loaded (one line, space-separated)."""
    code += f"\nimport sys; print(' '.join(m for m in {LAZY!r} if m in sys.modules))"
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    return result.stdout.split("\n")[:-1]


def test_a_get_from_given_peers_loads_none_of_the_lazy_modules(tmp_path: Path) -> None:
    # The whole peer-only `get`: session, a refused connection, the progress watch
    # (not on a terminal), until it gives up. Through cmd_transfer's own parser, since
    # cli.py also registers `swarmseek dht`, whose module imports the DHT.
    with socket.socket() as probe:  # a port nobody listens on: the connection is refused
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    argv = ["get", "11" * 20, "--out", str(tmp_path), "--peer", f"127.0.0.1:{port}"]
    code = (
        "import argparse, sys\n"
        "from swarmseek.api import cmd_transfer\n"
        "from swarmseek.api.errors import CliError\n"
        "parser = argparse.ArgumentParser()\n"
        "cmd_transfer.register(parser.add_subparsers())\n"
        f"args = parser.parse_args({argv!r} + ['--timeout', '0.1'])\n"
        "try:\n"
        "    args.func(args)\n"
        "except CliError as exc:\n"
        "    print('gave up:', exc.exit_code)\n"
    )
    assert _run(code) == ["gave up: 3", ""]


def test_the_command_line_itself_loads_only_the_chosen_command(tmp_path: Path) -> None:
    # The same `get` through `swarmseek`'s own entry point: cli.py registers only the
    # module of the command named (the DHT commands' module imports the DHT).
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    argv = ["get", "11" * 20, "--out", str(tmp_path), "--peer", f"127.0.0.1:{port}"]
    code = (
        f"from swarmseek.api import cli\nprint('exit', cli.main({argv!r} + ['--timeout', '0.1']))"
    )
    assert _run(code) == ["exit 3", ""]


def test_every_command_is_in_the_table_of_lazy_commands() -> None:
    full = cli.build_parser()
    commands = next(a for a in full._actions if a.dest == "command").choices
    assert set(commands) == set(cli._COMMAND_OF)
    for name, module in cli._COMMAND_OF.items():
        lazy = cli.build_parser([name])
        assert set(next(a for a in lazy._actions if a.dest == "command").choices) >= {name}
        assert module in cli._COMMAND_MODULES
