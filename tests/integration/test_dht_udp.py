"""The DHT's UDP endpoint on 127.0.0.1: one wakeup reads every waiting datagram, and
datagrams the kernel will not take yet are queued in order, not lost."""

from __future__ import annotations

import asyncio
import socket

import pytest

from swarmseek.discovery import udp
from swarmseek.discovery.udp import Datagram, UdpEndpoint

pytestmark = pytest.mark.timeout(30)


class Collector:
    """Receives batches; ``wait(n)`` returns once n datagrams have arrived."""

    def __init__(self) -> None:
        self.batches: list[list[Datagram]] = []
        self._want = 0
        self._ready: asyncio.Future[None] | None = None

    def __call__(self, batch: list[Datagram]) -> None:
        self.batches.append(batch)
        if self._ready is not None and not self._ready.done() and self.count >= self._want:
            self._ready.set_result(None)

    @property
    def count(self) -> int:
        return sum(len(b) for b in self.batches)

    async def wait(self, n: int) -> None:
        if self.count >= n:
            return
        self._want = n
        self._ready = asyncio.get_running_loop().create_future()
        await asyncio.wait_for(self._ready, 10)  # bounds a failure only


async def test_one_wakeup_reads_every_waiting_datagram() -> None:
    # Regression: asyncio's datagram transport read one datagram per loop turn, so a
    # node's replies waited in the socket buffer behind every other ready callback.
    got = Collector()
    endpoint = await UdpEndpoint.open("127.0.0.1", 0, got)
    sender = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        sender.bind(("127.0.0.1", 0))
        for i in range(50):  # all queued before the loop runs again
            sender.sendto(b"%d" % i, endpoint.get_extra_info("sockname"))
        await got.wait(50)
        assert [len(b) for b in got.batches] == [50]
        assert [data for data, _ in got.batches[0]] == [b"%d" % i for i in range(50)]
        assert {addr for _, addr in got.batches[0]} == {sender.getsockname()}
    finally:
        sender.close()
        endpoint.close()


class FullSocket(socket.socket):
    """A socket whose send buffer is 'full' until ``full`` is cleared."""

    full = True

    def sendto(self, data: bytes, addr: object) -> int:  # type: ignore[override]
        if self.full:
            raise BlockingIOError
        return super().sendto(data, addr)  # type: ignore[call-overload, no-any-return]


async def test_datagrams_wait_in_order_while_the_send_buffer_is_full() -> None:
    got = Collector()
    receiver = await UdpEndpoint.open("127.0.0.1", 0, got)
    sock = FullSocket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    endpoint = UdpEndpoint(sock, Collector(), asyncio.get_running_loop())
    try:
        for i in range(5):
            endpoint.sendto(b"%d" % i, receiver.get_extra_info("sockname"))
        assert got.count == 0
        sock.full = False  # the socket is writable: the queue drains on the next turn
        await got.wait(5)
        assert [data for b in got.batches for data, _ in b] == [b"%d" % i for i in range(5)]
        assert endpoint.send_dropped == 0
    finally:
        endpoint.close()
        receiver.close()


async def test_queue_is_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(udp, "MAX_BACKLOG", 3)
    sock = FullSocket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    endpoint = UdpEndpoint(sock, Collector(), asyncio.get_running_loop())
    try:
        for _ in range(10):
            endpoint.sendto(b"x", ("127.0.0.1", 9))
        assert endpoint.send_dropped == 7
    finally:
        endpoint.close()
    assert endpoint.is_closing() and sock.fileno() == -1


async def test_bad_address_is_not_fatal() -> None:
    got = Collector()
    endpoint = await UdpEndpoint.open("127.0.0.1", 0, got)
    try:
        endpoint.sendto(b"x", ("127.0.0.1", 0))  # EINVAL
        endpoint.sendto(b"y", endpoint.get_extra_info("sockname"))
        await got.wait(1)
        assert got.batches[0][0][0] == b"y"
    finally:
        endpoint.close()
