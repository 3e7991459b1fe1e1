"""Settings of a transfer session and the status it reports (frozen dataclasses)."""

from __future__ import annotations

import enum
from dataclasses import dataclass

from .mse_policy import EncryptionPolicy


class TorrentState(enum.Enum):
    METADATA = "metadata"  # magnet/infohash: fetching the info dictionary (BEP 9)
    CHECKING = "checking"  # verifying what is already on disk
    DOWNLOADING = "downloading"
    SEEDING = "seeding"  # every wanted piece verified on disk
    PAUSED = "paused"
    ERROR = "error"  # disk full, unwritable folder: see ``error``
    STOPPED = "stopped"


@dataclass(frozen=True, slots=True)
class SessionConfig:
    """One session's settings (libtorrent's names and defaults where they exist)."""

    host: str = "0.0.0.0"
    port: int = 0  # 0: any free port
    encryption: EncryptionPolicy = EncryptionPolicy.PREFER
    max_peers_per_torrent: int = 50  # libtorrent connections_limit is per session; 50 a torrent
    max_connections: int = 200
    max_half_open: int = 16  # outgoing connection attempts in flight per torrent
    upload_slots: int = 4  # BEP 3 tit-for-tat unchoke slots (plus one optimistic)
    connect_timeout: float = 10.0
    handshake_timeout: float = 20.0  # TCP connected -> BitTorrent handshake received (MSE included)
    # A peer that delivers none of its outstanding requests for this long is snubbed
    # and its blocks are requested from others (libtorrent request_timeout is 60 s; on
    # fast links a shorter one finishes sooner).
    request_timeout: float = 20.0
    keepalive_interval: float = 60.0  # BEP 3: keep-alives "generally sent once every two minutes"
    idle_timeout: float = 180.0  # nothing received for this long: disconnect
    rechoke_interval: float = 10.0  # BEP 3
    optimistic_interval: float = 30.0  # BEP 3
    resume_interval: float = 5.0  # seconds between resume-data commits while downloading
    tick: float = 1.0  # housekeeping period: rates, timeouts, keep-alives
    # Verified-or-not pieces waiting for hashing and writing; above high water every
    # peer's reads are paused until the queue drains below low water.
    disk_high_water: int = 8 << 20
    disk_low_water: int = 2 << 20
    # Hashing+writing threads (hashlib and pwrite release the GIL). On this VM a 1 MiB
    # pwrite into fresh page-cache pages takes 0.4-8 ms, so 2 left the event loop idle
    # 40-50% of a loaded 4-seeder download waiting for the disk queue; 4 halve that.
    disk_workers: int = 4
    # Aligned piece writes bypass the page cache (O_DIRECT, see directio.py): about a
    # third of a download's CPU went to copying into page-cache pages.
    direct_io: bool = True
    min_queue_depth: int = 16  # requests in flight before a peer's rate is known
    # A failed address is tried again after retry_first seconds, doubling with each
    # failure in a row up to retry_interval: one dial lost to a busy moment (a connect
    # or handshake timeout) no longer costs the whole interval, while an address that
    # keeps refusing is tried ever less often (libtorrent also backs off by failcount).
    retry_first: float = 1.0
    retry_interval: float = 30.0
    tracker_numwant: int = 50
    dht_interval: float = 300.0  # seconds between DHT get_peers/announce rounds


@dataclass(frozen=True, slots=True)
class TorrentStatus:
    """What the node's JSON API shows for one download."""

    info_hash: str  # 40 hex
    name: str
    state: str  # a TorrentState value
    total_bytes: int | None  # None until metadata is known
    verified_bytes: int
    download_rate: float  # bytes/s
    upload_rate: float
    peers: int
    seeds: int
    eta: float | None  # seconds, None when unknown
    uploaded: int
    downloaded: int
    error: str | None = None

    @property
    def progress(self) -> float:
        if not self.total_bytes:
            return 0.0
        return self.verified_bytes / self.total_bytes
