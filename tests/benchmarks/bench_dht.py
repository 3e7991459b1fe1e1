"""BEP 44 immutable get on a loopback DHT of N nodes: swarmseek against libtorrent.

Each node is bootstrapped from 8 random others. ITEMS values (env SWARMSEEK_BENCH_ITEMS,
default 30) are put from random nodes, then each is fetched (one get at a time) from a
random node that did not put it. Reported per lookup: queries the getter sent (mean,
max), latency p50/p95 (wall clock from the call to the answer), success.

For each N, in the same run and on the same kind of network:
- libtorrent: N sessions, each running its DHT on its own C++ threads (N <= LT_MAX_N,
  default 1000, env SWARMSEEK_BENCH_LT_MAX_N);
- swarmseek 1 loop: N nodes on one asyncio loop in a process of their own (the whole
  network on one core);
- swarmseek over WORKERS processes (default 2, env SWARMSEEK_BENCH_WORKERS), N/WORKERS
  nodes on each process's loop: the fair match for libtorrent's threads on 2 cores;
- with SWARMSEEK_BENCH_UVLOOP=1, the same two on uvloop (an A/B of the event loop;
  uvloop must be installed);
- with SWARMSEEK_BENCH_ONE_CORE=1, a whole network on one core of each kind: libtorrent's
  sessions with every thread on CPU 0 against ours on one loop on CPU 1.
All of these networks are up at once and take turns, one get each, the order rotating
from item to item, so a busy moment on a shared machine falls on each kind alike. Each
get is started by a command from this process after a pause (env
SWARMSEEK_BENCH_PAUSE_MS, default 2) that lets the previous get's remaining queries be
answered, so every kind starts its lookups from the same settled, idle state (our
one-loop network used to run its gets back to back in a warm loop, which libtorrent's
sessions, polled for counters between gets, never did; and libtorrent's traversal,
which answers at the first value, left queries in flight into the next get).
Then each one's growth with N against log2 N, whether the target (ours needs no more
queries and no more time than libtorrent, success 100%) is met at each N, and mixed
networks (N <= MIXED_MAX_N, default 1000, env SWARMSEEK_BENCH_MIXED_MAX_N): N/2
libtorrent sessions and N/2 swarmseek nodes in one DHT, the same items fetched by a
node of each kind (SWARMSEEK_BENCH_MIXED_ONLY=1: only these).

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
import itertools
import math
import os
import random
import sys
import time

import libtorrent as lt

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", ".."))

from swarmseek.discovery import sign_item
from tests.support.clients import lt_session
from tests.support.dht_bench import (
    ITEMS,
    KEYS,
    LT_SETTINGS,
    RMW,
    SEED,
    Address,
    Figures,
    LtNet,
    OurNet,
    lt_get,
    lt_network,
    lt_put,
    lt_rmw,
    lt_wait_routing,
    our_network,
    our_rmw,
    values,
    worker_network,
)

# seconds between two gets (env SWARMSEEK_BENCH_PAUSE_MS, default 2): a tail of a
# get's queries takes a few hundred microseconds on loopback
PAUSE = float(os.environ.get("SWARMSEEK_BENCH_PAUSE_MS", "2")) / 1000


# With SWARMSEEK_BENCH_ONE_CORE=1, a whole network on one core of each kind as well:
# libtorrent's N sessions with every thread on CPU 0, ours on one loop on CPU 1 (same
# hardware each; the kinds above leave libtorrent's threads both cores).
ONE_CORE = os.environ.get("SWARMSEEK_BENCH_ONE_CORE") == "1"
LT_ONE_CORE = "libtorrent 1 core"
OURS_ONE_CORE = "swarmseek 1 core"


# ----------------------------------------------------------------- mixed networks
def bench_mixed(n: int) -> tuple[Figures, Figures]:
    """N/2 libtorrent sessions + N/2 of ours in one DHT, each bootstrapped from 8 random
    nodes of either kind; half the items put by each side, then every item fetched by a
    random node of each kind in turn (which goes first alternates), after the same pause.
    Measured as on the pure networks: libtorrent's sessions run in this process, ours on
    one loop in a process of their own, commanded over a pipe and timed inside it."""
    rng = random.Random(SEED)
    n_lt = n // 2
    sessions = [lt_session(**LT_SETTINGS) for _ in range(n_lt)]
    try:
        with contextlib.ExitStack() as stack:
            lt_addrs: list[Address] = [("127.0.0.1", s.listen_port()) for s in sessions]
            ours = OurNet(n - n_lt, 1, stack, "asyncio", others=lt_addrs)
            everyone = lt_addrs + ours.addresses
            for i, session in enumerate(sessions):
                for addr in rng.sample([a for a in everyone if a != lt_addrs[i]], 8):
                    session.add_dht_node(addr)
            lt_wait_routing(sessions)
            targets = []
            for i, value in enumerate(values()):  # half put by each side
                if i % 2:
                    targets.append(ours.put(rng.randrange(ours.n), value))
                else:
                    sha = lt_put(sessions[rng.randrange(n_lt)], value)
                    targets.append(bytes.fromhex(str(sha)))
            mine, theirs = Figures(whole_network_cpu=False), Figures(whole_network_cpu=False)
            for i, (target, value) in enumerate(zip(targets, values(), strict=True)):
                getter, session = rng.randrange(ours.n), rng.choice(sessions)
                for kind in ("ours", "lt") if i % 2 else ("lt", "ours"):
                    time.sleep(PAUSE)  # the previous get's tail of queries ends first
                    if kind == "ours":
                        mine.add(*ours.get(getter, target, value))
                    else:
                        theirs.add(*lt_get(session, lt.sha1_hash(target), value))
            return mine, theirs
    finally:
        for session in sessions:
            session.pause()


# ------------------------------------------------------------ read-modify-writes
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


def bench_get(n: int, kinds: dict[str, tuple[int, str]], lt_max: int) -> dict[str, Figures]:
    """Every kind's network built at once, the same values put in each, then each item
    fetched by every kind in turn, the order rotating from one item to the next: load
    from other programs on a shared machine then falls on every kind alike (run one
    after the other, a kind could meet a busy minute the others missed).
    ``kinds``: name -> (worker processes, event loop); libtorrent joins when N <= lt_max."""
    rng = random.Random(SEED)
    nets: dict[str, LtNet | OurNet] = {}
    with contextlib.ExitStack() as stack:
        if n <= lt_max:
            nets["libtorrent"] = lt_net = LtNet(n, rng)
            stack.callback(lt_net.close)
            if ONE_CORE:
                nets[LT_ONE_CORE] = lt_pinned = LtNet(n, rng, {0})
                stack.callback(lt_pinned.close)
        for name, (workers, loop) in kinds.items():
            nets[name] = OurNet(n, workers, stack, loop, {1} if name == OURS_ONE_CORE else None)
        putters = [rng.randrange(n) for _ in range(ITEMS)]
        getters = [rng.choice([i for i in range(n) if i != p]) for p in putters]
        # cpu per lookup is the whole network's only where one process holds all of it
        figures = {
            name: Figures(whole_network_cpu=isinstance(net, LtNet) or net.per == n)
            for name, net in nets.items()
        }
        targets = {
            name: [net.put(p, v) for p, v in zip(putters, values(), strict=True)]
            for name, net in nets.items()
        }
        names = list(nets)
        for i, (getter, value) in enumerate(zip(getters, values(), strict=True)):
            for name in names[i % len(names) :] + names[: i % len(names)]:
                figures[name].add(*nets[name].get(getter, targets[name][i], value))
                # libtorrent answers at the first value while its traversal's other
                # queries are still being answered on its threads (ours wait for theirs
                # in settle()): let that tail end before the next kind's get.
                time.sleep(PAUSE)
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
    mixed_max = int(os.environ.get("SWARMSEEK_BENCH_MIXED_MAX_N", "1000"))
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
    kinds: dict[str, tuple[int, str]] = {"swarmseek 1 loop": (1, "asyncio")}
    if workers > 1:
        kinds[f"swarmseek {workers} procs"] = (workers, "asyncio")
    if os.environ.get("SWARMSEEK_BENCH_UVLOOP") == "1":  # A/B of the event loop, same run
        kinds["1 loop uvloop"] = (1, "uvloop")
        if workers > 1:
            kinds[f"{workers} procs uvloop"] = (workers, "uvloop")
    if ONE_CORE:
        kinds[OURS_ONE_CORE] = (1, "asyncio")
        print(f"'{OURS_ONE_CORE}' is ours on one loop on CPU 1, '{LT_ONE_CORE}' libtorrent's")
        print("sessions with all their threads on CPU 0: each compared with the other.")

    def short(name: str) -> str:
        return name[10:] if name.startswith("swarmseek") else name

    def reference(name: str) -> str:
        return LT_ONE_CORE if name == OURS_ONE_CORE else "libtorrent"

    rows: dict[str, dict[int, Figures]] = {}
    pure = [] if os.environ.get("SWARMSEEK_BENCH_MIXED_ONLY") == "1" else sizes
    for n in pure:
        print(f"\nN = {n}")
        for name, figures in bench_get(n, kinds, lt_max).items():
            rows.setdefault(name, {})[n] = figures
            print("  " + figures.line(name))
        theirs = rows.get("libtorrent", {}).get(n)
        if theirs is None:
            print(f"  libtorrent not run above N = {lt_max} (SWARMSEEK_BENCH_LT_MAX_N)")
            continue
        for name in kinds:
            ref = reference(name)
            print(f"  ours/{short(ref)}, {short(name)}:  {ratios(rows[name][n], rows[ref][n])}")

    print("\ngrowth:")
    for name, by_n in rows.items():
        if len(by_n) > 1:
            growth(by_n, name)

    if "libtorrent" in rows:
        print("\ntarget: no more queries and no more time (p50) than libtorrent, success 100%")
        for n in rows["libtorrent"]:
            parts = [
                f"{short(name)} {verdict(rows[name][n], rows[reference(name)][n])}"
                for name in kinds
            ]
            print(f"  N = {n:5d}:  " + ";  ".join(parts))

    mixed = [n for n in sizes if n <= mixed_max]
    if mixed:
        print("\nmixed networks: N/2 libtorrent sessions + N/2 swarmseek nodes (one loop),")
        print("the same items fetched by a node of each kind, in turn")
    verdicts = []
    for n in mixed:
        ours, theirs = bench_mixed(n)
        print(f"N = {n} ({n // 2} libtorrent + {n - n // 2} swarmseek)")
        print("  " + ours.line("swarmseek get"))
        print("  " + theirs.line("libtorrent get"))
        print(f"  ours/libtorrent: {ratios(ours, theirs)}")
        verdicts.append(f"  N = {n:5d}:  {verdict(ours, theirs)}")
    if verdicts:
        print("target on the mixed networks: no more queries and no more time (p50), success 100%")
        print("\n".join(verdicts))

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
