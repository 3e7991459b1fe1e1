"""A small tracker for local swarms: HTTP (BEP 3, compact BEP 23) and UDP (BEP 15)."""

from __future__ import annotations

import asyncio
import hashlib
import ipaddress
import logging
import random
import struct
import time
from collections import OrderedDict
from dataclasses import dataclass
from typing import TYPE_CHECKING, cast
from urllib.parse import unquote_to_bytes

from .errors import TrackerError
from .tracker import (
    ACTION_ANNOUNCE,
    ACTION_CONNECT,
    ACTION_ERROR,
    Announce,
    AnnounceResponse,
    Event,
    Peer,
    UdpAnnounceRequest,
    encode_compact_peers,
    encode_failure,
    encode_http_response,
    parse_udp_request,
)

if TYPE_CHECKING:
    from aiohttp import web

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class TrackerConfig:
    interval: int = 60
    max_torrents: int = 100_000
    max_peers_per_torrent: int = 2_000
    max_numwant: int = 200


class Swarms:
    """Who announced which torrent, with expiry. Pure: time is passed in."""

    def __init__(self, config: TrackerConfig, rng: random.Random | None = None) -> None:
        self.config = config
        self.rng = rng or random.Random()
        # info_hash -> peer -> (expires, is_seed); oldest torrents evicted first.
        self._swarms: OrderedDict[bytes, dict[Peer, tuple[float, bool]]] = OrderedDict()

    def announce(self, request: Announce, address: str, now: float) -> AnnounceResponse:
        peer = (request.ip or address, request.port)
        swarm = self._swarms.pop(request.info_hash, {})
        self._swarms[request.info_hash] = swarm
        self._expire(swarm, now)
        if request.event is Event.STOPPED:
            swarm.pop(peer, None)
        elif peer in swarm or len(swarm) < self.config.max_peers_per_torrent:
            swarm[peer] = (now + 2 * self.config.interval, request.left == 0)
        while len(self._swarms) > self.config.max_torrents:
            self._swarms.popitem(last=False)
        others = [p for p in swarm if p != peer]
        want = max(0, min(request.numwant, self.config.max_numwant))
        chosen = self.rng.sample(others, min(want, len(others)))
        seeds = sum(1 for _, seed in swarm.values() if seed)
        return AnnounceResponse(
            interval=self.config.interval,
            peers=chosen,
            min_interval=self.config.interval // 2,
            complete=seeds,
            incomplete=len(swarm) - seeds,
        )

    def _expire(self, swarm: dict[Peer, tuple[float, bool]], now: float) -> None:
        for peer in [p for p, (expires, _) in swarm.items() if expires < now]:
            del swarm[peer]


def _query_bytes(query_string: str, name: str) -> bytes | None:
    # info_hash and peer_id are raw bytes percent-encoded; aiohttp's query parser
    # would decode them as UTF-8, so read them from the raw query string.
    for part in query_string.split("&"):
        key, _, value = part.partition("=")
        if key == name:
            return unquote_to_bytes(value)
    return None


def _parse_http_announce(request: web.Request) -> Announce:
    query = request.query
    info_hash = _query_bytes(request.query_string, "info_hash")
    peer_id = _query_bytes(request.query_string, "peer_id")
    if info_hash is None or peer_id is None or "port" not in query:
        raise TrackerError("announce needs info_hash, peer_id and port")
    try:
        numbers = {
            name: int(query.get(name, "0")) for name in ("port", "uploaded", "downloaded", "left")
        }
        numwant = int(query.get("numwant", "50"))
        event = Event(query.get("event", ""))
    except ValueError:
        raise TrackerError("malformed announce parameter") from None
    ip = query.get("ip")
    if ip is not None:
        try:
            ip = str(ipaddress.ip_address(ip))
        except ValueError:
            ip = None
    return Announce(info_hash, peer_id, event=event, numwant=numwant, ip=ip, **numbers)


def make_tracker_app(swarms: Swarms) -> web.Application:
    from aiohttp import web  # noqa: PLC0415 - lazily: importing swarmseek.transfer skips aiohttp

    async def announce(request: web.Request) -> web.Response:
        try:
            parsed = _parse_http_announce(request)
            response = swarms.announce(parsed, request.remote or "127.0.0.1", time.monotonic())
            body = encode_http_response(response)
        except TrackerError as exc:
            body = encode_failure(str(exc))
        return web.Response(body=body, content_type="text/plain")

    app = web.Application()
    app.router.add_get("/announce", announce)
    return app


class UdpTrackerProtocol(asyncio.DatagramProtocol):
    """BEP 15 server side; connection ids are a keyed hash of the address and epoch."""

    def __init__(self, swarms: Swarms, secret: bytes) -> None:
        self.swarms = swarms
        self.secret = secret
        self.transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # CPython's selector datagram transport does not subclass DatagramTransport.
        self.transport = cast(asyncio.DatagramTransport, transport)

    def _connection_id(self, addr: tuple[str, int], epoch: int) -> int:
        digest = hashlib.sha256(self.secret + repr((addr, epoch)).encode()).digest()
        return int.from_bytes(digest[:8], "big")

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        assert self.transport is not None
        try:
            parsed = parse_udp_request(data)
        except TrackerError as exc:
            log.debug("bad UDP tracker datagram from %s: %s", addr, exc)
            return
        epoch = int(time.monotonic() // 60)
        if not isinstance(parsed, UdpAnnounceRequest):
            cid = self._connection_id(addr, epoch)
            self.transport.sendto(struct.pack("!IIQ", ACTION_CONNECT, parsed[1], cid), addr)
            return
        # BEP 15: a connection id is valid for 2 minutes.
        if parsed.connection_id not in (
            self._connection_id(addr, epoch),
            self._connection_id(addr, epoch - 1),
        ):
            message = b"invalid connection id"
            self.transport.sendto(
                struct.pack("!II", ACTION_ERROR, parsed.transaction_id) + message, addr
            )
            return
        response = self.swarms.announce(parsed.announce, addr[0], time.monotonic())
        v4 = [peer for peer in response.peers if ":" not in peer[0]]
        header = struct.pack(
            "!IIIII",
            ACTION_ANNOUNCE,
            parsed.transaction_id,
            response.interval,
            response.incomplete or 0,
            response.complete or 0,
        )
        self.transport.sendto(header + encode_compact_peers(v4), addr)


class TrackerServer:
    """HTTP and UDP tracker on one host; ``async with`` starts and stops both.

    Port 0 picks free ports; ``http_port`` and ``udp_port`` tell which.
    """

    def __init__(
        self, host: str = "127.0.0.1", port: int = 0, config: TrackerConfig | None = None
    ) -> None:
        self.host = host
        self.port = port
        self.swarms = Swarms(config or TrackerConfig())
        self.http_port = 0
        self.udp_port = 0
        self._runner: web.AppRunner | None = None
        self._udp: asyncio.DatagramTransport | None = None

    @property
    def announce_url(self) -> str:
        return f"http://{self.host}:{self.http_port}/announce"

    @property
    def udp_url(self) -> str:
        return f"udp://{self.host}:{self.udp_port}"

    async def __aenter__(self) -> TrackerServer:
        from aiohttp import web  # noqa: PLC0415 - lazily, as in make_tracker_app

        self._runner = web.AppRunner(make_tracker_app(self.swarms), access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port)
        await site.start()
        server = site._server
        assert server is not None
        sockets = getattr(server, "sockets", [])
        self.http_port = sockets[0].getsockname()[1]
        loop = asyncio.get_running_loop()
        secret = random.SystemRandom().randbytes(16)
        transport, _ = await loop.create_datagram_endpoint(
            lambda: UdpTrackerProtocol(self.swarms, secret),
            local_addr=(self.host, self.port if self.port else 0),
        )
        self._udp = transport
        self.udp_port = transport.get_extra_info("sockname")[1]
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        if self._udp is not None:
            self._udp.close()
        if self._runner is not None:
            await self._runner.cleanup()
