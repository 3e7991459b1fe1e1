"""The picker's small value types: a block, its lifecycle states, a receipt.

Split from ``picker.py`` to keep that module about decisions; import them from there.
"""

from __future__ import annotations

import enum
from collections.abc import Hashable
from dataclasses import dataclass
from typing import NamedTuple

Peer = Hashable


class BlockState(enum.Enum):
    OPEN = "open"
    REQUESTED = "requested"
    WRITING = "writing"  # received, handed to storage
    FINISHED = "finished"  # written; the piece is hashed once every block is


class Block(NamedTuple):
    """One block: (piece, offset, length).

    A named tuple, not a dataclass: one is made for every block requested and
    received, and as a plain tuple it is also the wire's key for a request
    (``PeerConnection.send_requests``), hashed and compared in C.
    """

    piece: int
    offset: int
    length: int


@dataclass(frozen=True, slots=True)
class BlockReceipt:
    """What ``block_received`` decided: store it or not, and duplicates to cancel."""

    accepted: bool
    cancels: tuple[tuple[Peer, Block], ...] = ()


class _Partial:
    """A piece with at least one block not OPEN."""

    __slots__ = ("finished", "requesters", "senders", "states")

    def __init__(self, blocks: int) -> None:
        self.finished = 0  # blocks FINISHED: block_written is O(1), not a scan per block
        self.states = [BlockState.OPEN] * blocks
        self.requesters: list[set[Peer]] = [set() for _ in range(blocks)]
        self.senders: list[Peer | None] = [None] * blocks

    def count(self, state: BlockState) -> int:
        return sum(1 for s in self.states if s is state)
