"""BEP 42 node-id checks, against the test vectors in the BEP."""

from __future__ import annotations

import random

import pytest

from swarmseek.discovery import DhtConfig, KrpcNode, krpc
from swarmseek.discovery.bep42 import crc32c, node_id_for_ip, valid_node_id
from swarmseek.discovery.krpc import Query

VECTORS = [
    ("124.31.75.21", "5fbfbff10c5d6a4ec8a88e4c6ab4c28b95eee401"),
    ("21.75.31.124", "5a3ce9c14e7a08645677bbd1cfe7d8f956d53256"),
    ("65.23.51.170", "a5d43220bc8f112a3d426c84764f8c2a1150e616"),
    ("84.124.73.14", "1b0321dd1bb1fe518101ceef99462b947a01ff41"),
    ("43.213.53.83", "e56f6cbf5b7c4be0237986d5243b87aa6d51305a"),
]


def test_crc32c_check_value() -> None:
    assert crc32c(b"123456789") == 0xE3069283  # the standard CRC-32C check value


@pytest.mark.parametrize(("ip", "node_id"), VECTORS)
def test_bep42_vectors(ip: str, node_id: str) -> None:
    assert valid_node_id(bytes.fromhex(node_id), ip)
    assert not valid_node_id(bytes.fromhex(node_id), "8.8.8.8")


def test_generated_ids_are_valid() -> None:
    rng = random.Random(1)
    for _ in range(50):
        ip = ".".join(str(rng.randrange(1, 224)) for _ in range(4))
        assert valid_node_id(node_id_for_ip(ip, rng), ip)


def test_local_addresses_exempt() -> None:
    assert valid_node_id(b"\x00" * 20, "127.0.0.1")
    assert valid_node_id(b"\x00" * 20, "192.168.1.1")


def test_enforcing_node_keeps_bad_ids_out_of_its_table() -> None:
    config = DhtConfig(enforce_node_id=True, rate_limit=1e9, rate_burst=1e9)
    node = KrpcNode(config, b"M" * 20, random.Random(0), 0.0)
    good = bytes.fromhex(VECTORS[0][1])
    for sender in (good, b"B" * 20):
        out = node.receive_datagram(
            krpc.encode_query(Query(b"t", b"ping", sender)), (VECTORS[0][0], 6881), 0.0
        )
        assert out  # answered either way
    assert node.routing.get(good) is not None
    assert node.routing.get(b"B" * 20) is None
