"""``swarmseek demo``: a whole network on 127.0.0.1 in one process, with a web page.

N nodes (DHT on UDP port 0, each bootstrapped from up to 8 earlier ones), the files of
``data/corpus`` each shared as its own torrent by a different node (so similarity
search finds the near-duplicate pairs of data/README.md), the Debian catalogue
imported in the background (search works while it proceeds) by a child process on the
machine's other core (demo_import.py), on behalf of the node that serves the API, until
Ctrl-C. State lives in a temporary folder unless ``--data-dir``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from swarmseek.discovery import Address, DhtError
from swarmseek.index import PublishError, ReadError

from .demo_import import Report, command
from .import_lines import parse_lines
from .node import Node, NodeConfig, Prepared, Shared
from .services_node import serve_api

log = logging.getLogger(__name__)

REPO = Path(__file__).resolve().parents[1]
# Shares are published one at a time: concurrent writers on *different* nodes into
# the same PHT lost entries over the loopback DHT (BEP 44 cas is decided by each
# replica on its own, so two writers can both win on different replicas).
SHARES_AT_ONCE = 1
# Seconds the importer gets to stop after its stdin closes (it cancels its puts, which
# takes a moment) before it is killed.
CHILD_STOP_GRACE = 10.0


@dataclass(frozen=True, slots=True)
class DemoOptions:
    nodes: int = 20
    api_port: int = 8600
    catalogue: Path | None = None  # None with empty=False: the bundled Debian catalogue
    data_dir: Path | None = None
    empty: bool = False
    corpus: Path | None = None  # None: data/corpus of the source checkout


def _data_root() -> Path | None:
    for base in (REPO, Path.cwd()):
        if (base / "data" / "corpus").is_dir():
            return base / "data"
    return None


def corpus_items(corpus: Path) -> list[Path]:
    """What the demo shares: every licence text, stdlib module and archive on its own."""
    items: list[Path] = []
    for sub in ("licenses", "archives", "python-stdlib/3.11.2", "python-stdlib/3.11.7"):
        folder = corpus / sub
        if folder.is_dir():
            items += sorted(p for p in folder.iterdir() if p.is_file())
    return items


def _say(text: str) -> None:
    print(f"swarmseek demo: {text}", flush=True)


async def run_demo(
    options: DemoOptions,
    stop_event: Callable[[], asyncio.Event],
    ready: asyncio.Event | None = None,
    imported: asyncio.Event | None = None,
) -> int:
    """Run until the event ``stop_event()`` returns is set; ``ready`` is set once the
    page can be opened, ``imported`` once the catalogue is in the DHT."""
    stop = stop_event()
    with contextlib.ExitStack() as cleanup:
        if options.data_dir is not None:
            root = options.data_dir.expanduser()
            root.mkdir(parents=True, exist_ok=True)
        else:
            root = Path(
                cleanup.enter_context(tempfile.TemporaryDirectory(prefix="swarmseek-demo-"))
            )
        await _run(options, root, stop, ready, imported)
    return 0


async def _run(
    options: DemoOptions,
    root: Path,
    stop: asyncio.Event,
    ready: asyncio.Event | None,
    imported: asyncio.Event | None,
) -> None:
    data = _data_root()
    # --empty: an empty network, no corpus shared and no catalogue imported.
    corpus = None if options.empty else options.corpus or (data / "corpus" if data else None)
    catalogue = options.catalogue
    if catalogue is None and not options.empty and data is not None:
        catalogue = data / "catalogue" / "debian-bookworm.jsonl.gz"
    start = time.monotonic()
    _say(f"starting {options.nodes} nodes on 127.0.0.1 in {root}")
    async with contextlib.AsyncExitStack() as stack:
        nodes: list[Node] = []
        for i in range(options.nodes):
            boot = tuple(n.dht.address for n in nodes[-8:])
            config = NodeConfig(
                data_dir=root / f"node{i:02d}",
                dht_host="127.0.0.1",
                peer_host="127.0.0.1",
                bootstrap=boot,
                loopback=True,
                dht_max_items=400_000,
                dht_query_timeout=2.0,
                # Temporary state is thrown away: saving 10^5 DHT items per node at exit
                # would only slow the shutdown down.
                persist_dht=options.data_dir is not None,
                share_roots=tuple(p for p in (Path.home(), Path.cwd(), corpus) if p),
            )
            nodes.append(await stack.enter_async_context(Node(config)))
        await asyncio.gather(*(n.dht.bootstrap() for n in nodes))
        await asyncio.gather(*(n.dht.find_node(n.dht.node_id) for n in nodes))
        _say(f"network ready: {len(nodes)} nodes in {time.monotonic() - start:.1f} s")
        api_node = nodes[0]
        url = await stack.enter_async_context(
            serve_api(api_node, "127.0.0.1", options.api_port, None)
        )
        if options.empty:
            _say("empty network: nothing shared, nothing imported")
        elif corpus is not None:
            await _share_corpus(nodes, corpus)
        else:
            _say("data/corpus not found: nothing shared (run from the source checkout)")
        async with asyncio.TaskGroup() as tg:
            importer = None
            if catalogue is not None:
                addresses = [n.dht.address for n in nodes]
                importer = tg.create_task(_import(api_node, catalogue, imported, addresses))
            _say(f"open {url}/")
            if ready is not None:
                ready.set()
            await stop.wait()
            _say("stopping")
            if importer is not None:
                importer.cancel()


async def _share_corpus(nodes: list[Node], corpus: Path) -> None:
    items = corpus_items(corpus)
    start = time.monotonic()
    _say(f"sharing {len(items)} files of {corpus} from {min(len(items), len(nodes) - 1)} nodes")
    sharers = nodes[1:] or nodes
    # Hashing and MinHash one file at a time (they run in a worker thread that holds
    # the GIL much of the time: 20 at once starved the event loop into DHT timeouts),
    # then seeding and publishing all at once (the cards are written in batches).
    prepared = []
    for i, path in enumerate(items):
        node = sharers[i % len(sharers)]
        try:
            prepared.append((node, await node.prepare_share(path)))
        except (OSError, ValueError) as exc:
            _say(f"could not share {path.name}: {exc}")
    slots = asyncio.Semaphore(SHARES_AT_ONCE)

    async def finish(node: Node, p: Prepared) -> Shared:
        async with slots:
            return await node.finish_share(p)

    done = await asyncio.gather(*(finish(n, p) for n, p in prepared), return_exceptions=True)
    shared = 0
    for (_, p), outcome in zip(prepared, done, strict=True):
        if isinstance(outcome, DhtError | PublishError | ReadError | OSError | ValueError):
            _say(f"could not share {p.path.name}: {outcome}")
        elif isinstance(outcome, BaseException):
            raise outcome
        else:
            shared += 1
    _say(f"shared {shared} torrents in {time.monotonic() - start:.1f} s")


async def _import(
    node: Node, path: Path, imported: asyncio.Event | None, bootstrap: list[Address]
) -> None:
    """Import the catalogue from a child process (demo_import.py) on the machine's
    other core, into the namespace and catalogue of ``node`` (which republishes it)."""
    try:
        data = await asyncio.to_thread(path.read_bytes)
    except OSError as exc:
        _say(f"cannot read the catalogue {path}: {exc}")
        return
    now = int(time.time())  # the child must judge lines as we do (created in the future)
    cards, _, rejected = await asyncio.to_thread(parse_lines, data, now)
    _say(
        f"importing {len(cards)} cards of {path.name} in the background"
        f" ({rejected} lines rejected); search works meanwhile"
    )
    start = time.monotonic()
    await node.index.remember_published(cards)
    child = await asyncio.create_subprocess_exec(
        *command(path, now, bootstrap),
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        start_new_session=True,  # Ctrl-C stops the demo, which stops the child
    )
    try:
        last = await _follow(child, len(cards), start)
    finally:
        await _stop(child)
    done = last.done or 0
    if child.returncode != 0 or done < len(cards):
        _say(f"catalogue import stopped at {done} cards (exit status {child.returncode})")
        return
    _say(
        f"catalogue imported: {done} cards in {time.monotonic() - start:.0f} s"
        f" ({last.puts / done:.2f} puts and {last.gets / done:.2f} gets per card)"
    )
    if imported is not None:
        imported.set()


async def _stop(child: asyncio.subprocess.Process) -> None:
    if child.returncode is not None:
        return
    assert child.stdin is not None
    child.stdin.close()  # the child stops when its stdin closes
    try:
        async with asyncio.timeout(CHILD_STOP_GRACE):
            await child.wait()
    except TimeoutError:
        child.kill()  # stuck: the demo's stop must not wait for it
        await child.wait()


async def _follow(child: asyncio.subprocess.Process, total: int, start: float) -> Report:
    """Say what the child reports until it exits; its last report of a finished batch."""
    assert child.stdout is not None
    last = Report(done=0)
    async for line in child.stdout:
        try:
            report = Report.parse(line)
        except (ValueError, TypeError):
            continue
        elapsed = time.monotonic() - start
        if report.error is not None:
            _say(f"catalogue import failed: {report.error}")
        elif report.done is not None:
            last = report
            rate = report.done / max(elapsed, 1e-9)
            _say(f"catalogue: {report.done}/{total} cards in the DHT ({rate:.0f} cards/s)")
        else:
            _say(
                f"catalogue: writing {report.writing} cards, {report.items} items"
                f" stored so far ({elapsed:.0f} s)"
            )
    await child.wait()
    return last
