"""Networks for tests/benchmarks/bench_dht.py: N libtorrent sessions in this process,
N swarmseek nodes over worker processes, and the timed get and read-modify-write of
each (what each returns: queries sent, latency, success, CPU seconds).
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import multiprocessing as mp
import os
import random
import statistics
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from multiprocessing.connection import Connection
from typing import Any

import libtorrent as lt

from swarmseek.discovery import DhtConfig, DhtNode, KeyPair, sign_item, update_mutable
from tests.support.clients import lt_expanded_secret, lt_session, wait_for_alert, wait_until
from tests.support.mixed_dht import LT_DHT

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


# The loopback DHT settings the mixed-network tests use, with the stats alerts a
# bench reads its query counters from.
LT_SETTINGS = {**LT_DHT, "alert_mask": lt.alert_category.dht | lt.alert_category.stats}


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


async def our_rmw(node: DhtNode, salt: bytes) -> tuple[int, float, bool, float]:
    before = node.core.queries_sent
    cpu, start = time.process_time(), time.perf_counter()
    item = await update_mutable(node, KEYS, salt, lambda old: old + b"+")
    latency, cpu = time.perf_counter() - start, time.process_time() - cpu
    await settle(node)
    ok = item is not None and isinstance(item.value, bytes) and item.value.endswith(b"+")
    return node.core.queries_sent - before, latency, ok, cpu


def lt_rmw(session: Any, salt: bytes) -> tuple[int, float, bool, float]:
    names = ("dht.dht_get_out", "dht.dht_put_out")
    before = sum(lt_counter(session, name) for name in names)
    secret = lt_expanded_secret(KEYS.seed)
    cpu, start = time.process_time(), time.perf_counter()
    session.dht_put_mutable_item(secret, KEYS.public_key, b"x", salt)

    def put(alert: Any) -> Any:
        return ("n", alert.num_success) if isinstance(alert, lt.dht_put_alert) else None

    stored = wait_for_alert(session, put, 60)[1]
    latency, cpu = time.perf_counter() - start, time.process_time() - cpu
    return sum(lt_counter(session, n) for n in names) - before, latency, stored > 0, cpu


# ------------------------------------------------------- ours over several processes
def _worker(conn: Connection, n: int, seed: int, loop: str) -> None:
    if loop == "uvloop":
        import uvloop  # noqa: PLC0415 - optional, only for this kind

        uvloop.run(_worker_main(conn, n, seed))
    else:
        asyncio.run(_worker_main(conn, n, seed))


async def _recv(conn: Connection) -> Any:
    """The parent's next command, read when the pipe is readable: no thread waits on it,
    so the nodes' loop is this process's only thread, as in a node of its own."""
    loop = asyncio.get_running_loop()
    ready = loop.create_future()
    loop.add_reader(conn.fileno(), lambda: ready.done() or ready.set_result(None))
    try:
        await ready
    finally:
        loop.remove_reader(conn.fileno())
    return conn.recv()


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
            command, *args = await _recv(conn)
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
def worker_network(
    n: int,
    workers: int,
    loop: str = "asyncio",
    cpus: set[int] | None = None,
    others: list[Address] | None = None,
    addresses: list[Address] | None = None,
) -> Iterator[list[Connection]]:
    """N/WORKERS nodes on each of WORKERS processes, bootstrapped into one network;
    ``loop`` "uvloop" runs each process's nodes on uvloop instead of asyncio's loop;
    ``cpus``: the processes run on those CPUs only; ``others``: nodes of another kind
    (libtorrent's) each node may also bootstrap from, making one mixed network;
    ``addresses``, when given, receives our nodes' addresses."""
    ctx = mp.get_context("spawn")
    conns, procs = [], []
    for w in range(workers):
        parent, child = ctx.Pipe()
        proc = ctx.Process(target=_worker, args=(child, n // workers, SEED + w, loop), daemon=True)
        proc.start()
        if cpus is not None:
            os.sched_setaffinity(proc.pid, cpus)
        conns.append(parent)
        procs.append(proc)
    try:
        ours = [addr for conn in conns for addr in conn.recv()]
        if addresses is not None:
            addresses.extend(ours)
        everyone = ours + list(others or ())
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


class LtNet:
    """N libtorrent sessions in this process (their DHTs on their own threads); with
    ``cpus``, every thread of theirs runs on those CPUs only."""

    def __init__(self, n: int, rng: random.Random, cpus: set[int] | None = None) -> None:
        self.n = n
        if cpus is None:
            self.sessions = lt_network(n, rng)
            return
        # A thread's affinity passes to the threads it starts: sessions made on a
        # pinned thread keep all their threads (network, disk, DHT) on ``cpus``.
        made: list[list[Any]] = []

        def build() -> None:
            os.sched_setaffinity(0, cpus)
            made.append(lt_network(n, rng))

        thread = threading.Thread(target=build)
        thread.start()
        thread.join()
        self.sessions = made[0]

    def put(self, i: int, value: bytes) -> bytes:
        return bytes.fromhex(str(lt_put(self.sessions[i], value)))

    def get(self, i: int, target: bytes, value: bytes) -> tuple[int, float, bool, float]:
        return lt_get(self.sessions[i], lt.sha1_hash(target), value)

    def close(self) -> None:
        for session in self.sessions:
            session.pause()


class OurNet:
    """N swarmseek nodes over ``workers`` processes (1: the whole network on one loop)."""

    def __init__(
        self,
        n: int,
        workers: int,
        stack: contextlib.ExitStack,
        loop: str,
        cpus: set[int] | None = None,
        others: list[Address] | None = None,
    ) -> None:
        self.n, self.per = n, n // workers
        self.addresses: list[Address] = []
        network = worker_network(n, workers, loop, cpus, others, self.addresses)
        self.conns = stack.enter_context(network)

    def _ask(self, i: int, *command: object) -> Any:
        conn = self.conns[i // self.per]
        conn.send((command[0], i % self.per, *command[1:]))
        return conn.recv()

    def put(self, i: int, value: bytes) -> bytes:
        return bytes(self._ask(i, "put", value))

    def get(self, i: int, target: bytes, value: bytes) -> tuple[int, float, bool, float]:
        return tuple(self._ask(i, "get", target, value))  # type: ignore[return-value]
