"""Issue 4: a libtorrent seeder announced in the DHT is found and downloaded by
``swarmseek get INFOHASH``; and the reverse: our seeder's announce is found by
libtorrent's ``dht_get_peers``. The DHT mixes libtorrent sessions and our nodes.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import sys
from pathlib import Path
from typing import Any

import libtorrent as lt
import pytest

from swarmseek.api.cmd_transfer import DhtFinder
from swarmseek.discovery import DhtNode
from swarmseek.transfer import Session
from tests.support.clients import lt_session, wait_until
from tests.support.mixed_dht import LT_DHT, MixedDht, lt_counters, mixed_dht, our_config, wait_lt
from tests.support.swarm_helpers import FAST, make_torrent, same_tree, wait_finished

pytestmark = [pytest.mark.interop, pytest.mark.timeout(120)]


async def run_cli(*args: str, timeout: float = 60) -> tuple[int, str, str]:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "swarmseek.api.cli",
        *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        async with asyncio.timeout(timeout):
            out, err = await process.communicate()
    except TimeoutError:
        process.kill()
        await process.wait()
        raise
    assert process.returncode is not None
    return process.returncode, out.decode(), err.decode()


async def found_by_our_nodes(net: MixedDht, infohash: bytes, peer: tuple[str, int]) -> None:
    # The announce is on the wire once libtorrent reports it; a lookup may overtake it
    # by a hair, so a bounded number of lookups (actions, not sleeps) must see it.
    for _ in range(10):
        for node in net.nodes:
            if peer in await node.get_peers(infohash):
                return
    raise AssertionError(f"no node of ours learnt {peer} for {infohash.hex()}")


async def test_get_infohash_finds_libtorrent_seeder_through_mixed_dht(tmp_path: Path) -> None:
    meta = make_torrent(tmp_path / "seed", {"lt.bin": 700_000})
    async with mixed_dht(6, 6) as net:
        mask = LT_DHT["alert_mask"] | lt.alert_category.dht_log
        seeder = lt_session(**{**LT_DHT, "alert_mask": mask})
        try:
            for addr in net.lt_addresses + [n.address for n in net.nodes]:
                seeder.add_dht_node(addr)
            # An announce before the routing table fills goes to nobody (libtorrent
            # logs "announce_peer ... nodes: 0"): wait until it knows k nodes.
            await asyncio.to_thread(
                wait_until, lambda: lt_counters(seeder, "dht.dht_nodes")["dht.dht_nodes"] >= 8
            )
            params = lt.add_torrent_params()
            params.ti = lt.torrent_info(meta.to_bytes())
            params.save_path = str(tmp_path / "seed")
            params.flags = lt.torrent_flags.seed_mode
            handle = seeder.add_torrent(params)
            await asyncio.to_thread(
                wait_until, lambda: handle.status().state == lt.torrent_status.seeding, seeder
            )
            port = int(seeder.listen_port())
            handle.force_dht_announce()

            def announced(alert: Any) -> Any:
                # only the seeder sends announce_peer for this infohash in this test
                return (
                    isinstance(alert, lt.dht_pkt_alert)
                    and b"1:q13:announce_peer" in alert.pkt_buf
                    and meta.infohash in alert.pkt_buf
                )

            await wait_lt(seeder, announced)
            await found_by_our_nodes(net, meta.infohash, ("127.0.0.1", port))
            # The CLI starts from a libtorrent node only.
            boot_host, boot_port = net.lt_addresses[0]
            code, out, err = await run_cli(
                "get",
                meta.infohash.hex(),
                "--out",
                str(tmp_path / "out"),
                "--dht-bootstrap",
                f"{boot_host}:{boot_port}",
                "--timeout",
                "40",
            )
            assert code == 0, err + out
        finally:
            seeder.pause()
    assert same_tree(tmp_path / "seed" / "lt.bin", tmp_path / "out" / "lt.bin")


async def test_libtorrent_get_peers_finds_our_seeder(tmp_path: Path) -> None:
    meta = make_torrent(tmp_path / "seed", {"ours.bin": 100_000})
    async with mixed_dht(6, 6) as net, contextlib.AsyncExitStack() as stack:
        config = our_config(tuple(n.address for n in net.nodes), random.Random(5))
        node = await stack.enter_async_context(DhtNode(config))
        await node.bootstrap()
        session = await stack.enter_async_context(Session(FAST, dht=DhtFinder(node)))
        torrent = await session.add(meta, tmp_path / "seed")
        await wait_finished(torrent)
        async with asyncio.timeout(30):
            await torrent.dht_announced.wait()
        _, our_port = session.listen_address
        asker = net.sessions[3]
        asker.dht_get_peers(lt.sha1_hash(meta.infohash))

        def peers(alert: Any) -> Any:
            if isinstance(alert, lt.dht_get_peers_reply_alert):
                return [tuple(p) for p in alert.peers()] or None
            return None

        assert ("127.0.0.1", our_port) in await wait_lt(asker, peers)
