"""Announcing to HTTP (aiohttp) and UDP (BEP 15) trackers."""

from __future__ import annotations

import asyncio
import logging
import random
from dataclasses import dataclass
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from .errors import TrackerError
from .tracker import (
    Announce,
    AnnounceResponse,
    announce_url,
    parse_http_response,
    parse_udp_announce,
    parse_udp_connect,
    udp_announce_request,
    udp_connect_request,
)

if TYPE_CHECKING:
    import aiohttp

log = logging.getLogger(__name__)
MAX_HTTP_RESPONSE = 1024 * 1024  # see tracker.RESPONSE_LIMITS


@dataclass(frozen=True, slots=True)
class TrackerClientConfig:
    http_timeout: float = 15.0
    # BEP 15 retries after 15 * 2^n seconds up to n = 8; a CLI download cannot wait an
    # hour, so we try ``udp_attempts`` times starting at ``udp_timeout``.
    udp_timeout: float = 5.0
    udp_attempts: int = 3


async def announce(
    url: str,
    request: Announce,
    *,
    config: TrackerClientConfig = TrackerClientConfig(),
    session: aiohttp.ClientSession | None = None,
    rng: random.Random | None = None,
) -> AnnounceResponse:
    """Announce to one tracker URL (http, https or udp); raises ``TrackerError``."""
    scheme = urlsplit(url).scheme.lower()
    if scheme in ("http", "https"):
        return await _announce_http(url, request, config, session)
    if scheme == "udp":
        return await _announce_udp(url, request, config, rng or random.Random())
    raise TrackerError(f"unsupported tracker scheme in {url!r}")


async def _announce_http(
    url: str,
    request: Announce,
    config: TrackerClientConfig,
    session: aiohttp.ClientSession | None,
) -> AnnounceResponse:
    import aiohttp  # noqa: PLC0415 - lazily: 0.35 s of import a swarm without HTTP trackers skips

    own = session is None
    client = session or aiohttp.ClientSession()
    try:
        timeout = aiohttp.ClientTimeout(total=config.http_timeout)
        async with client.get(announce_url(url, request), timeout=timeout) as response:
            if response.status != 200:
                raise TrackerError(f"tracker {url} answered HTTP {response.status}")
            body = await response.content.read(MAX_HTTP_RESPONSE + 1)
            if len(body) > MAX_HTTP_RESPONSE:
                raise TrackerError(f"tracker {url} answer exceeds {MAX_HTTP_RESPONSE} bytes")
            return parse_http_response(body)
    except (aiohttp.ClientError, TimeoutError) as exc:
        raise TrackerError(f"tracker {url} unreachable: {exc or type(exc).__name__}") from None
    finally:
        if own:
            await client.close()


class _UdpExchange(asyncio.DatagramProtocol):
    def __init__(self) -> None:
        self.replies: asyncio.Queue[bytes] = asyncio.Queue(maxsize=16)

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        if not self.replies.full():
            self.replies.put_nowait(data)

    def error_received(self, exc: Exception) -> None:
        log.debug("UDP tracker socket error: %s", exc)


async def _announce_udp(
    url: str, request: Announce, config: TrackerClientConfig, rng: random.Random
) -> AnnounceResponse:
    parts = urlsplit(url)
    if parts.hostname is None or parts.port is None:
        raise TrackerError(f"UDP tracker URL {url!r} needs a host and a port")
    loop = asyncio.get_running_loop()
    transport, protocol = await loop.create_datagram_endpoint(
        _UdpExchange, remote_addr=(parts.hostname, parts.port)
    )
    try:
        tid = rng.getrandbits(32)
        reply = await _exchange(transport, protocol, udp_connect_request(tid), config)
        connection_id = parse_udp_connect(reply, tid)
        tid = rng.getrandbits(32)
        packet = udp_announce_request(connection_id, tid, request)
        return parse_udp_announce(await _exchange(transport, protocol, packet, config), tid)
    finally:
        transport.close()


async def _exchange(
    transport: asyncio.DatagramTransport,
    protocol: _UdpExchange,
    packet: bytes,
    config: TrackerClientConfig,
) -> bytes:
    timeout = config.udp_timeout
    for _ in range(config.udp_attempts):
        transport.sendto(packet)
        try:
            async with asyncio.timeout(timeout):
                return await protocol.replies.get()
        except TimeoutError:
            timeout *= 2  # BEP 15: back off exponentially
    raise TrackerError("UDP tracker did not answer")
