"""The asyncio adapter: one UDP socket, one ``KrpcNode``, tasks owned by a TaskGroup.

``async with DhtNode(config) as node:`` binds the socket, loads saved state, starts
bootstrapping, and on exit stops its tasks and saves state. ``DhtNode`` implements
the ``ItemStore`` protocol (BEP 44 get/put) and the peer discovery the transfer
engine needs (``get_peers``, ``announce_peer``).
"""

from __future__ import annotations

import asyncio
import logging
import random
import socket
from collections.abc import Sequence
from types import TracebackType
from typing import TypeVar

from swarmseek.transfer import Value

from .config import DhtConfig
from .errors import DhtError
from .itemops import GetFound
from .items import MutableItem, immutable_target, mutable_target
from .itemstore import ItemStore
from .krpc import Address
from .node import KrpcNode, NodeStats, Outgoing
from .operations import PeersFound
from .persist import load_state, save_state
from .udp import Datagram, UdpEndpoint

log = logging.getLogger(__name__)
T = TypeVar("T")


class DhtNode:
    """A Mainline DHT node on one UDP socket (BEP 5, 42, 43, 44).

    ::

        config = DhtConfig(host="127.0.0.1", bootstrap=(("127.0.0.1", 6881),))
        async with DhtNode(config) as node:
            await node.bootstrap()
            target = await node.put_immutable(b"card")
            peers = await node.get_peers(infohash)

    It is an ``ItemStore``: ``put_*`` return once the k closest nodes that answered
    have stored the item (``PutError`` if none did, or for a mutable put fewer than
    half; ``CasConflict``/``SeqTooLow`` when a replica answers 301/302), and
    ``get_mutable`` returns the valid version most replicas hold (then the highest
    seq). The node's own store is one of the replicas when it is among the closest.
    A get returns None ("absent") only when enough of the k closest nodes answered
    without the item (``DhtConfig.read_quorum``); when too few answered it raises
    ``LookupFailed`` ("unknown").
    """

    def __init__(self, config: DhtConfig, *, rng: random.Random | None = None) -> None:
        self.config = config
        self._rng = rng or random.Random()
        self._core: KrpcNode | None = None
        self._transport: UdpEndpoint | None = None
        self._waiters: dict[int, asyncio.Future[object]] = {}
        self._tasks: asyncio.TaskGroup | None = None
        self._ticker: asyncio.Task[None] | None = None
        self._bootstrapped: asyncio.Future[object] | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._timer_when = 0.0  # the timer's deadline (read per batch: no method call)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._closed = False

    # -- lifecycle ----------------------------------------------------------------
    async def __aenter__(self) -> DhtNode:
        loop = self._loop = asyncio.get_running_loop()
        state = None
        if self.config.sqlite_path is not None:
            state = await asyncio.to_thread(load_state, self.config.sqlite_path)
        node_id = self.config.node_id or (state.node_id if state else None)
        node_id = node_id or self._rng.randbytes(20)
        self._core = KrpcNode(self.config, node_id, self._rng, loop.time())
        if state is not None:
            self._core.restore(state, loop.time())
        self._transport = await UdpEndpoint.open(
            self.config.host, self.config.port, self._datagrams
        )
        _raise_recv_buffer(self._transport.socket, self.config.recv_buffer)
        self._tasks = asyncio.TaskGroup()
        await self._tasks.__aenter__()
        self._ticker = self._tasks.create_task(self._save_loop())
        self._schedule()
        if self.config.bootstrap or len(self._core.routing):
            op_id = self._core.bootstrap(loop.time())
            self._bootstrapped = self._waiter(op_id)
            self._flush(self._core.datagrams_to_send())
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        assert self._tasks is not None and self._ticker is not None
        self._closed = True
        if self._timer is not None:
            self._timer.cancel()
        self._ticker.cancel()
        try:
            # Our own tasks only: the caller's exception is not the group's to wrap.
            await self._tasks.__aexit__(None, None, None)
        finally:
            for waiter in self._waiters.values():
                waiter.cancel()
            if self._transport is not None:
                self._transport.close()
            if self.config.sqlite_path is not None and self._core is not None:
                snapshot = self._core.snapshot(asyncio.get_running_loop().time())
                await asyncio.to_thread(save_state, self.config.sqlite_path, snapshot)

    async def _save_loop(self) -> None:
        loop = asyncio.get_running_loop()
        path = self.config.sqlite_path
        if path is None:
            return
        while True:
            await asyncio.sleep(self.config.save_interval)
            await asyncio.to_thread(save_state, path, self.core.snapshot(loop.time()))

    def _schedule(self) -> None:
        # One timer at the core's next deadline instead of polling: hundreds of idle
        # nodes in one loop then cost nothing between their timeouts.
        if self._core is None or self._closed:
            return
        when = self._core.next_wakeup()
        if self._timer is not None:
            if self._timer_when <= when:
                return
            self._timer.cancel()
        self._timer_when = when
        self._timer = asyncio.get_running_loop().call_at(when, self._on_timer, when)

    def _on_timer(self, when: float) -> None:
        self._timer = None
        # call_at may fire a clock tick early; the core must see its deadline reached
        now = max(asyncio.get_running_loop().time(), when)
        self._flush(self.core.tick(now))

    # -- plumbing -----------------------------------------------------------------
    @property
    def core(self) -> KrpcNode:
        if self._core is None:
            raise DhtError("the DHT node is not running (use 'async with')")
        return self._core

    @property
    def node_id(self) -> bytes:
        return self.core.node_id

    @property
    def address(self) -> Address:
        """The bound (host, port)."""
        if self._transport is None:
            raise DhtError("the DHT node is not running")
        host, port = self._transport.get_extra_info("sockname")[:2]
        return str(host), int(port)

    @property
    def socket(self) -> socket.socket:
        """The bound UDP socket, for socket options (buffer sizes). Reading from or
        writing to it directly would bypass the node: don't."""
        if self._transport is None or self._closed:
            raise DhtError("the DHT node is not running")
        return self._transport.socket

    def stats(self) -> NodeStats:
        """Routing table size, stored items and peers, traffic counters."""
        return self.core.stats()

    def _datagrams(self, batch: list[Datagram]) -> None:
        # Every datagram that was waiting, then one pass over finished operations and
        # the timer: answers are all in before any deadline is looked at. An operation
        # that finishes mid-batch (an immutable get's first value) is handed to its
        # caller first: the rest of the batch is read in the very next callback, still
        # ahead of the loop's due timers and of any later read.
        core, transport, loop = self._core, self._transport, self._loop
        if core is None or transport is None or loop is None or self._closed:
            return
        sendto, receive = transport.sendto, core.receive_datagram
        now = loop.time()
        last = len(batch) - 1
        for i, (data, addr) in enumerate(batch):
            for out, to in receive(data, addr, now):
                sendto(out, to)
            if i < last and core.has_events():
                self._deliver()
                loop.call_soon(self._datagrams, batch[i + 1 :])
                return
        self._deliver()

    def _send(self, out: list[Outgoing]) -> None:
        if self._transport is not None:
            for data, addr in out:
                self._transport.sendto(data, addr)

    def _flush(self, out: list[Outgoing]) -> None:
        self._send(out)
        self._deliver()

    def _deliver(self) -> None:
        # Finished operations to their callers, then the timer for what is pending.
        core = self.core
        if core.has_events():
            for event in core.events():
                waiter = self._waiters.pop(event.op_id, None)
                if waiter is not None and not waiter.done():
                    waiter.set_result(event.outcome)
        self._schedule()

    def _waiter(self, op_id: int) -> asyncio.Future[object]:
        future: asyncio.Future[object] = asyncio.get_running_loop().create_future()
        self._waiters[op_id] = future
        return future

    async def _run(self, start: int, kind: type[T]) -> T:
        future = self._waiter(start)
        self._flush(self.core.datagrams_to_send())
        outcome = await future
        if isinstance(outcome, DhtError):
            raise outcome
        if not isinstance(outcome, kind):
            raise DhtError(f"unexpected outcome {outcome!r}")
        return outcome

    def _now(self) -> float:
        return asyncio.get_running_loop().time()

    # -- BEP 5 ----------------------------------------------------------------------
    async def bootstrap(self, extra: Sequence[Address] = ()) -> list[tuple[bytes, Address]]:
        """Wait for the bootstrap lookup (started on entry, or now if there was nothing
        to start from); returns our closest nodes. With ``extra`` addresses, run a new
        lookup of our own id starting from them (like libtorrent's ``add_dht_node``)."""
        if extra:
            return await self._run(self.core.bootstrap(self._now(), tuple(extra)), list)
        if self._bootstrapped is None:
            self._bootstrapped = self._waiter(self.core.bootstrap(self._now()))
            self._flush(self.core.datagrams_to_send())
        result = await asyncio.shield(self._bootstrapped)
        return result if isinstance(result, list) else []

    async def ping(self, addr: Address) -> bytes:
        """Ping a node; returns its node id. Raises DhtError if it does not answer."""
        return await self._run(self.core.ping(addr, self._now()), bytes)

    async def find_node(self, target: bytes) -> list[tuple[bytes, Address]]:
        """The k closest nodes to ``target`` that answered, closest first."""
        return await self._run(self.core.find_node(target, self._now()), list)

    async def get_peers(self, infohash: bytes) -> list[Address]:
        """Peers announced for ``infohash`` (BEP 5 get_peers lookup)."""
        found = await self._run(self.core.get_peers(infohash, self._now()), PeersFound)
        return found.peers

    async def announce_peer(self, infohash: bytes, port: int = 0) -> int:
        """Announce that we have ``infohash`` on TCP ``port`` (0: our UDP port, BEP 5
        implied_port). Returns how many nodes accepted; raises PutError if none."""
        return await self._run(self.core.announce_peer(infohash, port, self._now()), int)

    # -- BEP 44 (the ItemStore protocol) -------------------------------------------
    async def get_immutable(self, target: bytes) -> Value | None:
        found = await self._run(self.core.get(target, self._now()), GetFound)
        return found.value if found.found else None

    async def put_immutable(self, value: Value) -> bytes:
        target = immutable_target(value)
        await self._run(self.core.put_immutable(value, self._now()), int)
        return target

    async def get_mutable(self, public_key: bytes, salt: bytes = b"") -> MutableItem | None:
        target = mutable_target(public_key, salt)
        start = self.core.get(target, self._now(), public_key=public_key, salt=salt)
        found = await self._run(start, GetFound)
        return found.item

    async def put_mutable(self, item: MutableItem, *, cas: int | None = None) -> None:
        """Put a signed item. Right after ``get_mutable`` of the same key and salt (a
        read-modify-write, as ``update_mutable`` does) it reuses that get's write tokens
        and skips its own lookup (``DhtConfig.token_reuse``)."""
        await self._run(self.core.put_mutable(item, self._now(), cas=cas), int)


def _raise_recv_buffer(sock: socket.socket, size: int) -> None:
    if size <= 0:
        return
    try:
        if sock.getsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF) < size:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, size)
    except OSError as exc:  # not fatal: the OS default still works, just drops more
        log.debug("SO_RCVBUF %d refused: %s", size, exc)


def _is_item_store(node: DhtNode) -> ItemStore:
    return node  # mypy checks here that DhtNode implements the ItemStore protocol
