"""Where peers come from: trackers (HTTP/UDP) and a DHT, as loops of a torrent's owner.

``transfer`` does not import ``discovery`` (DESIGN.md: arrows point one way), so the DHT
enters as a :class:`PeerFinder`: anything with ``get_peers``/``announce_peer`` that
raises :class:`PeerSourceError` (``swarmseek.api`` adapts a ``DhtNode``). Each loop runs
in the session's TaskGroup; intervals are timers, not waits for a state.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Protocol

from .errors import TrackerError, TransferError
from .swarm_config import TorrentState
from .tracker import Announce, Event
from .tracker_client import announce

if TYPE_CHECKING:
    from .torrent import Torrent

log = logging.getLogger(__name__)

# After a failed announce, wait this long before trying again (libtorrent's
# tracker_backoff starts around a minute).
TRACKER_RETRY = 60.0
# Never re-announce faster than this, whatever interval a tracker asks for.
MIN_ANNOUNCE_INTERVAL = 1.0
# A DHT round that did not do its job (no peer connected, an announce nobody took) is
# repeated this soon rather than after the regular interval.
DHT_RETRY = 15.0


class PeerSourceError(TransferError):
    """A peer source (DHT adapter) failed for now; the loop retries later."""


class PeerFinder(Protocol):
    """The part of a DHT node the swarm uses (``DhtNode`` has this shape)."""

    async def get_peers(self, infohash: bytes) -> list[tuple[str, int]]: ...

    async def announce_peer(self, infohash: bytes, port: int = 0) -> int: ...


def _left(torrent: Torrent) -> int:
    if torrent.total_length is None:
        return 1 << 40  # unknown: "a lot" (libtorrent sends a large value too)
    return max(0, torrent.total_length - torrent.verified_bytes)


async def tracker_loop(
    torrent: Torrent, url: str, port: Callable[[], int], numwant: int = 50
) -> None:
    """Announce started, re-announce at the tracker's interval, completed, stopped."""
    event = Event.STARTED
    completed_sent = torrent.complete

    async def send(kind: Event) -> float:
        request = Announce(
            info_hash=torrent.info_hash,
            peer_id=torrent.peer_id,
            port=port(),
            uploaded=torrent.uploaded,
            downloaded=torrent.downloaded,
            left=_left(torrent),
            event=kind,
            numwant=numwant,
        )
        response = await announce(url, request)
        peers = list(response.peers)
        log.debug("%s: tracker %s (%s): %d peers", torrent.name, url, kind.value or "-", len(peers))
        torrent.add_peers(peers)
        torrent.tracker_announced.set()
        return float(max(response.interval, response.min_interval or 0, MIN_ANNOUNCE_INTERVAL))

    try:
        while True:
            try:
                wait = await send(event)
                event = Event.NONE
            except TrackerError as exc:
                log.debug("%s: tracker %s failed: %s", torrent.name, url, exc)
                wait = TRACKER_RETRY
            if completed_sent or torrent.finished.is_set():
                await asyncio.sleep(wait)
            else:
                # asyncio.timeout, not wait_for: 3.11's wait_for can swallow a
                # cancellation that arrives as the event is set.
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(wait):
                        await torrent.finished.wait()
            if not completed_sent and torrent.complete:
                completed_sent = True
                event = Event.COMPLETED
    except asyncio.CancelledError:
        with contextlib.suppress(TrackerError, TimeoutError):
            async with asyncio.timeout(5.0):
                await send(Event.STOPPED)
        raise


async def dht_loop(
    torrent: Torrent,
    finder: PeerFinder,
    port: Callable[[], int],
    *,
    announce_self: bool,
    interval: float = 300.0,
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
) -> None:
    """Look peers up while downloading; announce ourselves when listening for others.
    A round comes every ``interval``, and sooner (``DHT_RETRY``) while it is needed: a
    download connected to no peer (the peers found may all be gone: a node restarted on
    another port leaves its old address in the DHT for half an hour), or a seeder whose
    last announce no node took (it started before any other node was up)."""
    step = min(interval, DHT_RETRY)
    while True:
        announced = await _dht_round(torrent, finder, port, announce_self)
        waited = 0.0
        while waited < interval:
            await sleep(step)
            waited += step
            if _starving(torrent) or announced is False:
                break


def _starving(torrent: Torrent) -> bool:
    return not torrent.complete and not torrent.peers and torrent.state is not TorrentState.PAUSED


async def _dht_round(
    torrent: Torrent, finder: PeerFinder, port: Callable[[], int], announce_self: bool
) -> bool | None:
    """One lookup (while downloading) and one announce (when listening); returns
    whether a node took the announce (None: none was made)."""
    if not torrent.complete:
        try:
            peers = await finder.get_peers(torrent.info_hash)
        except (PeerSourceError, OSError) as exc:
            log.debug("%s: DHT get_peers failed: %s", torrent.name, exc)
            peers = []
        log.debug("%s: DHT found %d peers", torrent.name, len(peers))
        torrent.add_peers(peers)
    if not announce_self or not port():
        return None
    try:
        accepted = await finder.announce_peer(torrent.info_hash, port())
    except (PeerSourceError, OSError) as exc:
        log.debug("%s: DHT announce failed: %s", torrent.name, exc)
        return False
    log.debug("%s: DHT announce accepted by %d nodes", torrent.name, accepted)
    torrent.dht_announced.set()
    return accepted > 0
