"""The leaf-depth cache PHT lookups start from (OpenDHT's PHT keeps one the same way)."""

from __future__ import annotations

import bisect

from .pht import Label, TreeSpec


class LeafCache:
    """Leaf and internal labels seen per tree: where lookups start.

    OpenDHT's PHT caches leaves the same way. A key under a cached leaf costs one get;
    otherwise the search starts at the depth of the cached leaf nearest in key order
    (neighbouring leaves sit at similar depths), above a floor of known internal nodes.
    """

    def __init__(self) -> None:
        self._labels: dict[bytes, dict[int, set[int]]] = {}
        self._internal: dict[bytes, dict[int, set[int]]] = {}
        self._sorted: dict[bytes, list[tuple[int, int]]] = {}  # (left-aligned bits, length)
        # internal nodes read, with their seq and pending tag: what checks a split's tag
        self._flips: dict[tuple[bytes, Label], tuple[int, tuple[int, int] | None]] = {}

    def guess(self, spec: TreeSpec, key: bytes) -> tuple[int | None, int]:
        """(depth to probe first, depth below which nodes are known internal)."""
        floor = 1 + _deepest(self._internal.get(spec.name, {}), key)
        leaf = _deepest(self._labels.get(spec.name, {}), key)
        if leaf >= floor:
            return leaf, floor
        near = self._nearest(spec, key)
        return (None if near is None else max(near, floor)), floor

    def _nearest(self, spec: TreeSpec, key: bytes) -> int | None:
        ordered = self._sorted.get(spec.name)
        if not ordered:
            return None
        point = int.from_bytes(key, "big")
        i = bisect.bisect_left(ordered, (point, 0))
        best: tuple[int, int] | None = None
        for j in (i - 1, i):
            if 0 <= j < len(ordered):
                shared = spec.key_bits - (ordered[j][0] ^ point).bit_length()
                if best is None or shared > best[0]:
                    best = (shared, ordered[j][1])
        return None if best is None else best[1]

    def tiling(self, spec: TreeSpec, lo: int, hi: int, most: int) -> list[Label] | None:
        """Cached leaves that cover [lo, hi] exactly, end to end, if at most ``most``
        do: a warm range query reads just those, in one round."""
        ordered = self._sorted.get(spec.name)
        if not ordered:
            return None
        i = bisect.bisect_right(ordered, (lo, spec.key_bits + 1)) - 1
        if i < 0:
            return None
        out: list[Label] = []
        reach = lo  # every key below this is covered
        while reach <= hi:
            if i >= len(ordered) or len(out) >= most:
                return None
            first, length = ordered[i]
            last = first + (1 << (spec.key_bits - length)) - 1
            if first > reach or last < reach:
                return None  # a gap (or an overlap: leaves cached before a split)
            out.append(Label(length, first >> (spec.key_bits - length)))
            reach = last + 1
            i += 1
        return out

    def knows(self, spec: TreeSpec) -> bool:
        """Whether any leaf of the tree is cached."""
        return bool(self._sorted.get(spec.name))

    def remember(self, spec: TreeSpec, label: Label) -> None:
        by_length = self._labels.setdefault(spec.name, {}).setdefault(label.length, set())
        if label.bits in by_length:
            return
        by_length.add(label.bits)
        entry = (label.bits << (spec.key_bits - label.length), label.length)
        bisect.insort(self._sorted.setdefault(spec.name, []), entry)

    def forget(self, spec: TreeSpec, label: Label) -> None:
        by_length = self._labels.get(spec.name, {}).get(label.length, set())
        if label.bits not in by_length:
            return
        by_length.discard(label.bits)
        self._sorted[spec.name].remove((label.bits << (spec.key_bits - label.length), label.length))

    def is_leaf(self, spec: TreeSpec, key: bytes, depth: int) -> bool:
        bits = Label.of_key(key, depth).bits
        return bits in self._labels.get(spec.name, {}).get(depth, set())

    def remember_internal(self, spec: TreeSpec, label: Label) -> None:
        self._internal.setdefault(spec.name, {}).setdefault(label.length, set()).add(label.bits)

    def forget_internal(self, spec: TreeSpec, label: Label | None = None) -> None:
        if label is None:
            self._internal.pop(spec.name, None)
            self._flips = {k: v for k, v in self._flips.items() if k[0] != spec.name}
        else:
            self._internal.get(spec.name, {}).get(label.length, set()).discard(label.bits)
            self._flips.pop((spec.name, label), None)

    def remember_flip(
        self, spec: TreeSpec, label: Label, seq: int, pending: tuple[int, int] | None
    ) -> None:
        """An internal node read at ``seq`` (internal nodes keep their seq until merged)."""
        self._flips[(spec.name, label)] = (seq, pending)

    def flip(self, spec: TreeSpec, label: Label) -> tuple[int, tuple[int, int] | None] | None:
        return self._flips.get((spec.name, label))


def _deepest(by_length: dict[int, set[int]], key: bytes) -> int:
    # One int per key, shifted per length: Label.of_key per length was the cache's
    # main cost in a bulk import (cProfile: 2.6 million of_key calls for 10^4 cards).
    point, total = int.from_bytes(key, "big"), len(key) * 8
    for length in sorted(by_length, reverse=True):
        if point >> (total - length) in by_length[length]:
            return length
    return -1
