"""BEP 44 immutable get on a loopback DHT of N nodes, swarmseek vs libtorrent.

Each node is bootstrapped from 8 random others. ITEMS values are put from random
nodes, then each is fetched (one get at a time) from a random node that did not put
it. Reported per N: queries sent per lookup (mean, max), p50/p90 latency, success.

    python tests/benchmarks/bench_dht.py [N ...]     (default: 100 300 1000)

libtorrent runs one session (with its own threads) per node; above LT_MAX_N nodes
(default 300, env SWARMSEEK_BENCH_LT_MAX_N) only swarmseek is measured.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import statistics
import sys
import time
from dataclasses import dataclass
from typing import Any

import libtorrent as lt

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", ".."))

from swarmseek.discovery import DhtConfig, DhtNode
from tests.support.clients import lt_session, wait_for_alert, wait_until

ITEMS = 30
SEED = 1


@dataclass
class Figures:
    queries: list[int]
    latencies: list[float]
    hits: int

    def line(self, name: str) -> str:
        q = self.queries
        lat = sorted(self.latencies)
        p50 = statistics.median(lat) * 1000
        p90 = lat[int(len(lat) * 0.9) - 1] * 1000
        return (
            f"{name:11s} queries/lookup mean {statistics.mean(q):5.1f} max {max(q):3d}  "
            f"p50 {p50:7.2f} ms  p90 {p90:7.2f} ms  success {self.hits}/{len(q)}"
        )


async def bench_ours(n: int) -> Figures:
    rng = random.Random(SEED)
    async with contextlib.AsyncExitStack() as stack:
        nodes = []
        for i in range(n):
            config = DhtConfig(
                host="127.0.0.1", rate_limit=1e6, rate_burst=1e6, node_id=rng.randbytes(20)
            )
            nodes.append(await stack.enter_async_context(DhtNode(config, rng=random.Random(i))))
        addrs = [node.address for node in nodes]
        await asyncio.gather(
            *(
                node.bootstrap(rng.sample([a for a in addrs if a != node.address], 8))
                for node in nodes
            )
        )
        values = [f"benchmark item {i}".encode() for i in range(ITEMS)]
        putters = [rng.randrange(n) for _ in values]
        targets = [await nodes[p].put_immutable(v) for p, v in zip(putters, values, strict=True)]
        figures = Figures([], [], 0)
        for target, value, putter in zip(targets, values, putters, strict=True):
            getter = nodes[rng.choice([i for i in range(n) if i != putter])]
            before = getter.core.queries_sent
            start = time.perf_counter()
            got = await getter.get_immutable(target)
            figures.latencies.append(time.perf_counter() - start)
            figures.queries.append(getter.core.queries_sent - before)
            figures.hits += got == value
        return figures


LT_SETTINGS = {
    "enable_dht": True,
    "dht_restrict_routing_ips": False,
    "dht_restrict_search_ips": False,
    "dht_enforce_node_id": False,
    "dht_ignore_dark_internet": False,
    "dht_block_ratelimit": 1_000_000,
    "dht_upload_rate_limit": 100_000_000,
    "alert_mask": lt.alert_category.dht | lt.alert_category.stats,
}


def lt_counter(session: Any, name: str) -> int:
    session.post_session_stats()

    def stats(alert: Any) -> Any:
        if isinstance(alert, lt.session_stats_alert):
            return ("v", alert.values[name])
        return None

    return int(wait_for_alert(session, stats)[1])


def bench_libtorrent(n: int) -> Figures:
    rng = random.Random(SEED)
    sessions = [lt_session(**LT_SETTINGS) for _ in range(n)]
    try:
        ports = [s.listen_port() for s in sessions]
        for i, session in enumerate(sessions):
            for j in rng.sample([j for j in range(n) if j != i], 8):
                session.add_dht_node(("127.0.0.1", ports[j]))
        for session in sessions:  # wait until each knows at least k nodes
            wait_until(lambda s=session: lt_counter(s, "dht.dht_nodes") >= 8, session, 120)
        values = [f"benchmark item {i}".encode() for i in range(ITEMS)]
        putters = [rng.randrange(n) for _ in values]
        targets = []
        for putter, value in zip(putters, values, strict=True):
            session = sessions[putter]
            targets.append(session.dht_put_immutable_item(value))
            wait_for_alert(session, lambda a: isinstance(a, lt.dht_put_alert), 60)
        figures = Figures([], [], 0)
        for target, value, putter in zip(targets, values, putters, strict=True):
            getter = sessions[rng.choice([i for i in range(n) if i != putter])]
            before = lt_counter(getter, "dht.dht_get_out")
            start = time.perf_counter()
            getter.dht_get_immutable_item(target)

            def item(alert: Any) -> Any:
                if isinstance(alert, lt.dht_immutable_item_alert):
                    return ("item", alert.item)
                return None

            got = wait_for_alert(getter, item, 60)[1]
            figures.latencies.append(time.perf_counter() - start)
            figures.queries.append(lt_counter(getter, "dht.dht_get_out") - before)
            figures.hits += got == value
        return figures
    finally:
        for session in sessions:
            session.pause()


def main() -> None:
    sizes = [int(a) for a in sys.argv[1:]] or [100, 300, 1000]
    lt_max = int(os.environ.get("SWARMSEEK_BENCH_LT_MAX_N", "300"))
    print(f"BEP 44 immutable get, loopback, {ITEMS} items; os.cpu_count() = {os.cpu_count()}")
    for n in sizes:
        ours = asyncio.run(bench_ours(n))
        print(f"N = {n}")
        print("  " + ours.line("swarmseek"))
        if n > lt_max:
            print(f"  libtorrent not run above N = {lt_max}")
            continue
        theirs = bench_libtorrent(n)
        print("  " + theirs.line("libtorrent"))
        ratio_q = statistics.mean(ours.queries) / max(statistics.mean(theirs.queries), 1e-9)
        ratio_t = statistics.median(ours.latencies) / statistics.median(theirs.latencies)
        print(f"  ratio ours/libtorrent: queries {ratio_q:.2f}, p50 latency {ratio_t:.2f}")


if __name__ == "__main__":
    main()
