"""The card: one torrent described in one immutable BEP 44 item (DESIGN.md decision 2).

Layout (a bencoded dictionary, at most 1000 bytes)::

    ih  20-byte infohash          n  name, UTF-8 (truncated on a character boundary)
    s   total size in bytes       f  file count
    t   creation time (Unix s)    m  MinHash signature: 256 values x 8 bits
    v   card format version (1)

Why 256 x 8 bits (256 bytes): re-ranking LSH candidates at a 0.5 threshold needs a
small estimation error, and the standard error of a MinHash estimate is
sqrt(J(1-J)/k): 0.031 at J=0.5 for k=256, 0.044 for k=128. Keeping only the low 8
bits of each value (b-bit MinHash, Li and König 2010) adds a chance agreement of
1/256 per value, which ``estimate_jaccard`` corrects; measured on near-duplicate
pairs (``tests/benchmarks/bench_index.py``), 128 values at 8 bits have RMSE 0.0384
against 0.0382 at 16 and 32 bits, so at the same 256 bytes, 256 x 8 bits is
strictly better than 128 x 16. That leaves ~640 bytes for the name.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass

from swarmseek.discovery import MAX_VALUE_SIZE, immutable_target
from swarmseek.transfer import BencodeError, Value, decode, encode

from .errors import CardError
from .features import NUM_PERM

CARD_VERSION = 1
SIG_BYTES = NUM_PERM  # one byte per value
MAX_FILES = 10_000_000  # more files than any real torrent; a bound on poisoned cards
MAX_INT = 2**63 - 1


@dataclass(frozen=True, slots=True)
class Card:
    """What a search result shows about a torrent without contacting a peer."""

    infohash: bytes
    name: str
    size: int
    files: int
    created: int
    signature: tuple[int, ...] = ()

    def __post_init__(self) -> None:
        _check(len(self.infohash) == 20, "an infohash is 20 bytes")
        _check(0 <= self.size <= MAX_INT, "size out of range")
        _check(1 <= self.files <= MAX_FILES, "file count out of range")
        _check(0 <= self.created <= MAX_INT, "creation time out of range")
        _check(len(self.signature) in (0, NUM_PERM), f"a signature has {NUM_PERM} values")
        _check(all(0 <= v <= 0xFF for v in self.signature), "signature values are 8-bit")

    @classmethod
    def create(  # noqa: PLR0917 - the card's fields, in their documented order
        cls,
        infohash: bytes,
        name: str,
        size: int,
        files: int,
        created: int,
        signature: Sequence[int] = (),
    ) -> Card:
        """A card whose name is truncated (on a UTF-8 boundary) so the item fits."""
        card = cls(infohash, "", size, files, created, tuple(signature))
        room = MAX_VALUE_SIZE - len(encode(card.to_value())) - 4  # 4: the length digits
        name = unicodedata.normalize("NFC", name)
        raw = name.encode("utf-8")[: max(0, room)]
        return cls(infohash, raw.decode("utf-8", "ignore"), size, files, created, card.signature)

    def to_value(self) -> Value:
        return {
            b"ih": self.infohash,
            b"n": self.name.encode("utf-8"),
            b"s": self.size,
            b"f": self.files,
            b"t": self.created,
            b"m": bytes(self.signature),
            b"v": CARD_VERSION,
        }

    def encode(self) -> bytes:
        data = encode(self.to_value())
        _check(len(data) <= MAX_VALUE_SIZE, f"card of {len(data)} bytes exceeds 1000")
        return data

    @property
    def target(self) -> bytes:
        """The card's immutable item target: SHA-1 of its bencoding (BEP 44)."""
        return immutable_target(self.to_value())

    @classmethod
    def from_value(cls, value: Value) -> Card:
        """Validate a card fetched from the network; raise ``CardError`` if poisoned."""
        _check(isinstance(value, dict), "a card is a dictionary")
        _check(value.get(b"v") == CARD_VERSION, "unknown card version")
        ih, name, sig = value.get(b"ih"), value.get(b"n"), value.get(b"m")
        _check(isinstance(ih, bytes) and isinstance(name, bytes), "bad infohash or name")
        _check(isinstance(sig, bytes) and len(sig) in (0, SIG_BYTES), "bad signature")
        for field in (b"s", b"f", b"t"):
            _check(type(value.get(field)) is int, f"{field!r} is not an integer")
        try:
            text = name.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise CardError("name is not UTF-8") from exc
        values = tuple(sig)
        return cls(ih, text, value[b"s"], value[b"f"], value[b"t"], values)

    @classmethod
    def decode(cls, data: bytes) -> Card:
        # Limits: a card is at most 1000 bytes (BEP 44) and flat (depth 2 is enough).
        _check(len(data) <= MAX_VALUE_SIZE, "card larger than 1000 bytes")
        try:
            value = decode(data)
        except BencodeError as exc:
            raise CardError(f"card is not bencode: {exc}") from exc
        return cls.from_value(value)


def _check(ok: bool, message: str) -> None:
    if not ok:
        raise CardError(message)
