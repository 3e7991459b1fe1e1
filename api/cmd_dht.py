"""``swarmseek dht …``: commands for people who debug DHTs.

Each command starts a short-lived BEP 43 read-only node (DESIGN.md decision 5), does
one thing, prints the answer (JSON with ``--json``) and leaves no trace in others'
routing tables.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import socket
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from swarmseek.discovery import (
    DhtConfig,
    DhtError,
    DhtNode,
    ItemError,
    KeyPair,
    LookupFailed,
    MutableItem,
    mutable_target,
    update_mutable,
)

from .argtypes import port_number
from .errors import CliError

# Well-known Mainline DHT routers, used when no --bootstrap is given.
DEFAULT_BOOTSTRAP = (
    "router.bittorrent.com:6881",
    "dht.transmissionbt.com:6881",
    "router.utorrent.com:6881",
)

Printer = Callable[[dict[str, Any]], None]

# ``dht get``: nobody (or too few of the closest nodes) answered, so whether the item
# exists is unknown; a script must not read that as "not found" (exit status 2).
UNKNOWN_EXIT = 3


def register(subparsers: Any) -> None:
    dht = subparsers.add_parser("dht", help="talk to the Mainline DHT directly")
    sub = dht.add_subparsers(dest="dht_command", metavar="DHT_COMMAND", required=True)

    def command(name: str, help_: str, run: Callable[[DhtNode, argparse.Namespace], Any]) -> Any:
        parser = sub.add_parser(name, help=help_)
        parser.add_argument(
            "--bootstrap",
            action="append",
            metavar="HOST:PORT",
            help="node to start from (repeatable; default: the public routers)",
        )
        parser.add_argument(
            "--port", type=port_number, default=0, help="UDP port to use (default any)"
        )
        parser.add_argument("--json", action="store_true", help="print JSON")
        parser.add_argument(
            "--timeout", type=float, default=30.0, help="give up after this many seconds"
        )
        parser.set_defaults(func=lambda args: _main(args, run))
        return parser

    p = command("ping", "ping one node and print its id", _ping)
    p.add_argument("address", metavar="HOST:PORT")
    p = command("get-peers", "find peers for an infohash", _get_peers)
    p.epilog = (
        "exit status: 0 answered (the peers found, perhaps none);"
        f" {UNKNOWN_EXIT} unknown (no peer found and too few nodes answered: try again);"
        " 1 other errors"
    )
    p.add_argument("infohash", metavar="INFOHASH", help="40 hex digits")
    p = command("announce", "announce a peer for an infohash", _announce)
    p.add_argument("infohash", metavar="INFOHASH", help="40 hex digits")
    p.add_argument(
        "--peer-port", type=port_number, default=0, help="TCP port to announce (default: implied)"
    )
    p = command("put", "store an immutable item; prints its target", _put)
    p.add_argument("value", metavar="VALUE", help="the value, stored as a string")
    p = command("put-mutable", "store a signed mutable item (seq = current + 1)", _put_mutable)
    p.add_argument("value", metavar="VALUE", help="the value, stored as a string")
    p.add_argument("--key", required=True, type=Path, metavar="KEYFILE", help="32-byte seed in hex")
    p.add_argument("--salt", default="", help="salt (up to 64 bytes)")
    p = command("get", "fetch an immutable or (with --public-key) mutable item", _get)
    p.epilog = (
        "exit status: 0 found; 2 not found (the closest nodes answered without it);"
        f" {UNKNOWN_EXIT} unknown (too few nodes answered: try again); 1 other errors"
    )
    p.add_argument("target", metavar="TARGET_HEX", nargs="?", help="target (40 hex digits)")
    p.add_argument("--public-key", metavar="HEX", help="mutable item's ed25519 public key")
    p.add_argument("--salt", default="", help="mutable item's salt")


def _hex(text: str, size: int, what: str) -> bytes:
    try:
        data = bytes.fromhex(text)
    except ValueError:
        data = b""
    if len(data) != size:
        raise CliError(f"{what} must be {size * 2} hex digits")
    return data


def _address(text: str) -> tuple[str, int]:
    host, sep, port = text.rpartition(":")
    if not sep or not port.isdigit() or not 0 < int(port) < 65536:
        raise CliError(f"expected HOST:PORT, got {text!r}")
    try:
        infos = socket.getaddrinfo(host, int(port), socket.AF_INET, socket.SOCK_DGRAM)
    except OSError as exc:
        raise CliError(f"cannot resolve {host}: {exc}") from exc
    address = infos[0][4]
    return str(address[0]), int(address[1])


def _show(value: Any) -> Any:
    if isinstance(value, bytes):
        try:
            return value.decode()
        except UnicodeDecodeError:
            return {"hex": value.hex()}
    if isinstance(value, list):
        return [_show(v) for v in value]
    if isinstance(value, dict):
        return {str(_show(k)): _show(v) for k, v in value.items()}
    return value


def _main(args: argparse.Namespace, run: Callable[[DhtNode, argparse.Namespace], Any]) -> int:
    bootstrap: list[tuple[str, int]] = []
    # ping talks to the one node it names: it needs no router (and works offline).
    default = [args.address] if args.dht_command == "ping" else DEFAULT_BOOTSTRAP
    for text in args.bootstrap or default:
        try:
            bootstrap.append(_address(text))
        except CliError:
            if args.bootstrap or args.dht_command == "ping":
                raise
    if not bootstrap:
        raise CliError("no bootstrap node could be resolved (give --bootstrap HOST:PORT)")
    config = DhtConfig(port=args.port, bootstrap=tuple(bootstrap), read_only=True)
    result: dict[str, Any] = asyncio.run(_session(config, args, run))
    if args.json:
        print(json.dumps(result, sort_keys=True))
    else:
        for key, value in result.items():
            print(f"{key}: {value}")
    return 0 if result.get("found", True) else 2


async def _session(
    config: DhtConfig,
    args: argparse.Namespace,
    run: Callable[[DhtNode, argparse.Namespace], Awaitable[dict[str, Any]]],
) -> dict[str, Any]:
    try:
        async with asyncio.timeout(args.timeout), DhtNode(config) as node:
            return await run(node, args)
    except TimeoutError as exc:
        raise CliError(f"no answer within {args.timeout} s") from exc
    except DhtError as exc:
        raise CliError(str(exc)) from exc


async def _ping(node: DhtNode, args: argparse.Namespace) -> dict[str, Any]:
    host, port = _address(args.address)
    node_id = await node.ping((host, port))
    return {"address": f"{host}:{port}", "node_id": node_id.hex()}


async def _get_peers(node: DhtNode, args: argparse.Namespace) -> dict[str, Any]:
    infohash = _hex(args.infohash, 20, "INFOHASH")
    try:
        peers = await node.get_peers(infohash)
    except LookupFailed as exc:
        raise CliError(
            f"could not tell whether anyone has it: {exc}; try again, or other --bootstrap nodes",
            exit_code=UNKNOWN_EXIT,
        ) from exc
    return {"infohash": infohash.hex(), "peers": [f"{h}:{p}" for h, p in peers]}


async def _announce(node: DhtNode, args: argparse.Namespace) -> dict[str, Any]:
    infohash = _hex(args.infohash, 20, "INFOHASH")
    stored = await node.announce_peer(infohash, args.peer_port)
    return {"infohash": infohash.hex(), "stored_at": stored}


async def _put(node: DhtNode, args: argparse.Namespace) -> dict[str, Any]:
    target = await node.put_immutable(args.value.encode())
    return {"target": target.hex()}


def load_or_create_key(path: Path) -> tuple[KeyPair, bool]:
    """The key pair whose 32-byte seed ``path`` holds in hex; created if missing."""
    if path.exists():
        seed = _hex(path.read_text().strip(), 32, f"the key in {path}")
        return KeyPair.from_seed(seed), False
    keypair = KeyPair.generate()
    path.write_text(keypair.seed.hex() + "\n")
    path.chmod(0o600)
    return keypair, True


async def _put_mutable(node: DhtNode, args: argparse.Namespace) -> dict[str, Any]:
    keypair, created = load_or_create_key(args.key)
    salt = args.salt.encode()
    value = args.value.encode()
    try:
        item = await update_mutable(node, keypair, salt, lambda _old: value)
    except ItemError as exc:
        raise CliError(str(exc)) from exc
    assert item is not None
    out: dict[str, Any] = {
        "target": mutable_target(keypair.public_key, salt).hex(),
        "public_key": keypair.public_key.hex(),
        "seq": item.seq,
    }
    if created:
        print(f"created a new key in {args.key}", file=sys.stderr)
        out["key_created"] = str(args.key)
    return out


async def _get(node: DhtNode, args: argparse.Namespace) -> dict[str, Any]:
    try:
        return await _get_item(node, args)
    except LookupFailed as exc:
        raise CliError(
            f"could not tell whether the item exists: {exc}; try again, or other --bootstrap nodes",
            exit_code=UNKNOWN_EXIT,
        ) from exc


async def _get_item(node: DhtNode, args: argparse.Namespace) -> dict[str, Any]:
    if args.public_key is None:
        if args.target is None:
            raise CliError("give TARGET_HEX, or --public-key for a mutable item")
        target = _hex(args.target, 20, "TARGET_HEX")
        value = await node.get_immutable(target)
        return {"target": target.hex(), "found": value is not None, "value": _show(value)}
    public_key = _hex(args.public_key, 32, "--public-key")
    salt = args.salt.encode()
    target = mutable_target(public_key, salt)
    if args.target is not None and _hex(args.target, 20, "TARGET_HEX") != target:
        raise CliError("TARGET_HEX is not SHA-1(public key + salt)")
    item: MutableItem | None = await node.get_mutable(public_key, salt)
    if item is None:
        return {"target": target.hex(), "found": False}
    return {"target": target.hex(), "found": True, "seq": item.seq, "value": _show(item.value)}
