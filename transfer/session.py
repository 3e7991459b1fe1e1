"""A transfer session: one listening socket, many torrents, their peer sources.

::

    async with Session(SessionConfig(port=0), resume_db=path, dht=finder) as session:
        torrent = await session.add(metainfo_or_magnet_or_infohash, save_path,
                                    peers=[("127.0.0.1", 6881)])
        await torrent.finished.wait()        # complete (committed) or failed (.error)
        print(session.status(torrent.info_hash))

Every background task (torrents, tracker and DHT loops) belongs to the session's
TaskGroup and ends when the session exits; leaving commits every torrent's resume data.
"""

from __future__ import annotations

import asyncio
import logging
import os
import random
import sqlite3
from pathlib import Path
from types import TracebackType
from typing import Any

from .errors import TransferError
from .listener import Listener
from .magnet import Magnet
from .metainfo import Info, InfoHash, Metainfo, as_infohash
from .peer_io import PeerProtocol
from .peer_sources import PeerFinder, dht_loop, tracker_loop
from .resume import ResumeStore
from .swarm_config import SessionConfig, TorrentStatus
from .torrent import StorageFactory, Torrent

log = logging.getLogger(__name__)

Source = Metainfo | Magnet | Info | bytes
DEFAULT_CONFIG = SessionConfig()


def make_peer_id(rng: random.Random) -> bytes:
    """Azureus-style peer id: client code and version, then 12 random bytes."""
    return b"-SS0001-" + bytes(rng.getrandbits(8) for _ in range(12))


class Session:
    """Owns the listener, the torrents and their peer sources (see module docstring)."""

    def __init__(
        self,
        config: SessionConfig = DEFAULT_CONFIG,
        *,
        resume_db: Path | str | sqlite3.Connection | None = None,
        dht: PeerFinder | None = None,
        dht_announce: bool = True,
        rng: random.Random | None = None,
    ) -> None:
        self.config = config
        self.rng = rng or random.Random(int.from_bytes(os.urandom(8), "big"))
        self.peer_id = make_peer_id(self.rng)
        self.dht = dht
        self.dht_announce = dht_announce
        self._resume_db = resume_db
        self.resume: ResumeStore | None = None
        self._torrents: dict[bytes, Torrent] = {}
        self._sources: dict[bytes, list[asyncio.Task[Any]]] = {}
        self._runs: dict[bytes, asyncio.Task[None]] = {}
        self._tg: asyncio.TaskGroup | None = None
        self._listener: Listener | None = None
        self.listen_address: tuple[str, int] = (config.host, 0)

    # ---------------------------------------------------------------- context
    async def __aenter__(self) -> Session:
        db = self._resume_db
        if db is not None:
            if not isinstance(db, sqlite3.Connection):
                Path(db).parent.mkdir(parents=True, exist_ok=True)
                # Commits run in worker threads, one at a time (each torrent serialises its own).
                db = sqlite3.connect(db, check_same_thread=False)
            self.resume = ResumeStore(db)
        self._listener = Listener(
            self._route,
            lambda: list(self._torrents),
            policy=self.config.encryption,
            rng=self.rng,
            handshake_timeout=self.config.handshake_timeout,
            admit=self._admit,
        )
        self.listen_address = await self._listener.start(self.config.host, self.config.port)
        log.debug("session listening on %s:%s", *self.listen_address)
        self._tg = asyncio.TaskGroup()
        await self._tg.__aenter__()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        for info_hash in list(self._torrents):
            self._stop(info_hash)
        assert self._tg is not None
        try:
            # Not the body's exception: TaskGroup would wrap it in an ExceptionGroup.
            # Torrents are stopped, so children end; a child's error still surfaces.
            await self._tg.__aexit__(None, None, None)
        finally:
            if self._listener is not None:
                await self._listener.close()
            if self.resume is not None and not isinstance(self._resume_db, sqlite3.Connection):
                self.resume.close()

    @property
    def port(self) -> int:
        return self.listen_address[1]

    # --------------------------------------------------------------- torrents
    async def add(
        self,
        source: Source,
        save_path: Path | str,
        *,
        peers: list[tuple[str, int]] | tuple[tuple[str, int], ...] = (),
        trackers: list[str] | tuple[str, ...] = (),
        seed_mode: bool = False,
        storage_factory: StorageFactory | None = None,
    ) -> Torrent:
        """Start downloading/seeding ``source`` into ``save_path`` (content at save_path/name)."""
        if self._tg is None:
            raise TransferError("the session is not running")
        info, info_hash, name, extra_trackers, extra_peers = _describe(source)
        if info_hash in self._torrents:
            raise TransferError(f"torrent {info_hash.hex()} is already in the session")
        torrent = Torrent(
            info_hash,
            config=self.config,
            peer_id=self.peer_id,
            save_path=Path(save_path),
            info=info,
            name=name,
            resume=self.resume,
            seed_mode=seed_mode,
            storage_factory=storage_factory,
            rng=random.Random(self.rng.getrandbits(64)),
            listen_port=lambda: self.port,
        )
        self._torrents[info_hash] = torrent
        self._runs[info_hash] = self._tg.create_task(torrent.run())
        tasks = [
            self._tg.create_task(
                tracker_loop(torrent, url, lambda: self.port, self.config.tracker_numwant)
            )
            for url in dict.fromkeys((*extra_trackers, *trackers))
        ]
        if self.dht is not None:
            tasks.append(
                self._tg.create_task(
                    dht_loop(
                        torrent,
                        self.dht,
                        lambda: self.port,
                        announce_self=self.dht_announce,
                        interval=self.config.dht_interval,
                    )
                )
            )
        self._sources[info_hash] = tasks
        torrent.add_peers([*extra_peers, *peers])
        log.debug("added %s (%s)", torrent.name, info_hash.hex())
        return torrent

    def get(self, info_hash: bytes) -> Torrent | None:
        return self._torrents.get(bytes(info_hash))

    @property
    def torrents(self) -> list[Torrent]:
        return list(self._torrents.values())

    def status(self, info_hash: bytes) -> TorrentStatus:
        return self._require(info_hash).status()

    def pause(self, info_hash: bytes) -> None:
        self._require(info_hash).pause()

    def resume_torrent(self, info_hash: bytes) -> None:
        self._require(info_hash).resume_download()

    async def remove(self, info_hash: bytes) -> None:
        """Stop a torrent (its resume data is committed) and forget it; files stay."""
        run = self._runs.get(bytes(info_hash))
        self._stop(bytes(info_hash))
        if run is not None:
            await asyncio.wait({run})

    def _stop(self, info_hash: bytes) -> None:
        torrent = self._torrents.pop(info_hash, None)
        for task in self._sources.pop(info_hash, []):
            task.cancel()
        self._runs.pop(info_hash, None)
        if torrent is not None:
            torrent.stop()

    def _require(self, info_hash: bytes) -> Torrent:
        torrent = self._torrents.get(bytes(info_hash))
        if torrent is None:
            raise TransferError(f"no torrent {bytes(info_hash).hex()} in the session")
        return torrent

    # -------------------------------------------------------------- listener
    def _admit(self) -> bool:
        return sum(len(t.peers) for t in self._torrents.values()) < self.config.max_connections

    def _route(self, info_hash: bytes, proto: PeerProtocol) -> bool:
        torrent = self._torrents.get(info_hash)
        return torrent is not None and torrent.attach_incoming(proto)


def _describe(
    source: Source,
) -> tuple[Info | None, InfoHash, str | None, tuple[str, ...], tuple[tuple[str, int], ...]]:
    if isinstance(source, Metainfo):
        return source.info, source.infohash, source.info.name, source.trackers, ()
    if isinstance(source, Info):
        return source, source.infohash, source.name, (), ()
    if isinstance(source, Magnet):
        return None, source.infohash, source.name, source.trackers, source.peers
    if len(source) != 20:
        raise TransferError("an infohash is 20 bytes")
    return None, as_infohash(bytes(source)), None, (), ()
