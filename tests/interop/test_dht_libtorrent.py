"""A loopback DHT mixing libtorrent sessions and swarmseek nodes: each side routes the
other's queries, finds the other's BEP 44 items and the peers the other announced."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import random
from collections.abc import AsyncIterator, Callable
from typing import Any

import libtorrent as lt
import pytest

from swarmseek.discovery import DhtConfig, DhtNode, KeyPair, sign_item
from tests.support.clients import lt_expanded_secret, lt_session, wait_for_alert

pytestmark = [pytest.mark.interop, pytest.mark.timeout(180)]

# LIBTORRENT_NOTES.md: a loopback DHT where every node shares 127.0.0.1.
LT_DHT = {
    "enable_dht": True,
    "dht_restrict_routing_ips": False,
    "dht_restrict_search_ips": False,
    "dht_enforce_node_id": False,
    "dht_ignore_dark_internet": False,
    "dht_block_ratelimit": 100_000,
    "dht_upload_rate_limit": 10_000_000,
    "alert_mask": lt.alert_category.dht
    | lt.alert_category.dht_operation
    | lt.alert_category.dht_log
    | lt.alert_category.error,
}


async def wait_lt(session: Any, predicate: Callable[[Any], Any], timeout: float = 30.0) -> Any:
    # libtorrent blocks: wait in a thread so our nodes keep answering in the event loop.
    return await asyncio.to_thread(wait_for_alert, session, predicate, timeout)


class Mixed:
    def __init__(self, sessions: list[Any], nodes: list[DhtNode]) -> None:
        self.sessions = sessions
        self.nodes = nodes


@contextlib.asynccontextmanager
async def mixed_network(n_lt: int = 4, n_ours: int = 8) -> AsyncIterator[Mixed]:
    sessions = [lt_session(**LT_DHT) for _ in range(n_lt)]
    lt_addrs = [("127.0.0.1", s.listen_port()) for s in sessions]
    rng = random.Random(1)
    async with contextlib.AsyncExitStack() as stack:
        nodes: list[DhtNode] = []
        for _ in range(n_ours):
            config = DhtConfig(
                host="127.0.0.1",
                bootstrap=tuple(lt_addrs) + tuple(n.address for n in nodes[-4:]),
                node_id=rng.randbytes(20),
                rate_limit=1e6,
                rate_burst=1e6,
                query_timeout=1.0,
            )
            nodes.append(await stack.enter_async_context(DhtNode(config)))
        for session in sessions:
            for addr in lt_addrs + [n.address for n in nodes]:
                session.add_dht_node(addr)
        await asyncio.gather(*(n.bootstrap() for n in nodes))
        try:
            yield Mixed(sessions, nodes)
        finally:
            for session in sessions:
                session.pause()


async def test_each_side_routes_the_other() -> None:
    async with mixed_network() as net:
        lt_ports = {s.listen_port() for s in net.sessions}
        our_addrs = {n.address for n in net.nodes}
        # our routing tables hold libtorrent nodes (they answered our queries)
        for node in net.nodes:
            assert {e.addr[1] for e in node.core.routing.entries()} & lt_ports
        # libtorrent's routing table holds our nodes (it verified them by querying)
        session = net.sessions[0]
        lt_id = await net.nodes[0].ping(("127.0.0.1", session.listen_port()))
        session.dht_live_nodes(lt.sha1_hash(lt_id))

        def live(alert: Any) -> Any:
            if isinstance(alert, lt.dht_live_nodes_alert):
                return [(str(n["endpoint"][0]), int(n["endpoint"][1])) for n in alert.nodes] or [
                    ("none", 0)
                ]
            return None

        found = set(await wait_lt(session, live))
        assert found & our_addrs
        # a node of ours that knows only one libtorrent session finds our other nodes
        only_lt = DhtConfig(
            host="127.0.0.1", bootstrap=(("127.0.0.1", session.listen_port()),), read_only=True
        )
        async with DhtNode(only_lt) as newcomer:
            closest = await newcomer.find_node(net.nodes[3].node_id)
            assert closest[0][0] == net.nodes[3].node_id


async def test_immutable_items_both_ways() -> None:
    async with mixed_network() as net:
        target = await net.nodes[0].put_immutable(b"stored by swarmseek")
        session = net.sessions[1]
        session.dht_get_immutable_item(lt.sha1_hash(target))

        def got(alert: Any) -> Any:
            if isinstance(alert, lt.dht_immutable_item_alert):
                return ("item", alert.item)
            return None

        assert await wait_lt(session, got) == ("item", b"stored by swarmseek")

        writer = net.sessions[2]
        lt_target = bytes.fromhex(str(writer.dht_put_immutable_item(b"stored by libtorrent")))

        def put_done(alert: Any) -> Any:
            if isinstance(alert, lt.dht_put_alert):
                return alert.num_success or -1
            return None

        assert await wait_lt(writer, put_done) > 0
        assert await net.nodes[5].get_immutable(lt_target) == b"stored by libtorrent"


async def test_mutable_items_both_ways() -> None:
    async with mixed_network() as net:
        ours = KeyPair.from_seed(bytes(range(32)))
        await net.nodes[1].put_mutable(sign_item(ours, b"ours v7", 7, b"salt1"))
        session = net.sessions[0]
        session.dht_get_mutable_item(ours.public_key, b"salt1")

        def got(alert: Any) -> Any:
            if isinstance(alert, lt.dht_mutable_item_alert) and alert.seq == 7:
                return (alert.item, bytes(alert.key), alert.salt)
            return None

        item, key, salt = await wait_lt(session, got)
        assert item == b"ours v7" and key == ours.public_key and salt in (b"salt1", "salt1")

        theirs = KeyPair.from_seed(bytes(range(1, 33)))
        writer = net.sessions[3]
        writer.dht_put_mutable_item(
            lt_expanded_secret(theirs.seed), theirs.public_key, b"their value", b"salt2"
        )

        def put_done(alert: Any) -> Any:
            if isinstance(alert, lt.dht_put_alert):
                return alert.num_success or -1
            return None

        assert await wait_lt(writer, put_done) > 0
        fetched = await net.nodes[6].get_mutable(theirs.public_key, b"salt2")
        assert fetched is not None and fetched.value == b"their value" and fetched.seq >= 1


async def test_peers_both_ways() -> None:
    async with mixed_network() as net:
        infohash = hashlib.sha1(b"swarmseek announces").digest()
        await net.nodes[2].announce_peer(infohash, 51413)
        session = net.sessions[1]
        session.dht_get_peers(lt.sha1_hash(infohash))

        def peers(alert: Any) -> Any:
            if isinstance(alert, lt.dht_get_peers_reply_alert):
                return [tuple(p) for p in alert.peers()] or None
            return None

        assert ("127.0.0.1", 51413) in await wait_lt(session, peers)

        their_hash = hashlib.sha1(b"libtorrent announces").digest()
        announcer = net.sessions[2]
        announcer.dht_announce(lt.sha1_hash(their_hash), 6999, 0)

        def announce_sent(alert: Any) -> Any:
            return isinstance(alert, lt.dht_pkt_alert) and b"13:announce_peer" in alert.pkt_buf

        await wait_lt(announcer, announce_sent)
        # The announce is on the wire; a lookup can only overtake it by a hair, so a
        # bounded number of lookups (actions, not sleeps) must see it.
        for _ in range(5):
            found = await net.nodes[7].get_peers(their_hash)
            if ("127.0.0.1", 6999) in found:
                break
        assert ("127.0.0.1", 6999) in found
