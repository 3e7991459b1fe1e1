"""Merging two sparse sibling leaves back into their parent (PHT paper §3.4).

Both children are frozen first (readable, not writable), then the parent flips from
internal to a leaf holding their union by CAS; a writer that meets a frozen leaf
helps finish the merge, so a merger that stopped half way never blocks inserts.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from swarmseek.discovery import update_mutable
from swarmseek.transfer import Value

from .pht import EMPTY_LEAF, Label, Node, NodeKind, encode_node, node_salt

if TYPE_CHECKING:
    from .driver import Pht


class Merger:
    """The merge half of one ``Pht``."""

    def __init__(self, pht: Pht) -> None:
        self.pht = pht

    async def try_merge(self, label: Label) -> None:
        sibling = await self.pht._get(label.sibling())
        mine = await self.pht._get(label)
        sibling = sibling if sibling is not None else EMPTY_LEAF  # absent = empty leaf
        if mine is None:
            return
        if sibling.kind is not NodeKind.LEAF or mine.kind is not NodeKind.LEAF:
            return
        if len(sibling.entries) + len(mine.entries) >= self.pht.spec.capacity // 2:
            return
        if await self.freeze(label) and await self.freeze(label.sibling()):
            await self.complete_merge(label.parent())

    async def freeze(self, label: Label) -> bool:
        def update(value: Value | None) -> Value | None:
            node = self.pht._decode_or_empty(label, value)
            if node.kind is not NodeKind.LEAF:
                return None
            return encode_node(
                self.pht.spec, Node(NodeKind.FROZEN, node.entries, None, node.pending)
            )

        item = await update_mutable(
            self.pht.store,
            self.pht.keypair,
            node_salt(self.pht.spec, label),
            update,
            retries=self.pht.retries,
        )
        return item is not None and item.value.get(b"k") == NodeKind.FROZEN.value

    async def complete_merge(self, parent: Label) -> None:
        """Both children frozen: the parent becomes a leaf holding their union.

        A writer that finds a frozen leaf calls this too (helping), so a merger that
        stopped half way never blocks inserts. If the sibling is internal the frozen
        child is thawed instead.
        """
        kids = [await self.pht._get(parent.child(b)) for b in (0, 1)]
        frozen = [k is not None and k.kind is NodeKind.FROZEN for k in kids]
        if not all(frozen):
            for bit in (0, 1):
                other = kids[1 - bit]
                if frozen[bit] and other is not None and other.kind is NodeKind.INTERNAL:
                    await self.thaw(parent.child(bit))
                elif frozen[bit] and (other is None or other.kind is NodeKind.LEAF):
                    if await self.freeze(parent.child(1 - bit)):
                        await self.complete_merge(parent)
                    return
            return
        union: dict[bytes, bytes] = {}
        for kid in kids:
            assert kid is not None
            union.update(kid.entries)
        if len(union) > self.pht.spec.capacity:
            for bit in (0, 1):
                await self.thaw(parent.child(bit))
            return

        def update(current: Value | None) -> Value | None:
            node = self.pht._decode_or_empty(parent, current) if current is not None else None
            if node is None or node.kind is not NodeKind.INTERNAL:
                return None
            return encode_node(self.pht.spec, Node(NodeKind.LEAF, union, None, node.pending))

        await update_mutable(
            self.pht.store,
            self.pht.keypair,
            node_salt(self.pht.spec, parent),
            update,
            retries=self.pht.retries,
        )
        self.pht.counters.merges += 1
        self.pht.cache.forget_internal(self.pht.spec, parent)
        for bit in (0, 1):
            self.pht.cache.forget(self.pht.spec, parent.child(bit))
        self.pht.cache.remember(self.pht.spec, parent)

    async def thaw(self, label: Label) -> None:
        def update(value: Value | None) -> Value | None:
            node = self.pht._decode_or_empty(label, value)
            if node.kind is not NodeKind.FROZEN or value is None:
                return None
            return encode_node(self.pht.spec, Node(NodeKind.LEAF, node.entries, None, node.pending))

        await update_mutable(
            self.pht.store,
            self.pht.keypair,
            node_salt(self.pht.spec, label),
            update,
            retries=self.pht.retries,
        )
