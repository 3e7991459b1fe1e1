"""Import cost by batch schedule: DHT gets, puts and items per card, and CPU.

Run: python tests/benchmarks/bench_import.py [--cards 63664] [--chunk 2000]
         [--schedules one,chunks,demo] [--nodes 0]

Cards are the real Debian catalogue (data/catalogue/debian-bookworm.jsonl.gz) parsed as
``swarmseek import`` parses it. Schedules: ``one`` publishes every card in one batch
(``swarmseek import`` over the API); ``chunks`` in batches of ``--chunk`` (what the
demo did until now); ``demo`` in two (the first ``--chunk`` cards, then the rest; what
``swarmseek demo`` does now). A PHT leaf is written once per batch with entries for it,
so the schedule sets how often each leaf is rewritten. The reference is the one-batch
schedule in the same run: the least writes the index can make.

With ``--nodes 0`` the index is built in a ``MemoryItemStore`` (the real PHT code,
counts exact and independent of the machine's load); with ``--nodes N`` through a
loopback DHT of N nodes in this process (rate and CPU then include the storing nodes).
"""

from __future__ import annotations

import argparse
import asyncio
import gzip
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from swarmseek.api.import_lines import parse_lines  # noqa: E402
from swarmseek.discovery import MemoryItemStore  # noqa: E402
from swarmseek.index import Card, IndexConfig, SearchIndex  # noqa: E402
from tests.benchmarks.bench_search import network  # noqa: E402

CATALOGUE = ROOT / "data" / "catalogue" / "debian-bookworm.jsonl.gz"
CONFIG = IndexConfig(name_lsh=None)  # as the node runs it (NodeConfig.name_similarity)


def batches(cards: list[Card], schedule: str, chunk: int) -> list[list[Card]]:
    if schedule == "one":
        return [cards]
    if schedule == "chunks":
        return [cards[i : i + chunk] for i in range(0, len(cards), chunk)]
    return [part for part in (cards[:chunk], cards[chunk:]) if part]


async def run(cards: list[Card], schedule: str, chunk: int, nodes: int) -> None:
    memory = MemoryItemStore()
    stack = None
    if nodes:
        stack, dht = await network(nodes)
        index = SearchIndex(dht[0], config=CONFIG)
    else:
        index = SearchIndex(memory, config=CONFIG)
    parts = batches(cards, schedule, chunk)
    wall, cpu = time.perf_counter(), time.process_time()
    for part in parts:
        await index.publish(part)
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    if stack is not None:
        await stack.aclose()
    n, stats = len(cards), index.stats
    print(
        f"{schedule:7} {len(parts):4} batches  {stats.puts / n:5.2f} puts/card"
        f"  {stats.gets / n:5.2f} gets/card  {len(stats.items) / n:5.2f} items/card"
        f"  {n / wall:7.0f} cards/s  {cpu / n * 1000:6.2f} CPU s/1000 cards"
        f"  load {os.getloadavg()[0]:.1f}"
    )


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--cards", type=int, default=63_664)
    parser.add_argument("--chunk", type=int, default=2000)
    parser.add_argument("--schedules", default="one,chunks,demo")
    parser.add_argument("--nodes", type=int, default=0)
    args = parser.parse_args()
    with gzip.open(CATALOGUE) as f:
        cards, _, _ = parse_lines(f.read(), 1_700_000_000)
    cards = cards[: args.cards]
    where = f"a {args.nodes}-node loopback DHT" if args.nodes else "a MemoryItemStore"
    print(f"# bench_import: {len(cards)} real cards into {where}, cpu_count={os.cpu_count()}")
    for schedule in args.schedules.split(","):
        await run(cards, schedule, args.chunk, args.nodes)


if __name__ == "__main__":
    asyncio.run(main())
