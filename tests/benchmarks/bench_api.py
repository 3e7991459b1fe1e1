"""API benchmark: search throughput and latency under 50 concurrent clients, and the
full journey (search -> download complete) of a 100 MiB file through the HTTP API.

Run: python tests/benchmarks/bench_api.py [--cards 100000] [--requests 5000] [--mib 100]

Search: 10^5 cards (the Debian catalogue, 63 664 packages, plus renamed copies up to
the count) are published into an in-memory BEP 44 store (``MemoryItemStore``) and
searched through a *reader* ``SearchIndex`` with an empty catalogue, so every query
walks the PHT as a remote node's would; the DHT's network hops are not in these
figures. The API server (the real ``make_app`` over the real ``NodeServices``) runs in
a forked process; the load generator (50 aiohttp clients) in this one. References in
the same run, on the same queries: the index called directly (no HTTP) with 50
concurrent tasks, and a bare aiohttp JSON handler (the HTTP ceiling of this machine and
this client).

Journey: four real nodes on 127.0.0.1; one shares a 100 MiB random file; the page's
calls are made against another node's API: search, POST /downloads, wait on the event
stream until complete. Reference: libtorrent downloading the same torrent from the same
seeder (magnet + connect_peer), measured in the same run.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import multiprocessing
import os
import pathlib
import random
import statistics
import sys
import tempfile
import time
from types import SimpleNamespace
from typing import Any

import libtorrent as lt
import orjson
from aiohttp import ClientSession, ClientTimeout, TCPConnector, web

ROOT = pathlib.Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from swarmseek.api.errors import HttpError  # noqa: E402
from swarmseek.api.http import ApiConfig, make_app  # noqa: E402
from swarmseek.api.import_lines import parse_lines  # noqa: E402
from swarmseek.api.params import parse  # noqa: E402
from swarmseek.api.routes import SEARCH_PARAMS  # noqa: E402
from swarmseek.api.services import SearchRequest  # noqa: E402
from swarmseek.api.services_node import NodeServices, serve_api  # noqa: E402
from swarmseek.discovery import MemoryItemStore  # noqa: E402
from swarmseek.index import IndexConfig, SearchIndex, normalise  # noqa: E402
from tests.support.clients import lt_session, wait_for_alert  # noqa: E402
from tests.support.node_net import catalogue_lines, node_network  # noqa: E402

CLIENTS = 50


# ---------- search under load ----------


def build_lines(count: int) -> list[dict[str, Any]]:
    base = catalogue_lines(count)
    lines = list(base)
    copy = 1
    while len(lines) < count:
        for line in base:
            if len(lines) >= count:
                break
            name = line["name"]
            renamed = dict(line, name=f"r{copy}-{name}")
            renamed["infohash"] = f"{copy:08x}" + line["infohash"][8:]
            lines.append(renamed)
        copy += 1
    return lines


def make_queries(lines: list[dict[str, Any]], n: int, rng: random.Random) -> list[str]:
    """Like a user's: a whole word, two words of one name, or a word prefix.

    Words come from the package name (before the first '_'), not from the version,
    architecture or '.deb', which a user does not search for and which match every card.
    """
    queries = []
    for _ in range(n):
        package = rng.choice(lines)["name"].split("_")[0]
        words = [w for w in normalise(package) if not w.isdigit()] or ["lib"]
        kind = rng.random()
        if kind < 0.4:
            queries.append(f"q={rng.choice(words)}")
        elif kind < 0.7 and len(words) > 1:
            queries.append(f"q={words[0]}+{words[1]}")
        else:
            word = rng.choice(words)
            prefix = word[: max(3, len(word) // 2)]
            queries.append(f"prefix={prefix}" if normalise(prefix) else f"q={word}")
    return queries


CONFIG = IndexConfig(name_lsh=None)


async def build_store(count: int) -> tuple[MemoryItemStore, int]:
    lines = build_lines(count)
    data = b"".join(orjson.dumps(line) + b"\n" for line in lines)
    cards, _, _ = parse_lines(data, int(time.time()))
    store = MemoryItemStore()
    await SearchIndex(store, config=CONFIG).publish(cards)
    return store, len(cards)


def services_for(index: SearchIndex, data_dir: pathlib.Path) -> NodeServices:
    # NodeServices reads only .index and .config from its node for search and suggest.
    shim = SimpleNamespace(index=index, config=SimpleNamespace(share_roots=(), data_dir=data_dir))
    return NodeServices(shim)  # type: ignore[arg-type]


def percentiles(latencies: list[float]) -> tuple[float, float, float]:
    q = statistics.quantiles(latencies, n=100)
    return q[49] * 1000, q[94] * 1000, q[98] * 1000


async def direct_load(services: NodeServices, queries: list[str]) -> tuple[float, list[float], int]:
    requests = []
    for text in queries:
        key, value = text.split("=", 1)
        requests.append(SearchRequest(**parse(SEARCH_PARAMS, {key: value.replace("+", " ")})))
    latencies: list[float] = []
    errors = 0
    pending = iter(requests)

    async def client() -> None:
        nonlocal errors
        for request in pending:
            start = time.perf_counter()
            try:
                await services.search(request)
            except (ValueError, HttpError):  # what the API answers with a 4xx
                errors += 1
            latencies.append(time.perf_counter() - start)

    start = time.perf_counter()
    await asyncio.gather(*(client() for _ in range(CLIENTS)))
    return len(requests) / (time.perf_counter() - start), latencies, errors


def kind_of(query: str) -> str:
    if query.startswith("prefix="):
        return "word prefix"
    return "two keywords" if "+" in query else "one keyword"


async def by_kind(services: NodeServices, queries: list[str]) -> dict[str, list[float]]:
    """One client, one query at a time: where the time goes, by kind of query."""
    out: dict[str, list[float]] = {}
    for text in queries:
        key, value = text.split("=", 1)
        request = SearchRequest(**parse(SEARCH_PARAMS, {key: value.replace("+", " ")}))
        start = time.perf_counter()
        with contextlib.suppress(ValueError, HttpError):  # a 4xx through the API
            await services.search(request)
        out.setdefault(kind_of(text), []).append(time.perf_counter() - start)
    return out


async def http_load(base: str, paths: list[str]) -> tuple[float, list[float], int]:
    latencies: list[float] = []
    errors = 0
    pending = iter(paths)
    connector = TCPConnector(limit=CLIENTS)
    async with ClientSession(connector=connector, timeout=ClientTimeout(total=60)) as session:

        async def client() -> None:
            nonlocal errors
            for path in pending:
                start = time.perf_counter()
                async with session.get(base + path) as response:
                    await response.read()
                    if response.status != 200:
                        errors += 1
                latencies.append(time.perf_counter() - start)

        start = time.perf_counter()
        await asyncio.gather(*(client() for _ in range(CLIENTS)))
        elapsed = time.perf_counter() - start
    return len(paths) / elapsed, latencies, errors


def serve_forever(store: MemoryItemStore, data_dir: pathlib.Path, conn: Any) -> None:
    """Child process: the real API app and a bare aiohttp handler, until told to stop."""

    async def main() -> None:
        # A reader index made in this process's loop, over the store the parent built.
        services = services_for(SearchIndex(store, config=CONFIG), data_dir)

        async def bare(request: web.Request) -> web.Response:
            return web.json_response({"results": [], "next_cursor": None})

        bare_app = web.Application()
        bare_app.router.add_get("/bare", bare)
        runners = []
        ports = []
        for app in (make_app(services, ApiConfig(rate=1e9, burst=1e9)), bare_app):
            runner = web.AppRunner(app, access_log=None)
            await runner.setup()
            await web.TCPSite(runner, "127.0.0.1", 0).start()
            runners.append(runner)
            ports.append(runner.addresses[0][1])
        conn.send(ports)
        await asyncio.get_running_loop().run_in_executor(None, conn.recv)
        for runner in runners:
            await runner.cleanup()

    asyncio.run(main())


def bench_search(count: int, n_requests: int) -> None:
    print(f"\n## API search, {CLIENTS} concurrent clients")
    start = time.perf_counter()
    store, cards = asyncio.run(build_store(count))
    print(f"index: {cards} cards published in {time.perf_counter() - start:.1f} s")
    tmp = pathlib.Path(tempfile.mkdtemp(prefix="bench-api-"))
    rng = random.Random(1)
    queries = make_queries(build_lines(min(count, 63_664)), n_requests, rng)

    async def direct() -> tuple[float, list[float], int]:
        services = services_for(SearchIndex(store, config=CONFIG), tmp)
        return await direct_load(services, queries)

    direct_rate, direct_lat, direct_errors = asyncio.run(direct())

    async def kinds() -> dict[str, list[float]]:
        return await by_kind(services_for(SearchIndex(store, config=CONFIG), tmp), queries[:300])

    per_kind = asyncio.run(kinds())

    parent, child = multiprocessing.get_context("fork").Pipe()
    process = multiprocessing.get_context("fork").Process(
        target=serve_forever, args=(store, tmp, child)
    )
    process.start()
    api_port, bare_port = parent.recv()
    try:
        api = f"http://127.0.0.1:{api_port}/api/v1/search?"
        api_rate, api_lat, api_errors = asyncio.run(
            http_load(api, [q + "&limit=20" for q in queries])
        )
        bare_rate, bare_lat, _ = asyncio.run(
            http_load(f"http://127.0.0.1:{bare_port}", ["/bare"] * n_requests)
        )
    finally:
        parent.send("stop")
        process.join(30)
    print(f"{'':34}{'req/s':>9}{'p50 ms':>9}{'p95 ms':>9}{'p99 ms':>9}")
    for label, rate, lat in (
        ("swarmseek API /search (HTTP)", api_rate, api_lat),
        ("reference: index direct, no HTTP", direct_rate, direct_lat),
        ("reference: bare aiohttp handler", bare_rate, bare_lat),
    ):
        p50, p95, p99 = percentiles(lat)
        print(f"{label:34}{rate:9.0f}{p50:9.1f}{p95:9.1f}{p99:9.1f}")
    print(
        f"requests: {n_requests}; 4xx answers (e.g. a prefix too broad for the index): "
        f"API {api_errors}, direct {direct_errors}"
    )
    print(f"ratio API/direct throughput: {api_rate / direct_rate:.2f}")
    print(f"ratio API/bare-aiohttp throughput: {api_rate / bare_rate:.2f}")
    print("index direct, one client, by kind of query (warm cache):")
    for kind, lat in sorted(per_kind.items()):
        lat.sort()
        print(
            f"  {kind:14} n={len(lat):4}  p50 {lat[len(lat) // 2] * 1000:7.1f} ms  "
            f"max {lat[-1] * 1000:7.1f} ms"
        )


# ---------- the journey ----------


async def journey(mib: int) -> tuple[float, float, float]:
    with tempfile.TemporaryDirectory(prefix="bench-journey-") as tmp:
        root = pathlib.Path(tmp)
        async with node_network(root, 4) as net:
            sharer, getter = net.nodes[0], net.nodes[2]
            shared_dir = root / "share"
            shared_dir.mkdir()
            path = shared_dir / "bench-journey-payload.bin"
            path.write_bytes(random.Random(2).randbytes(mib << 20))
            shared = await NodeServices(sharer).share(str(path))
            async with (
                serve_api(getter, "127.0.0.1", 0, None) as base,
                ClientSession(timeout=ClientTimeout(total=600)) as http,
            ):
                events = await http.get(f"{base}/api/v1/events")
                await events.content.readline()
                start = time.perf_counter()
                async with http.get(
                    f"{base}/api/v1/search", params={"q": "bench journey payload"}
                ) as r:
                    results = (await r.json())["results"]
                searched = time.perf_counter()
                infohash = results[0]["infohash"]
                assert infohash == shared["infohash"], results
                async with http.post(f"{base}/api/v1/downloads", json={"infohash": infohash}) as r:
                    assert r.status == 200, await r.text()
                    download_id = (await r.json())["id"]
                async for line in events.content:
                    if line.startswith(b"data: "):
                        data = orjson.loads(line[6:])
                        if data.get("id") == download_id and data.get("state") in (
                            "complete",
                            "failed",
                        ):
                            assert data["state"] == "complete", data
                            break
                done = time.perf_counter()
                events.close()
            got = next(p for p in getter.config.downloads.rglob(path.name))
            assert got.read_bytes() == path.read_bytes()
            ours = done - start
            reference = await asyncio.to_thread(
                libtorrent_download, shared["magnet"], sharer.peer_address, root / "lt"
            )
            return ours, searched - start, reference


def libtorrent_download(magnet: str, peer: tuple[str, int], save: pathlib.Path) -> float:
    # Over TCP like us: libtorrent's default uTP dial is ~10 MB/s on loopback
    # (found by the swarm benchmark, tests/benchmarks/bench_download.py).
    session = lt_session(enable_outgoing_utp=False, enable_incoming_utp=False)
    params = lt.parse_magnet_uri(magnet)
    params.save_path = str(save)
    start = time.perf_counter()
    handle = session.add_torrent(params)
    handle.connect_peer(peer)
    wait_for_alert(session, lambda a: isinstance(a, lt.torrent_finished_alert), timeout=600)
    return time.perf_counter() - start


def bench_journey(mib: int) -> None:
    print(f"\n## Journey: search -> download complete, {mib} MiB, 4 nodes on loopback")
    ours, search_s, reference = asyncio.run(journey(mib))
    print(
        f"swarmseek via the API: {ours:.2f} s ({mib / ours:.1f} MiB/s), of which search "
        f"{search_s * 1000:.0f} ms"
    )
    print(
        f"reference: libtorrent from the same seeder (magnet + connect_peer): "
        f"{reference:.2f} s ({mib / reference:.1f} MiB/s)"
    )
    print(f"ratio journey/libtorrent time: {ours / reference:.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cards", type=int, default=100_000)
    parser.add_argument("--requests", type=int, default=5000)
    parser.add_argument("--mib", type=int, default=100)
    parser.add_argument("--skip-search", action="store_true")
    parser.add_argument("--skip-journey", action="store_true")
    args = parser.parse_args()
    print(f"os.cpu_count() = {os.cpu_count()}")
    if not args.skip_search:
        bench_search(args.cards, args.requests)
    if not args.skip_journey:
        bench_journey(args.mib)


if __name__ == "__main__":
    main()
