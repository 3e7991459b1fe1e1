"""One swarmseek node: the DHT, the search index over it, the swarm, and their upkeep.

::

    async with Node(NodeConfig(data_dir=Path("~/.swarmseek").expanduser())) as node:
        await node.dht.bootstrap()
        shared = await node.share(Path("folder"))
        page = await node.index.search(Query(("gpl",)))

Everything lives in one SQLite file in the data directory (DESIGN.md decision 5): the
DHT's routing table and stored items, the catalogue of cards, the swarm's resume
records, and this node's downloads and shares, so a restarted node comes back warm,
still seeding what it shared and continuing what it was downloading. Background work
(the publish queue, the hourly BEP 44 re-put, download progress) runs in the node's
TaskGroup and stops with it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import time
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from types import TracebackType
from typing import Any

from swarmseek.discovery import DhtConfig, DhtError, DhtNode, KeyPair
from swarmseek.index import (
    Card,
    Catalogue,
    IndexConfig,
    Namespace,
    PublishError,
    ReadError,
    SearchIndex,
    signature_of_paths,
)
from swarmseek.transfer import (
    Info,
    Magnet,
    Metainfo,
    Session,
    SessionConfig,
    Torrent,
    as_infohash,
    create_torrent,
    parse_magnet,
    parse_torrent,
)

from .cmd_transfer import DhtFinder
from .errors import Conflict, NotFound, listening
from .node_config import (
    LOOPBACK_RATE,
    PUBLISH_ATTEMPTS,
    STATES,
    UDP_BUFFER,
    NodeConfig,
    NodeCounters,
    Prepared,
    Shared,
)
from .node_state import DownloadRow, NodeState, ShareRow

__all__ = ["Node", "NodeConfig", "NodeCounters", "Prepared", "Shared"]

log = logging.getLogger(__name__)


@dataclass(slots=True)
class _Job:
    cards: list[Card]
    done: asyncio.Future[None]


class Node:
    """One node (see the module docstring); an async context manager."""

    def __init__(self, config: NodeConfig) -> None:
        self.config = config
        self.counters = NodeCounters()
        self._stack = contextlib.AsyncExitStack()
        self._tg: asyncio.TaskGroup | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._jobs: asyncio.Queue[_Job] = asyncio.Queue()
        self._subscribers: set[asyncio.Queue[tuple[str, dict[str, Any]] | None]] = set()
        self._last_status: dict[bytes, dict[str, Any]] = {}
        self._shares: set[bytes] = set()
        self._folders: dict[bytes, str] = {}
        self._with_info: set[bytes] = set()  # downloads whose metadata is saved
        self.closed = asyncio.Event()

    # -- lifecycle ----------------------------------------------------------------
    async def __aenter__(self) -> Node:
        cfg = self.config
        cfg.data_dir.mkdir(parents=True, exist_ok=True)
        cfg.downloads.mkdir(parents=True, exist_ok=True)
        try:
            await self._start()
        except BaseException:
            await self._stack.aclose()
            raise
        return self

    async def _start(self) -> None:
        cfg = self.config
        with listening("the DHT", f"UDP {cfg.dht_host}:{cfg.dht_port}", "--port"):
            self.dht = await self._stack.enter_async_context(DhtNode(self._dht_config()))
        _enlarge_buffers(self.dht)
        self.catalogue = Catalogue(cfg.db_path)
        self._stack.callback(self.catalogue.close)
        self.state = NodeState(cfg.db_path)
        self._stack.callback(self.state.close)
        self.index = SearchIndex(
            self.dht,
            self._namespaces(),
            self.catalogue,
            config=IndexConfig(
                name_lsh=IndexConfig().name_lsh if cfg.name_similarity else None,
                in_flight=cfg.index_in_flight,
            ),
        )
        session = Session(
            SessionConfig(
                host=cfg.peer_host,
                port=cfg.peer_port,
                encryption=cfg.encryption,
                resume_interval=cfg.resume_interval,
            ),
            resume_db=cfg.db_path,
            dht=DhtFinder(self.dht),
        )
        with listening("peers", f"TCP {cfg.peer_host}:{cfg.peer_port}", "--port"):
            self.session = await self._stack.enter_async_context(session)
        self._tg = asyncio.TaskGroup()
        await self._tg.__aenter__()
        await self._restore()
        for job in (self._publisher(), self._republisher(), self._progress()):
            self._tasks.append(self._tg.create_task(job))

    def _dht_config(self) -> DhtConfig:
        cfg = self.config
        defaults = DhtConfig()
        rate = LOOPBACK_RATE if cfg.loopback else defaults.rate_limit
        return DhtConfig(
            host=cfg.dht_host,
            port=cfg.dht_port,
            bootstrap=cfg.bootstrap,
            sqlite_path=cfg.db_path if cfg.persist_dht else None,
            rate_limit=rate,
            rate_burst=rate if cfg.loopback else defaults.rate_burst,
            max_items=cfg.dht_max_items,
            query_timeout=cfg.dht_query_timeout,
            query_slow=cfg.dht_query_slow,
        )

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        for task in self._tasks:
            task.cancel()
        try:
            if self._tg is not None:
                await self._tg.__aexit__(None, None, None)
        finally:
            for queue in list(self._subscribers):
                queue.put_nowait(None)
            self.closed.set()
            # Session first (commits resume data), then the DHT (saves its state).
            await self._stack.aclose()

    def _namespaces(self) -> list[Namespace]:
        spaces = [Namespace.open_default()]
        if self.config.curated_seed is not None:
            spaces.append(Namespace.curated(KeyPair.from_seed(self.config.curated_seed)))
        spaces += [Namespace.follow(key) for key in self.config.followed]
        return spaces

    async def _restore(self) -> None:
        """Seed what we shared and continue what we were downloading before a restart."""
        for share in self.state.shares():
            try:
                meta = parse_torrent(share.torrent)
                path = Path(share.path)
                await self.session.add(meta, path.parent)
                self._shares.add(share.infohash)
            except (ValueError, OSError) as exc:
                log.warning("cannot seed %s again: %s", share.path, exc)
        for row in self.state.downloads():
            try:
                await self._add_torrent(row)
            except (ValueError, OSError) as exc:
                log.warning("cannot continue download %s: %s", row.infohash.hex(), exc)

    @property
    def peer_address(self) -> tuple[str, int]:
        host, port = self.session.listen_address
        return ("127.0.0.1" if host in ("0.0.0.0", "") else host), port

    # -- publishing ---------------------------------------------------------------
    async def publish(self, cards: Sequence[Card]) -> None:
        """Queue cards for the next batched write; returns once they are published."""
        if not cards:
            return
        loop = asyncio.get_running_loop()
        batch = self.config.publish_batch
        futures = []
        for start in range(0, len(cards), batch):
            job = _Job(list(cards[start : start + batch]), loop.create_future())
            self.counters.import_queue += len(job.cards)
            self._jobs.put_nowait(job)
            futures.append(job.done)
        await asyncio.gather(*futures)

    async def _publisher(self) -> None:
        """Drain the queue: jobs waiting together are merged into one batch (one
        read-modify-write per PHT leaf for all of them)."""
        while True:
            jobs = [await self._jobs.get()]
            size = len(jobs[0].cards)
            while not self._jobs.empty() and size < self.config.publish_batch:
                job = self._jobs.get_nowait()
                jobs.append(job)
                size += len(job.cards)
            cards = [card for job in jobs for card in job.cards]
            try:
                await self._publish_batch(cards)
            except (DhtError, PublishError, ReadError, ValueError) as exc:
                for job in jobs:
                    if not job.done.done():
                        job.done.set_exception(exc)
            else:
                self.counters.imported += len(cards)
                for job in jobs:
                    if not job.done.done():
                        job.done.set_result(None)
            finally:
                self.counters.import_queue -= len(cards)

    async def _publish_batch(self, cards: list[Card]) -> None:
        # A put that no node acknowledged (all timed out under load) is worth another
        # try: publishing is idempotent (same card, same entries, unchanged leaves
        # are not written again).
        for attempt in range(PUBLISH_ATTEMPTS):
            try:
                await self.index.publish(cards)
                return
            except (DhtError, PublishError, ReadError) as exc:
                if attempt == PUBLISH_ATTEMPTS - 1:
                    raise
                log.info("publishing %d cards failed (%s); trying again", len(cards), exc)

    async def _republisher(self) -> None:
        while True:
            await asyncio.sleep(self.config.republish_interval)
            await self.republish()

    async def republish(self) -> int:
        """Re-put every card and PHT node this node published (BEP 44 keeps items about
        2 hours); returns the puts and records their cost in ``counters``."""
        start = time.monotonic()
        puts = 0
        for attempt in range(PUBLISH_ATTEMPTS):
            try:
                puts = await self.index.republish()
                break
            except (DhtError, PublishError, ReadError) as exc:
                # One put nobody acknowledged aborts the pass; re-putting is idempotent.
                log.warning("republish failed (attempt %d): %s", attempt + 1, exc)
        else:
            return 0
        self.counters.republish_runs += 1
        self.counters.republish_puts = puts
        self.counters.republish_seconds = time.monotonic() - start
        self.counters.republish_cards = self.index.stats.cards_published
        return puts

    async def share(self, path: Path) -> Shared:
        """Make a torrent of ``path``, seed it, announce it and publish its card."""
        return await self.finish_share(await self.prepare_share(path))

    async def prepare_share(self, path: Path) -> Prepared:
        """The CPU-bound half of ``share``: hash the pieces, compute the signature."""
        path = path.resolve()
        created_at = int(time.time())
        made = await asyncio.to_thread(create_torrent, path, creation_date=created_at)
        signature: tuple[int, ...] = ()
        if not self._indexed(bytes(made.metainfo.infohash)):
            signature = await asyncio.to_thread(signature_of_paths, made.paths)
        return Prepared(path, made.metainfo, signature, created_at)

    def _indexed(self, infohash: bytes) -> bool:
        """Seeded already, with a card in the index (ours, or one seen there)."""
        known = self.session.get(infohash) is not None
        return known and self.catalogue.by_infohash(infohash) is not None

    async def finish_share(self, prepared: Prepared) -> Shared:
        """Seed, announce and publish a prepared share (idempotent for a known one)."""
        meta = prepared.metainfo
        info = meta.info
        infohash = bytes(meta.infohash)
        if self.session.get(infohash) is None:
            await self.session.add(meta, prepared.path.parent, seed_mode=True)
            self.state.add_share(ShareRow(infohash, meta.to_bytes(), str(prepared.path)))
            self._shares.add(infohash)
            await asyncio.gather(self.publish([_card(prepared)]), self._announce(infohash))
        elif self.catalogue.by_infohash(infohash) is None:
            # Seeded, but its card never reached the index (shared while no other DHT
            # node answered): sharing it again publishes it now.
            await self.publish([_card(prepared)])
        announced = await self._announce(infohash)
        magnet = Magnet(meta.infohash, info.name).to_uri()
        return Shared(infohash, info.name, info.total_length, len(info.files), magnet, announced)

    async def _announce(self, infohash: bytes) -> int:
        try:
            return await self.dht.announce_peer(infohash, self.session.port)
        except DhtError as exc:  # no DHT node reachable yet: the swarm's loop retries
            log.info("announce of %s failed: %s", infohash.hex(), exc)
            return 0

    # -- downloads ----------------------------------------------------------------
    async def add_download(
        self, source: Metainfo | Magnet | bytes, folder: str, name: str | None = None
    ) -> dict[str, Any]:
        """Start a download into ``downloads/folder`` (``folder`` already checked)."""
        if isinstance(source, Metainfo):
            row = DownloadRow(
                bytes(source.infohash), source.to_bytes(), "torrent", folder, name, False
            )
        elif isinstance(source, Magnet):
            row = DownloadRow(
                bytes(source.infohash), source.to_uri().encode(), "magnet", folder, name, False
            )
        else:
            row = DownloadRow(
                bytes(source), bytes(source).hex().encode(), "infohash", folder, name, False
            )
        if self.session.get(row.infohash) is not None:
            raise Conflict(f"torrent {row.infohash.hex()} is already downloading or shared")
        if row.name is None and not isinstance(source, Metainfo):
            # Until the metadata comes, the name its card gives (not 40 hex digits).
            card = self.catalogue.by_infohash(row.infohash)
            if card is not None:
                row = replace(row, name=card.name)
        await self._add_torrent(row)
        self.state.add_download(row)
        return self.download_json(row.infohash)

    async def _add_torrent(self, row: DownloadRow) -> Torrent:
        source: Metainfo | Magnet | Info | bytes
        if row.kind == "info":
            source = Info.from_bytes(row.source, as_infohash(row.infohash))
        elif row.kind == "torrent":
            source = parse_torrent(row.source)
        elif row.kind == "magnet":
            source = parse_magnet(row.source.decode())
        else:
            source = as_infohash(row.infohash)
        save = self.config.downloads / row.folder if row.folder else self.config.downloads
        save.mkdir(parents=True, exist_ok=True)
        torrent = await self.session.add(source, save)
        if row.name and torrent.info is None:
            torrent.name = row.name
        self._folders[row.infohash] = row.folder
        if row.paused:
            torrent.pause()
        return torrent

    def _download(self, infohash: bytes) -> Torrent:
        torrent = self.session.get(infohash)
        if torrent is None or infohash in self._shares:
            raise NotFound(f"no download {infohash.hex()}")
        return torrent

    def download_json(self, infohash: bytes) -> dict[str, Any]:
        torrent = self._download(infohash)
        status = torrent.status()
        return {
            "id": infohash.hex(),
            "infohash": infohash.hex(),
            "name": status.name,
            "state": STATES.get(torrent.state, "downloading"),
            "total_size": status.total_bytes,
            "verified_bytes": status.verified_bytes,
            "rate": round(status.download_rate, 1),
            "peers": status.peers,
            "eta": status.eta,
            "folder": self._folders.get(infohash, ""),
            # Where the content is on disk, once the metadata names it.
            "path": None if torrent.info is None else str(torrent.save_path / torrent.info.name),
            "error": status.error,
        }

    def download_ids(self) -> list[bytes]:
        return [
            bytes(t.info_hash) for t in self.session.torrents if t.info_hash not in self._shares
        ]

    def pause(self, infohash: bytes) -> dict[str, Any]:
        self._download(infohash).pause()
        self.state.set_paused(infohash, True)
        return self._changed(infohash)

    def resume(self, infohash: bytes) -> dict[str, Any]:
        self._download(infohash).resume_download()
        self.state.set_paused(infohash, False)
        return self._changed(infohash)

    async def remove(self, infohash: bytes) -> tuple[dict[str, Any], Path | None]:
        """Stop and forget a download; returns its last state and where its data is."""
        torrent = self._download(infohash)
        last = self.download_json(infohash)
        data = torrent.save_path / torrent.info.name if torrent.info is not None else None
        await self.session.remove(infohash)
        self.state.remove_download(infohash)
        if self.session.resume is not None:
            self.session.resume.forget(as_infohash(infohash))
        self._folders.pop(infohash, None)
        self._last_status.pop(infohash, None)
        return last, data

    # -- events -------------------------------------------------------------------
    async def events(self) -> AsyncIterator[tuple[str, dict[str, Any]]]:
        """Download progress as ("download", Download JSON) until the node stops."""
        queue: asyncio.Queue[tuple[str, dict[str, Any]] | None] = asyncio.Queue(maxsize=1024)
        self._subscribers.add(queue)
        try:
            if self.closed.is_set():
                return
            for infohash in self.download_ids():
                yield "download", self.download_json(infohash)
            while (event := await queue.get()) is not None:
                yield event
        finally:
            self._subscribers.discard(queue)

    def _broadcast(self, name: str, data: dict[str, Any]) -> None:
        for queue in self._subscribers:
            with contextlib.suppress(asyncio.QueueFull):  # a stalled reader misses events
                queue.put_nowait((name, data))
                self.counters.events_sent += 1

    def _changed(self, infohash: bytes) -> dict[str, Any]:
        data = self.download_json(infohash)
        if self._last_status.get(infohash) != data:
            self._last_status[infohash] = data
            self._broadcast("download", data)
        return data

    async def _progress(self) -> None:
        """Sample every download a few times a second; an event only when it changed."""
        while True:
            for infohash in self.download_ids():
                torrent = self.session.get(infohash)
                if torrent is None:
                    continue
                if torrent.info is not None and infohash not in self._with_info:
                    self._with_info.add(infohash)
                    self.state.set_info(infohash, torrent.info.raw, torrent.info.name)
                self._changed(infohash)
            await asyncio.sleep(self.config.progress_interval)

    async def wait_for(self, infohash: bytes, states: set[str]) -> dict[str, Any]:
        """Until the download reaches one of ``states`` (through the event stream)."""
        async for _, data in self.events():
            if data["infohash"] == infohash.hex() and data["state"] in states:
                return data
        raise NotFound("the node stopped")


def _card(prepared: Prepared) -> Card:
    info = prepared.metainfo.info
    return Card.create(
        bytes(prepared.metainfo.infohash),
        info.name,
        info.total_length,
        len(info.files),
        prepared.created,
        prepared.signature,
    )


def _enlarge_buffers(dht: DhtNode) -> None:
    sock = dht.socket
    for option in (socket.SO_RCVBUF, socket.SO_SNDBUF):
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, option, UDP_BUFFER)
