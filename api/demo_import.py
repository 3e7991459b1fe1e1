"""The demo's catalogue import, in a process of its own: the machine's second core.

``swarmseek demo`` runs its whole network in one process. An import from one of those
nodes shared that process's one core between the importer's side of the work (PHT
reads and writes, lookups, signing: more than half of it) and the nodes answering it.
Here the importer is a child process, a read-only DHT node (BEP 43: nobody keeps it in
a routing table, so it leaves no dead entry when it is done) bootstrapped from the
demo's nodes, publishing through the same ``SearchIndex.publish`` path as any node:
every card and PHT node is a BEP 44 put to the k closest nodes, which verify it.

The parent (``demo.py``) starts ``python -m swarmseek.api.demo_import`` and reads one
JSON object per line from its stdout (``Report``); the child stops when its stdin
closes, so it never outlives the demo.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import json
import socket
import sys
from collections.abc import AsyncIterator, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

from swarmseek.discovery import Address, DhtConfig, DhtError, DhtNode
from swarmseek.index import Card, IndexConfig, PublishError, ReadError, SearchIndex

from .import_lines import parse_lines
from .node_config import LOOPBACK_RATE, PUBLISH_ATTEMPTS, UDP_BUFFER

# The catalogue goes in two batches: a first small one, searchable within seconds,
# then all the rest at once. A PHT leaf is written once per batch that has entries
# for it, so the demo's old 2000-card batches rewrote leaves again and again: 63,664
# cards cost 8.6 puts and 14.3 gets per card; these two batches 3.5 and 2.8
# (tests/benchmarks/bench_import.py).
FIRST_CHUNK = 2000
PROGRESS_EVERY = 15.0  # seconds between progress reports while a batch is written
QUERY_TIMEOUT = 2.0  # as the demo's nodes (DemoOptions)
IN_FLIGHT = 32  # DHT operations outstanding for the index, as a node (NodeConfig)
# What ends an import with a report instead of a traceback (as a node's publisher).
FAILURES = (DhtError, PublishError, ReadError, OSError, ValueError)


@dataclass(frozen=True, slots=True)
class Report:
    """One line of the child's stdout. ``done``: cards in the DHT so far (a batch
    finished), at the cost of ``gets`` and ``puts`` in all; else a progress report
    while ``writing`` cards: ``items`` stored."""

    done: int | None = None
    writing: int = 0
    items: int = 0
    gets: int = 0
    puts: int = 0
    error: str | None = None

    def line(self) -> bytes:
        return json.dumps(asdict(self)).encode() + b"\n"

    @classmethod
    def parse(cls, line: bytes) -> Report:
        raw = json.loads(line)
        if not isinstance(raw, dict):
            raise ValueError("a report is a JSON object")
        return cls(**{k: v for k, v in raw.items() if k in cls.__dataclass_fields__})


def batches(cards: Sequence[Card]) -> list[Sequence[Card]]:
    return [part for part in (cards[:FIRST_CHUNK], cards[FIRST_CHUNK:]) if part]


def command(catalogue: Path, now: int, bootstrap: Sequence[Address]) -> list[str]:
    """How the parent starts the child."""
    nodes = [f"{host}:{port}" for host, port in bootstrap]
    return [
        sys.executable,
        "-m",
        "swarmseek.api.demo_import",
        str(catalogue),
        "--now",
        str(now),
        *(arg for node in nodes for arg in ("--bootstrap", node)),
    ]


def _address(text: str) -> Address:
    host, _, port = text.rpartition(":")
    return host, int(port)


async def import_catalogue(cards: Sequence[Card], bootstrap: Sequence[Address]) -> None:
    """Publish ``cards`` through a read-only DHT node, reporting on stdout."""
    config = DhtConfig(
        host="127.0.0.1",
        bootstrap=tuple(bootstrap),
        read_only=True,
        rate_limit=LOOPBACK_RATE,
        rate_burst=LOOPBACK_RATE,
        query_timeout=QUERY_TIMEOUT,
    )
    async with DhtNode(config) as dht:
        for option in (socket.SO_RCVBUF, socket.SO_SNDBUF):
            with contextlib.suppress(OSError):
                dht.socket.setsockopt(socket.SOL_SOCKET, option, UDP_BUFFER)
        await dht.bootstrap()
        index = SearchIndex(dht, config=IndexConfig(name_lsh=None, in_flight=IN_FLIGHT))
        done = 0
        for batch in batches(cards):
            async with _progress(index, len(batch)):
                await _publish(index, batch)
            done += len(batch)
            _emit(Report(done=done, gets=index.stats.gets, puts=index.stats.puts))


async def _publish(index: SearchIndex, cards: Sequence[Card]) -> None:
    # As a node's publisher (Node._publish_batch): a put nobody acknowledged under load
    # is worth another try, and publishing the same cards again is idempotent.
    for attempt in range(PUBLISH_ATTEMPTS):
        try:
            await index.publish(cards)
            return
        except (DhtError, PublishError, ReadError):
            if attempt == PUBLISH_ATTEMPTS - 1:
                raise


@contextlib.asynccontextmanager
async def _progress(index: SearchIndex, cards: int) -> AsyncIterator[None]:
    before = len(index.stats.items)  # distinct items stored (``puts`` counts puts begun)

    async def tick() -> None:
        while True:
            await asyncio.sleep(PROGRESS_EVERY)
            _emit(Report(writing=cards, items=len(index.stats.items) - before))

    async with asyncio.TaskGroup() as tg:
        ticker = tg.create_task(tick())
        try:
            yield
        finally:
            ticker.cancel()


def _emit(report: Report) -> None:
    sys.stdout.buffer.write(report.line())
    sys.stdout.buffer.flush()


async def _until_stdin_closes() -> None:
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    while await reader.read(4096):
        pass


async def _main(path: Path, now: int, bootstrap: Sequence[Address]) -> int:
    cards, _, _ = parse_lines(await asyncio.to_thread(path.read_bytes), now)
    # The cards live until the end: out of the collector's sight, its full passes do not
    # walk 10^5 of them again and again (3.6% of this process's CPU on 8000 cards).
    gc.freeze()
    async with asyncio.TaskGroup() as tg:
        work = tg.create_task(import_catalogue(cards, bootstrap))
        watch = tg.create_task(_until_stdin_closes())
        await asyncio.wait({work, watch}, return_when=asyncio.FIRST_COMPLETED)
        if not work.done():
            work.cancel()  # the parent is gone
        watch.cancel()
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m swarmseek.api.demo_import")
    parser.add_argument("catalogue", type=Path)
    parser.add_argument("--now", type=int, required=True, help="creation time of undated cards")
    parser.add_argument("--bootstrap", type=_address, action="append", default=[])
    args = parser.parse_args(argv)
    try:
        return asyncio.run(_main(args.catalogue, args.now, args.bootstrap))
    except FAILURES as exc:  # reading the catalogue
        _emit(Report(error=str(exc)))
    except ExceptionGroup as group:  # from the import's TaskGroup
        failed, rest = group.split(FAILURES)
        if failed is None or rest is not None:
            raise
        _emit(Report(error="; ".join(str(exc) for exc in _leaves(failed))))
    return 1


def _leaves(group: BaseExceptionGroup[BaseException]) -> list[BaseException]:
    out: list[BaseException] = []
    for exc in group.exceptions:
        out += _leaves(exc) if isinstance(exc, BaseExceptionGroup) else [exc]
    return out


if __name__ == "__main__":
    sys.exit(main())
