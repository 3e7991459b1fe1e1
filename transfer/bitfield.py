"""A fixed-size set of piece indices with the BEP 3 ``bitfield`` byte layout."""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from .errors import RemoteProtocolError


class Bitfield:
    """Which pieces a peer (or we) have; bit 7 of byte 0 is piece 0 (BEP 3)."""

    __slots__ = ("_bits", "_count", "size")

    def __init__(self, size: int, pieces: Iterable[int] = ()) -> None:
        if size < 0:
            raise ValueError("bitfield size must be >= 0")
        self.size = size
        self._bits = bytearray((size + 7) // 8)
        self._count = 0
        for piece in pieces:
            self.add(piece)

    @classmethod
    def full(cls, size: int) -> Bitfield:
        return cls(size, range(size))

    @classmethod
    def from_bytes(cls, data: bytes, size: int) -> Bitfield:
        """Parse a ``bitfield`` payload; raise RemoteProtocolError if it does not fit ``size``.

        BEP 3: the length is exactly ceil(size / 8) and spare bits must be cleared.
        """
        if len(data) != (size + 7) // 8:
            raise RemoteProtocolError(
                f"bitfield of {len(data)} bytes for {size} pieces (want {(size + 7) // 8})"
            )
        spare = (8 - size % 8) % 8
        if spare and data[-1] & ((1 << spare) - 1):
            raise RemoteProtocolError("bitfield has spare bits set")
        result = cls(size)
        result._bits[:] = data
        result._count = sum(bin(byte).count("1") for byte in data)
        return result

    def to_bytes(self) -> bytes:
        return bytes(self._bits)

    def _check(self, piece: int) -> None:
        if not 0 <= piece < self.size:
            raise ValueError(f"piece {piece} out of range 0..{self.size - 1}")

    def __contains__(self, piece: object) -> bool:
        if not isinstance(piece, int) or not 0 <= piece < self.size:
            return False
        return bool(self._bits[piece >> 3] & (0x80 >> (piece & 7)))

    def add(self, piece: int) -> bool:
        """Set ``piece``; return True if it was not set before."""
        self._check(piece)
        if piece in self:
            return False
        self._bits[piece >> 3] |= 0x80 >> (piece & 7)
        self._count += 1
        return True

    def discard(self, piece: int) -> bool:
        self._check(piece)
        if piece not in self:
            return False
        self._bits[piece >> 3] &= ~(0x80 >> (piece & 7)) & 0xFF
        self._count -= 1
        return True

    def __len__(self) -> int:
        return self._count

    def __iter__(self) -> Iterator[int]:
        for index, byte in enumerate(self._bits):
            if byte:
                for bit in range(8):
                    if byte & (0x80 >> bit):
                        yield index * 8 + bit

    @property
    def complete(self) -> bool:
        return self._count == self.size

    def copy(self) -> Bitfield:
        other = Bitfield(self.size)
        other._bits[:] = self._bits
        other._count = self._count
        return other

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Bitfield):
            return NotImplemented
        return self.size == other.size and self._bits == other._bits

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"Bitfield(size={self.size}, count={self._count})"
