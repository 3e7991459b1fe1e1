"""A whole magnet download in memory: one leecher, three seeders, one of them lying.

Only the pure pieces (PeerConnection, MetadataAssembler, PiecePicker) and byte pipes:
no sockets, no clock. It is the loop the asyncio swarm will run, in miniature.
"""

from __future__ import annotations

import hashlib
import random
from collections import Counter
from dataclasses import dataclass, field

from swarmseek.transfer import (
    UT_METADATA,
    Block,
    BlockReceived,
    ExtensionHandshake,
    ExtensionHandshakeReceived,
    HandshakeReceived,
    HaveAll,
    HaveAllReceived,
    Interested,
    MetadataAssembler,
    MetadataData,
    MetadataDataReceived,
    MetadataRequest,
    MetadataRequestReceived,
    PeerConnection,
    PeerInterested,
    PeerUnchoked,
    Piece,
    PiecePicker,
    Request,
    RequestReceived,
    Unchoke,
    decode,
    encode,
    metadata_pieces,
)

PIECE_LENGTH = 32 * 1024
SIZE = 9 * PIECE_LENGTH + 777
PAYLOAD = random.Random(3).randbytes(SIZE)
HASHES = b"".join(
    hashlib.sha1(PAYLOAD[i : i + PIECE_LENGTH]).digest() for i in range(0, SIZE, PIECE_LENGTH)
)
# Long "pieces" so the metadata spans several 16 KiB BEP 9 pieces.
INFO = encode(
    {b"length": SIZE, b"name": b"f", b"piece length": PIECE_LENGTH, b"pieces": HASHES * 200}
)
INFO_HASH = hashlib.sha1(INFO).digest()


@dataclass
class Link:
    leech: PeerConnection
    seed: PeerConnection
    liar: bool
    to_seed: bytearray = field(default_factory=bytearray)
    to_leech: bytearray = field(default_factory=bytearray)
    has_all: bool = False
    outstanding: set[Block] = field(default_factory=set)


class Leecher:
    def __init__(self, names: list[str], liars: set[str]) -> None:
        self.links: dict[str, Link] = {}
        for i, name in enumerate(names):
            leech = PeerConnection(b"L" * 20, INFO_HASH)  # a magnet: no piece count yet
            seed = PeerConnection(
                bytes([65 + i]) * 20,
                INFO_HASH,
                initiator=False,
                num_pieces=len(HASHES) // 20,
                piece_length=PIECE_LENGTH,
                total_length=SIZE,
            )
            link = Link(leech, seed, name in liars)
            link.to_seed += leech.data_to_send()
            self.links[name] = link
        self.assembler = MetadataAssembler(INFO_HASH)
        self.picker: PiecePicker | None = None
        self.pieces: dict[int, bytearray] = {}
        self.strikes: Counter[str] = Counter()
        self.banned: set[str] = set()

    # -- the seeders' side ------------------------------------------------------
    def seed_event(self, link: Link, event: object) -> None:
        send = link.seed.send
        if isinstance(event, HandshakeReceived):
            link.to_leech += link.seed.data_to_send()  # our handshake answer
            link.to_leech += send(ExtensionHandshake(m={UT_METADATA: 1}, metadata_size=len(INFO)))
            link.to_leech += send(HaveAll())
        elif isinstance(event, MetadataRequestReceived):
            data = metadata_pieces(INFO)[event.piece]
            link.to_leech += send(MetadataData(event.piece, len(INFO), data))
        elif isinstance(event, PeerInterested):
            link.to_leech += send(Unchoke())
        elif isinstance(event, RequestReceived):
            start = event.piece * PIECE_LENGTH + event.offset
            data = PAYLOAD[start : start + event.length]
            if link.liar:
                data = bytes(b ^ 0xFF for b in data)
            link.to_leech += send(Piece(event.piece, event.offset, data))

    # -- the leecher's side -----------------------------------------------------
    def leech_event(self, name: str, link: Link, event: object) -> None:
        send = link.leech.send
        if isinstance(event, HandshakeReceived):
            link.to_seed += send(ExtensionHandshake(m={UT_METADATA: 2}))
        elif isinstance(event, ExtensionHandshakeReceived):
            self.assembler.set_size(event.handshake.metadata_size or 0)
            if (piece := self.assembler.pick(name)) is not None:
                link.to_seed += send(MetadataRequest(piece))
        elif isinstance(event, MetadataDataReceived):
            message = MetadataData(event.piece, event.total_size, event.data)
            info = self.assembler.add_piece(name, message)
            if info is not None:
                self.got_metadata(info)
            elif (piece := self.assembler.pick(name)) is not None:
                link.to_seed += send(MetadataRequest(piece))
        elif isinstance(event, HaveAllReceived):
            link.has_all = True
            if self.picker is not None:
                self.picker.peer_has_all(name)
        elif isinstance(event, PeerUnchoked):
            self.request(name, link)
        elif isinstance(event, BlockReceived):
            self.block(name, link, event)

    def got_metadata(self, info: bytes) -> None:
        meta = decode(info)
        count = -(-meta[b"length"] // meta[b"piece length"])
        self.picker = PiecePicker(
            count, meta[b"piece length"], meta[b"length"], rng=random.Random(1)
        )
        self.pieces = {i: bytearray(self.picker.piece_size(i)) for i in range(count)}
        for name, link in self.links.items():
            link.leech.set_num_pieces(count, meta[b"piece length"], meta[b"length"])
            self.picker.add_peer(name)
            if link.has_all:
                self.picker.peer_has_all(name)
            link.to_seed += link.leech.send(Interested())

    def request(self, name: str, link: Link) -> None:
        assert self.picker is not None
        if name in self.banned or link.leech.peer_choking:
            return
        for block in self.picker.pick(name, 4 - len(link.outstanding)):
            link.outstanding.add(block)
            link.to_seed += link.leech.send(Request(block.piece, block.offset, block.length))

    def block(self, name: str, link: Link, event: BlockReceived) -> None:
        assert self.picker is not None
        block = Block(event.piece, event.offset, len(event.data))
        link.outstanding.discard(block)
        receipt = self.picker.block_received(name, block)
        if receipt.accepted:
            self.pieces[block.piece][block.offset : block.offset + block.length] = event.data
            if self.picker.block_written(block):
                self.check(block.piece)
        if name not in self.banned:
            self.request(name, link)

    def check(self, piece: int) -> None:
        assert self.picker is not None
        if hashlib.sha1(self.pieces[piece]).digest() == HASHES[20 * piece : 20 * piece + 20]:
            self.picker.piece_passed(piece)
            return
        for peer in self.picker.piece_failed(piece):
            self.strikes[peer] += 1
            if self.strikes[peer] >= 2 and peer not in self.banned:
                self.banned.add(peer)  # a real swarm closes the connection too
                self.picker.remove_peer(peer)
                self.links[peer].outstanding.clear()
        for name, link in self.links.items():
            if name not in self.banned:
                self.request(name, link)

    def run(self) -> None:
        for _ in range(10_000):
            moved = False
            for name, link in self.links.items():
                if name in self.banned:
                    continue
                if link.to_seed:
                    data, link.to_seed[:] = bytes(link.to_seed), b""
                    link.seed.receive_data(data)
                    for event in link.seed.events():
                        self.seed_event(link, event)
                    moved = True
                if link.to_leech:
                    data, link.to_leech[:] = bytes(link.to_leech), b""
                    link.leech.receive_data(data)
                    for event in link.leech.events():
                        self.leech_event(name, link, event)
                    moved = True
            if not moved:
                return
        raise AssertionError("the simulated swarm did not settle")


def test_magnet_download_bans_the_liar() -> None:
    leecher = Leecher(["good1", "liar", "good2"], liars={"liar"})
    leecher.run()
    assert leecher.assembler.result == INFO
    assert leecher.picker is not None and leecher.picker.complete
    assert b"".join(leecher.pieces[i] for i in range(len(leecher.pieces))) == PAYLOAD
    assert "liar" in leecher.banned
    leecher.picker.check_invariant()


def test_magnet_download_from_honest_seeders() -> None:
    leecher = Leecher(["a", "b"], liars=set())
    leecher.run()
    assert leecher.picker is not None and leecher.picker.complete
    assert not leecher.strikes
