"""Our MSE/PE machines against libtorrent over real loopback sockets, both directions.

The asyncio swarm does not exist yet, so a few lines of blocking-socket driving stand
in for the adapter: they do exactly what the adapter must (send ``data_to_send()``,
feed reads, then switch to the handed-over cipher).
"""

from __future__ import annotations

import random
import socket
from pathlib import Path
from typing import Any

import libtorrent as lt
import pytest

from swarmseek.transfer import (
    CryptoMethod,
    EncryptionPolicy,
    HandshakeCompleted,
    Incoming,
    MseConfig,
    MseInitiator,
    MseReceiver,
    StreamCipher,
    classify_incoming,
    req2_index,
)
from tests.support.clients import lt_session, wait_accepting_peers

pytestmark = [
    pytest.mark.interop,
    # file_storage / add_files / create_torrent(file_storage) are deprecated in 2.x
    # but are what the Python binding exposes.
    pytest.mark.filterwarnings("ignore::DeprecationWarning"),
]

BT_HEADER = b"\x13BitTorrent protocol"
FAILURE_BOUND = 30.0  # seconds; only bounds a failure, never waited out on success

FORCED_RC4 = {
    "out_enc_policy": lt.enc_policy.forced,
    "in_enc_policy": lt.enc_policy.forced,
    "allowed_enc_level": lt.enc_level.rc4,
}
# libtorrent's default: both levels allowed, plaintext preferred when both are offered.
BOTH_PREFER_PLAIN = {
    "out_enc_policy": lt.enc_policy.forced,
    "in_enc_policy": lt.enc_policy.forced,
    "allowed_enc_level": lt.enc_level.both,
    "prefer_rc4": False,
}


def _torrent(tmp_path: Path) -> Any:
    data = tmp_path / "seed" / "file.bin"
    data.parent.mkdir()
    data.write_bytes(random.Random(1).randbytes(200_000))
    fs = lt.file_storage()
    lt.add_files(fs, str(data))
    creator = lt.create_torrent(fs, 16384, flags=lt.create_torrent.v1_only)
    lt.set_piece_hashes(creator, str(data.parent))
    return lt.torrent_info(creator.generate())


def _bt_handshake(info_hash: bytes) -> bytes:
    # reserved bits for BEP 10 (extension protocol) and BEP 6 (fast): a peer with
    # nothing to announce then still answers with an extended handshake or have-none
    reserved = bytes([0, 0, 0, 0, 0, 0x10, 0, 0x04])
    return BT_HEADER + reserved + info_hash + b"-SS0001-" + random.Random(2).randbytes(12)


def _drive(
    sock: socket.socket, machine: MseInitiator | MseReceiver, first: bytes = b""
) -> HandshakeCompleted:
    """The adapter's loop: write what the machine says, feed what the socket reads."""
    data = first
    while True:
        events = machine.receive_data(data) if data else []
        outgoing = machine.data_to_send()
        if outgoing:
            sock.sendall(outgoing)
        for event in events:
            if isinstance(event, HandshakeCompleted):
                return event
        data = sock.recv(65536)
        if not data:
            machine.receive_eof()


def _read_plain(sock: socket.socket, cipher: StreamCipher, have: bytes, count: int) -> bytes:
    while len(have) < count:
        data = sock.recv(65536)
        assert data, "peer closed the connection"
        have += cipher.decrypt(data)
    return have


def _first_message_id(sock: socket.socket, cipher: StreamCipher, after_handshake: bytes) -> int:
    """The id of the first length-prefixed message after the 68-byte handshake."""
    plain = _read_plain(sock, cipher, after_handshake, 5)
    length = int.from_bytes(plain[:4], "big")
    assert 0 < length < 1 << 20, plain[:16].hex()
    return plain[4]


@pytest.mark.parametrize(
    ("settings", "method"),
    [(FORCED_RC4, CryptoMethod.RC4), (BOTH_PREFER_PLAIN, CryptoMethod.PLAINTEXT)],
    ids=["rc4", "plaintext"],
)
def test_we_connect_to_libtorrent_with_mse(
    tmp_path: Path, settings: dict[str, Any], method: CryptoMethod
) -> None:
    session = lt_session(**settings)
    ti = _torrent(tmp_path)
    info_hash = ti.info_hashes().v1.to_bytes()
    handle = session.add_torrent(
        {"ti": ti, "save_path": str(tmp_path / "seed"), "flags": lt.torrent_flags.seed_mode}
    )
    wait_accepting_peers(handle, session, timeout=FAILURE_BOUND)
    machine = MseInitiator(
        info_hash,
        rng=random.SystemRandom(),
        now=0.0,
        initial_payload=_bt_handshake(info_hash),  # libtorrent accepts an IA of <= 68 bytes
    )
    with socket.create_connection(("127.0.0.1", session.listen_port()), FAILURE_BOUND) as sock:
        done = _drive(sock, machine)
        assert done.method is method and done.info_hash == info_hash
        plain = _read_plain(sock, done.cipher, done.payload, 68)
        assert plain[:20] == BT_HEADER and plain[28:48] == info_hash
        # a seed follows its handshake with bitfield (5) or have-all (14) or extended (20)
        assert _first_message_id(sock, done.cipher, plain[68:]) in (5, 14, 20)


@pytest.mark.parametrize(
    "settings", [FORCED_RC4, BOTH_PREFER_PLAIN], ids=["rc4-only", "both-offered"]
)
def test_libtorrent_connects_to_us_with_mse(tmp_path: Path, settings: dict[str, Any]) -> None:
    ti = _torrent(tmp_path)
    info_hash = ti.info_hashes().v1.to_bytes()
    other = bytes(20)
    with socket.create_server(("127.0.0.1", 0)) as server:
        server.settimeout(FAILURE_BOUND)
        session = lt_session(**settings)
        handle = session.add_torrent({"ti": ti, "save_path": str(tmp_path / "download")})
        handle.connect_peer(("127.0.0.1", server.getsockname()[1]))
        sock, _ = server.accept()
    with sock:
        sock.settimeout(FAILURE_BOUND)
        first = sock.recv(65536)
        while classify_incoming(first, EncryptionPolicy.REQUIRE) is Incoming.NEED_MORE:
            first += sock.recv(65536)
        machine = MseReceiver(
            req2_index([other, info_hash]).get,
            rng=random.SystemRandom(),
            now=0.0,
            config=MseConfig(EncryptionPolicy.PREFER),
        )
        done = _drive(sock, machine, first)
        assert done.method is CryptoMethod.RC4 and done.info_hash == info_hash
        plain = _read_plain(sock, done.cipher, done.payload, 68)  # libtorrent sends it as IA
        assert plain[:20] == BT_HEADER and plain[28:48] == info_hash
        sock.sendall(done.cipher.encrypt(_bt_handshake(info_hash)))
        # an empty downloader follows with extended handshake (20) or have-none (15)
        assert _first_message_id(sock, done.cipher, plain[68:]) in (0, 1, 2, 5, 14, 15, 20)
