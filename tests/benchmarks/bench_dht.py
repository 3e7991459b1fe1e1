"""BEP 44 immutable get on a loopback DHT of N nodes: swarmseek against libtorrent.

Each node is bootstrapped from 8 random others. ITEMS values (env SWARMSEEK_BENCH_ITEMS,
default 30) are put from random nodes, then each is fetched (one get at a time) from a
random node that did not put it. Reported per lookup: queries the getter sent (mean,
max), latency p50/p95 (wall clock from the call to the answer), success.

For each N, in the same run and on the same kind of network:
- libtorrent: N sessions, each running its DHT on its own C++ threads (N <= LT_MAX_N,
  default 1000, env SWARMSEEK_BENCH_LT_MAX_N);
- swarmseek 1 loop: N nodes on one asyncio loop (the whole network on one core);
- swarmseek over WORKERS processes (default 2, env SWARMSEEK_BENCH_WORKERS), N/WORKERS
  nodes on each process's loop: the fair match for libtorrent's threads on 2 cores.
Then each one's growth with N against log2 N, whether the target (ours needs no more
queries and no more time than libtorrent, success 100%) is met at each N, and mixed
networks (N <= MIXED_MAX_N, default 300, env SWARMSEEK_BENCH_MIXED_MAX_N): N/2
libtorrent sessions and N/2 swarmseek nodes in one DHT, the same items fetched by a
node of each kind.

Then BEP 44 read-modify-writes (N <= RMW_MAX_N, default 300, env
SWARMSEEK_BENCH_RMW_MAX_N; RMW of them per kind, env SWARMSEEK_BENCH_RMW, default 30):
ours is ``update_mutable`` (a mutable get, then a put with cas) from nodes that reuse the
get's write tokens for the put and, on the same network, from nodes that do not
(``token_reuse=0``: a second lookup for the put, as before), both with the whole
network on one loop, and (reusing) over WORKERS processes, where the k storing nodes'
signature checks run on both cores as libtorrent's do on its threads; libtorrent's is
``dht_put_mutable_item``, which gets the item and puts it in one traversal.

    python tests/benchmarks/bench_dht.py [N ...]     (default: 100 300 1000)
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import itertools
import math
import multiprocessing as mp
import os
import random
import statistics
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from multiprocessing.connection import Connection
from typing import Any

import libtorrent as lt

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", ".."))

from swarmseek.discovery import DhtConfig, DhtNode, KeyPair, sign_item, update_mutable
from tests.support.clients import lt_session, wait_for_alert, wait_until

ITEMS = int(os.environ.get("SWARMSEEK_BENCH_ITEMS", "30"))
RMW = int(os.environ.get("SWARMSEEK_BENCH_RMW", "30"))
KEYS = KeyPair.from_seed(bytes(range(32)))
SEED = 1
Address = tuple[str, int]


@dataclass
class Figures:
    queries: list[int] = field(default_factory=list)
    latencies: list[float] = field(default_factory=list)
    cpu: list[float] = field(default_factory=list)  # process CPU seconds per lookup
    hits: int = 0
    whole_network_cpu: bool = True  # False: the process holds only part of the network

    def add(self, queries: int, latency: float, hit: bool, cpu: float) -> None:
        self.queries.append(queries)
        self.latencies.append(latency)
        self.cpu.append(cpu)
        self.hits += hit

    def pct(self, p: float) -> float:
        lat = sorted(self.latencies)
        return lat[max(0, math.ceil(len(lat) * p) - 1)] * 1000

    @property
    def p50(self) -> float:
        return statistics.median(self.latencies) * 1000

    @property
    def cpu50(self) -> float:
        return statistics.median(self.cpu) * 1000

    @property
    def mean_queries(self) -> float:
        return statistics.mean(self.queries)

    def line(self, name: str) -> str:
        cpu = f"{self.cpu50:5.2f} ms" if self.whole_network_cpu else "    n/a "
        return (
            f"{name:17s} queries mean {self.mean_queries:4.1f} max {max(self.queries):2d}"
            f"  p50 {self.p50:5.2f} ms  p95 {self.pct(0.95):5.2f} ms  cpu p50 {cpu}"
            f"  success {self.hits}/{len(self.queries)}"
        )


def values() -> list[bytes]:
    return [f"benchmark item {i}".encode() for i in range(ITEMS)]


def our_config(node_id: bytes) -> DhtConfig:
    return DhtConfig(host="127.0.0.1", rate_limit=1e6, rate_burst=1e6, node_id=node_id)


async def our_get(node: DhtNode, target: bytes, value: bytes) -> tuple[int, float, bool, float]:
    before = node.core.queries_sent
    cpu, start = time.process_time(), time.perf_counter()
    got = await node.get_immutable(target)
    latency, cpu = time.perf_counter() - start, time.process_time() - cpu
    await settle(node)
    return node.core.queries_sent - before, latency, got == value, cpu


async def settle(node: DhtNode) -> None:
    """Let the answers still in flight for a finished lookup come in before the next
    one starts (an immutable get returns on its first value, while up to alpha - 1 other
    queries are out): with the whole network on one loop, their handling would otherwise
    land inside the next lookup's figures. libtorrent handles them on its own threads.
    Bounded: a lost answer only waits for its timeout."""
    for _ in range(10_000):
        if node.stats().pending_queries == 0:
            return
        await asyncio.sleep(0)


# ------------------------------------------------------------------ pure networks
async def our_network(
    n: int, rng: random.Random, stack: contextlib.AsyncExitStack, reuse_tokens: bool = True
) -> list[DhtNode]:
    """N nodes on this loop, each bootstrapped from 8 random others. Without
    ``reuse_tokens``, the even nodes put without reusing a get's tokens."""
    nodes = []
    for i in range(n):
        config = our_config(rng.randbytes(20))
        if not reuse_tokens and i % 2 == 0:
            config = replace(config, token_reuse=0.0)
        nodes.append(await stack.enter_async_context(DhtNode(config, rng=random.Random(i))))
    addrs = [node.address for node in nodes]
    await asyncio.gather(
        *(node.bootstrap(rng.sample([a for a in addrs if a != node.address], 8)) for node in nodes)
    )
    return nodes


async def bench_ours(n: int) -> Figures:
    rng = random.Random(SEED)
    async with contextlib.AsyncExitStack() as stack:
        nodes = await our_network(n, rng, stack)
        putters = [rng.randrange(n) for _ in range(ITEMS)]
        targets = [await nodes[p].put_immutable(v) for p, v in zip(putters, values(), strict=True)]
        figures = Figures()
        for target, value, putter in zip(targets, values(), putters, strict=True):
            getter = nodes[rng.choice([i for i in range(n) if i != putter])]
            figures.add(*await our_get(getter, target, value))
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


def lt_wait_routing(sessions: list[Any]) -> None:
    for session in sessions:  # wait until each knows at least k nodes
        wait_until(lambda s=session: lt_counter(s, "dht.dht_nodes") >= 8, session, 120)


def lt_put(session: Any, value: bytes) -> Any:
    target = session.dht_put_immutable_item(value)
    wait_for_alert(session, lambda a: isinstance(a, lt.dht_put_alert), 60)
    return target


def lt_get(session: Any, target: Any, value: bytes) -> tuple[int, float, bool, float]:
    before = lt_counter(session, "dht.dht_get_out")
    cpu, start = time.process_time(), time.perf_counter()
    session.dht_get_immutable_item(target)

    def item(alert: Any) -> Any:
        if isinstance(alert, lt.dht_immutable_item_alert):
            return ("item", alert.item)
        return None

    got = wait_for_alert(session, item, 60)[1]
    latency, cpu = time.perf_counter() - start, time.process_time() - cpu
    return lt_counter(session, "dht.dht_get_out") - before, latency, got == value, cpu


def lt_network(n: int, rng: random.Random) -> list[Any]:
    sessions = [lt_session(**LT_SETTINGS) for _ in range(n)]
    ports = [s.listen_port() for s in sessions]
    for i, session in enumerate(sessions):
        for j in rng.sample([j for j in range(n) if j != i], 8):
            session.add_dht_node(("127.0.0.1", ports[j]))
    lt_wait_routing(sessions)
    return sessions


def bench_libtorrent(n: int) -> Figures:
    rng = random.Random(SEED)
    sessions = lt_network(n, rng)
    try:
        putters = [rng.randrange(n) for _ in range(ITEMS)]
        targets = [lt_put(sessions[p], v) for p, v in zip(putters, values(), strict=True)]
        figures = Figures()
        for target, value, putter in zip(targets, values(), putters, strict=True):
            getter = sessions[rng.choice([i for i in range(n) if i != putter])]
            figures.add(*lt_get(getter, target, value))
        return figures
    finally:
        for session in sessions:
            session.pause()


# ----------------------------------------------------------------- mixed networks
async def bench_mixed(n: int) -> tuple[Figures, Figures]:
    """N/2 libtorrent + N/2 ours; the same items fetched by each side. libtorrent's
    blocking waits run in a thread so our nodes keep answering meanwhile."""
    rng = random.Random(SEED)
    n_lt = n // 2
    sessions = [lt_session(**LT_SETTINGS) for _ in range(n_lt)]
    try:
        async with contextlib.AsyncExitStack() as stack:
            nodes = []
            for i in range(n - n_lt):
                config = our_config(rng.randbytes(20))
                node = DhtNode(config, rng=random.Random(i))
                nodes.append(await stack.enter_async_context(node))
            addrs: list[Address] = [("127.0.0.1", s.listen_port()) for s in sessions]
            addrs += [node.address for node in nodes]
            for i, session in enumerate(sessions):
                for addr in rng.sample([a for a in addrs if a != addrs[i]], 8):
                    session.add_dht_node(addr)
            await asyncio.gather(
                *(
                    node.bootstrap(rng.sample([a for a in addrs if a != node.address], 8))
                    for node in nodes
                )
            )
            await asyncio.to_thread(lt_wait_routing, sessions)
            targets = []
            for i, value in enumerate(values()):  # half put by each side
                if i % 2:
                    targets.append(await nodes[rng.randrange(len(nodes))].put_immutable(value))
                else:
                    session = sessions[rng.randrange(n_lt)]
                    sha = await asyncio.to_thread(lt_put, session, value)
                    targets.append(bytes.fromhex(str(sha)))
            ours, theirs = Figures(whole_network_cpu=False), Figures(whole_network_cpu=False)
            for target, value in zip(targets, values(), strict=True):
                ours.add(*await our_get(rng.choice(nodes), target, value))
                session = rng.choice(sessions)
                theirs.add(*await asyncio.to_thread(lt_get, session, lt.sha1_hash(target), value))
            return ours, theirs
    finally:
        for session in sessions:
            session.pause()


# ------------------------------------------------------------ read-modify-writes
async def our_rmw(node: DhtNode, salt: bytes) -> tuple[int, float, bool, float]:
    before = node.core.queries_sent
    cpu, start = time.process_time(), time.perf_counter()
    item = await update_mutable(node, KEYS, salt, lambda old: old + b"+")
    latency, cpu = time.perf_counter() - start, time.process_time() - cpu
    await settle(node)
    ok = item is not None and isinstance(item.value, bytes) and item.value.endswith(b"+")
    return node.core.queries_sent - before, latency, ok, cpu


async def bench_rmw_ours(n: int) -> tuple[Figures, Figures]:
    """One network: odd nodes reuse a get's tokens for the put, even ones do not."""
    rng = random.Random(SEED)
    async with contextlib.AsyncExitStack() as stack:
        nodes = await our_network(n, rng, stack, reuse_tokens=False)
        salts = [b"rmw %d" % i for i in range(RMW)]
        for salt in salts:
            await rng.choice(nodes).put_mutable(sign_item(KEYS, b"0", 1, salt))
        reuse, fresh = Figures(), Figures()
        for salt in salts:  # each item updated once by a writer of each kind, in turn
            reuse.add(*await our_rmw(rng.choice(nodes[1::2]), salt))
            fresh.add(*await our_rmw(rng.choice(nodes[0::2]), salt))
        return reuse, fresh


def lt_rmw(session: Any, salt: bytes) -> tuple[int, float, bool, float]:
    names = ("dht.dht_get_out", "dht.dht_put_out")
    before = sum(lt_counter(session, name) for name in names)
    secret = lt_secret(KEYS.seed)
    cpu, start = time.process_time(), time.perf_counter()
    session.dht_put_mutable_item(secret, KEYS.public_key, b"x", salt)

    def put(alert: Any) -> Any:
        return ("n", alert.num_success) if isinstance(alert, lt.dht_put_alert) else None

    stored = wait_for_alert(session, put, 60)[1]
    latency, cpu = time.perf_counter() - start, time.process_time() - cpu
    return sum(lt_counter(session, n) for n in names) - before, latency, stored > 0, cpu


def lt_secret(seed: bytes) -> bytes:
    """libtorrent's 64-byte expanded ed25519 key (LIBTORRENT_NOTES.md)."""
    h = bytearray(hashlib.sha512(seed).digest())
    h[0] &= 248
    h[31] &= 63
    h[31] |= 64
    return bytes(h)


def bench_rmw_libtorrent(n: int) -> Figures:
    rng = random.Random(SEED)
    sessions = lt_network(n, rng)
    try:
        salts = [b"rmw %d" % i for i in range(RMW)]
        for salt in salts:
            lt_rmw(rng.choice(sessions), salt)  # the first write
        figures = Figures()
        for salt in salts:
            figures.add(*lt_rmw(rng.choice(sessions), salt))
        return figures
    finally:
        for session in sessions:
            session.pause()


# ------------------------------------------------------- ours over several processes
def _worker(conn: Connection, n: int, seed: int) -> None:
    asyncio.run(_worker_main(conn, n, seed))


async def _worker_main(conn: Connection, n: int, seed: int) -> None:
    """Run ``n`` nodes on this process's loop and obey the parent's commands."""
    rng = random.Random(seed)
    async with contextlib.AsyncExitStack() as stack:
        nodes = []
        for i in range(n):
            node = DhtNode(our_config(rng.randbytes(20)), rng=random.Random(seed * 100_000 + i))
            nodes.append(await stack.enter_async_context(node))
        conn.send([node.address for node in nodes])
        while True:
            command, *args = await asyncio.to_thread(conn.recv)
            if command == "bootstrap":
                everyone: list[Address] = args[0]
                await asyncio.gather(
                    *(
                        node.bootstrap(rng.sample([a for a in everyone if a != node.address], 8))
                        for node in nodes
                    )
                )
                conn.send("ok")
            elif command == "put":
                conn.send(await nodes[args[0]].put_immutable(args[1]))
            elif command == "get":
                conn.send(await our_get(nodes[args[0]], args[1], args[2]))
            elif command == "put_mutable":
                await nodes[args[0]].put_mutable(sign_item(KEYS, b"0", 1, args[1]))
                conn.send("ok")
            elif command == "rmw":
                conn.send(await our_rmw(nodes[args[0]], args[1]))
            else:
                return


@contextlib.contextmanager
def worker_network(n: int, workers: int) -> Iterator[list[Connection]]:
    """N/WORKERS nodes on each of WORKERS processes, bootstrapped into one network."""
    ctx = mp.get_context("spawn")
    conns, procs = [], []
    for w in range(workers):
        parent, child = ctx.Pipe()
        proc = ctx.Process(target=_worker, args=(child, n // workers, SEED + w), daemon=True)
        proc.start()
        conns.append(parent)
        procs.append(proc)
    try:
        everyone = [addr for conn in conns for addr in conn.recv()]
        for conn in conns:  # all workers bootstrap at once (each answers the others)
            conn.send(("bootstrap", everyone))
        for conn in conns:
            assert conn.recv() == "ok"
        yield conns
    finally:
        for conn in conns:
            conn.send(("stop",))
        for proc in procs:
            proc.join(30)


def bench_processes(n: int, workers: int) -> Figures:
    rng = random.Random(SEED)
    with worker_network(n, workers) as conns:
        per = n // workers
        figures = Figures(whole_network_cpu=False)
        placed = []
        for value in values():
            putter = rng.randrange(per * workers)
            conns[putter // per].send(("put", putter % per, value))
            placed.append((putter, conns[putter // per].recv(), value))
        for putter, target, value in placed:
            getter = rng.choice([i for i in range(per * workers) if i != putter])
            conns[getter // per].send(("get", getter % per, target, value))
            figures.add(*conns[getter // per].recv())
        return figures


def bench_rmw_processes(n: int, workers: int) -> Figures:
    """Read-modify-writes over WORKERS processes (every node reuses a get's tokens): the
    k storing nodes verify each put's signature on two cores, as libtorrent's do."""
    rng = random.Random(SEED)
    with worker_network(n, workers) as conns:
        per = n // workers
        salts = [b"rmw %d" % i for i in range(RMW)]
        for salt in salts:
            writer = rng.randrange(per * workers)
            conns[writer // per].send(("put_mutable", writer % per, salt))
            assert conns[writer // per].recv() == "ok"
        figures = Figures(whole_network_cpu=False)
        for salt in salts:
            writer = rng.randrange(per * workers)
            conns[writer // per].send(("rmw", writer % per, salt))
            figures.add(*conns[writer // per].recv())
        return figures


# ------------------------------------------------------------------------- report
def growth(rows: dict[int, Figures], name: str) -> None:
    """Growth from the smallest N, and queries added per doubling of N between
    consecutive sizes: constant per doubling is O(log N)."""
    sizes = sorted(rows)
    base = sizes[0]
    for prev, n in itertools.pairwise(sizes):
        log_growth = math.log2(n) / math.log2(base)
        p50 = rows[n].p50 / rows[base].p50
        queries = rows[n].mean_queries / rows[base].mean_queries
        per_doubling = (rows[n].mean_queries - rows[prev].mean_queries) / math.log2(n / prev)
        print(
            f"  {name:17s} N {base} -> {n}: p50 x{p50:.2f}, queries x{queries:.2f}"
            f"  (log2 N x{log_growth:.2f}, N x{n / base:.1f});"
            f" {per_doubling:+.2f} queries per doubling of N from {prev}"
        )


def ratios(ours: Figures, theirs: Figures) -> str:
    cpu = ""
    if ours.whole_network_cpu and theirs.whole_network_cpu:
        cpu = f"  cpu x{ours.cpu50 / max(theirs.cpu50, 1e-9):.2f}"
    return (
        f"queries x{ours.mean_queries / max(theirs.mean_queries, 1e-9):.2f}"
        f"  p50 x{ours.p50 / theirs.p50:.2f}  p95 x{ours.pct(0.95) / theirs.pct(0.95):.2f}{cpu}"
    )


def verdict(ours: Figures, theirs: Figures) -> str:
    fewer = ours.mean_queries <= theirs.mean_queries
    faster = ours.p50 <= theirs.p50
    whole = ours.hits == len(ours.queries)
    ok = "yes" if fewer and faster and whole else "NO"
    verdict = f"{ok} (queries {'<=' if fewer else '>'}, p50 {'<=' if faster else '>'}"
    if ours.whole_network_cpu and theirs.whole_network_cpu:
        verdict += f", cpu {'<=' if ours.cpu50 <= theirs.cpu50 else '>'}"
    return verdict + ")"


def main() -> None:
    if any(a.startswith("-") for a in sys.argv[1:]):
        print(__doc__)
        return
    sizes = [int(a) for a in sys.argv[1:]] or [100, 300, 1000]
    lt_max = int(os.environ.get("SWARMSEEK_BENCH_LT_MAX_N", "1000"))
    mixed_max = int(os.environ.get("SWARMSEEK_BENCH_MIXED_MAX_N", "300"))
    workers = int(os.environ.get("SWARMSEEK_BENCH_WORKERS", "2"))
    print(f"BEP 44 immutable get, loopback, {ITEMS} items per N; os.cpu_count() = {os.cpu_count()}")
    print(
        "Who runs where: libtorrent runs one session per node, each session's DHT on its\n"
        "own C++ threads, so the kernel spreads them over every core. 'swarmseek 1 loop'\n"
        "runs all N nodes on one asyncio loop in one process (one core: every datagram of\n"
        "the network is handled in turn)."
    )
    if workers > 1:
        print(
            f"'swarmseek {workers} procs' runs N/{workers} nodes in each of {workers} processes,"
            " one loop each:\nthe fair match for libtorrent's threads on this machine's cores."
        )
    print(
        "Latency is wall clock from the call to the answer. 'cpu' is the CPU time the\n"
        "process hosting the whole network (all libtorrent sessions' threads, or our one\n"
        "loop) spent per lookup: unlike latency it hardly moves when other programs load\n"
        "the machine. Load average now:"
        f" {os.getloadavg()[0]:.1f}."
    )
    lt_rows: dict[int, Figures] = {}
    one_rows: dict[int, Figures] = {}
    split_rows: dict[int, Figures] = {}
    for n in sizes:
        print(f"\nN = {n}")
        if n <= lt_max:
            lt_rows[n] = bench_libtorrent(n)
            print("  " + lt_rows[n].line("libtorrent"))
        one_rows[n] = asyncio.run(bench_ours(n))
        print("  " + one_rows[n].line("swarmseek 1 loop"))
        if workers > 1:
            split_rows[n] = bench_processes(n, workers)
            print("  " + split_rows[n].line(f"swarmseek {workers} procs"))
        if n in lt_rows:
            print(f"  ours/libtorrent, 1 loop:   {ratios(one_rows[n], lt_rows[n])}")
            if n in split_rows:
                print(f"  ours/libtorrent, {workers} procs:  {ratios(split_rows[n], lt_rows[n])}")
        else:
            print(f"  libtorrent not run above N = {lt_max} (SWARMSEEK_BENCH_LT_MAX_N)")

    print("\ngrowth:")
    growth(one_rows, "swarmseek 1 loop")
    if split_rows:
        growth(split_rows, f"swarmseek {workers} procs")
    if len(lt_rows) > 1:
        growth(lt_rows, "libtorrent")

    if lt_rows:
        print("\ntarget: no more queries and no more time (p50) than libtorrent, success 100%")
        for n, theirs in lt_rows.items():
            line = f"  N = {n:5d}:  1 loop {verdict(one_rows[n], theirs)}"
            if n in split_rows:
                line += f";  {workers} procs {verdict(split_rows[n], theirs)}"
            print(line)

    mixed = [n for n in sizes if n <= mixed_max]
    if mixed:
        print("\nmixed networks: N/2 libtorrent sessions + N/2 swarmseek nodes (one loop),")
        print("the same items fetched by a node of each kind")
    for n in mixed:
        ours, theirs = asyncio.run(bench_mixed(n))
        print(f"N = {n} ({n // 2} libtorrent + {n - n // 2} swarmseek)")
        print("  " + ours.line("swarmseek get"))
        print("  " + theirs.line("libtorrent get"))
        print(f"  ours/libtorrent: {ratios(ours, theirs)}")

    rmw_sizes = [n for n in sizes if n <= int(os.environ.get("SWARMSEEK_BENCH_RMW_MAX_N", "300"))]
    if rmw_sizes:
        print(f"\nread-modify-write of a mutable item, {RMW} per kind (queries: get + put sent)")
    for n in rmw_sizes:
        reuse, fresh = asyncio.run(bench_rmw_ours(n))
        print(f"N = {n}")
        if n <= lt_max:
            theirs = bench_rmw_libtorrent(n)
            print("  " + theirs.line("libtorrent put"))
        print("  " + reuse.line("ours, reuse"))
        print("  " + fresh.line("ours, no reuse"))
        split = bench_rmw_processes(n, workers) if workers > 1 else None
        if split is not None:
            print("  " + split.line(f"ours, {workers} procs"))
        print(f"  reuse/no reuse:   {ratios(reuse, fresh)}")
        if n <= lt_max:
            print(f"  reuse/libtorrent: {ratios(reuse, theirs)}")
            if split is not None:
                print(f"  {workers} procs/libtorrent: {ratios(split, theirs)}")


if __name__ == "__main__":
    main()
