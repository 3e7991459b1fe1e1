"""Helpers of batched PHT writes: which found leaf each key goes to, the update a leaf
write applies, and a read-modify-write that starts from an item the writer has just
read itself.

``update_mutable`` reads the item and then writes it by CAS. A writer that has read the
item a moment ago (to check that a cached leaf is still a reachable leaf) would read it
twice; here the first attempt starts from that read. CAS makes this exactly as safe as
a fresh read: if the item changed since, the put is refused and ``update_mutable``
takes over from a fresh read (settling the replicas if the refused put landed on some).
"""

from __future__ import annotations

import bisect
from collections.abc import Callable, Mapping

from swarmseek.discovery import (
    CAS_ABSENT,
    CasConflict,
    ItemStore,
    KeyPair,
    MutableItem,
    SeqTooLow,
    sign_item,
    update_mutable,
)
from swarmseek.transfer import Value

from .errors import NodeError
from .pht import (
    EMPTY_LEAF,
    Label,
    Node,
    NodeKind,
    TreeSpec,
    decode_node,
    encode_node,
    merge_entries,
)
from .split import Outcome

Updater = Callable[[Value | None], Value | None]  # as update_mutable takes it


async def update_from(
    store: ItemStore,
    keypair: KeyPair,
    salt: bytes,
    update: Updater,
    known: MutableItem | None,
    *,
    retries: int,
) -> MutableItem | None:
    """``update_mutable``, whose first attempt applies ``update`` to ``known`` (the item
    as last read, None if absent) instead of reading it again."""
    new_value = update(None if known is None else known.value)
    if new_value is None:
        return known
    item = sign_item(keypair, new_value, 1 if known is None else known.seq + 1, salt)
    try:
        await store.put_mutable(item, cas=CAS_ABSENT if known is None else known.seq)
    except (CasConflict, SeqTooLow) as exc:
        settle = isinstance(exc, CasConflict) and exc.landed > 0
        floor = exc.current_seq or 0
        return await update_mutable(
            store, keypair, salt, update, retries=retries, settle=settle, floor=floor
        )
    return item


def by_leaf(keys: list[bytes], labels: list[Label], key_bits: int) -> dict[Label, list[bytes]]:
    """Each key (sorted) under the found leaf covering it; keys no leaf covers are left
    for the next round. Found leaves are disjoint unless the tree changed between two
    lookups; then a key goes to the leaf starting last before it."""
    spans = sorted({(*label.bounds(key_bits), label) for label in labels})
    starts = [span[0] for span in spans]
    out: dict[Label, list[bytes]] = {}
    for key in keys:
        point = int.from_bytes(key, "big")
        i = bisect.bisect_right(starts, point) - 1
        if i >= 0 and point <= spans[i][1]:
            out.setdefault(spans[i][2], []).append(key)
    return out


def decode_or_empty(spec: TreeSpec, label: Label, value: Value | None) -> Node:
    """The node a stored value holds; absent or poisoned reads as an empty leaf."""
    if value is None:
        return EMPTY_LEAF
    try:
        return decode_node(spec, label, value)
    except NodeError:
        return EMPTY_LEAF


def leaf_update(
    spec: TreeSpec,
    label: Label,
    value: Value | None,
    *,
    add: Mapping[bytes, bytes],
    remove: set[bytes],
    outcome: Outcome,
) -> Value | None:
    """``update_mutable``'s function for adding and removing keys of one leaf."""
    node = decode_or_empty(spec, label, value)
    if node.kind is not NodeKind.LEAF:
        outcome.moved = True
        return None
    merged = merge_entries(node.entries, add, remove)
    if len(merged) > spec.capacity:
        outcome.overflow = merged
        return None
    if remove:
        outcome.remaining = len(merged)
    if value is not None and merged == dict(node.entries):
        return None
    return encode_node(spec, Node(NodeKind.LEAF, merged))
