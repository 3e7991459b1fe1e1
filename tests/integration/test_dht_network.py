"""Hundreds of real DhtNodes on 127.0.0.1 (UDP, port 0) in one event loop."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import random
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from swarmseek.discovery import (
    CasConflict,
    DhtConfig,
    DhtNode,
    KeyPair,
    LookupFailed,
    sign_item,
    update_mutable,
)
from swarmseek.discovery.routing import distance

pytestmark = pytest.mark.timeout(120)


def config(
    rng: random.Random, bootstrap: list[DhtNode], timeout: float = 1.0, **kw: object
) -> DhtConfig:
    boot = tuple(n.address for n in rng.sample(bootstrap, min(8, len(bootstrap))))
    return DhtConfig(
        host="127.0.0.1",
        bootstrap=boot,
        node_id=rng.randbytes(20),
        rate_limit=1e6,  # every node shares 127.0.0.1
        rate_burst=1e6,
        # Short enough that dead nodes cost little, long enough for a loaded CI box:
        # every node shares one event loop, which reads one datagram per socket per turn.
        query_timeout=timeout,
        **kw,  # type: ignore[arg-type]
    )


class Network:
    def __init__(self) -> None:
        self.nodes: list[DhtNode] = []
        self.stacks: dict[int, contextlib.AsyncExitStack] = {}

    async def add(self, node: DhtNode) -> DhtNode:
        stack = contextlib.AsyncExitStack()
        await stack.enter_async_context(node)
        self.nodes.append(node)
        self.stacks[id(node)] = stack
        return node

    async def kill(self, node: DhtNode) -> None:
        self.nodes.remove(node)
        await self.stacks.pop(id(node)).aclose()

    async def close(self) -> None:
        for stack in self.stacks.values():
            await stack.aclose()


@contextlib.asynccontextmanager
async def network(n: int, seed: int, timeout: float = 1.0) -> AsyncIterator[Network]:
    """Each node bootstraps from 8 random earlier ones, then all look themselves up."""
    rng = random.Random(seed)
    net = Network()
    try:
        for i in range(n):
            await net.add(DhtNode(config(rng, net.nodes, timeout), rng=random.Random(i)))
        await asyncio.gather(*(node.bootstrap() for node in net.nodes))
        yield net
    finally:
        await net.close()


async def test_find_node_finds_true_k_closest_on_200_nodes() -> None:
    # No node dies here, so a generous timeout costs nothing and keeps a slow,
    # shared CI machine from turning a late answer into a miss.
    async with network(200, 1, timeout=5.0) as net:
        rng = random.Random(2)
        all_ids = [n.node_id for n in net.nodes]
        concurrent = asyncio.Semaphore(10)  # a busy node, not a packet storm

        async def one(node: DhtNode, target: bytes) -> bool:
            async with concurrent:
                found = [nid for nid, _ in await node.find_node(target)]
            own = node.node_id
            truth = sorted((i for i in all_ids if i != own), key=lambda i: distance(i, target))
            return found == truth[:8]

        lookups = [one(rng.choice(net.nodes), rng.randbytes(20)) for _ in range(200)]
        results = await asyncio.gather(*lookups)
        assert sum(results) >= 198


async def test_announce_put_get_and_20_percent_killed() -> None:
    async with network(200, 3) as net:
        rng = random.Random(4)
        publisher, reader = net.nodes[10], net.nodes[150]
        infohash = rng.randbytes(20)
        assert await publisher.announce_peer(infohash, 6881) >= 1
        assert await reader.get_peers(infohash) == [("127.0.0.1", 6881)]
        # implied_port: the announcer's UDP port
        other = rng.randbytes(20)
        await publisher.announce_peer(other)
        assert await reader.get_peers(other) == [publisher.address]

        target = await publisher.put_immutable({b"name": b"ubuntu.iso", b"size": 123})
        assert target == hashlib.sha1(b"d4:name10:ubuntu.iso4:sizei123ee").digest()
        assert await reader.get_immutable(target) == {b"name": b"ubuntu.iso", b"size": 123}
        assert await reader.get_immutable(rng.randbytes(20)) is None

        keys = KeyPair.from_seed(rng.randbytes(32))
        await publisher.put_mutable(sign_item(keys, b"v1", 1, b"leaf"))
        item = await reader.get_mutable(keys.public_key, b"leaf")
        assert item is not None and item.seq == 1 and item.value == b"v1"
        await reader.put_mutable(sign_item(keys, b"v2", 2, b"leaf"), cas=1)
        with pytest.raises(CasConflict) as info:
            await publisher.put_mutable(sign_item(keys, b"v2'", 2, b"leaf"), cas=1)
        assert info.value.current_seq == 2
        written = await update_mutable(publisher, keys, b"leaf", lambda old: old + b"+")
        assert written is not None and written.seq == 3
        latest = await net.nodes[77].get_mutable(keys.public_key, b"leaf")
        assert latest is not None and latest.value == b"v2+"

        # 20% of the nodes vanish without a word.
        victims = rng.sample([n for n in net.nodes if n not in (publisher, reader)], 40)
        for victim in victims:
            await net.kill(victim)
        readers = rng.sample(net.nodes, 10)
        values = await asyncio.gather(*(r.get_immutable(target) for r in readers))
        assert all(v == {b"name": b"ubuntu.iso", b"size": 123} for v in values)
        items = await asyncio.gather(*(r.get_mutable(keys.public_key, b"leaf") for r in readers))
        assert all(i is not None and i.seq == 3 for i in items)
        peers = await asyncio.gather(*(r.get_peers(infohash) for r in readers))
        assert all(p == [("127.0.0.1", 6881)] for p in peers)


async def test_restart_from_sqlite_is_warm(tmp_path: Path) -> None:
    rng = random.Random(9)
    db = tmp_path / "node.sqlite"
    # 9 nodes: a put from one reaches the k=8 others, so the persistent node holds it.
    async with network(8, 5) as net:
        persistent = await net.add(DhtNode(config(rng, net.nodes, sqlite_path=db)))
        await persistent.bootstrap()
        first_id = persistent.node_id
        assert persistent.stats().routing_nodes >= 8
        target = await net.nodes[0].put_immutable(b"remember me")
        stored = persistent.core.items.get(target, asyncio.get_running_loop().time())
        assert stored is not None
        await net.kill(persistent)
        again = DhtConfig(host="127.0.0.1", sqlite_path=db, rate_limit=1e6, rate_burst=1e6)
        async with DhtNode(again) as restarted:
            assert restarted.node_id == first_id
            assert len(restarted.core.routing) >= 8
            assert await restarted.get_immutable(target) == b"remember me"
            # a newcomer that knows only the restarted node still finds the network
            cold = DhtConfig(host="127.0.0.1", bootstrap=(restarted.address,), read_only=True)
            async with DhtNode(cold) as newcomer:
                assert await newcomer.get_immutable(target) == b"remember me"


async def run_cli(*args: str) -> tuple[int, str, str]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "swarmseek.api.cli",
        "dht",
        *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await proc.communicate()
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()


async def test_cli_commands_against_a_loopback_dht(tmp_path: Path) -> None:
    async with network(20, 7) as net:
        boot = ["--bootstrap", "{}:{}".format(*net.nodes[0].address), "--json", "--timeout", "20"]
        code, out, _ = await run_cli("put", "hello world", *boot)
        assert code == 0
        target = json.loads(out)["target"]
        assert target == hashlib.sha1(b"11:hello world").hexdigest()
        code, out, _ = await run_cli("get", target, *boot)
        assert code == 0 and json.loads(out)["value"] == "hello world"

        keyfile = tmp_path / "key.hex"
        code, out, err = await run_cli(
            "put-mutable", "v1", "--key", str(keyfile), "--salt", "s", *boot
        )
        assert code == 0 and "created" in err and keyfile.exists()
        public_key = json.loads(out)["public_key"]
        code, out, err = await run_cli(
            "put-mutable", "v2", "--key", str(keyfile), "--salt", "s", *boot
        )
        assert code == 0 and json.loads(out)["seq"] == 2 and "created" not in err
        code, out, _ = await run_cli("get", "--public-key", public_key, "--salt", "s", *boot)
        assert code == 0 and json.loads(out)["value"] == "v2" and json.loads(out)["seq"] == 2

        code, out, _ = await run_cli("ping", "{}:{}".format(*net.nodes[3].address), *boot)
        assert code == 0 and json.loads(out)["node_id"] == net.nodes[3].node_id.hex()

        infohash = bytes(range(20))
        await net.nodes[5].announce_peer(infohash, 4242)
        code, out, _ = await run_cli("get-peers", infohash.hex(), *boot)
        assert code == 0 and json.loads(out)["peers"] == ["127.0.0.1:4242"]

        code, out, _ = await run_cli("get", "00" * 20, *boot)
        assert code == 2 and json.loads(out)["found"] is False
        code, _, err = await run_cli("get", "zz", *boot)
        assert code == 1 and "TARGET_HEX" in err
        # read-only clients never entered anyone's routing table (BEP 43)
        known = {e.addr for n in net.nodes for e in n.core.routing.entries()}
        assert known <= {n.address for n in net.nodes}


async def test_a_get_nobody_answers_is_unknown_not_absent() -> None:
    # Regression: with every other node gone, a get read as "absent" (None).
    async with network(12, 21, timeout=0.3) as net:
        keys = KeyPair.from_seed(bytes(32))
        reader = net.nodes[0]
        assert await reader.get_mutable(keys.public_key, b"nothing here") is None  # absent
        for node in net.nodes[1:]:
            await net.kill(node)
        with pytest.raises(LookupFailed) as info:
            await reader.get_mutable(keys.public_key, b"nothing here")
        assert info.value.answered <= 1  # our own store, if we are among the closest
        with pytest.raises(LookupFailed):
            await reader.get_immutable(bytes(20))


@pytest.mark.parametrize(
    ("command", "says"),
    [("get", "could not tell whether the item exists"), ("get-peers", "whether anyone has it")],
)
async def test_cli_get_from_silent_nodes_says_unknown_not_not_found(
    command: str, says: str
) -> None:
    # get-peers regression: it printed an empty peer list and exited 0.
    loop = asyncio.get_running_loop()
    silent, _ = await loop.create_datagram_endpoint(  # takes every query, answers none
        asyncio.DatagramProtocol, local_addr=("127.0.0.1", 0)
    )
    try:
        host, port = silent.get_extra_info("sockname")[:2]
        code, out, err = await run_cli(command, "00" * 20, "--bootstrap", f"{host}:{port}")
    finally:
        silent.close()
    assert code == 3 and out == ""
    assert says in err


async def test_garbage_on_the_socket_does_not_hurt() -> None:
    rng = random.Random(12)
    async with network(3, 13) as net:
        target = net.nodes[0]
        loop = asyncio.get_running_loop()
        sender, _ = await loop.create_datagram_endpoint(
            asyncio.DatagramProtocol, local_addr=("127.0.0.1", 0)
        )
        try:
            for size in (0, 1, 20, 500, 1400, 9000):
                sender.sendto(rng.randbytes(size), target.address)
            sender.sendto(b"d1:ad2:id20:" + b"x" * 20 + b"e1:q4:ping1:t2:aa1:y1:qe", target.address)
            sender.sendto(b"d1:y1:re", target.address)
        finally:
            sender.close()
        # still serving: another node pings it and gets its id
        assert await net.nodes[1].ping(target.address) == target.node_id
        assert target.stats().dropped >= 1
