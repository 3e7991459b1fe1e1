"""The demo's catalogue import as a person running ``swarmseek demo`` sees it.

Run: python tests/benchmarks/bench_demo_import.py [--cards 63664] [--nodes 20] [--searches]

Runs ``swarmseek demo`` in this process (``run_demo``: its nodes, its corpus shares, its
import schedule; API on port 0) with the first ``--cards`` cards of the Debian
catalogue, and prints, from the import's start to "catalogue imported": cards per
second, CPU seconds per 1000 cards (this process and any it started, so work moved to
another process is still counted; both are also shown apart), and the load average.
Then it stops the demo. With ``--searches``, a search for a common word goes to the
demo's API every second while the import runs, and their latencies are printed too (how
usable the page is meanwhile).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gzip
import io
import os
import re
import statistics
import sys
import tempfile
import time
from pathlib import Path

import aiohttp

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from swarmseek.api.demo import DemoOptions, run_demo  # noqa: E402

CATALOGUE = ROOT / "data" / "catalogue" / "debian-bookworm.jsonl.gz"


def cpu_seconds() -> tuple[float, float]:
    """CPU time of this process, and of every live or finished child process it started."""
    children = os.times()
    others = children.children_user + children.children_system
    for pid in _live_children():
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        others += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return time.process_time(), others


def _live_children() -> list[int]:
    me = str(os.getpid())
    out = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if fields[1] == me:
            out.append(int(entry.name))
    return out


class Tee(io.StringIO):
    """Stdout that is also kept: the demo prints its page's address there."""

    def write(self, text: str) -> int:
        sys.__stdout__.write(text)
        return super().write(text)


async def search_while(url: str, done: asyncio.Event) -> list[float]:
    words = ("python", "lib", "gnome", "perl", "data", "dev", "doc", "kernel")
    latencies: list[float] = []
    async with aiohttp.ClientSession() as http:
        while not done.is_set():
            word = words[len(latencies) % len(words)]
            start = time.perf_counter()
            async with http.get(url + "/api/v1/search", params={"q": word}) as reply:
                await reply.read()
            latencies.append(time.perf_counter() - start)
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(1.0):
                    await done.wait()
    return latencies


async def run(cards: int, nodes: int, folder: Path, data_dir: Path | None, searches: bool) -> None:
    path = folder / "catalogue.jsonl.gz"
    with gzip.open(CATALOGUE) as f:
        lines = f.read().splitlines(keepends=True)[:cards]
    path.write_bytes(gzip.compress(b"".join(lines)))
    stop, ready, imported = asyncio.Event(), asyncio.Event(), asyncio.Event()
    options = DemoOptions(nodes=nodes, api_port=0, catalogue=path, data_dir=data_dir)
    out = Tee()
    latencies: list[float] = []
    with contextlib.redirect_stdout(out):
        async with asyncio.TaskGroup() as tg:
            demo = tg.create_task(run_demo(options, lambda: stop, ready, imported))
            await ready.wait()
            wall, (own, others) = time.perf_counter(), cpu_seconds()
            if searches:
                address = re.search(r"open (http://127\.0\.0\.1:\d+)/", out.getvalue())
                assert address is not None
                latencies = await search_while(address.group(1), imported)
            await imported.wait()
            wall = time.perf_counter() - wall
            after = cpu_seconds()
            own, others = after[0] - own, after[1] - others
            stop.set()
            await demo
    print(
        f"# demo import: {len(lines)} cards, {nodes} nodes: {wall:.1f} s,"
        f" {len(lines) / wall:.0f} cards/s, {(own + others) / len(lines) * 1000:.2f} CPU s/1000"
        " cards,"
        f" CPU {own:.0f} s (demo process) + {others:.0f} s (child processes) over {wall:.0f} s"
        f" wall, load {os.getloadavg()[0]:.2f}"
        f" (cpu_count={os.cpu_count()})",
        flush=True,
    )
    if latencies:
        latencies.sort()
        print(
            f"# searches during the import: {len(latencies)}, median"
            f" {statistics.median(latencies) * 1000:.0f} ms, 90th percentile"
            f" {latencies[int(len(latencies) * 0.9)] * 1000:.0f} ms,"
            f" slowest {latencies[-1] * 1000:.0f} ms",
            flush=True,
        )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--cards", type=int, default=63_664)
    parser.add_argument("--nodes", type=int, default=20)
    parser.add_argument("--data-dir", type=Path, default=None)
    parser.add_argument("--searches", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        asyncio.run(run(args.cards, args.nodes, Path(tmp), args.data_dir, args.searches))


if __name__ == "__main__":
    main()
