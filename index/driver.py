"""The asyncio driver that runs ``pht.py``'s plans over an ``ItemStore``.

Writes go through ``update_mutable`` (BEP 44 ``cas``), so concurrent writers never
lose an entry: a leaf that turned internal under a writer aborts its update and the
writer looks the key up again; a split writes the children (merging with whatever a
concurrent splitter already wrote there) before the parent flips to internal by CAS.

A batch into a known tree writes straight to the leaves its cache names; the write's
own read checks the leaf is still there and reachable (``_reachable_leaf``).
"""

from __future__ import annotations

import asyncio
import functools
import random
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from swarmseek.discovery import (
    CasConflict,
    ItemStore,
    KeyPair,
    MutableItem,
    PutError,
    SeqTooLow,
    update_mutable,
)
from swarmseek.transfer import Value

from .cache import LeafCache
from .errors import NodeError, PublishError
from .merge import Merger
from .pht import (
    EMPTY_LEAF,
    INTERNAL,
    ROOT,
    Label,
    LeafSearch,
    Node,
    NodeKind,
    TreeSpec,
    decode_node,
    encode_node,
    node_salt,
)
from .split import Outcome, Splitter
from .walk import Budget, RangeWalk
from .writes import by_leaf, decode_or_empty, leaf_update, update_from

WARM_UP_KEYS = 256  # a batch this big into an unknown tree first walks it (``apply``)
WRITE_ATTEMPTS = 4  # a leaf write no node stored: tried again after 0.5, 1, 2 s
# A split that lost its flip waits up to 20 ms, doubling per loss up to 0.64 s, chosen at
# random: two splitters of one leaf each undid the other's flip (a lost flip's settling
# write moves the leaf's seq under the other's flip) 32 times in a row without it.
SPLIT_BACKOFF = 0.02
SPLIT_BACKOFF_MAX = 0.64


@dataclass(slots=True)
class PhtCounters:
    """What the benchmarks report: gets, puts, and sequential gets per lookup."""

    lookups: int = 0
    lookup_gets: int = 0  # sequential rounds of gets (what latency is made of)
    lookup_gets_max: int = 0
    lookup_probes: int = 0  # all gets, parallel ones included
    splits: int = 0
    merges: int = 0
    repairs: int = 0


class Pht:
    """One PHT in one namespace: lookup, range, batched insert/delete, repair, republish."""

    def __init__(
        self,
        store: ItemStore,
        keypair: KeyPair,
        spec: TreeSpec,
        *,
        cache: LeafCache | None = None,
        counters: PhtCounters | None = None,
        retries: int = 32,
        width: int = 3,
        rng: random.Random | None = None,
    ) -> None:
        self.store = store
        self.width = width  # parallel gets per lookup round (LeafSearch.next_round)
        self.max_range_nodes: int | None = None  # budget of one range walk (None: no limit)
        self.write_retry_delay = 0.5  # seconds before a refused leaf write is tried again
        self.keypair = keypair
        self.spec = spec
        self.cache = cache if cache is not None else LeafCache()
        self.counters = counters if counters is not None else PhtCounters()
        self.retries = retries
        self.rng = rng if rng is not None else random.Random()
        self.writable = True
        self._merger = Merger(self)
        self._splitter = Splitter(self)
        self._ranges = RangeWalk(self)

    # -- reading ----------------------------------------------------------------

    async def _get(self, label: Label) -> Node | None:
        return (await self._fetch(label))[0]

    async def _fetch(self, label: Label) -> tuple[Node | None, int]:
        """The node at ``label`` and its seq (0 when absent)."""
        item = await self.store.get_mutable(self.keypair.public_key, node_salt(self.spec, label))
        if item is None:
            return None, 0
        try:
            return decode_node(self.spec, label, item.value), item.seq
        except NodeError:
            # A poisoned node hides what it covered (DESIGN.md: poison can hide results);
            # reading it as an empty leaf lets the next writer overwrite it with a valid one.
            return EMPTY_LEAF, item.seq

    async def lookup(self, key: bytes, ceiling: int | None = None) -> tuple[Label, Node]:
        """The leaf covering ``key`` (binary search over prefix length, from the cache).

        ``ceiling``: the leaf is known to be no deeper (a node there is not internal).
        """
        start, floor = self.cache.guess(self.spec, key)
        if ceiling is not None:
            floor = min(floor, ceiling)
        search = LeafSearch(self.spec, key, start, floor, ceiling)
        exact = start is not None and start >= floor and self.cache.is_leaf(self.spec, key, start)
        seen: dict[int, tuple[Node | None, int]] = {}
        while depths := search.next_round(1 if exact and not search.rounds else self.width):
            first = not search.rounds and not exact and self.width > 1
            if first and not self.cache.flip(self.spec, ROOT):
                depths = [0, *depths] if 0 not in depths else depths  # tags often name it
            nodes = await asyncio.gather(*(self._fetch(search.label(d)) for d in depths))
            search.rounds += 1
            for depth, got in zip(depths, nodes, strict=True):
                seen[depth] = got
                if got[0] is not None and got[0].kind is NodeKind.INTERNAL:
                    self.cache.remember_flip(self.spec, search.label(depth), got[1], got[0].pending)
                search.feed(depth, got[0])
        for depth in search.internals:
            self.cache.remember_internal(self.spec, Label.of_key(key, depth))
        if search.leaf is None and floor > 0 and search.hole == floor - 1:
            # The hole sits right under a node only the cache says is internal: check it
            # (a merge may have turned it into a leaf), else search again from scratch.
            search.probes += 1
            search.rounds += 1
            above = await self._get(Label.of_key(key, floor - 1))
            if above is None or above.kind is not NodeKind.INTERNAL:
                self.cache.forget_internal(self.spec)
                self._count_lookup(search)
                return await self.lookup(key, ceiling)
        hole = search.hole
        anchor = search.leaf or (hole, None if hole is None else search.seen.get(hole))
        if anchor[0] is not None and anchor[1] is not None:
            # A node written by a split: an orphan no walk from the root reaches if that
            # split's flip has not landed (or lost a race). Checked even when cached (a
            # merge and a later split may have replaced it), usually from the cache of
            # flips read before, so without a round.
            rounds = self.counters.lookup_gets
            ceiling = await self.reachable(key, anchor[0], anchor[1], seen)
            search.rounds += self.counters.lookup_gets - rounds
            self.counters.lookup_gets = rounds
            if ceiling is not None:
                self.cache.forget_internal(self.spec)  # it may have learnt orphans
                self._count_lookup(search)
                return await self.lookup(key, ceiling)
        self._count_lookup(search)
        if search.leaf is not None:
            depth, node = search.leaf
            for gap in sorted(d for d in search.missing if d < depth):
                # a parallel probe saw a missing node above the leaf: re-create it
                self.counters.repairs += 1
                await self._put_if_absent(Label.of_key(key, gap), INTERNAL)
            label = Label.of_key(key, depth)
            self.cache.remember(self.spec, label)
            return label, node
        assert hole is not None
        if hole < 0:
            # No root. Either an empty tree, or the root expired above a live subtree
            # (then its child on our path exists: re-create the root as internal).
            if await self._get(Label.of_key(key, 1)) is None:
                return ROOT, EMPTY_LEAF
            self.counters.repairs += 1
            await self._put_if_absent(ROOT, INTERNAL)
            return await self.lookup(key, ceiling)
        return await self._repair_below(key, hole)

    async def reachable(
        self, key: bytes, depth: int, node: Node, seen: dict[int, tuple[Node | None, int]]
    ) -> int | None:
        """Whether ``node`` at ``depth`` on ``key``'s path is reachable (every node above
        it internal), given the nodes already read there (``seen``: depth -> node, seq).

        An untagged node is (a split's flip landed above it, or a writer that reached it
        from the root wrote it). A tagged one is if the split leaf is internal at the
        seq that split flipped it to: all the split wrote below it is in place. If
        another split flipped it, the nodes in between are read. And so on up, while the
        nodes checked are tagged too. None if reachable; else the depth of a node above
        that is not internal: the leaf covering ``key`` is there or higher.
        """
        tag = node.pending
        while tag is not None:
            top, seq = tag
            if top not in seen:
                cached = self.cache.flip(self.spec, Label.of_key(key, top))
                if cached is not None and cached[0] == seq:
                    depth, tag = top, cached[1]
                    continue
                await self._read_path(key, [top], seen)
            above, above_seq = seen[top]
            if above is None or above.kind is not NodeKind.INTERNAL:
                return top
            if above_seq != seq:
                await self._read_path(
                    key, [d for d in range(top + 1, depth) if d not in seen], seen
                )
                for d in range(top + 1, depth):
                    between = seen[d][0]
                    if between is None or between.kind is not NodeKind.INTERNAL:
                        return d
            depth, tag = top, above.pending
        return None

    async def _read_path(
        self, key: bytes, depths: list[int], seen: dict[int, tuple[Node | None, int]]
    ) -> None:
        if not depths:
            return
        found = await asyncio.gather(*(self._fetch(Label.of_key(key, d)) for d in depths))
        self.counters.lookup_gets += 1  # one more sequential round
        self.counters.lookup_probes += len(depths)
        for d, got in zip(depths, found, strict=True):
            seen[d] = got
            if got[0] is not None and got[0].kind is NodeKind.INTERNAL:
                self.cache.remember_flip(self.spec, Label.of_key(key, d), got[1], got[0].pending)

    def _count_lookup(self, search: LeafSearch) -> None:
        self.counters.lookups += 1
        self.counters.lookup_gets += search.rounds
        self.counters.lookup_probes += search.probes
        self.counters.lookup_gets_max = max(self.counters.lookup_gets_max, search.rounds)

    async def _repair_below(self, key: bytes, internal_depth: int) -> tuple[Label, Node]:
        """The child on ``key``'s path of the internal node at ``internal_depth`` is absent.

        Splits do not write empty leaves (on skewed keys such as ASCII terms most
        siblings would be empty, and each would cost an item), so an absent child of an
        internal node *is* an empty leaf, and a writer creates it. It may instead be an
        internal node that expired above live descendants: one parallel round probes
        the next two depths, and if either exists the missing internal nodes are
        re-created (repair). A hole more than two levels tall is read as empty until
        the publishers re-put their entries (``republish``).
        """
        missing = Label.of_key(key, internal_depth + 1)
        deeper = [d for d in (internal_depth + 2, internal_depth + 3) if d <= self.spec.key_bits]
        found = await asyncio.gather(*(self._get(Label.of_key(key, d)) for d in deeper))
        self.counters.lookup_gets += 1
        alive = [d for d, node in zip(deeper, found, strict=True) if node is not None]
        if not alive:
            return missing, EMPTY_LEAF
        self.counters.repairs += 1
        for d in range(max(alive) - 1, internal_depth, -1):
            await self._put_if_absent(Label.of_key(key, d), INTERNAL)
        return await self.lookup(key)

    async def _put_if_absent(self, label: Label, node: Node) -> None:
        if not self.writable:
            return
        value = encode_node(self.spec, node)
        await update_mutable(
            self.store,
            self.keypair,
            node_salt(self.spec, label),
            lambda cur: value if cur is None else None,
            retries=self.retries,
        )

    async def get_range(
        self, lo: bytes, hi: bytes, *, max_nodes: int | Budget | None = None
    ) -> dict[bytes, bytes]:
        """Every entry with lo <= key <= hi; the subtree is walked in parallel (§3.4).

        ``max_nodes`` (default ``max_range_nodes``) bounds the nodes fetched; beyond it
        the walk raises ``QueryError``."""
        return await self._ranges.get_range(lo, hi, max_nodes)

    async def get_prefix(
        self, prefix: bytes, *, max_nodes: int | Budget | None = None
    ) -> dict[bytes, bytes]:
        pad = self.spec.key_bytes - len(prefix)
        return await self.get_range(
            prefix + b"\0" * pad, prefix + b"\xff" * pad, max_nodes=max_nodes
        )

    # -- writing ----------------------------------------------------------------

    async def apply(self, add: Mapping[bytes, bytes], remove: Iterable[bytes] = ()) -> None:
        """Insert ``add`` and delete ``remove``; each leaf gets one read-modify-write.

        Each round looks up one key per group the leaf cache expects, in parallel, then
        gives every pending key to the leaf found that covers it, so a leaf gets one
        write even when several groups led to it (a cold cache guesses groups badly:
        a bulk import into an existing tree had dozens of writers per leaf, which then
        exhausted their CAS retries against each other).
        """
        spec = self.spec
        for key, value in add.items():
            if len(key) != spec.key_bytes or len(value) != spec.value_bytes:
                # One record of the wrong width would misalign the whole leaf's records
                # and make the leaf unreadable for every reader: refuse it here.
                raise NodeError(
                    f"entry of {len(key)}+{len(value)} bytes in a tree of "
                    f"{spec.key_bytes}+{spec.value_bytes}-byte records"
                )
        pending_add = dict(add)
        pending_remove = set(remove) - set(pending_add)
        first = sorted(set(pending_add) | pending_remove)
        if len(first) >= WARM_UP_KEYS and not self.cache.knows(self.spec):
            # A big batch and no idea where the leaves are: one parallel walk of the
            # keys' span reads each node once and teaches the cache every leaf, where
            # point lookups from a cold cache cost 26 gets per card (10^4 cards into
            # a tree of 10^4, measured in memory).
            await self.get_range(first[0], first[-1], max_nodes=1 << 62)
        while pending_add or pending_remove:
            keys = sorted(set(pending_add) | pending_remove)
            groups = self._group(keys)
            # A group under a cached leaf skips the lookup: its write reads that leaf
            # anyway and checks it is still a reachable leaf (``_apply_leaf``), so a
            # batch into a known tree costs one read per leaf, not two.
            cached = [self._cached_leaf(group[0]) for group in groups]
            looked = iter(
                await asyncio.gather(
                    *(self.lookup(g[0]) for g, c in zip(groups, cached, strict=True) if c is None)
                )
            )
            labels = [c if c is not None else next(looked)[0] for c in cached]
            unchecked = {c for c in cached if c is not None}
            leaves = by_leaf(keys, labels, self.spec.key_bits)
            for group, label in zip(groups, labels, strict=True):
                if group[0] not in leaves.get(label, ()):  # a stale overlap: keep progress
                    leaves.setdefault(label, []).append(group[0])
            results = await asyncio.gather(
                *(
                    self._apply_keys(
                        label, mine, pending_add, pending_remove, checked=label not in unchecked
                    )
                    for label, mine in leaves.items()
                )
            )
            for done in results:
                for key in done:
                    pending_add.pop(key, None)
                    pending_remove.discard(key)

    def _cached_leaf(self, key: bytes) -> Label | None:
        depth = self.cache.guess(self.spec, key)[0]
        if depth is None or not self.cache.is_leaf(self.spec, key, depth):
            return None
        return Label.of_key(key, depth)

    def _group(self, keys: list[bytes]) -> list[list[bytes]]:
        groups: dict[tuple[int, int] | None, list[bytes]] = {}
        for key in keys:
            depth = self.cache.guess(self.spec, key)[0]
            ident = None if depth is None else (depth, Label.of_key(key, depth).bits)
            groups.setdefault(ident, []).append(key)
        return list(groups.values())

    async def _apply_keys(
        self,
        label: Label,
        mine: list[bytes],
        add: Mapping[bytes, bytes],
        remove: set[bytes],
        *,
        checked: bool = True,
    ) -> list[bytes]:
        batch_add = {k: add[k] for k in mine if k in add}
        batch_remove = {k for k in mine if k in remove}
        for attempt in range(WRITE_ATTEMPTS):
            try:
                applied = await self._apply_leaf(label, batch_add, batch_remove, checked=checked)
                break
            except (CasConflict, SeqTooLow):
                raise  # a race update_mutable already retried: not the network's fault
            except PutError:
                # No node stored the write (all refused or timed out): a loaded or
                # churning network. The write is a read-modify-write of the same keys,
                # so trying it again cannot add anything twice.
                if attempt == WRITE_ATTEMPTS - 1:
                    raise
                await asyncio.sleep(self.write_retry_delay * 2**attempt)
        if applied:
            return mine
        self.cache.forget(self.spec, label)
        return []

    async def _apply_leaf(
        self, label: Label, add: Mapping[bytes, bytes], remove: set[bytes], *, checked: bool
    ) -> bool:
        """Apply to the leaf at ``label``; False if it is no longer a leaf (look up again).

        ``checked``: a lookup just found the leaf there. Else only the cache says so, and
        the first read must show a leaf that is reachable from the root."""
        salt = node_salt(self.spec, label)
        known: list[MutableItem | None] = []
        if not checked:
            item = await self.store.get_mutable(self.keypair.public_key, salt)
            if not await self._reachable_leaf(label, next(iter(add or remove)), item):
                return False
            known.append(item)
        for attempt in range(self.retries):
            outcome = Outcome()
            update = functools.partial(
                leaf_update, self.spec, label, add=add, remove=remove, outcome=outcome
            )
            if known:
                current = await update_from(
                    self.store, self.keypair, salt, update, known.pop(), retries=self.retries
                )
            else:
                current = await update_mutable(
                    self.store, self.keypair, salt, update, retries=self.retries
                )
            if outcome.moved:
                if current is not None and current.value.get(b"k") == NodeKind.FROZEN.value:
                    await self._merger.complete_merge(label.parent())
                return False
            if outcome.overflow is None:
                if 0 <= outcome.remaining < self.spec.capacity // 2 and label.length > 0:
                    await self._merger.try_merge(label)
                return True
            if await self._splitter.split(label, outcome.overflow, current, remove, reachable=True):
                return True
            ceiling = min(SPLIT_BACKOFF_MAX, SPLIT_BACKOFF * 2**attempt)
            await asyncio.sleep(self.rng.uniform(0, ceiling))
        raise PublishError(f"leaf {label} of {self.spec.name!r}: gave up after retries")

    async def _reachable_leaf(self, label: Label, key: bytes, item: MutableItem | None) -> bool:
        """Is ``item`` (read at ``label``, on ``key``'s path) a leaf reachable from the
        root? Absent, poisoned or not a leaf: not known to be, the caller looks up."""
        if item is None:
            return False
        try:
            node = decode_node(self.spec, label, item.value)
        except NodeError:
            return False
        if node.kind is not NodeKind.LEAF:
            return False
        if node.pending is None:
            return True  # untagged: a writer that reached it from the root wrote it
        seen: dict[int, tuple[Node | None, int]] = {label.length: (node, item.seq)}
        return await self.reachable(key, label.length, node, seen) is None

    def _decode_or_empty(self, label: Label, value: Value | None) -> Node:
        return decode_or_empty(self.spec, label, value)

    # -- keeping it alive -------------------------------------------------------

    async def republish(self, entries: Mapping[bytes, bytes]) -> int:
        """Re-put (unchanged) every node on the paths to ``entries``, re-insert lost ones.

        BEP 44 items expire after about 2 hours; re-putting the same signed item with
        the same seq refreshes it on the nodes closest to its target. Returns the puts.
        """
        labels: set[Label] = set()
        # Lookups in parallel, one per leaf the cache expects (then one per key it got
        # wrong): sequential lookups made a republish take one DHT round per entry.
        groups = self._group(sorted(entries))
        while groups:
            found = await asyncio.gather(*(self.lookup(group[0]) for group in groups))
            wrong: list[bytes] = []
            for group, (leaf, _) in zip(groups, found, strict=True):
                for key in group:
                    if leaf.covers(key):
                        labels.update(Label.of_key(key, d) for d in range(leaf.length + 1))
                    else:
                        wrong.append(key)
            groups = [[key] for key in wrong]
        salts = [node_salt(self.spec, label) for label in sorted(labels)]
        items = await asyncio.gather(
            *(self.store.get_mutable(self.keypair.public_key, salt) for salt in salts)
        )
        alive = [item for item in items if item is not None]
        await asyncio.gather(*(self.store.put_mutable(item) for item in alive))
        await self.apply(entries)
        return len(alive)
