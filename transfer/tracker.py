"""Tracker protocol codecs (pure): HTTP announce (BEP 3, 23) and UDP trackers (BEP 15).

No sockets here: ``tracker_client.py`` sends what these functions build, and
``tracker_server.py`` answers with what they encode.
"""

from __future__ import annotations

import ipaddress
import struct
from dataclasses import dataclass, field
from enum import Enum
from urllib.parse import quote_from_bytes

from .bencode import Limits, decode, encode
from .errors import TrackerError

# A tracker answer is a small dictionary plus 6 bytes a peer; 1 MiB holds ~170,000
# compact peers, far beyond any numwant, so anything larger is hostile.
RESPONSE_LIMITS = Limits(max_size=1024 * 1024, max_depth=8, max_tokens=200_000)
MAX_PEERS = 5000  # never keep more addresses than this from one answer
UDP_PROTOCOL_ID = 0x41727101980  # BEP 15 magic constant


class Event(Enum):
    NONE = ""
    STARTED = "started"
    STOPPED = "stopped"
    COMPLETED = "completed"


_UDP_EVENTS = {Event.NONE: 0, Event.COMPLETED: 1, Event.STARTED: 2, Event.STOPPED: 3}
_UDP_EVENTS_BACK = {number: event for event, number in _UDP_EVENTS.items()}

Peer = tuple[str, int]


@dataclass(frozen=True, slots=True)
class Announce:
    """What a client tells a tracker (BEP 3 'Trackers')."""

    info_hash: bytes
    peer_id: bytes
    port: int
    uploaded: int = 0
    downloaded: int = 0
    left: int = 0
    event: Event = Event.NONE
    numwant: int = 50
    key: int = 0
    ip: str | None = None

    def __post_init__(self) -> None:
        if len(self.info_hash) != 20 or len(self.peer_id) != 20:
            raise TrackerError("info_hash and peer_id are 20 bytes")
        if not 0 <= self.port < 65536:
            raise TrackerError(f"port {self.port} out of range")


@dataclass(frozen=True, slots=True)
class AnnounceResponse:
    interval: int
    peers: list[Peer] = field(default_factory=list)
    min_interval: int | None = None
    complete: int | None = None
    incomplete: int | None = None
    warning: str | None = None


# ---------------------------------------------------------------- HTTP (BEP 3, 23)


def announce_url(base: str, announce: Announce) -> str:
    """The GET URL for an HTTP announce; binary fields are percent-encoded bytes."""
    params = [
        ("info_hash", quote_from_bytes(announce.info_hash, safe="")),
        ("peer_id", quote_from_bytes(announce.peer_id, safe="")),
        ("port", str(announce.port)),
        ("uploaded", str(announce.uploaded)),
        ("downloaded", str(announce.downloaded)),
        ("left", str(announce.left)),
        ("compact", "1"),
        ("numwant", str(announce.numwant)),
        ("key", f"{announce.key:08x}"),
    ]
    if announce.event is not Event.NONE:
        params.append(("event", announce.event.value))
    query = "&".join(f"{name}={value}" for name, value in params)
    return f"{base}{'&' if '?' in base else '?'}{query}"


def parse_http_response(body: bytes) -> AnnounceResponse:
    """Decode an HTTP tracker's bencoded answer, compact (BEP 23) or not."""
    try:
        answer = decode(body, limits=RESPONSE_LIMITS, strict=False)
    except ValueError as exc:
        raise TrackerError(f"tracker sent invalid bencode: {exc}") from None
    if not isinstance(answer, dict):
        raise TrackerError("tracker answer is not a dictionary")
    failure = answer.get(b"failure reason")
    if failure is not None:
        raise TrackerError(f"tracker refused: {_text(failure)}")
    interval = answer.get(b"interval")
    if not isinstance(interval, int) or interval < 0:
        raise TrackerError("tracker answer lacks a valid interval")
    peers = _parse_peers(answer.get(b"peers", b""))
    peers6 = answer.get(b"peers6")
    if isinstance(peers6, bytes):
        peers += decode_compact_peers6(peers6)
    warning = answer.get(b"warning message")
    return AnnounceResponse(
        interval=interval,
        peers=peers[:MAX_PEERS],
        min_interval=_optional_int(answer.get(b"min interval")),
        complete=_optional_int(answer.get(b"complete")),
        incomplete=_optional_int(answer.get(b"incomplete")),
        warning=None if warning is None else _text(warning),
    )


def encode_http_response(response: AnnounceResponse) -> bytes:
    """The compact bencoded answer our tracker sends (IPv4 in peers, IPv6 in peers6)."""
    v4 = [peer for peer in response.peers if ":" not in peer[0]]
    v6 = [peer for peer in response.peers if ":" in peer[0]]
    answer: dict[bytes, object] = {
        b"interval": response.interval,
        b"peers": encode_compact_peers(v4),
    }
    if v6:
        answer[b"peers6"] = encode_compact_peers6(v6)
    if response.min_interval is not None:
        answer[b"min interval"] = response.min_interval
    if response.complete is not None:
        answer[b"complete"] = response.complete
    if response.incomplete is not None:
        answer[b"incomplete"] = response.incomplete
    return encode(answer)


def encode_failure(reason: str) -> bytes:
    return encode({b"failure reason": reason.encode()})


def _parse_peers(value: object) -> list[Peer]:
    if isinstance(value, bytes):
        return decode_compact_peers(value)
    if isinstance(value, list):
        peers: list[Peer] = []
        for entry in value[:MAX_PEERS]:
            if not isinstance(entry, dict):
                continue
            ip, port = entry.get(b"ip"), entry.get(b"port")
            if isinstance(ip, bytes) and isinstance(port, int) and 0 < port < 65536:
                try:
                    peers.append((str(ipaddress.ip_address(ip.decode("ascii"))), port))
                except (UnicodeDecodeError, ValueError):
                    continue  # a hostname or junk: BEP 3 allows names, we only dial addresses
        return peers
    raise TrackerError("tracker 'peers' is neither compact nor a list")


def decode_compact_peers(data: bytes) -> list[Peer]:
    """BEP 23: 6 bytes a peer, IPv4 address then port, network byte order."""
    if len(data) % 6:
        raise TrackerError("compact peer list length is not a multiple of 6")
    peers = []
    for offset in range(0, min(len(data), 6 * MAX_PEERS), 6):
        ip = str(ipaddress.IPv4Address(data[offset : offset + 4]))
        (port,) = struct.unpack_from("!H", data, offset + 4)
        if port:
            peers.append((ip, port))
    return peers


def decode_compact_peers6(data: bytes) -> list[Peer]:
    """BEP 7: 18 bytes a peer, IPv6 address then port."""
    if len(data) % 18:
        raise TrackerError("compact IPv6 peer list length is not a multiple of 18")
    peers = []
    for offset in range(0, min(len(data), 18 * MAX_PEERS), 18):
        ip = str(ipaddress.IPv6Address(data[offset : offset + 16]))
        (port,) = struct.unpack_from("!H", data, offset + 16)
        if port:
            peers.append((ip, port))
    return peers


def encode_compact_peers(peers: list[Peer]) -> bytes:
    return b"".join(
        ipaddress.IPv4Address(ip).packed + struct.pack("!H", port) for ip, port in peers
    )


def encode_compact_peers6(peers: list[Peer]) -> bytes:
    return b"".join(
        ipaddress.IPv6Address(ip).packed + struct.pack("!H", port) for ip, port in peers
    )


def _optional_int(value: object) -> int | None:
    return value if isinstance(value, int) and value >= 0 else None


def _text(value: object) -> str:
    return value.decode("utf-8", "replace")[:300] if isinstance(value, bytes) else repr(value)[:300]


# ---------------------------------------------------------------- UDP (BEP 15)

ACTION_CONNECT, ACTION_ANNOUNCE, ACTION_SCRAPE, ACTION_ERROR = 0, 1, 2, 3


def udp_connect_request(transaction_id: int) -> bytes:
    return struct.pack("!QII", UDP_PROTOCOL_ID, ACTION_CONNECT, transaction_id)


def udp_announce_request(connection_id: int, transaction_id: int, announce: Announce) -> bytes:
    ip = 0 if announce.ip is None else int(ipaddress.IPv4Address(announce.ip))
    return struct.pack(
        "!QII20s20sQQQIIIiH",
        connection_id,
        ACTION_ANNOUNCE,
        transaction_id,
        announce.info_hash,
        announce.peer_id,
        announce.downloaded,
        announce.left,
        announce.uploaded,
        _UDP_EVENTS[announce.event],
        ip,
        announce.key & 0xFFFFFFFF,
        announce.numwant,
        announce.port,
    )


def parse_udp_response(data: bytes, transaction_id: int) -> tuple[int, bytes]:
    """Check a UDP tracker datagram's header; return (action, body)."""
    if len(data) < 8:
        raise TrackerError("UDP tracker datagram shorter than its header")
    action, received_id = struct.unpack_from("!II", data)
    if received_id != transaction_id:
        raise TrackerError("UDP tracker answered another transaction")
    body = data[8:]
    if action == ACTION_ERROR:
        raise TrackerError(f"tracker refused: {body[:300].decode('utf-8', 'replace')}")
    return action, body


def parse_udp_connect(data: bytes, transaction_id: int) -> int:
    action, body = parse_udp_response(data, transaction_id)
    if action != ACTION_CONNECT or len(body) < 8:
        raise TrackerError("malformed UDP connect response")
    (connection_id,) = struct.unpack_from("!Q", body)
    return int(connection_id)


def parse_udp_announce(data: bytes, transaction_id: int) -> AnnounceResponse:
    action, body = parse_udp_response(data, transaction_id)
    if action != ACTION_ANNOUNCE or len(body) < 12:
        raise TrackerError("malformed UDP announce response")
    interval, leechers, seeders = struct.unpack_from("!III", body)
    peers_data = body[12:]
    peers_data = peers_data[: len(peers_data) - len(peers_data) % 6]
    return AnnounceResponse(
        interval=interval,
        peers=decode_compact_peers(peers_data),
        complete=seeders,
        incomplete=leechers,
    )


@dataclass(frozen=True, slots=True)
class UdpAnnounceRequest:
    """A UDP announce as a tracker server reads it."""

    connection_id: int
    transaction_id: int
    announce: Announce


def parse_udp_request(data: bytes) -> UdpAnnounceRequest | tuple[int, int]:
    """Server side: a connect request gives (protocol id, transaction id)."""
    if len(data) == 16:
        protocol, action, transaction_id = struct.unpack("!QII", data)
        if protocol != UDP_PROTOCOL_ID or action != ACTION_CONNECT:
            raise TrackerError("not a UDP tracker connect request")
        return protocol, transaction_id
    if len(data) < 98:
        raise TrackerError("UDP announce request too short")
    fields = struct.unpack_from("!QII20s20sQQQIIIiH", data)
    (
        cid,
        action,
        tid,
        info_hash,
        peer_id,
        downloaded,
        left,
        uploaded,
        event,
        ip,
        key,
        numwant,
        port,
    ) = fields
    if action != ACTION_ANNOUNCE or event not in _UDP_EVENTS_BACK:
        raise TrackerError("unsupported UDP tracker action")
    announce = Announce(
        info_hash,
        peer_id,
        port,
        uploaded,
        downloaded,
        left,
        _UDP_EVENTS_BACK[event],
        numwant if numwant >= 0 else 50,
        key,
        None if ip == 0 else str(ipaddress.IPv4Address(ip)),
    )
    return UdpAnnounceRequest(cid, tid, announce)
