"""A UDP socket on the asyncio loop that reads every waiting datagram per wakeup.

asyncio's datagram transport reads one datagram per readiness event, so a node that
sent alpha queries gets its alpha replies over alpha turns of the loop, each paying
for a ``select`` and every other ready callback in between; a busy loop (a whole
test network, or a node that also serves HTTP and peers) lets replies queue in the
socket buffer while their queries' timeouts come due. Here one wakeup drains the
socket (libtorrent's ``udp_socket`` reads in a loop until ``would_block`` the same
way) and the owner handles the batch before its timers run.

Sending goes straight to the socket; only when the kernel's send buffer is full are
datagrams queued (bounded) until the socket is writable again.
"""

from __future__ import annotations

import asyncio
import logging
import socket
from collections import deque
from collections.abc import Callable
from typing import Any

from .krpc import Address

log = logging.getLogger(__name__)

RECV_SIZE = 65536  # any UDP payload; the KRPC decoder itself rejects more than 8 KiB
# Datagrams read per wakeup: bounded so a flooded socket cannot starve the loop's
# other callbacks (timers, other sockets); what is left is read on the next turn.
MAX_BATCH = 256
# Datagrams queued while the send buffer is full. UDP may drop anyway and every query
# has a timeout, so past this bound new datagrams are dropped rather than held.
MAX_BACKLOG = 1024

Datagram = tuple[bytes, Address]


class UdpEndpoint:
    """A bound non-blocking UDP socket; ``receive`` is called with each batch read.

    It offers the part of ``asyncio.DatagramTransport`` its users read
    (``sendto``, ``get_extra_info("socket" | "sockname")``, ``close``).
    """

    def __init__(
        self,
        sock: socket.socket,
        receive: Callable[[list[Datagram]], None],
        loop: asyncio.AbstractEventLoop,
    ) -> None:
        self._sock = sock
        self._receive = receive
        self._loop = loop
        self._backlog: deque[Datagram] = deque()
        self._closing = False
        self.send_dropped = 0  # datagrams dropped because the backlog was full
        sock.setblocking(False)
        loop.add_reader(sock.fileno(), self._readable)

    @classmethod
    async def open(
        cls, host: str, port: int, receive: Callable[[list[Datagram]], None]
    ) -> UdpEndpoint:
        """Bind ``host``:``port`` (port 0: any free port) and start reading."""
        loop = asyncio.get_running_loop()
        # "" means every interface; IPv4's, since compact node infos are IPv4 (BEP 5)
        infos = await loop.getaddrinfo(
            host or "0.0.0.0", port, type=socket.SOCK_DGRAM, flags=socket.AI_PASSIVE
        )
        if not infos:
            raise OSError(f"cannot resolve {host!r}")
        family, kind, proto, _, addr = infos[0]
        sock = socket.socket(family, kind, proto)
        try:
            sock.bind(addr)
        except OSError:
            sock.close()
            raise
        return cls(sock, receive, loop)

    @property
    def socket(self) -> socket.socket:
        return self._sock

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        if name == "socket":
            return self._sock
        if name == "sockname":
            return self._sock.getsockname()
        return default

    def is_closing(self) -> bool:
        return self._closing

    def close(self) -> None:
        if self._closing:
            return
        self._closing = True
        self._loop.remove_reader(self._sock.fileno())
        if self._backlog:
            self._loop.remove_writer(self._sock.fileno())
            self._backlog.clear()
        self._sock.close()

    # -- receiving ------------------------------------------------------------------
    def _readable(self) -> None:
        batch: list[Datagram] = []
        recvfrom = self._sock.recvfrom
        for _ in range(MAX_BATCH):
            try:
                data, addr = recvfrom(RECV_SIZE)
            except (BlockingIOError, InterruptedError):
                break
            except OSError as exc:
                # ICMP port unreachable from a departed node (Linux reports it on the
                # next recvfrom): its query simply times out. Keep reading.
                log.debug("udp error: %s", exc)
                continue
            # an IPv4 socket's (host, port) as it is; an IPv6 one's 4-tuple cut to 2
            batch.append((data, addr if len(addr) == 2 else (addr[0], addr[1])))
        if batch:
            self._receive(batch)

    # -- sending --------------------------------------------------------------------
    def sendto(self, data: bytes, addr: Address) -> None:
        if self._closing:
            return
        if not self._backlog:
            try:
                self._sock.sendto(data, addr)
                return
            except (BlockingIOError, InterruptedError):
                self._loop.add_writer(self._sock.fileno(), self._writable)
            except (OSError, ValueError) as exc:  # e.g. a bogus address in a reply
                log.debug("sendto %s failed: %s", addr, exc)
                return
        if len(self._backlog) >= MAX_BACKLOG:
            self.send_dropped += 1
            return
        self._backlog.append((data, addr))

    def _writable(self) -> None:
        while self._backlog:
            data, addr = self._backlog[0]
            try:
                self._sock.sendto(data, addr)
            except (BlockingIOError, InterruptedError):
                return
            except (OSError, ValueError) as exc:
                log.debug("sendto %s failed: %s", addr, exc)
            self._backlog.popleft()
        self._loop.remove_writer(self._sock.fileno())
