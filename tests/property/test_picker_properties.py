"""Piece picker under random operation sequences: bookkeeping stays consistent.

The picker keeps shortcuts (a count of wanted pieces left, a scan start past pieces
known not to be fresh); these checks compare them with the slow definitions after
every step, and check that no wanted OPEN block is ever missed by ``pick``.
"""

from __future__ import annotations

import random

from hypothesis import given, settings
from hypothesis import strategies as st

from swarmseek.transfer import BLOCK_SIZE, Bitfield, Block, BlockState, PiecePicker

PIECES = 4
PIECE = 2 * BLOCK_SIZE
PEERS = ("a", "b", "c")

op = st.one_of(
    st.tuples(st.just("have"), st.sampled_from(PEERS), st.integers(0, PIECES - 1)),
    st.tuples(st.just("seed"), st.sampled_from(PEERS), st.just(0)),
    st.tuples(st.just("pick"), st.sampled_from(PEERS), st.integers(0, 8)),
    st.tuples(st.just("endgame"), st.sampled_from(PEERS), st.integers(0, 3)),
    st.tuples(st.just("receive"), st.sampled_from(PEERS), st.integers(0, 50)),
    st.tuples(st.just("abort"), st.sampled_from(PEERS), st.integers(0, 50)),
    st.tuples(st.just("pass"), st.just(""), st.integers(0, PIECES - 1)),
    st.tuples(st.just("fail"), st.just(""), st.integers(0, PIECES - 1)),
    st.tuples(st.just("priority"), st.just(""), st.integers(0, 2 * PIECES - 1)),
    st.tuples(st.just("leave"), st.sampled_from(PEERS), st.just(0)),
)


def _open_wanted_blocks(picker: PiecePicker, peer: str) -> int:
    """Blocks ``peer`` could be asked for now, by the slow definition."""
    count = 0
    for piece in range(PIECES):
        if not picker.priority[piece] or piece in picker.have or not picker.has(peer, piece):
            continue
        for index in range(picker.blocks_in_piece(piece)):
            if picker.state(picker.block(piece, index)) is BlockState.OPEN:
                count += 1
    return count


@settings(max_examples=500, deadline=None)
@given(st.lists(op, max_size=60), st.integers(0, 3), st.integers(0, 2**16))
def test_random_operations_keep_the_picker_consistent(
    ops: list[tuple[str, str, int]], random_first: int, seed: int
) -> None:
    picker = PiecePicker(
        PIECES,
        PIECE,
        PIECES * PIECE - 100,
        rng=random.Random(seed),
        random_first_pieces=random_first,
    )
    outstanding: dict[str, list[Block]] = {peer: [] for peer in PEERS}
    received: list[int] = []
    for peer in PEERS:
        picker.add_peer(peer, Bitfield(PIECES))
    picker.peer_has_all("a")  # something to pick from the first step
    for kind, peer, n in ops:
        if kind == "have":
            picker.peer_has(peer, n)
        elif kind == "seed":
            picker.peer_has_all(peer)
        elif kind in ("pick", "endgame"):
            could = _open_wanted_blocks(picker, peer)
            blocks = picker.pick(peer, n, endgame=n if kind == "endgame" else 0)
            # No open wanted block is missed: the pick fills up to what is open.
            assert min(n, could) <= len(blocks) <= n
            assert kind == "endgame" or len(blocks) == min(n, could)
            assert len(set(blocks)) == len(blocks)
            outstanding[peer] += blocks
        elif kind == "receive" and any(outstanding.values()):
            sender = next(p for p in PEERS[n % 3 :] + PEERS if outstanding[p])
            block = outstanding[sender].pop(n % len(outstanding[sender]))
            accepted = picker.block_received(sender, block).accepted
            if accepted and picker.block_written(block):
                received.append(block.piece)
        elif kind == "abort" and outstanding[peer]:
            picker.abort(peer, outstanding[peer].pop(n % len(outstanding[peer])))
        elif kind == "pass" and received:
            picker.piece_passed(received.pop(n % len(received)))
        elif kind == "fail" and received:
            picker.piece_failed(received.pop(n % len(received)))
        elif kind == "priority":
            picker.set_priority(n % PIECES, n // PIECES)
        elif kind == "leave":
            picker.remove_peer(peer)
            outstanding[peer] = []
            picker.add_peer(peer, Bitfield(PIECES))
        picker.check_invariant()
        wanted = [p for p in range(PIECES) if picker.priority[p] and p not in picker.have]
        assert picker.complete == (not wanted)
        slow_endgame = all(
            picker.state(picker.block(p, i)) is not BlockState.OPEN
            for p in wanted
            for i in range(picker.blocks_in_piece(p))
        )
        assert picker.in_endgame() == slow_endgame
