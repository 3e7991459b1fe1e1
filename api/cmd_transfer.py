"""``swarmseek get`` and ``swarmseek seed``: download and share over BitTorrent.

``get`` takes a .torrent file, a magnet link or a bare infohash (40 hex digits); with
no tracker and no ``--peer`` it finds peers through the DHT. It exits 0 only when every
piece is verified on disk; resume data lives in ``DIR/.swarmseek/resume.sqlite`` so an
interrupted (even killed) download continues where its last record left it.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import re
import socket
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from swarmseek.transfer import (
    BencodeError,
    EncryptionPolicy,
    Magnet,
    Metainfo,
    PeerFinder,
    PeerSourceError,
    Session,
    SessionConfig,
    Torrent,
    TorrentState,
    as_infohash,
    parse_magnet,
    parse_torrent,
    trace,
)

from .argtypes import port_number
from .errors import CliError

if TYPE_CHECKING:
    from swarmseek.discovery import DhtNode

# The DHT (swarmseek.discovery) and tqdm are imported where they are used, not here:
# `swarmseek get --peer ...` needs neither, and they were a quarter of its start-up
# CPU. ``tests/unit/test_transfer_imports.py`` keeps it so.

RESUME_FILE = Path(".swarmseek") / "resume.sqlite"
_HEX40 = re.compile(r"^[0-9a-fA-F]{40}$")


class DhtFinder:
    """A ``DhtNode`` as the swarm's :class:`PeerFinder` (DHT errors become ours)."""

    def __init__(self, node: DhtNode) -> None:
        self.node = node

    async def get_peers(self, infohash: bytes) -> list[tuple[str, int]]:
        from swarmseek.discovery import DhtError  # noqa: PLC0415 - lazily (see the imports)

        try:
            return [(str(h), int(p)) for h, p in await self.node.get_peers(infohash)]
        except DhtError as exc:
            raise PeerSourceError(f"DHT get_peers: {exc}") from exc

    async def announce_peer(self, infohash: bytes, port: int = 0) -> int:
        from swarmseek.discovery import DhtError  # noqa: PLC0415 - lazily (see the imports)

        try:
            return await self.node.announce_peer(infohash, port)
        except DhtError as exc:
            raise PeerSourceError(f"DHT announce_peer: {exc}") from exc


def encryption_arg(parser: argparse.ArgumentParser) -> None:
    """``--encryption``: the MSE/PE policy of peer connections (get, seed, node)."""
    parser.add_argument(
        "--encryption",
        choices=[p.value for p in EncryptionPolicy],
        default="prefer",
        help="MSE/PE for peer connections: prefer (default), require, or disable",
    )


def _address(text: str, kind: int = socket.SOCK_STREAM) -> tuple[str, int]:
    host, sep, port = text.rpartition(":")
    if not sep or not port.isdigit() or not 0 < int(port) < 65536:
        raise CliError(f"expected HOST:PORT, got {text!r}")
    try:
        infos = socket.getaddrinfo(host.strip("[]"), int(port), socket.AF_INET, kind)
    except OSError as exc:
        raise CliError(f"cannot resolve {host}: {exc}") from exc
    return str(infos[0][4][0]), int(infos[0][4][1])


def _source(text: str) -> Metainfo | Magnet | bytes:
    if text.startswith("magnet:"):
        return parse_magnet(text)
    if _HEX40.match(text) and not Path(text).exists():
        return as_infohash(bytes.fromhex(text))
    if not Path(text).exists():
        raise CliError(f"{text}: no such torrent file (nor a magnet link or infohash)")
    return _torrent_file(Path(text))


def _torrent_file(path: Path) -> Metainfo:
    """A .torrent file; anything wrong with it is one line naming it (as ``info`` says)."""
    try:
        return parse_torrent(path.read_bytes())
    except BencodeError as exc:
        raise CliError(f"{path}: not a .torrent (bad bencode: {exc})") from None
    except ValueError as exc:
        raise CliError(f"{path}: not a .torrent ({exc})") from None
    except OSError as exc:
        raise CliError(f"{path}: {exc.strerror or exc}") from None


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--port", type=port_number, default=0, help="TCP port to listen on (default any)"
    )
    parser.add_argument("--bind", default="0.0.0.0", metavar="ADDR", help="address to listen on")
    encryption_arg(parser)
    parser.add_argument(
        "--tracker", action="append", default=[], metavar="URL", help="extra tracker"
    )
    parser.add_argument(
        "--dht-bootstrap",
        action="append",
        default=[],
        metavar="HOST:PORT",
        help="DHT node to start from (repeatable)",
    )
    parser.add_argument(
        "--no-direct-io",
        dest="direct_io",
        action="store_false",
        help="write pieces through the page cache (default: around it, O_DIRECT, where the"
        " file system allows; through it suits a spinning disk or seeding from memory)",
    )
    parser.add_argument("--resume-interval", type=float, default=5.0, help=argparse.SUPPRESS)


def register(subparsers: Any) -> None:
    get = subparsers.add_parser("get", help="download a torrent, magnet link or infohash")
    get.add_argument("source", metavar="TORRENT|MAGNET|INFOHASH")
    get.add_argument("--out", required=True, type=Path, metavar="DIR", help="save path")
    get.add_argument("--peer", action="append", default=[], metavar="HOST:PORT", help="peer to use")
    get.add_argument("--seed", action="store_true", help="keep seeding after the download")
    get.add_argument(
        "--timeout",
        type=float,
        default=120.0,
        metavar="S",
        help="give up after S s without progress",
    )
    _common(get)
    get.set_defaults(func=_get)
    seed = subparsers.add_parser("seed", help="share a torrent's data until interrupted")
    seed.add_argument("torrent", type=Path, metavar="TORRENT")
    seed.add_argument(
        "--data", required=True, type=Path, metavar="DIR", help="save path of the data"
    )
    _common(seed)
    seed.set_defaults(func=_seed)


def _config(args: argparse.Namespace) -> SessionConfig:
    return SessionConfig(
        host=args.bind,
        port=args.port,
        encryption=EncryptionPolicy(args.encryption),
        resume_interval=args.resume_interval,
        direct_io=args.direct_io,
    )


@contextlib.asynccontextmanager
async def _dht(bootstrap: list[str], *, read_only: bool) -> AsyncIterator[PeerFinder]:
    from swarmseek.discovery import DhtConfig, DhtNode  # noqa: PLC0415 - lazily (see the imports)

    from .cmd_dht import DEFAULT_BOOTSTRAP  # noqa: PLC0415 - it imports the DHT too

    nodes: list[tuple[str, int]] = []
    for text in bootstrap or DEFAULT_BOOTSTRAP:
        try:
            nodes.append(_address(text, socket.SOCK_DGRAM))
        except CliError:
            if bootstrap:
                raise
    if not nodes:
        raise CliError(
            "no DHT bootstrap node could be resolved"
            " (give --dht-bootstrap HOST:PORT, a --peer or a --tracker)"
        )
    config = DhtConfig(bootstrap=tuple(nodes), read_only=read_only)
    async with DhtNode(config) as node:
        yield DhtFinder(node)


# ------------------------------------------------------------------------- get
def _get(args: argparse.Namespace) -> int:
    source = _source(args.source)
    peers = [_address(p) for p in args.peer]
    trackers: list[str] = list(args.tracker)
    hinted: list[tuple[str, int]] = []
    if isinstance(source, (Metainfo, Magnet)):
        trackers += source.trackers
    if isinstance(source, Magnet):
        hinted += source.peers
    use_dht = bool(args.dht_bootstrap) or not (peers or trackers or hinted)
    _freeze_startup_objects()
    code = asyncio.run(_get_async(args, source, peers, use_dht))
    if trace.TRACER is not None:
        trace.TRACER.event("exit")
        trace.TRACER.close()
    return code


async def _get_async(
    args: argparse.Namespace,
    source: Metainfo | Magnet | bytes,
    peers: list[tuple[str, int]],
    use_dht: bool,
) -> int:
    trace.mark("loop")
    async with contextlib.AsyncExitStack() as stack:
        finder = (
            await stack.enter_async_context(_dht(args.dht_bootstrap, read_only=not args.seed))
            if use_dht
            else None
        )
        session = await stack.enter_async_context(
            Session(
                _config(args), resume_db=args.out / RESUME_FILE, dht=finder, dht_announce=args.seed
            )
        )
        torrent = await session.add(source, args.out, peers=peers, trackers=args.tracker)
        await _watch(torrent, args.timeout)
        if args.seed:
            host, port = session.listen_address
            print(f"seeding {torrent.name} on {host}:{port}", flush=True)
            await asyncio.Event().wait()  # until interrupted
    return 0


async def _watch(torrent: Torrent, timeout: float) -> None:
    """Show progress until the torrent finishes; raise CliError when it cannot."""
    bar = _bar(torrent) if sys.stderr.isatty() else None
    start = last_progress = time.monotonic()
    last_bytes = -1
    try:
        while not torrent.finished.is_set():
            with contextlib.suppress(TimeoutError):  # not wait_for (see peer_sources)
                async with asyncio.timeout(0.5):
                    await torrent.finished.wait()
            status = torrent.status()
            now = time.monotonic()
            if status.verified_bytes != last_bytes or torrent.state is TorrentState.CHECKING:
                last_bytes, last_progress = status.verified_bytes, now
            if bar is not None:
                _update_bar(bar, status)
            if now - last_progress > timeout and not torrent.finished.is_set():
                raise CliError(stall_message(torrent, status.peers, timeout), exit_code=3)
    finally:
        if bar is not None:
            bar.close()
    if torrent.error is not None:
        raise CliError(torrent.error)
    if not torrent.complete:
        raise CliError(f"{torrent.name}: stopped before completion")
    elapsed = time.monotonic() - start
    if trace.TRACER is not None:
        trace.TRACER.event("watched", started=round(start - trace.TRACER.start, 4))
    size = torrent.total_length or 0
    print(
        f"{torrent.name}: {size} bytes verified in {elapsed:.1f} s,"
        f" {torrent.downloaded} bytes downloaded"
        f" ({torrent.downloaded / max(elapsed, 1e-9) / 1e6:.1f} MB/s)",
        flush=True,
    )


def stall_message(torrent: Torrent, peers: int, timeout: float) -> str:
    """Why a download gave up, and how far it got (what a stopped seeder leaves)."""
    if torrent.info is None:
        reason = "metadata never arrived" if peers else "no peers found"
        return f"{reason} within {timeout:g} s ({torrent.name})"
    # No peer now: every one went away (a seeder stopped), or none was ever reached.
    gone = "no peer left" if torrent.downloaded else "no peers found"
    reason = "no progress" if peers else gone
    done = f"{torrent.verified_bytes} of {torrent.total_length} bytes verified"
    hint = "; the same command resumes" if torrent.verified_bytes else ""
    return f"{reason} within {timeout:g} s ({torrent.name}: {done}{hint})"


def _bar(torrent: Torrent) -> Any:
    # Only on a terminal (see the imports): no stubs without types-tqdm.
    from tqdm import tqdm  # type: ignore[import-untyped]  # noqa: PLC0415

    return tqdm(total=100, unit="%", desc=torrent.name[:30], bar_format="{l_bar}{bar}| {postfix}")


def _update_bar(bar: Any, status: Any) -> None:
    bar.n = round(status.progress * 100, 1)
    eta = "?" if status.eta is None else f"{status.eta:.0f}s"
    bar.set_postfix_str(f"{status.download_rate / 1e6:.1f} MB/s, {status.peers} peers, ETA {eta}")


def _freeze_startup_objects() -> None:
    # The ~30,000 objects of start-up (modules, classes, functions) live until exit:
    # out of the cyclic collector's way, its collections during a 1 GiB download took
    # 0.022 s instead of 0.056 s (one full collection alone was 0.017 s).
    gc.freeze()


# ------------------------------------------------------------------------ seed
def _seed(args: argparse.Namespace) -> int:
    meta = _torrent_file(args.torrent)
    _freeze_startup_objects()
    return asyncio.run(_seed_async(args, meta))


async def _seed_async(args: argparse.Namespace, meta: Metainfo) -> int:
    trace.mark("loop")
    async with contextlib.AsyncExitStack() as stack:
        finder = (
            await stack.enter_async_context(_dht(args.dht_bootstrap, read_only=False))
            if args.dht_bootstrap
            else None
        )
        session = await stack.enter_async_context(Session(_config(args), dht=finder))
        torrent = await session.add(meta, args.data, trackers=args.tracker)
        host, port = session.listen_address
        print(f"listening on {host}:{port}", flush=True)
        while torrent.state in (TorrentState.CHECKING, TorrentState.METADATA):
            with contextlib.suppress(TimeoutError):  # not wait_for (see peer_sources)
                async with asyncio.timeout(0.2):
                    await torrent.finished.wait()
        if torrent.error is not None:
            raise CliError(torrent.error)
        status = torrent.status()
        print(
            f"seeding {torrent.name}:"
            f" {status.verified_bytes} of {status.total_bytes} bytes verified",
            flush=True,
        )
        await asyncio.Event().wait()  # until interrupted
    return 0
