"""The one frozen configuration of a DHT node."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from .krpc import Address


@dataclass(frozen=True, slots=True)
class DhtConfig:
    """Everything a :class:`DhtNode` needs; defaults suit the public Mainline DHT.

    Loopback networks where every node shares 127.0.0.1 must raise ``rate_limit``
    and ``rate_burst`` (every node's traffic comes from one source IP).
    """

    host: str = "0.0.0.0"
    port: int = 0
    bootstrap: tuple[Address, ...] = ()
    node_id: bytes | None = None  # None: reuse the stored id, else a random one
    read_only: bool = False  # BEP 43: for short-lived clients
    sqlite_path: Path | None = None  # persist routing table and items here
    k: int = 8
    alpha: int = 3
    query_timeout: float = 2.0  # seconds before an unanswered query counts as failed
    # Seconds after which an unanswered query stops holding one of its lookup's alpha
    # slots: the next candidate is asked meanwhile, and the answer is still taken if it
    # comes before query_timeout (libtorrent's traversals widen their branch factor on a
    # short timeout the same way). A dead node then costs its lookup no round.
    query_slow: float = 0.5
    # Seconds a mutable get's write tokens are kept for a put of the same target (a
    # read-modify-write): the put then skips its own lookup. BEP 5 tokens live 5-10
    # minutes in libtorrent and here; a minute leaves a wide margin for other clients,
    # and a refused token falls back to a lookup. 0 turns reuse off.
    token_reuse: float = 60.0
    # A get that finds nothing says "absent" (None) only when this many of the k closest
    # nodes it asked answered (all of them, if fewer were asked); else it raises
    # LookupFailed ("unknown"). See GetOp._absent_or_unknown for why this number.
    read_quorum: int = 2
    rate_limit: float = 50.0  # queries per second accepted from one source IP
    rate_burst: float = 100.0
    max_pending: int = 2048  # outstanding queries we track (bounded transaction table)
    max_items: int = 1000  # BEP 44 items stored for others (libtorrent: 700)
    max_infohashes: int = 2000  # infohashes with announced peers
    max_peers_per_infohash: int = 100
    enforce_node_id: bool = False  # BEP 42: keep only ids valid for their IP in the table
    save_interval: float = 60.0  # seconds between saves to SQLite
    # SO_RCVBUF asked of the OS (capped by net.core.rmem_max). Replies to a burst of
    # queries arrive together; the default ~200 KiB drops them once a busy event
    # loop falls a few hundred datagrams behind (seen with libtorrent peers replying
    # from their own threads). libtorrent's own default is 0: the OS default.
    recv_buffer: int = 4 << 20

    def __post_init__(self) -> None:
        if self.node_id is not None and len(self.node_id) != 20:
            raise ValueError("a node id is 20 bytes")
        if self.k < 1 or self.alpha < 1:
            raise ValueError("k and alpha must be positive")
        if not 1 <= self.read_quorum <= self.k:
            raise ValueError("read_quorum must be between 1 and k")
        if self.query_slow <= 0 or self.query_timeout <= 0:
            raise ValueError("query_slow and query_timeout must be positive")
        if self.token_reuse < 0:
            raise ValueError("token_reuse must not be negative")
