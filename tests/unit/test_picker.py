"""Piece picker, with libtorrent-style compact fixtures (one character per piece)."""

from __future__ import annotations

import random

import pytest

from swarmseek.transfer import BLOCK_SIZE, Bitfield, Block, BlockState, PiecePicker

PIECE = 4 * BLOCK_SIZE


def setup_picker(
    availability: str,
    have: str = "",
    *,
    random_first: int = 0,
    seed: int = 0,
    piece_length: int = PIECE,
) -> PiecePicker:
    """``availability``: digit per piece = how many peers have it; ``have``: '*' = we do.

    The availability peers are named ``"avail0"``, ``"avail1"``...
    """
    n = len(availability)
    picker = PiecePicker(
        n, piece_length, n * piece_length, rng=random.Random(seed), random_first_pieces=random_first
    )
    for k in range(max(int(c) for c in availability)):
        pieces = [i for i, c in enumerate(availability) if int(c) > k]
        picker.add_peer(f"avail{k}", Bitfield(n, pieces))
    for i, c in enumerate(have):
        if c == "*":
            picker.we_have(i)
    picker.check_invariant()
    return picker


def add(picker: PiecePicker, peer: str, has: str | None = None) -> None:
    """Add ``peer``; ``has`` like the have string ('*' = peer has it), None = a seed."""
    if has is None:
        picker.add_peer(peer)
        picker.peer_has_all(peer)
    else:
        picker.add_peer(
            peer, Bitfield(picker.num_pieces, [i for i, c in enumerate(has) if c == "*"])
        )


def pieces_of(blocks: list[Block]) -> list[int]:
    return sorted({b.piece for b in blocks})


def test_availability_counts() -> None:
    picker = setup_picker("1230")
    assert [picker.availability(i) for i in range(4)] == [1, 2, 3, 0]
    add(picker, "seed")
    assert [picker.availability(i) for i in range(4)] == [2, 3, 4, 1]
    picker.peer_has("avail0", 3)
    assert picker.availability(3) == 2
    picker.remove_peer("seed")
    picker.remove_peer("avail0")
    assert [picker.availability(i) for i in range(4)] == [0, 1, 2, 0]
    picker.check_invariant()


def test_complete_bitfield_counts_as_seed() -> None:
    picker = setup_picker("0000")
    add(picker, "p", "****")
    assert picker.availability(0) == 1
    picker.check_invariant()


def test_rarest_first() -> None:
    picker = setup_picker("3213")
    add(picker, "me")
    assert pieces_of(picker.pick("me", 1)) == [2]
    assert pieces_of(picker.pick("me", 3)) == [2]  # finishes the partial piece first
    assert pieces_of(picker.pick("me", 1)) == [1]
    picker.check_invariant()


def test_pieces_we_have_are_skipped() -> None:
    picker = setup_picker("1111", "**  ")
    add(picker, "me")
    assert pieces_of(picker.pick("me", 100)) == [2, 3]


def test_only_pieces_the_peer_has() -> None:
    picker = setup_picker("1111")
    add(picker, "me", " *  ")
    assert pieces_of(picker.pick("me", 100)) == [1]
    assert picker.pick("me", 100) == []
    assert picker.is_interesting("me")
    add(picker, "other", "*   ")
    picker.piece_passed(0)
    assert not picker.is_interesting("other")


def test_partial_pieces_preferred_across_peers() -> None:
    picker = setup_picker("5515")
    add(picker, "a")
    add(picker, "b")
    first = picker.pick("a", 1)
    assert pieces_of(first) == [2]
    # b also prefers finishing piece 2 over the rarer-or-equal fresh pieces
    assert pieces_of(picker.pick("b", 3)) == [2]


def test_random_first_pieces_ignore_availability() -> None:
    firsts = set()
    for seed in range(40):
        picker = setup_picker("19999999", random_first=4, seed=seed)
        add(picker, "me")
        firsts.add(picker.pick("me", 1)[0].piece)
    assert len(firsts) > 3  # not always the rarest piece 0


def test_rarest_first_after_random_first_threshold() -> None:
    picker = setup_picker("99991999", "****", random_first=4, seed=1)
    add(picker, "me")
    assert picker.pick("me", 1)[0].piece == 4


def test_priority_zero_never_picked_and_high_first() -> None:
    picker = setup_picker("1111")
    add(picker, "me")
    picker.set_priority(0, 0)
    picker.set_priority(3, 7)
    assert picker.pick("me", 1)[0].piece == 3
    assert 0 not in pieces_of(picker.pick("me", 100))


def test_block_geometry_short_last_piece_and_block() -> None:
    picker = PiecePicker(3, 40_000, 90_000, rng=random.Random(0))
    assert picker.blocks_in_piece(0) == 3 and picker.blocks_in_piece(2) == 1
    assert picker.block(0, 2) == Block(0, 32768, 40_000 - 32768)
    assert picker.block(2, 0) == Block(2, 0, 10_000)
    with pytest.raises(ValueError):
        PiecePicker(3, 40_000, 200_000, rng=random.Random(0))


def test_allowed_restricts_pieces() -> None:
    picker = setup_picker("1111")
    add(picker, "me")
    assert pieces_of(picker.pick("me", 100, allowed={1})) == [1]


def test_block_lifecycle_to_passed() -> None:
    picker = PiecePicker(1, 2 * BLOCK_SIZE, 2 * BLOCK_SIZE, rng=random.Random(0))
    add(picker, "a")
    b0, b1 = picker.pick("a", 2)
    assert picker.state(b0) is BlockState.REQUESTED
    assert picker.block_received("a", b0).accepted
    assert picker.state(b0) is BlockState.WRITING
    assert picker.block_written(b0) is False
    assert picker.state(b0) is BlockState.FINISHED
    picker.block_received("a", b1)
    assert picker.block_written(b1) is True
    picker.piece_passed(0)
    assert picker.complete and picker.have.complete
    picker.check_invariant()


def test_take_requested_finishes_a_block_asked_of_its_sender_alone() -> None:
    picker = PiecePicker(2, 2 * BLOCK_SIZE, 2 * BLOCK_SIZE + 100, rng=random.Random(0))
    add(picker, "a")
    add(picker, "b")
    blocks = picker.pick("a", 3)
    first, last = min(blocks), max(blocks)
    assert picker.take_requested("a", *first) == 0
    assert picker.state(first) is BlockState.FINISHED
    assert picker.contributors(first.piece) == {first: "a"}
    assert picker.take_requested("a", *first) == -1  # not twice
    assert picker.take_requested("b", *last) == -1  # asked of another peer
    assert picker.take_requested("a", last.piece, last.offset, last.length + 1) == -1
    assert picker.take_requested("a", last.piece, last.offset + 1, last.length) == -1
    picker.check_invariant()
    for block in blocks:
        if block.piece == first.piece and block != first:
            assert picker.take_requested("a", *block) == 1  # the piece is complete
    picker.check_invariant()


def test_take_requested_declines_an_endgame_duplicate() -> None:
    picker = PiecePicker(1, 2 * BLOCK_SIZE, 2 * BLOCK_SIZE, rng=random.Random(0))
    add(picker, "a")
    add(picker, "b")
    b0, _ = picker.pick("a", 2)
    assert picker.pick("b", 1) == [b0]
    assert picker.take_requested("a", *b0) == -1  # two requesters: the general path
    assert picker.state(b0) is BlockState.REQUESTED  # unchanged
    assert picker.block_received("a", b0).cancels == (("b", b0),)
    picker.check_invariant()


def test_hash_failure_reopens_blocks_and_names_contributors() -> None:
    picker = PiecePicker(1, 2 * BLOCK_SIZE, 2 * BLOCK_SIZE, rng=random.Random(0))
    add(picker, "a")
    add(picker, "b")
    b0 = picker.pick("a", 1)[0]
    b1 = picker.pick("b", 1)[0]
    for peer, block in (("a", b0), ("b", b1)):
        picker.block_received(peer, block)
        picker.block_written(block)
    assert picker.contributors(0) == {b0: "a", b1: "b"}
    assert picker.piece_failed(0) == {"a", "b"}
    assert picker.contributors(0) == {}
    assert picker.state(b0) is BlockState.OPEN and picker.state(b1) is BlockState.OPEN
    assert picker.pick("a", 2) == [b0, b1]
    picker.check_invariant()


def test_endgame_duplicates_requests_and_reports_cancels() -> None:
    picker = PiecePicker(1, 2 * BLOCK_SIZE, 2 * BLOCK_SIZE, rng=random.Random(0))
    add(picker, "a")
    add(picker, "b")
    b0, b1 = picker.pick("a", 2)
    assert picker.in_endgame()
    assert picker.pick("b", 2) == [b0, b1]
    assert picker.pick("b", 2) == []  # never twice to the same peer
    receipt = picker.block_received("a", b0)
    assert receipt.accepted and receipt.cancels == (("b", b0),)
    late = picker.block_received("b", b0)
    assert not late.accepted and late.cancels == ()
    picker.check_invariant()


def test_endgame_prefers_least_requested_blocks() -> None:
    picker = PiecePicker(1, 2 * BLOCK_SIZE, 2 * BLOCK_SIZE, rng=random.Random(0))
    for peer in "abc":
        add(picker, peer)
    b0, b1 = picker.pick("a", 2)
    assert picker.pick("b", 1) == [b0]  # endgame: b duplicates b0
    assert picker.pick("c", 1) == [b1]


def test_abort_and_remove_peer_reopen_requests() -> None:
    picker = setup_picker("11")
    add(picker, "a")
    blocks = picker.pick("a", 3)
    picker.abort("a", blocks[0])
    assert picker.state(blocks[0]) is BlockState.OPEN
    assert sorted(picker.remove_peer("a")) == blocks[1:]
    assert picker.partial_pieces == []
    picker.check_invariant()


def test_write_failed_reopens_block() -> None:
    picker = setup_picker("1")
    add(picker, "a")
    (block,) = picker.pick("a", 1)
    picker.block_received("a", block)
    picker.write_failed(block)
    assert picker.state(block) is BlockState.OPEN
    picker.check_invariant()


def test_block_received_for_had_piece_is_ignored() -> None:
    picker = setup_picker("1", "*")
    assert not picker.block_received("avail0", picker.block(0, 0)).accepted


def test_foreign_block_not_accepted() -> None:
    picker = setup_picker("1")
    assert not picker.block_received("avail0", Block(0, 1, 10)).accepted
    assert not picker.block_received("avail0", Block(5, 0, BLOCK_SIZE)).accepted
    with pytest.raises(ValueError):
        picker.abort("avail0", Block(0, 1, 10))  # a local bug, not the network


def test_strict_endgame_caps_duplicate_requests() -> None:
    picker = PiecePicker(1, 4 * BLOCK_SIZE, 4 * BLOCK_SIZE, rng=random.Random(0))
    add(picker, "a")
    add(picker, "b")
    blocks = picker.pick("a", 4)
    assert picker.in_endgame()
    assert picker.pick("b", 4, endgame=0) == []  # b still busy: no duplicates at all
    assert picker.pick("b", 4, endgame=1) == blocks[:1]  # idle: only as many as allowed
    assert picker.pick("b", 4) == blocks[1:]  # no cap: the rest
    picker.check_invariant()


def test_complete_and_pick_after_most_pieces_are_had() -> None:
    picker = setup_picker("1" * 64, "*" * 63)
    add(picker, "a")
    assert not picker.complete
    (block,) = picker.pick("a", 1)
    assert block.piece == 63
    picker.block_received("a", block)
    picker.block_written(block)
    picker.piece_passed(63)
    assert picker.complete and picker.pick("a", 4) == []
    picker.check_invariant()
