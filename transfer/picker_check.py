"""The piece picker's self-check, split from ``picker.py`` to keep that module small.

``check_invariant`` recomputes what the picker keeps incrementally (availability
refcounts, the rarest-first order, partial pieces' block states) and asserts both
agree: tests call it after every step (libtorrent's ``piece_picker::check_invariant``).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

from .picker_blocks import BlockState, Peer, _Partial

if TYPE_CHECKING:
    from .bitfield import Bitfield


class PickerChecks:
    """A mixin of :class:`~swarmseek.transfer.picker.PiecePicker`."""

    if TYPE_CHECKING:
        num_pieces: int
        have: Bitfield
        _availability: list[int]
        _order: list[int]
        _pos: list[int]
        _starts: list[int]
        _seeds: int
        _peers: dict[Peer, Bitfield | None]
        _left: int
        _random_order: list[int]
        _skip: list[int]
        _partials: dict[int, _Partial]

        def _wanted(self) -> Iterator[int]: ...

        def _fresh(self, piece: int) -> bool: ...

        def blocks_in_piece(self, piece: int) -> int: ...

    def check_invariant(self) -> None:
        """Raise AssertionError if the bookkeeping is inconsistent (tests call this)."""
        counts = [0] * self.num_pieces
        for pieces in self._peers.values():
            for piece in pieces or ():
                counts[piece] += 1
        assert counts == self._availability, "availability refcounts drifted"
        assert sorted(self._order) == list(range(self.num_pieces))
        for index, piece in enumerate(self._order):
            assert self._pos[piece] == index, "order/position maps disagree"
            level = self._availability[piece]
            assert self._starts[level] <= index < self._starts[level + 1], "bucket bounds"
        assert self._seeds == sum(1 for p in self._peers.values() if p is None)
        assert self._left == sum(1 for _ in self._wanted()), "wanted-piece count drifted"
        for ordered, base in ((False, self._random_order), (True, self._order)):
            for piece in base[: self._skip[ordered]]:
                assert not self._fresh(piece), f"fresh piece {piece} skipped"
        for piece, partial in self._partials.items():
            assert piece not in self.have, f"piece {piece} is both had and partial"
            assert len(partial.states) == self.blocks_in_piece(piece)
            assert partial.finished == partial.count(BlockState.FINISHED), "finished count"
            assert any(s is not BlockState.OPEN for s in partial.states), "empty partial"
            for state, requesters, sender in zip(
                partial.states, partial.requesters, partial.senders, strict=True
            ):
                assert (state is BlockState.REQUESTED) == bool(requesters), (piece, state)
                assert requesters <= self._peers.keys(), "request by an unknown peer"
                has_data = state in (BlockState.WRITING, BlockState.FINISHED)
                assert has_data == (sender is not None), (piece, state, sender)
