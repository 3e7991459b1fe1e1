"""Range and prefix queries over a PHT (PHT paper §3.4), in few sequential rounds.

The subtree under the range's common prefix is walked top-down, every level's nodes
in parallel. Below an internal node that carries a hint (where its keys part, set when
a split made it internal) the walk fetches the whole path down to the hint and every
sibling along it in one round, so a chain of one-child internal nodes (many keys
sharing a long prefix: ``libreoffice-…``) costs one round instead of one per level.
Every node jumped over is still read and checked, so a stale hint costs gets, never
an entry. ``Pht`` delegates here.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

from .errors import QueryError
from .pht import INTERNAL, ROOT, Label, Node, NodeKind, children_in_range, common_prefix
from .shape import decode_shape

if TYPE_CHECKING:
    from .driver import Pht


class Budget:
    """What a range walk may cost; beyond it the caller gets ``QueryError``.

    ``fetches`` bounds the nodes fetched: a broad range over a large tree would
    otherwise cost thousands of DHT gets. ``leaves`` bounds the non-empty leaves the
    range covers, a property of the tree alone, whatever a reader's cache saved it
    from fetching: a combined query decides on it (plan.py), and every page of one
    query must decide the same way.
    """

    __slots__ = ("fetched", "fetches", "leaves", "reached")

    def __init__(self, fetches: int | None, leaves: int | None = None) -> None:
        self.fetches = fetches
        self.leaves = leaves
        self.fetched = 0
        self.reached = 0

    def fetch(self, n: int) -> None:
        self.fetched += n
        if self.fetches is not None and self.fetched > self.fetches:
            raise QueryError("range too broad for the index: narrow it down")

    def reach(self, n: int) -> None:
        self.reached += n
        if self.leaves is not None and self.reached > self.leaves:
            raise QueryError("range covers too many leaves")

    def cap(self, leaves: int) -> None:
        """Lower the leaf limit while the walk runs (it fails once beyond it), and the
        fetches with it: a walk reaches its leaves only at the bottom of the range,
        after it fetched the levels above (on the catalogue a range of 900 leaves
        fetched 2000 nodes before its 17th leaf). A walk that stays within ``leaves``
        fetches fewer than ``leaf_fetches(leaves)``, so this decides nothing a
        reader's cache could change."""
        self.leaves = leaves if self.leaves is None else min(self.leaves, leaves)
        limit = leaf_fetches(self.leaves)
        self.fetches = limit if self.fetches is None else min(self.fetches, limit)

    @property
    def exceeded(self) -> bool:
        return self.leaves is not None and self.reached > self.leaves


def leaf_fetches(leaves: int) -> int:
    """Nodes a walk fetches to reach ``leaves`` leaves, at most: about one internal
    node a leaf, each fetched with its children and grandchildren (two levels a
    round), and the path down to the range."""
    return 4 * leaves + 256


MAX_TILES = 256  # cached leaves one range reads at once, before it walks instead


def _key_of(label: Label, key_bits: int) -> bytes:
    return label.bounds(key_bits)[0].to_bytes(key_bits // 8, "big")


def _meets(label: Label, key_bits: int, lo: int, hi: int) -> bool:
    first, last = label.bounds(key_bits)
    return first <= hi and last >= lo


class Span:
    """One range query's bounds (as integers) and node budget."""

    __slots__ = ("budget", "hi", "lo")

    def __init__(self, lo: int, hi: int, budget: Budget) -> None:
        self.lo, self.hi, self.budget = lo, hi, budget


class RangeWalk:
    """The range half of one ``Pht``."""

    def __init__(self, pht: Pht) -> None:
        self.pht = pht

    async def get_range(
        self, lo: bytes, hi: bytes, max_nodes: int | Budget | None
    ) -> dict[bytes, bytes]:
        pht = self.pht
        lo_int, hi_int = int.from_bytes(lo, "big"), int.from_bytes(hi, "big")
        if lo_int > hi_int:
            return {}
        start = common_prefix(lo, hi)
        if isinstance(max_nodes, Budget):
            budget = max_nodes  # shared: a combined query may cut it while we walk
        else:
            budget = Budget(pht.max_range_nodes if max_nodes is None else max_nodes)
        found = await self._from_cache(lo_int, hi_int, budget)
        if found is None:
            found = await self._from_start(start, lo, Span(lo_int, hi_int, budget))
        return {k: v for k, v in found.items() if lo_int <= int.from_bytes(k, "big") <= hi_int}

    async def _from_cache(self, lo: int, hi: int, budget: Budget) -> dict[bytes, bytes] | None:
        """A warm reader's one-round range: the cached leaves that tile it, if each is
        still a leaf (a reachable leaf stays reachable while it is one). None if the
        cache cannot tell, or the tree changed there: then the range is walked."""
        pht = self.pht
        most = MAX_TILES if budget.fetches is None else min(MAX_TILES, budget.fetches)
        tiles = pht.cache.tiling(pht.spec, lo, hi, most)
        if tiles is None or len(tiles) < 2:  # one leaf: the lookup answers in one round
            return None
        budget.fetch(len(tiles))
        nodes = await asyncio.gather(*(pht._fetch(t) for t in tiles))
        out: dict[bytes, bytes] = {}
        tagged = []  # checked only once every tile is known to be a leaf
        for tile, (node, seq) in zip(tiles, nodes, strict=True):
            if node is None:
                continue  # an empty leaf (splits do not write them; merges freeze both)
            if node.kind is not NodeKind.LEAF:
                pht.cache.forget(pht.spec, tile)
                return None
            if node.pending is not None:  # checked again: a tagged node may be new there
                tagged.append((tile, node, seq))
            out.update(node.entries)
        checks = (
            pht.reachable(
                _key_of(tile, pht.spec.key_bits), tile.length, node, {tile.length: (node, seq)}
            )
            for tile, node, seq in tagged
        )
        if any(above is not None for above in await asyncio.gather(*checks)):
            return None
        budget.reach(sum(1 for node, _ in nodes if node is not None and node.entries))
        return out

    async def _from_start(self, start: Label, lo: bytes, span: Span) -> dict[bytes, bytes]:
        """The entries of the subtree at ``start`` (or of the leaf above it).

        The node at ``start`` and the leaf covering ``lo`` are fetched in parallel:
        whichever answers decides, so the walk does not wait for a binary search first.
        When the cache already knows which of the two it needs, only that is fetched.
        """
        pht = self.pht
        guess, floor = pht.cache.guess(pht.spec, lo)
        if guess is not None and guess <= start.length and pht.cache.is_leaf(pht.spec, lo, guess):
            label, leaf = await pht.lookup(lo)  # a cached leaf covers the whole range
            if label.length <= start.length:
                span.budget.reach(1 if leaf.entries else 0)
                return dict(leaf.entries)
            return await self._walk(start, await pht._get(start), span)
        if floor > start.length:  # the cache knows ``start`` is internal: walk at once
            answers, node = await self._start_node(lo, start)
            if answers:
                return await self._walk(start, node, span)
            return await self._after_lookup(start, node, lo, span)
        lookup = asyncio.ensure_future(pht.lookup(lo))
        try:
            answers, node = await self._start_node(lo, start)
        except BaseException:
            lookup.cancel()
            await asyncio.wait([lookup])
            raise
        if answers:
            lookup.cancel()  # the start node answers alone: no need for the leaf of ``lo``
            await asyncio.wait([lookup])
            if not lookup.cancelled():
                lookup.exception()  # retrieved: a lookup error does not matter now
            return await self._walk(start, node, span)
        return await self._after_lookup(start, node, lo, span, lookup)

    async def _start_node(self, lo: bytes, start: Label) -> tuple[bool, Node | None]:
        """The node at ``start``, and whether it decides the range alone: a reachable
        leaf or internal node. A tagged one is checked: its tag usually names the root
        (a bulk import splits it once), so the root is read alongside unless cached."""
        pht = self.pht
        seen: dict[int, tuple[Node | None, int]] = {}
        if start.length and pht.cache.flip(pht.spec, ROOT) is None:
            seen[start.length], seen[0] = await asyncio.gather(pht._fetch(start), pht._fetch(ROOT))
            root = seen[0]
            if root[0] is not None and root[0].kind is NodeKind.INTERNAL:
                pht.cache.remember_flip(pht.spec, ROOT, root[1], root[0].pending)
        else:
            seen[start.length] = await pht._fetch(start)
        node = seen[start.length][0]
        if node is not None and node.kind is NodeKind.INTERNAL:
            pht.cache.remember_flip(pht.spec, start, seen[start.length][1], node.pending)
        if node is None or node.kind is NodeKind.FROZEN:
            return False, node
        if node.pending is None:
            return True, node
        return await pht.reachable(lo, start.length, node, seen) is None, node

    async def _after_lookup(
        self,
        start: Label,
        node: Node | None,
        lo: bytes,
        span: Span,
        lookup: asyncio.Future[tuple[Label, Node]] | None = None,
    ) -> dict[bytes, bytes]:
        """``start`` is absent, frozen or pending: the leaf covering ``lo`` decides."""
        label, leaf = await (lookup if lookup is not None else self.pht.lookup(lo))
        if label.length <= start.length:
            span.budget.reach(1 if leaf.entries else 0)
            return dict(leaf.entries)  # one (verified) leaf covers the whole range
        # The leaf is deeper, so the path down to it (``start`` included) is internal.
        if node is not None and node.kind is NodeKind.INTERNAL:
            return await self._walk(start, node, span)
        return await self._walk(start, None, span)

    async def _walk(self, label: Label, node: Node | None, span: Span) -> dict[bytes, bytes]:
        """The entries in range under ``label``, a child of an internal node."""
        pht = self.pht
        bits = pht.spec.key_bits
        if node is None:
            if label.length >= bits:
                return {}
            # A hole under an internal node: look one level further before giving up.
            kids = await asyncio.gather(*(pht._get(label.child(b)) for b in (0, 1)))
            if all(kid is None for kid in kids):
                pht.cache.remember(pht.spec, label)  # an empty leaf: tiles a later range
                return {}
            pht.counters.repairs += 1
            await pht._put_if_absent(label, INTERNAL)
            node = INTERNAL
        if node.kind is not NodeKind.INTERNAL:
            pht.cache.remember(pht.spec, label)
            span.budget.reach(1 if node.entries else 0)
            return dict(node.entries)
        pht.cache.remember_internal(pht.spec, label)
        inner: set[Label] = set(decode_shape(label, node.shape, bits))
        hint = node.hint
        if hint is not None and _meets(hint, bits, span.lo, span.hi):
            # The path down to where this node's keys parted when it split: one round.
            inner |= {
                Label(d, hint.bits >> (hint.length - d))
                for d in range(label.length + 1, hint.length + 1)
            }
        elif hint is None and not node.shape and label.length + 1 < bits:
            # No hint, no shape: the node's keys parted at once. Its children are likely
            # internal too (else it would hardly have split): fetch two levels a round.
            inner = {
                c
                for c in children_in_range(label, bits, span.lo, span.hi)
                if not pht.cache.is_leaf(pht.spec, _key_of(c, bits), c.length)
            }
        return await self._expand(label, inner, span)

    async def _expand(self, label: Label, inner: set[Label], span: Span) -> dict[bytes, bytes]:
        """One round: the in-range children of ``label`` (internal) and of every node in
        ``inner`` (labels below it expected to be internal). Checked top-down: a node
        counts only while every node above it is internal, and the walk goes on from
        every node that is not expected internal or turned out not to be."""
        pht = self.pht
        bits = pht.spec.key_bits

        def kids(parent: Label) -> list[Label]:
            return children_in_range(parent, bits, span.lo, span.hi)

        wanted = sorted({c for p in (label, *inner) for c in kids(p)})
        span.budget.fetch(len(wanted))
        fetched = await asyncio.gather(*(pht._fetch(w) for w in wanted))
        got: dict[Label, Node | None] = {}
        for lab, (node, seq) in zip(wanted, fetched, strict=True):
            got[lab] = node
            if node is not None and node.kind is NodeKind.INTERNAL:  # for checking tags
                pht.cache.remember_flip(pht.spec, lab, seq, node.pending)
        subtrees: list[tuple[Label, Node | None]] = []
        repairs: list[Label] = []
        stack = [label]
        while stack:
            for child in kids(stack.pop()):
                node = got[child]
                if child in inner and node is None:
                    # Absent under an internal node: an empty leaf, unless it is an
                    # internal node that expired above live children (then repair it).
                    if all(got[c] is None for c in kids(child)):
                        pht.cache.remember(pht.spec, child)  # tiles a later range
                        continue
                    repairs.append(child)
                    node = INTERNAL
                if child in inner and node is not None and node.kind is NodeKind.INTERNAL:
                    pht.cache.remember_internal(pht.spec, child)
                    stack.append(child)
                else:
                    subtrees.append((child, node))
        if repairs:
            pht.counters.repairs += len(repairs)
            await asyncio.gather(*(pht._put_if_absent(r, INTERNAL) for r in repairs))
        parts = await asyncio.gather(*(self._walk(lab, node, span) for lab, node in subtrees))
        out: dict[bytes, bytes] = {}
        for part in parts:
            out.update(part)
        return out
