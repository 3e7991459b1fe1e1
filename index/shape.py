"""The shape a split gave the subtree below an internal node: which of its descendants,
down to ``SHAPE_DEPTH`` levels, it made internal. Pure.

A range walk that knows the shape fetches all of it in one round (and checks it top-down)
instead of one level per round: a subtree built by one split (a bulk import builds the
whole tree in one) is read ``SHAPE_DEPTH`` levels at a time. Encoded in preorder, one
bit per node (1: internal, then its two children; 0: not), the node itself implied:
at most 2^(SHAPE_DEPTH + 1) - 2 bits.
"""

from __future__ import annotations

from collections.abc import Set as AbstractSet

from .pht import Label

SHAPE_DEPTH = 6  # levels below the node: at most 126 bits, 16 bytes in the item
MAX_SHAPE_BYTES = ((1 << (SHAPE_DEPTH + 1)) - 2 + 7) // 8


def encode_shape(label: Label, internals: AbstractSet[Label]) -> bytes:
    """The shape of ``internals`` below ``label``."""
    bits: list[int] = []

    def visit(node: Label, left: int) -> None:
        inside = node in internals
        bits.append(int(inside))
        if inside and left > 1:
            visit(node.child(0), left - 1)
            visit(node.child(1), left - 1)

    visit(label.child(0), SHAPE_DEPTH)
    visit(label.child(1), SHAPE_DEPTH)
    # Both children leaves is a shape too (b"\0"), not "unknown" (b""): a walk that
    # knows it fetches just the two, where it would guess two levels at once and
    # fetch four absent grandchildren (half of a common word's walk was those).
    padded = bits + [0] * (-len(bits) % 8)
    return bytes(int("".join(map(str, padded[i : i + 8])), 2) for i in range(0, len(padded), 8))


def decode_shape(label: Label, raw: bytes, key_bits: int) -> frozenset[Label]:
    """The internal labels a shape names; empty if it is malformed (only a hint: the
    walk checks every node it reads, so a bad shape costs gets, never an entry)."""
    if not raw or len(raw) > MAX_SHAPE_BYTES:
        return frozenset()
    bits = [(byte >> (7 - i)) & 1 for byte in raw for i in range(8)]
    out: set[Label] = set()
    position = 0

    def visit(node: Label, left: int) -> bool:
        nonlocal position
        if position >= len(bits):
            return False
        inside = bits[position]
        position += 1
        if inside and node.length < key_bits:
            out.add(node)
            if left > 1:
                return visit(node.child(0), left - 1) and visit(node.child(1), left - 1)
        return True

    if not (visit(label.child(0), SHAPE_DEPTH) and visit(label.child(1), SHAPE_DEPTH)):
        return frozenset()
    return frozenset(out)
