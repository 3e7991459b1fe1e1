"""One listening socket for every torrent of a session.

An incoming connection is told apart by its first bytes (``classify_incoming``): a
plaintext BitTorrent handshake names its torrent in bytes 28..48; an MSE handshake
names it by ``HASH('req2', SKEY)`` which ``req2_index`` over the session's infohashes
(magnet torrents without metadata included) resolves. Then the connection is handed to
``route(info_hash, protocol)``; unknown torrents, policy refusals and slow handshakes
are closed. All timing is one deadline per connection.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Callable

from .errors import MseError
from .mse import MseConfig, MseReceiver, req2_index
from .mse_policy import EncryptionPolicy, Incoming, classify_incoming
from .peer_io import PeerProtocol

log = logging.getLogger(__name__)

# BEP 3 handshake: 1 + 19 + 8 reserved bytes, then the 20-byte info hash.
_INFO_HASH_END = 48

Route = Callable[[bytes, PeerProtocol], bool]


class _Incoming(PeerProtocol):
    def __init__(self, listener: Listener) -> None:
        super().__init__()
        self._listener = listener
        self._deadline: asyncio.TimerHandle | None = None
        self._routed = False
        self.on_handshake_data = self._classify

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)
        listener = self._listener
        if not listener.admit():
            log.debug("refusing %s: connection limit", self.address)
            self.close("connection limit")
            return
        self._deadline = asyncio.get_running_loop().call_later(
            listener.handshake_timeout, self._timed_out
        )

    def connection_lost(self, exc: Exception | None) -> None:
        self._cancel_deadline()
        super().connection_lost(exc)

    def _timed_out(self) -> None:
        log.debug("incoming %s: handshake timed out", self.address)
        self.mse_timeout()
        self.close("handshake timed out")

    def _cancel_deadline(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None

    def _classify(self, _: PeerProtocol) -> None:
        listener = self._listener
        data = bytes(self._pending)
        try:
            kind = classify_incoming(data, listener.policy)
        except MseError as exc:
            log.info("incoming %s:%s refused: %s", *self.address, exc)
            self.close(str(exc))
            return
        if kind is Incoming.NEED_MORE:
            return
        if kind is Incoming.PLAINTEXT:
            if len(data) >= _INFO_HASH_END:
                self._route(data[28:_INFO_HASH_END])
            return
        self.on_handshake_data = None
        self._pending.clear()
        loop = asyncio.get_running_loop()
        machine = MseReceiver(
            listener.lookup(),
            rng=listener.rng,
            now=loop.time(),
            config=MseConfig(policy=listener.policy, handshake_timeout=listener.handshake_timeout),
        )
        done = self.start_mse(machine, data)
        done.add_done_callback(self._mse_finished)

    def _mse_finished(self, done: asyncio.Future[None]) -> None:
        if done.cancelled() or done.exception() is not None:
            log.debug("incoming %s: MSE failed: %s", self.address, done.exception())
            return
        self._route(self.mse_info_hash)

    def _route(self, info_hash: bytes) -> None:
        if self._routed:
            return
        self._routed = True
        self.on_handshake_data = None
        self._cancel_deadline()
        if not self._listener.route(info_hash, self):
            log.debug("incoming %s: unknown torrent %s", self.address, info_hash.hex())
            self.close("unknown torrent")


class Listener:
    """A TCP server; ``route(info_hash, protocol) -> bool`` takes identified peers."""

    def __init__(
        self,
        route: Route,
        info_hashes: Callable[[], list[bytes]],
        *,
        policy: EncryptionPolicy,
        rng: random.Random,
        handshake_timeout: float = 20.0,
        admit: Callable[[], bool] = lambda: True,
    ) -> None:
        self.route = route
        self._info_hashes = info_hashes
        self.policy = policy
        self.rng = rng
        self.handshake_timeout = handshake_timeout
        self.admit = admit
        self._server: asyncio.Server | None = None
        self._index: dict[bytes, bytes] = {}
        self._indexed: frozenset[bytes] = frozenset()

    def lookup(self) -> Callable[[bytes], bytes | None]:
        """The SKEY lookup for an MSE receiver, over the torrents now in the session."""
        current = frozenset(self._info_hashes())
        if current != self._indexed:
            self._index, self._indexed = req2_index(current), current
        return self._index.get

    async def start(self, host: str, port: int) -> tuple[str, int]:
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(lambda: _Incoming(self), host, port)
        sockname = self._server.sockets[0].getsockname()
        return str(sockname[0]), int(sockname[1])

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None
