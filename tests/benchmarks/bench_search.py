"""Search as a node does it, over a loopback DHT of real nodes: latency, gets, import rate.

Run: python tests/benchmarks/bench_search.py [--nodes 100] [--cards 10000] [--queries 100]

Cards are the first lines of data/catalogue/debian-bookworm.jsonl.gz, imported through
one node's batched publish; queries go through another node's ``SearchIndex`` whose
catalogue starts empty (so every card is fetched from the DHT: cold) and then again
(cards known locally: warm). Reference, measured in the same run on the same lines:
a brute-force scan of the lines in memory, and recall against it (must be 1.0).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gzip
import json
import os
import random
import statistics
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from swarmseek.api.node import _enlarge_buffers  # noqa: E402
from swarmseek.discovery import DhtConfig, DhtError, DhtNode  # noqa: E402
from swarmseek.index import Card, IndexConfig, Query, SearchIndex, normalise  # noqa: E402

CATALOGUE = ROOT / "data" / "catalogue" / "debian-bookworm.jsonl.gz"
CONFIG = IndexConfig(name_lsh=None)
HEADER = "kind     phase  n    p50 ms  p95 ms  brute p50 ms  ratio  rounds/lookup  gets/query"
HEADER += "  recall"  # as the node runs it (NodeConfig.name_similarity)


def load(n: int) -> list[dict[str, Any]]:
    out = []
    with gzip.open(CATALOGUE, "rt", encoding="utf-8") as f:
        for line in f:
            out.append(json.loads(line))
            if len(out) >= n:
                break
    return out


def brute(lines: list[dict[str, Any]], q: Query) -> set[str]:
    found = set()
    for line in lines:
        words = set(normalise(line["name"]))
        if not set(q.terms) <= words:
            continue
        if q.prefix and not any(w.startswith(q.prefix) for w in words):
            continue
        if q.min_size is not None and line["size"] < q.min_size:
            continue
        if q.max_size is not None and line["size"] > q.max_size:
            continue
        found.add(line["infohash"])
    return found


def queries(lines: list[dict[str, Any]], n: int, rng: random.Random) -> dict[str, list[Query]]:
    counts = Counter(t for line in lines for t in set(normalise(line["name"])))
    terms = sorted(t for t, c in counts.items() if 1 <= c <= 50 and len(t) >= 3)
    prefixes = sorted({t[:4] for t in terms if sum(1 for u in terms if u.startswith(t[:4])) <= 20})
    sizes = sorted(line["size"] for line in lines)
    ranges = []
    for _ in range(n):
        i = rng.randrange(len(sizes) - 10)
        ranges.append(Query(min_size=sizes[i], max_size=sizes[i + 9], limit=1000))
    return {
        "keyword": [Query((t,), limit=1000) for t in rng.sample(terms, min(n, len(terms)))],
        "prefix": [
            Query(prefix=p, limit=1000) for p in rng.sample(prefixes, min(n, len(prefixes)))
        ],
        "range": ranges,
    }


async def network(n: int) -> tuple[contextlib.AsyncExitStack, list[DhtNode]]:
    rng = random.Random(1)
    stack = contextlib.AsyncExitStack()
    nodes: list[DhtNode] = []
    for i in range(n):
        boot = tuple(x.address for x in rng.sample(nodes, min(8, len(nodes))))
        config = DhtConfig(
            host="127.0.0.1",
            bootstrap=boot,
            rate_limit=1e6,
            rate_burst=1e6,
            max_items=10**6,
            query_timeout=5.0,  # 100 nodes share one loaded process
        )
        nodes.append(await stack.enter_async_context(DhtNode(config, rng=random.Random(i))))
        _enlarge_buffers(nodes[-1])
    await asyncio.gather(*(x.bootstrap() for x in nodes))
    await asyncio.gather(*(x.find_node(x.node_id) for x in nodes))
    return stack, nodes


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(p * len(ordered)))]


async def run_queries(
    index: SearchIndex, lines: list[dict[str, Any]], qs: list[Query]
) -> tuple[list[float], list[float], list[int], float, list[float]]:
    times, brute_times, rounds, recall_hits, gets = [], [], [], 0, []
    for q in qs:
        lookups0, rounds0 = index.counters.lookups, index.counters.lookup_gets
        gets0 = index.stats.gets
        t = time.perf_counter()
        page = await index.search(q)
        times.append((time.perf_counter() - t) * 1000)
        t = time.perf_counter()
        expected = brute(lines, q)
        brute_times.append((time.perf_counter() - t) * 1000)
        got = {r.infohash.hex() for r in page.results}
        recall_hits += got == expected
        done = index.counters.lookups - lookups0
        rounds.append((index.counters.lookup_gets - rounds0) // max(done, 1))
        gets.append(index.stats.gets - gets0)
    return times, brute_times, rounds, recall_hits / max(len(qs), 1), gets


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--nodes", type=int, default=100)
    parser.add_argument("--cards", type=int, default=10_000)
    parser.add_argument("--queries", type=int, default=100)
    args = parser.parse_args()
    print(f"# bench_search: {args.nodes} nodes, {args.cards} cards, cpu_count={os.cpu_count()}")
    lines = load(args.cards)
    cards = [
        Card.create(bytes.fromhex(x["infohash"]), x["name"], x["size"], x.get("files", 1), 0)
        for x in lines
    ]
    stack, nodes = await network(args.nodes)
    async with stack:
        importer = SearchIndex(nodes[0], config=CONFIG)
        t, cpu = time.perf_counter(), time.process_time()
        retries = 0
        for first in range(0, len(cards), 1000):
            for attempt in range(3):  # as Node._publish_batch: idempotent, retried
                try:
                    await importer.publish(cards[first : first + 1000])
                    break
                except DhtError:
                    retries += 1
                    if attempt == 2:
                        raise
        wall, cpu = time.perf_counter() - t, time.process_time() - cpu
        stats = importer.stats
        print(
            f"import: {len(cards)} cards in {wall:.1f} s = {len(cards) / wall:.0f} cards/s"
            f" (process CPU {cpu:.1f} s: {len(cards) / cpu:.0f} cards per CPU second;"
            f" all {args.nodes} nodes share this process), {stats.puts_per_card:.2f} puts/card,"
            f" {stats.items_per_card:.2f} items/card, {retries} batches retried"
        )
        rng = random.Random(2)
        sets = queries(lines, args.queries, rng)
        reader = SearchIndex(nodes[len(nodes) // 2], config=CONFIG)
        print(HEADER)
        for kind, qs in sets.items():
            for phase in ("cold", "warm"):
                times, brutes, rounds, recall, gets = await run_queries(reader, lines, qs)
                p50, b50 = statistics.median(times), statistics.median(brutes)
                print(
                    f"{kind:8} {phase:5}  {len(qs):<4} {p50:7.1f} {pct(times, 0.95):7.1f}"
                    f"  {b50:12.2f} {p50 / b50:6.0f}x  {statistics.mean(rounds):13.2f}"
                    f"  {statistics.mean(gets):10.1f}  {recall:.3f}"
                )
        pht = reader.counters
        print(f"reader PHT: {pht.lookups} lookups, max {pht.lookup_gets_max} sequential rounds")


if __name__ == "__main__":
    asyncio.run(main())
