"""Splitting a full PHT leaf (PHT paper §3.3) without losing or resurrecting entries.

The children are written first, then the leaf flips to internal by CAS. Writers race:
another splitter's plan may disagree with ours, a writer may change the leaf between our
read and our flip, and on the DHT a refused flip may still have landed on some replicas.
Each case is handled here; ``Pht`` calls ``Splitter.split`` when a leaf overflows.
"""

from __future__ import annotations

import asyncio
from collections.abc import Set as AbstractSet
from dataclasses import replace
from typing import TYPE_CHECKING

from swarmseek.discovery import (
    CAS_ABSENT,
    CasConflict,
    MutableItem,
    SeqTooLow,
    sign_item,
    update_mutable,
)
from swarmseek.transfer import Value

from .pht import (
    Label,
    Node,
    NodeKind,
    encode_node,
    merge_entries,
    node_salt,
    split_plan,
    subtree_node,
)
from .shape import encode_shape

if TYPE_CHECKING:
    from .driver import Pht


class Outcome:
    """What a read-modify-write of one PHT node found (set by its update function)."""

    __slots__ = ("moved", "overflow", "remaining")

    def __init__(self) -> None:
        self.moved = False
        self.overflow: dict[bytes, bytes] | None = None
        self.remaining = -1


class Splitter:
    """The split half of one ``Pht``."""

    def __init__(self, pht: Pht) -> None:
        self.pht = pht

    async def split(
        self,
        label: Label,
        entries: dict[bytes, bytes],
        current: MutableItem | None,
        remove: AbstractSet[bytes] = frozenset(),
        *,
        reachable: bool = False,
    ) -> bool:
        """Children first, then the parent flips to internal by CAS (PHT paper §3.3).

        ``remove``: keys this write deletes, which must not come back from what a child
        already holds. ``reachable``: the leaf was reached from the root (a lookup
        checked it), so its flipped node needs no pending tag of its own.
        """
        flip_seq = 1 if current is None else current.seq + 1
        plan = split_plan(self.pht.spec, label, entries, flip_seq)
        # Each internal node records the shape of what this split builds below it, so a
        # walk reads it several levels a round (shape.py).
        inside = {lab for lab, node in plan if node.kind is NodeKind.INTERNAL}
        plan = [
            (lab, replace(node, shape=encode_shape(lab, inside)) if lab in inside else node)
            for lab, node in plan
        ]
        for depth in sorted({lab.length for lab, _ in plan}, reverse=True):
            await asyncio.gather(
                *(self._write_child(lab, node, remove) for lab, node in plan if lab.length == depth)
            )
        before = None if current is None else self.pht._decode_or_empty(label, current.value)
        pending = None if before is None or reachable else before.pending
        flipped = sign_item(
            self.pht.keypair,
            encode_node(
                self.pht.spec,
                replace(subtree_node(label, entries, pending), shape=encode_shape(label, inside)),
            ),
            flip_seq,
            node_salt(self.pht.spec, label),
        )
        try:
            cas = CAS_ABSENT if current is None else current.seq
            await self.pht.store.put_mutable(flipped, cas=cas)
        except (CasConflict, SeqTooLow) as exc:
            # Someone wrote the leaf meanwhile. If our flip still landed on some replicas
            # they may be split between it and the other leaf: settle them on one
            # version. Then recompute from the new state.
            if isinstance(exc, CasConflict) and exc.landed:
                await update_mutable(
                    self.pht.store,
                    self.pht.keypair,
                    node_salt(self.pht.spec, label),
                    lambda _value: None,
                    retries=self.pht.retries,
                    settle=True,
                )
            await self._scrub_orphans(label, current)
            return False
        self.pht.counters.splits += 1
        self.pht.cache.forget(self.pht.spec, label)
        if reachable:  # else an orphan's children: the cache only holds reachable leaves
            self.pht.cache.remember_internal(self.pht.spec, label)
            # The flip we just wrote: what vouches for the tagged children below it, so
            # the next batch's writes check them without reading the path (reachable).
            self.pht.cache.remember_flip(self.pht.spec, label, flip_seq, pending)
            for lab, node in plan:
                if node.kind is NodeKind.LEAF:
                    self.pht.cache.remember(self.pht.spec, lab)
        return True

    async def _scrub_orphans(self, label: Label, read: MutableItem | None) -> None:
        """After a lost flip: take keys deleted since our read out of the children we wrote.

        While ``label`` is still a leaf its children are orphans nobody reads, but the
        next split merges into them, so a key deleted from the leaf between our read
        and our flip would come back. Keys the leaf lost since ``read`` can only have
        been deleted (a leaf loses keys to a split only by becoming internal).
        """
        if read is None:
            return
        now = await self.pht._get(label)
        if now is None or now.kind is not NodeKind.LEAF:
            return
        gone = set(self.pht._decode_or_empty(label, read.value).entries) - set(now.entries)
        if gone:
            await self._remove_below(label, gone)

    async def _remove_below(self, label: Label, keys: set[bytes]) -> None:
        for bit in (0, 1):
            child = label.child(bit)
            mine = {k for k in keys if child.covers(k)}
            if not mine:
                continue
            node = await self.pht._get(child)
            if node is None:
                continue
            if node.kind is NodeKind.INTERNAL:
                await self._remove_below(child, mine)
            elif node.kind is NodeKind.LEAF and mine & node.entries.keys():
                await self._write_child(child, Node(NodeKind.LEAF, {}), mine)

    async def _write_child(
        self, label: Label, node: Node, remove: AbstractSet[bytes] = frozenset()
    ) -> None:
        """Write one node of a split plan without undoing a concurrent splitter's work.

        Our plan and another writer's may disagree on where the leaves are. So a leaf
        is merged into whatever leaf is there (and splits if that overflows); entries
        meant for a leaf that is already internal go down to its children; and an
        internal node that finds a leaf in its place splits that leaf, so the entries
        already written below become reachable and the leaf's own are kept.
        """
        outcome = Outcome()
        internal = node.kind is NodeKind.INTERNAL

        def update(value: Value | None) -> Value | None:
            old = None if value is None else self.pht._decode_or_empty(label, value)
            if old is not None and old.kind is NodeKind.INTERNAL:
                outcome.moved = True
                return None
            # a frozen node here is left over from a finished merge: its entries went up
            leaf = old is not None and old.kind is NodeKind.LEAF
            keep = old.entries if old is not None and leaf else {}
            if internal:
                if old is None or not keep:
                    return encode_node(self.pht.spec, node)
                outcome.overflow = dict(keep)  # a leaf where we need an internal node
                return None
            merged = merge_entries(keep, node.entries, remove)
            if len(merged) > self.pht.spec.capacity:
                outcome.overflow = merged
                return None
            # A leaf already there keeps its tag: a committed one is reachable (another
            # splitter's flip landed), a pending one an orphan until a flip lands.
            tag = old.pending if old is not None and leaf else node.pending
            return encode_node(self.pht.spec, Node(NodeKind.LEAF, merged, None, tag))

        current = await update_mutable(
            self.pht.store,
            self.pht.keypair,
            node_salt(self.pht.spec, label),
            update,
            retries=self.pht.retries,
        )
        if outcome.moved:
            if not internal:
                for bit in (0, 1):
                    child = label.child(bit)
                    part = {k: v for k, v in node.entries.items() if child.covers(k)}
                    if part:
                        down = Node(NodeKind.LEAF, part, None, node.pending)
                        await self._write_child(child, down, remove)
            return
        if outcome.overflow is not None and not await self.split(
            label, outcome.overflow, current, remove
        ):
            await self._write_child(label, node, remove)  # the node changed under us: once more
