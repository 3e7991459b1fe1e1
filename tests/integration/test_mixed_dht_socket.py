"""Regression: a DhtNode's UDP socket asks for a large receive buffer.

Found by the mixed libtorrent/swarmseek index test: libtorrent sessions answer a burst
of puts from their own threads at once, and with the OS default buffer (~200 KiB)
hundreds of replies were dropped while our event loop was busy, so whole puts failed
("no node stored the item"). The kernel caps the request at net.core.rmem_max.
"""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from swarmseek.discovery import DhtConfig, DhtError, DhtNode

pytestmark = pytest.mark.timeout(30)


def rmem_max() -> int:
    path = Path("/proc/sys/net/core/rmem_max")
    return int(path.read_text()) if path.exists() else 0


async def test_socket_receive_buffer_raised_to_what_the_os_allows() -> None:
    config = DhtConfig(host="127.0.0.1")
    async with DhtNode(config) as node:
        sock = node.socket
        granted = sock.getsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF)
    # Linux reports twice the granted size; the grant is min(request, rmem_max).
    assert granted >= min(config.recv_buffer, rmem_max())
    assert config.recv_buffer >= 1 << 20


async def test_zero_keeps_the_os_default() -> None:
    default = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    expected = default.getsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF)
    default.close()
    async with DhtNode(DhtConfig(host="127.0.0.1", recv_buffer=0)) as node:
        sock = node.socket
        assert sock.getsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF) == expected


async def test_socket_accessor_only_while_running() -> None:
    node = DhtNode(DhtConfig(host="127.0.0.1"))
    with pytest.raises(DhtError):
        node.socket  # noqa: B018 - the property raises
    async with node:
        assert node.socket.getsockname()[1] == node.address[1]
    with pytest.raises(DhtError):
        node.socket  # noqa: B018
