"""The node's configuration and the small records it returns."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from swarmseek.discovery import Address
from swarmseek.transfer import EncryptionPolicy, Metainfo, TorrentState

DB_NAME = "node.sqlite"
# Loopback networks: every node shares 127.0.0.1, so per-IP limits must not apply
# (DhtConfig's docstring; DESIGN.md on libtorrent's dht_block_ratelimit).
LOOPBACK_RATE = 1e6
# UDP receive buffer: a batch of parallel lookups answers in bursts of hundreds of
# datagrams; the 208 KiB Linux default dropped them (measured: puts timed out at 64
# lookups in flight). libtorrent raises its socket buffers the same way.
UDP_BUFFER = 4 << 20

PUBLISH_ATTEMPTS = 3

STATES = {
    TorrentState.METADATA: "metadata",
    TorrentState.CHECKING: "checking",
    TorrentState.DOWNLOADING: "downloading",
    TorrentState.SEEDING: "complete",
    TorrentState.PAUSED: "paused",
    TorrentState.ERROR: "failed",
    TorrentState.STOPPED: "paused",
}


@dataclass(frozen=True, slots=True)
class NodeConfig:
    """Everything one node needs; defaults suit a node on the public network."""

    data_dir: Path
    dht_host: str = "0.0.0.0"
    dht_port: int = 0
    bootstrap: tuple[Address, ...] = ()
    peer_host: str = "0.0.0.0"
    peer_port: int = 0
    api_host: str = "127.0.0.1"
    api_port: int = 8600
    api_token: str | None = None
    encryption: EncryptionPolicy = EncryptionPolicy.PREFER
    download_dir: Path | None = None  # None: data_dir / "downloads"
    share_roots: tuple[Path, ...] = ()  # what may be shared or read; (): the home folder
    followed: tuple[bytes, ...] = ()  # public keys of curated namespaces to search too
    curated_seed: bytes | None = None  # our own curated namespace (32-byte ed25519 seed)
    republish_interval: float = 3600.0  # BEP 44: re-put hourly, items live 2 hours
    # Cards per batched PHT write. A leaf is rewritten once per batch that touches it,
    # so an import of the whole Debian catalogue (63,664 cards) in batches of 1000
    # rewrote most leaves 60 times; one batch writes each about once (bench_search).
    publish_batch: int = 100_000
    index_in_flight: int = 32  # DHT operations outstanding for the index at once
    # Name-similarity LSH (16 bands of 3-gram MinHash) costs ~8 more DHT items per card
    # (3.8 -> 12.2 on 5000 real names, 5.6x the CPU of publishing). Off by default: a
    # search no name matches tries typo corrections from the kw tree first, at no cost
    # to the index; with this on it then falls back to names like the words.
    name_similarity: bool = False
    loopback: bool = False  # a test or demo network: lift per-IP DHT limits
    dht_max_items: int = 1000
    dht_query_timeout: float = 2.0
    # A query unanswered this long frees its lookup's slot for the next candidate (it
    # may still answer until dht_query_timeout): a dead node then costs no round.
    dht_query_slow: float = 0.5
    persist_dht: bool = True  # keep routing table and stored items in the SQLite file
    progress_interval: float = 0.5  # seconds between download progress events
    resume_interval: float = 5.0

    @property
    def db_path(self) -> Path:
        return self.data_dir / DB_NAME

    @property
    def downloads(self) -> Path:
        return self.download_dir or self.data_dir / "downloads"


@dataclass(frozen=True, slots=True)
class Shared:
    infohash: bytes
    name: str
    size: int
    files: int
    magnet: str
    announced: int


@dataclass(frozen=True, slots=True)
class Prepared:
    """A share whose torrent and signature are computed, not yet seeded or published."""

    path: Path
    metainfo: Metainfo
    signature: tuple[int, ...]
    created: int


@dataclass(slots=True)
class NodeCounters:
    """What ``stats`` reports besides the DHT's and the index's own counters."""

    imported: int = 0
    import_queue: int = 0
    republish_runs: int = 0
    republish_puts: int = 0
    republish_seconds: float = 0.0
    republish_cards: int = 0
    events_sent: int = 0
    extra: dict[str, Any] = field(default_factory=dict)
