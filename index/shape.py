"""The shape a split gave the subtree below an internal node: which of its descendants
it made internal, level by level, as far down as ``MAX_SHAPE_BYTES`` hold. Pure.

A range walk that knows the shape fetches all of it in one round (and checks it
top-down) instead of one level per round: a subtree built by one split (a bulk import
builds the whole tree in one) is read in one round, however deep (a prefix such as
"mi" has leaves 50 levels below it, along the characters its terms share). Encoded
in level order, two bits per internal node of the level above (1: that child is
internal too), whole levels only, the node itself implied. An internal node is a
small item (kind, hint, tag), so 512 bytes of shape fit in BEP 44's 1000 easily.
"""

from __future__ import annotations

from collections.abc import Set as AbstractSet
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # pht.py reads shapes in its lookups: no import cycle at run time
    from .pht import Label

MAX_SHAPE_BYTES = 512  # 4096 bits: the levels of ~2000 internal nodes


def encode_shape(label: Label, internals: AbstractSet[Label]) -> bytes:
    """The shape of ``internals`` below ``label``: every level that fits. Both children
    leaves is a shape too (b"\\0"), not "unknown" (b""): a walk that knows it fetches
    just the two, where it would guess two levels and fetch four absent nodes."""
    bits: list[int] = []
    frontier = [label]
    while frontier:
        level = [int(node.child(b) in internals) for node in frontier for b in (0, 1)]
        if len(bits) + len(level) > MAX_SHAPE_BYTES * 8:
            break  # whole levels only: a walk goes on from the last one it knows
        bits += level
        frontier = [node.child(b) for node in frontier for b in (0, 1)]
        frontier = [node for node, inside in zip(frontier, level, strict=True) if inside]
    padded = bits + [0] * (-len(bits) % 8)
    return bytes(int("".join(map(str, padded[i : i + 8])), 2) for i in range(0, len(padded), 8))


def decode_shape(label: Label, raw: bytes, key_bits: int) -> frozenset[Label]:
    """The internal labels a shape names (only a hint: the walk checks every node it
    reads, so a wrong shape costs gets, never an entry). Any bytes decode; a level the
    bits do not cover whole is left out, and padding reads as "not internal"."""
    if not raw or len(raw) > MAX_SHAPE_BYTES:
        return frozenset()
    bits = [(byte >> (7 - i)) & 1 for byte in raw for i in range(8)]
    out: set[Label] = set()
    frontier = [label]
    position = 0
    while frontier and position + 2 * len(frontier) <= len(bits):
        below = []
        for node in frontier:
            for b in (0, 1):
                if bits[position] and node.length + 1 < key_bits:
                    below.append(node.child(b))
                position += 1
        out.update(below)
        frontier = below
    return frozenset(out)


def depth_on_path(length: int, raw: bytes, key: bytes) -> int:
    """How deep the shape of the node at depth ``length`` on ``key``'s path says that
    path stays internal (``length`` if its child there is not): the leaf covering
    ``key`` is expected one level below. A point lookup probes there first. Follows
    the one path through the levels with integer arithmetic, not decoding the rest.
    """
    if not raw or len(raw) > MAX_SHAPE_BYTES:
        return length
    total, bits = len(raw) * 8, int.from_bytes(raw, "big")
    point, key_bits = int.from_bytes(key, "big"), len(key) * 8
    start, width, index, depth = 0, 1, 0, length  # a level: 2 * width bits at start
    while start + 2 * width <= total and depth + 1 < key_bits:
        level = (bits >> (total - start - 2 * width)) & ((1 << 2 * width) - 1)
        at = 2 * index + ((point >> (key_bits - depth - 1)) & 1)  # the path's child
        if not (level >> (2 * width - 1 - at)) & 1:
            break
        index = (level >> (2 * width - at)).bit_count()  # internal children before it
        start, width, depth = start + 2 * width, level.bit_count(), depth + 1
    return depth
