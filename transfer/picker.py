"""Which blocks to request from which peer: a pure piece picker.

In the spirit of libtorrent's ``piece_picker``: availability is a refcount per piece
(peer bitfields, ``have`` messages; peers with every piece count once in ``_seeds``),
and each block goes through a named lifecycle::

    OPEN -> REQUESTED -> WRITING -> FINISHED -> (piece passed: we have it)
                \\-> OPEN (rejected, choked, timed out)      (piece failed: all OPEN)

Pieces are ordered by one explicit key (anacrolix/torrent's habit): priority, then
partial pieces first (finish what was started, so pieces complete and can be shared),
then availability (rarest first), then a random tie-break fixed at start. Until
``random_first_pieces`` pieces are complete, availability is ignored: a new peer
wants *any* complete piece quickly to have something to trade (BEP 3 "random first
piece"; libtorrent's ``initial_picker_threshold`` is 4).

When every remaining block is already requested, the picker enters endgame: it hands
out blocks requested from other peers, and when one arrives it reports which
duplicate requests to cancel.
"""

from __future__ import annotations

import heapq
import itertools
import random
from collections.abc import Container, Iterator

from .bitfield import Bitfield
from .picker_blocks import Block, BlockReceipt, BlockState, Peer, _Partial
from .picker_check import PickerChecks
from .wire_messages import BLOCK_SIZE

__all__ = ["Block", "BlockReceipt", "BlockState", "PiecePicker"]

_ACCEPTED = BlockReceipt(True)
_new_block = tuple.__new__
# Enum members as module constants: a class attribute lookup of an Enum member costs
# about 85 ns in Python 3.11, a global about 10 (these run per block).
_OPEN, _REQUESTED, _FINISHED = BlockState.OPEN, BlockState.REQUESTED, BlockState.FINISHED


class PiecePicker(PickerChecks):
    """Pure piece/block bookkeeping for one torrent. Peers are any hashable key."""

    def __init__(
        self,
        num_pieces: int,
        piece_length: int,
        total_length: int,
        *,
        rng: random.Random,
        block_size: int = BLOCK_SIZE,
        random_first_pieces: int = 4,
    ) -> None:
        if num_pieces <= 0 or piece_length <= 0 or block_size <= 0:
            raise ValueError("a torrent has at least one piece")
        if not (num_pieces - 1) * piece_length < total_length <= num_pieces * piece_length:
            raise ValueError("total length does not match the piece count")
        self.num_pieces = num_pieces
        self.piece_length = piece_length
        self.total_length = total_length
        self.block_size = block_size
        self.random_first_pieces = random_first_pieces
        self.have = Bitfield(num_pieces)
        self.priority = [1] * num_pieces  # 0: do not download
        self._levels = [1]  # distinct priorities, highest first
        self._availability = [0] * num_pieces
        self._seeds = 0
        self._peers: dict[Peer, Bitfield | None] = {}  # None: the peer has every piece
        self._partials: dict[int, _Partial] = {}
        # Random first: a fixed random permutation. Rarest first: ``_order`` keeps every
        # piece sorted by availability, with ``_starts[a]`` the first index of the pieces
        # of availability >= a; a refcount change swaps the piece to its bucket's edge, so
        # it costs O(1) instead of a re-sort per pick (libtorrent's piece_picker trick).
        self._random_order = list(range(num_pieces))
        rng.shuffle(self._random_order)
        self._tiebreak = [0] * num_pieces
        for rank, piece in enumerate(self._random_order):
            self._tiebreak[piece] = rank
        self._order = list(self._random_order)
        self._pos = list(self._tiebreak)
        self._starts = [0, num_pieces]
        # Leading pieces of ``_random_order`` / ``_order`` known not to be fresh (had,
        # partial or unwanted): ``pick`` starts its scan there instead of at 0, so a pick
        # late in a download does not walk past every piece already had. Reset whenever
        # a piece may become fresh again or ``_order`` is reshuffled.
        self._skip = [0, 0]
        self._left = num_pieces  # wanted pieces not had yet: ``complete`` is O(1)

    # ----------------------------------------------------------------- geometry

    def piece_size(self, piece: int) -> int:
        if piece == self.num_pieces - 1:
            return self.total_length - piece * self.piece_length
        return self.piece_length

    def blocks_in_piece(self, piece: int) -> int:
        return (self.piece_size(piece) + self.block_size - 1) // self.block_size

    def block(self, piece: int, index: int) -> Block:
        offset = index * self.block_size
        return Block(piece, offset, min(self.block_size, self.piece_size(piece) - offset))

    def _index(self, block: Block) -> int:
        # Arithmetic only: this runs twice per received block.
        piece, offset = block.piece, block.offset
        index, rest = divmod(offset, self.block_size)
        if rest or not 0 <= piece < self.num_pieces or offset < 0:
            raise ValueError(f"{block} is not a block of this torrent")
        size = self.piece_length if piece != self.num_pieces - 1 else self.piece_size(piece)
        if block.length != min(self.block_size, size - offset) or block.length <= 0:
            raise ValueError(f"{block} is not a block of this torrent")
        return index

    # ------------------------------------------------------------- availability

    def add_peer(self, peer: Peer, bitfield: Bitfield | None = None) -> None:
        """A peer connected; ``bitfield`` is what it has (None: nothing yet)."""
        if peer in self._peers:
            raise ValueError(f"peer {peer!r} already added")
        self._peers[peer] = Bitfield(self.num_pieces)
        if bitfield is not None:
            self.set_bitfield(peer, bitfield)

    def set_bitfield(self, peer: Peer, bitfield: Bitfield) -> None:
        if bitfield.size != self.num_pieces:
            raise ValueError("bitfield size does not match the piece count")
        if bitfield.complete:
            self.peer_has_all(peer)
            return
        for piece in bitfield:
            self.peer_has(peer, piece)

    def peer_has_all(self, peer: Peer) -> None:
        """BEP 6 have_all (or a complete bitfield): count the peer as a seed."""
        old = self._peers[peer]
        if old is None:
            return
        for piece in old:
            self._decrement(piece)
        self._peers[peer] = None
        self._seeds += 1

    def peer_has(self, peer: Peer, piece: int) -> None:
        pieces = self._peers[peer]
        if pieces is not None and pieces.add(piece):
            self._increment(piece)
            if pieces.complete:
                self.peer_has_all(peer)

    def remove_peer(self, peer: Peer) -> list[Block]:
        """A peer left: forget its pieces; return its requests that went back to OPEN."""
        pieces = self._peers.pop(peer)
        if pieces is None:
            self._seeds -= 1
        else:
            for piece in pieces:
                self._decrement(piece)
        reopened = []
        for piece, partial in list(self._partials.items()):
            for index, requesters in enumerate(partial.requesters):
                if peer in requesters and self._drop_request(piece, index, peer):
                    reopened.append(self.block(piece, index))
        return reopened

    def _swap(self, piece: int, index: int) -> None:
        self._skip[1] = 0
        other = self._order[index]
        here = self._pos[piece]
        self._order[index], self._order[here] = piece, other
        self._pos[piece], self._pos[other] = index, here

    def _increment(self, piece: int) -> None:
        level = self._availability[piece]
        if len(self._starts) < level + 3:
            self._starts.append(self.num_pieces)
        self._swap(piece, self._starts[level + 1] - 1)  # last of its bucket
        self._starts[level + 1] -= 1
        self._availability[piece] = level + 1

    def _decrement(self, piece: int) -> None:
        level = self._availability[piece]
        self._swap(piece, self._starts[level])  # first of its bucket
        self._starts[level] += 1
        self._availability[piece] = level - 1

    def availability(self, piece: int) -> int:
        return self._availability[piece] + self._seeds

    def has(self, peer: Peer, piece: int) -> bool:
        pieces = self._peers[peer]
        return pieces is None or piece in pieces

    def is_interesting(self, peer: Peer) -> bool:
        """Does ``peer`` have a piece we want (should we send ``interested``)?"""
        return any(self.has(peer, p) for p in self._wanted())

    # ------------------------------------------------------------------ picking

    def _wanted(self) -> Iterator[int]:
        return (p for p in range(self.num_pieces) if self.priority[p] and p not in self.have)

    def _key(self, piece: int) -> tuple[int, bool, int, int]:
        rarity = self.availability(piece) if len(self.have) >= self.random_first_pieces else 0
        return (-self.priority[piece], piece not in self._partials, rarity, self._tiebreak[piece])

    def _fresh(self, piece: int) -> bool:
        return self.priority[piece] > 0 and piece not in self.have and piece not in self._partials

    def _first_fresh(self, ordered: bool) -> int:
        """Index in the current order of the first piece that may be fresh."""
        base = self._order if ordered else self._random_order
        start = self._skip[ordered]
        while start < self.num_pieces and not self._fresh(base[start]):
            start += 1
        self._skip[ordered] = start
        return start

    def _reset_skip(self) -> None:
        self._skip = [0, 0]

    def in_endgame(self) -> bool:
        """True when no wanted block is OPEN: every remaining block is requested."""
        if self._first_fresh(False) < self.num_pieces:
            return False
        priority = self.priority
        return not any(
            BlockState.OPEN in partial.states
            for piece, partial in self._partials.items()
            if priority[piece]
        )

    def pick(
        self,
        peer: Peer,
        count: int,
        *,
        allowed: Container[int] | None = None,
        endgame: int | None = None,
    ) -> list[Block]:
        """Up to ``count`` blocks to request from ``peer``, marked REQUESTED by it.

        ``allowed`` restricts the pieces (BEP 6 allowed-fast pieces while choked).
        ``endgame`` caps the blocks already requested from another peer handed out in
        endgame (None: no cap; libtorrent's strict end game asks for a few, and only
        from a peer with nothing else to do, so fast peers do not download twice).
        """

        def usable(piece: int) -> bool:
            return (
                self.priority[piece] > 0
                and piece not in self.have
                and self.has(peer, piece)
                and (allowed is None or piece in allowed)
            )

        picked: list[Block] = []
        partial = sorted(
            (p for p, part in self._partials.items() if _OPEN in part.states and usable(p)),
            key=self._key,
        )
        fresh = (p for p in self._fresh_order() if p not in self._partials and usable(p))
        # Partial pieces only go first within their priority: merge by the full key.
        for piece in heapq.merge(partial, fresh, key=self._key):
            self._take_open(piece, peer, count, picked)
            if len(picked) >= count:
                return picked
        room = count - len(picked) if endgame is None else min(endgame, count - len(picked))
        if room > 0 and self.in_endgame():
            candidates = sorted((p for p in self._partials if usable(p)), key=self._key)
            picked += self._pick_endgame(peer, candidates, room)
        return picked

    def _fresh_order(self) -> Iterator[int]:
        """Pieces in (priority, availability, tie-break) order, without sorting them."""
        ordered = len(self.have) >= self.random_first_pieces
        base = self._order if ordered else self._random_order
        start = self._first_fresh(ordered)
        levels = self._levels
        for level in levels:
            if level == 0:
                continue
            if len(levels) == 1:
                yield from itertools.islice(base, start, None)
            else:
                yield from (p for p in base if self.priority[p] == level)

    def _take_open(self, piece: int, peer: Peer, count: int, picked: list[Block]) -> None:
        # Once per piece, not per block: this runs for every block we request.
        open_ = _OPEN
        partial = self._partials.get(piece)
        if partial is not None and open_ not in partial.states:
            return
        size = self.piece_size(piece)
        block_size = self.block_size
        blocks = (size + block_size - 1) // block_size
        if partial is None:
            if len(picked) >= count:
                return  # would be an empty partial
            partial = self._partials[piece] = _Partial(blocks)
        states, requesters = partial.states, partial.requesters
        requested = _REQUESTED
        for index in range(states.index(open_), blocks):
            if len(picked) >= count:
                break
            if states[index] is open_:
                states[index] = requested
                requesters[index].add(peer)
                offset = index * block_size
                # tuple.__new__ skips the named tuple's Python-level __new__.
                picked.append(_new_block(Block, (piece, offset, min(block_size, size - offset))))

    def _pick_endgame(self, peer: Peer, candidates: list[int], count: int) -> list[Block]:
        options = [
            (len(self._partials[piece].requesters[index]), self._key(piece), piece, index)
            for piece in candidates
            for index, state in enumerate(self._partials[piece].states)
            if state is BlockState.REQUESTED and peer not in self._partials[piece].requesters[index]
        ]
        options.sort()
        for _, _, piece, index in options[:count]:
            self._mark_requested(piece, index, peer)
        return [self.block(piece, index) for _, _, piece, index in options[:count]]

    def _mark_requested(self, piece: int, index: int, peer: Peer) -> _Partial:
        partial = self._partials.get(piece)
        if partial is None:
            partial = self._partials[piece] = _Partial(self.blocks_in_piece(piece))
        partial.states[index] = BlockState.REQUESTED
        partial.requesters[index].add(peer)
        return partial

    # ---------------------------------------------------------------- lifecycle

    def _drop_request(self, piece: int, index: int, peer: Peer) -> bool:
        """Remove one requester; True if the block went back to OPEN."""
        partial = self._partials[piece]
        partial.requesters[index].discard(peer)
        if partial.states[index] is not BlockState.REQUESTED or partial.requesters[index]:
            return False
        partial.states[index] = BlockState.OPEN
        if all(s is BlockState.OPEN for s in partial.states):
            del self._partials[piece]
            self._reset_skip()
        return True

    def abort(self, peer: Peer, block: Block) -> None:
        """``peer`` will not deliver ``block`` (rejected, choked, timed out, cancelled)."""
        index = self._index(block)
        partial = self._partials.get(block.piece)
        if partial is not None and peer in partial.requesters[index]:
            self._drop_request(block.piece, index, peer)

    def block_received(self, peer: Peer, block: Block) -> BlockReceipt:
        """``peer`` delivered ``block``. Store it only if ``accepted``; send ``cancels``.

        A block that is not one of ours (an unsolicited odd offset or length) is not
        accepted rather than an error: it came from the network.
        """
        try:
            index = self._index(block)
        except ValueError:
            return BlockReceipt(False)
        if block.piece in self.have:
            return BlockReceipt(False)
        partial = self._partials.get(block.piece)
        if partial is None:
            partial = self._partials[block.piece] = _Partial(self.blocks_in_piece(block.piece))
        if partial.states[index] not in (BlockState.OPEN, BlockState.REQUESTED):
            partial.requesters[index].discard(peer)
            return BlockReceipt(False)
        requesters = partial.requesters[index]
        if len(requesters) == 1 and peer in requesters:
            receipt = _ACCEPTED  # the common case: no duplicate request to cancel
        else:
            receipt = BlockReceipt(True, tuple((p, block) for p in requesters if p != peer))
        requesters.clear()
        partial.states[index] = BlockState.WRITING
        partial.senders[index] = peer
        return receipt

    def take_requested(self, peer: Peer, piece: int, offset: int, length: int) -> int:
        """The common case of ``block_received`` then ``block_written``, in one step.

        For a block REQUESTED from ``peer`` alone, whose data the caller stores before
        anything else runs: it goes straight to FINISHED. Returns 1 when that finished
        the piece, 0 when not, and -1 (nothing changed) for any other block: the caller
        then takes the general path, which also reports duplicates to cancel.
        """
        partial = self._partials.get(piece)
        block_size = self.block_size
        if partial is None or offset % block_size:
            return -1
        index = offset // block_size
        states = partial.states
        if not 0 <= index < len(states) or states[index] is not _REQUESTED:
            return -1
        if length != block_size and length != self.piece_size(piece) - offset:
            return -1
        requesters = partial.requesters[index]
        if len(requesters) != 1 or peer not in requesters:
            return -1
        requesters.clear()
        states[index] = _FINISHED
        partial.senders[index] = peer
        partial.finished += 1
        return 1 if partial.finished == len(states) else 0

    def block_written(self, block: Block) -> bool:
        """Storage wrote ``block``; True when every block of its piece is FINISHED."""
        index = self._index(block)
        partial = self._partials[block.piece]
        if partial.states[index] is not BlockState.WRITING:
            raise ValueError(f"{block} is {partial.states[index].value}, not writing")
        partial.states[index] = BlockState.FINISHED
        partial.finished += 1
        return partial.finished == len(partial.states)

    def write_failed(self, block: Block) -> None:
        """Storage could not write ``block``: download it again."""
        index = self._index(block)
        partial = self._partials[block.piece]
        partial.states[index] = BlockState.OPEN
        partial.senders[index] = None
        if all(s is BlockState.OPEN for s in partial.states):
            del self._partials[block.piece]
            self._reset_skip()

    def piece_passed(self, piece: int) -> None:
        """The piece's hash matched: we have it."""
        self._partials.pop(piece, None)
        if self.have.add(piece) and self.priority[piece]:
            self._left -= 1

    def contributors(self, piece: int) -> dict[Block, Peer]:
        """Who sent each received block of ``piece`` (read it before passed/failed).

        Enough for a libtorrent-style smart ban: remember the blocks of a failed piece
        and, once the piece passes, blame the senders whose blocks differed.
        """
        partial = self._partials.get(piece)
        if partial is None:
            return {}
        return {
            self.block(piece, index): sender
            for index, sender in enumerate(partial.senders)
            if sender is not None
        }

    def senders(self, piece: int) -> list[Peer | None]:
        """Who sent each block of ``piece``, by block index (None: not received)."""
        partial = self._partials.get(piece)
        return [] if partial is None else list(partial.senders)

    def piece_failed(self, piece: int) -> frozenset[Peer]:
        """The piece's hash did not match: reopen its blocks, return who sent them."""
        partial = self._partials.pop(piece, None)
        if partial is None:
            return frozenset()
        self._reset_skip()
        return frozenset(p for p in partial.senders if p is not None)

    def we_have(self, piece: int) -> None:
        """Resume: a piece verified on disk at start."""
        self.piece_passed(piece)

    def set_priority(self, piece: int, priority: int) -> None:
        if priority < 0:
            raise ValueError("priority must be >= 0")
        self.priority[piece] = priority
        self._levels = sorted(set(self.priority), reverse=True)
        self._left = sum(
            1 for p in range(self.num_pieces) if self.priority[p] and p not in self.have
        )
        self._reset_skip()

    def state(self, block: Block) -> BlockState:
        partial = self._partials.get(block.piece)
        if block.piece in self.have:
            return BlockState.FINISHED
        return BlockState.OPEN if partial is None else partial.states[self._index(block)]

    def requesters(self, block: Block) -> frozenset[Peer]:
        partial = self._partials.get(block.piece)
        return frozenset() if partial is None else frozenset(partial.requesters[self._index(block)])

    @property
    def partial_pieces(self) -> list[int]:
        return sorted(self._partials)

    @property
    def complete(self) -> bool:
        return self._left == 0
