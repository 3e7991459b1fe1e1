"""``swarmseek tracker``: a small HTTP and UDP tracker for local swarms."""

from __future__ import annotations

import argparse
import asyncio

from swarmseek.transfer import TrackerServer

from .argtypes import port_number


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser(
        "tracker",
        help="run a small HTTP and UDP tracker",
        description="Run a BitTorrent tracker (HTTP with compact peer lists, and UDP "
        "per BEP 15) until interrupted. Both listen on the same port number.",
    )
    parser.add_argument(
        "--port", type=port_number, default=6969, help="port (0 picks one; default 6969)"
    )
    parser.add_argument("--bind", default="127.0.0.1", help="address to listen on")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    asyncio.run(_serve(args.bind, args.port))
    return 0


async def _serve(host: str, port: int) -> None:
    async with TrackerServer(host, port) as server:
        print(f"tracker: {server.announce_url}", flush=True)
        print(f"tracker: {server.udp_url}", flush=True)
        await asyncio.Event().wait()
