"""BEP 42 node-id restrictions (IPv4): ids derived from the node's external IP. Pure."""

from __future__ import annotations

import ipaddress
import random


# CRC-32C (Castagnoli), which BEP 42 uses. Written here because the standard library
# only has CRC-32 (zlib); 20 lines beat a dependency for 4 bytes of input.
def _table() -> list[int]:
    table = []
    for n in range(256):
        c = n
        for _ in range(8):
            c = (c >> 1) ^ 0x82F63B78 if c & 1 else c >> 1
        table.append(c)
    return table


_TABLE = _table()


def crc32c(data: bytes) -> int:
    crc = 0xFFFFFFFF
    for byte in data:
        crc = _TABLE[(crc ^ byte) & 0xFF] ^ (crc >> 8)
    return crc ^ 0xFFFFFFFF


_MASK = bytes([0x03, 0x0F, 0x3F, 0xFF])
_EXEMPT = [
    ipaddress.ip_network(n)
    for n in ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "169.254.0.0/16", "127.0.0.0/8")
]


def _prefix(ip: str, r: int) -> int:
    packed = bytearray(b & m for b, m in zip(ipaddress.IPv4Address(ip).packed, _MASK, strict=True))
    packed[0] |= (r & 7) << 5
    return crc32c(bytes(packed))


def is_exempt(ip: str) -> bool:
    """BEP 42: local-network addresses are not subject to the restriction."""
    try:
        address = ipaddress.IPv4Address(ip)
    except ValueError:
        return True  # not IPv4: BEP 32 is out of scope, so no check
    return any(address in net for net in _EXEMPT)


def node_id_for_ip(ip: str, rng: random.Random) -> bytes:
    r = rng.randrange(8)
    crc = _prefix(ip, r)
    out = bytearray(rng.randbytes(20))
    out[0] = (crc >> 24) & 0xFF
    out[1] = (crc >> 16) & 0xFF
    out[2] = ((crc >> 8) & 0xF8) | (out[2] & 0x07)
    out[19] = r
    return bytes(out)


def valid_node_id(node_id: bytes, ip: str) -> bool:
    """True if ``node_id`` is allowed for ``ip`` under BEP 42 (or ``ip`` is exempt)."""
    if is_exempt(ip):
        return True
    crc = _prefix(ip, node_id[19])
    return (
        node_id[0] == (crc >> 24) & 0xFF
        and node_id[1] == (crc >> 16) & 0xFF
        and node_id[2] & 0xF8 == (crc >> 8) & 0xF8
    )
