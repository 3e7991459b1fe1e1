"""Prefix Hash Tree over BEP 44 mutable items: the pure part (Ramabhadran et al., 2004).

A tree maps fixed-width binary keys to fixed-width values. Its node with label L (the
first ``len(L)`` bits of a key) is the mutable item of the namespace whose salt is
``node_salt(tree, L)``; a node is a *leaf* holding at most ``B`` entries, an *internal*
node (a marker: "go deeper"), or a *frozen* leaf (a leaf being merged into its parent,
still readable, never written into). Nothing here does I/O: ``driver.py`` runs these
plans over an ``ItemStore``.

Keys must be unique per entry: the trees built by ``swarmseek.index`` end every key
with a prefix of the card's target, so one popular term cannot overflow a leaf at
maximal depth (PHT paper §3 assumes distinct keys).
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from swarmseek.discovery import MAX_SALT_SIZE, MAX_VALUE_SIZE
from swarmseek.transfer import Value, encode

from .errors import NodeError
from .shape import MAX_SHAPE_BYTES, depth_on_path

SALT_MAGIC = b"pht"
MAX_SEQ = 2**63 - 1  # BEP 44: seq is a 64-bit signed integer
MAX_TREE_NAME = 16  # keeps the salt <= 64 bytes with a 40-byte (320-bit) label


class NodeKind(enum.Enum):
    LEAF = b"l"
    INTERNAL = b"i"
    FROZEN = b"f"


@dataclass(frozen=True, slots=True)
class TreeSpec:
    """A tree's name and entry layout: ``key_bytes`` of key then ``value_bytes`` of value."""

    name: bytes
    key_bytes: int
    value_bytes: int = 40
    capacity: int = field(init=False, compare=False)  # B, computed from the layout

    def __post_init__(self) -> None:
        if not 0 < len(self.name) <= MAX_TREE_NAME:
            raise NodeError(f"tree name must be 1..{MAX_TREE_NAME} bytes")
        if not 0 < self.key_bytes <= 31:  # the bit length must fit the salt's length byte
            raise NodeError("key width must be 1..31 bytes")
        object.__setattr__(self, "capacity", _capacity(self.key_bytes + self.value_bytes))

    @property
    def key_bits(self) -> int:
        return self.key_bytes * 8

    @property
    def record_size(self) -> int:
        return self.key_bytes + self.value_bytes


@dataclass(frozen=True, slots=True, order=True)
class Label:
    """The first ``length`` bits of a key, as an integer."""

    length: int
    bits: int

    @classmethod
    def of_key(cls, key: bytes, length: int) -> Label:
        total = len(key) * 8
        return cls(length, int.from_bytes(key, "big") >> (total - length))

    def child(self, bit: int) -> Label:
        return Label(self.length + 1, (self.bits << 1) | bit)

    def parent(self) -> Label:
        return Label(self.length - 1, self.bits >> 1)

    def sibling(self) -> Label:
        return Label(self.length, self.bits ^ 1)

    def covers(self, key: bytes) -> bool:
        return int.from_bytes(key, "big") >> (len(key) * 8 - self.length) == self.bits

    def bounds(self, key_bits: int) -> tuple[int, int]:
        """The smallest and largest key (as integers) under this label."""
        shift = key_bits - self.length
        return self.bits << shift, ((self.bits + 1) << shift) - 1

    def __str__(self) -> str:
        return format(self.bits, f"0{self.length}b") if self.length else "ε"


ROOT = Label(0, 0)


def _capacity(record_size: int) -> int:
    """B: the most records whose full leaf, pending tag included, still bencodes within
    BEP 44's 1000 bytes."""
    b = 0
    while True:
        value = _leaf_value(NodeKind.LEAF, b"\0" * record_size * (b + 1))
        assert isinstance(value, dict)
        value[b"p"], value[b"s"] = 255, MAX_SEQ
        if len(encode(value)) > MAX_VALUE_SIZE:
            return b
        b += 1


def node_salt(spec: TreeSpec, label: Label) -> bytes:
    """``pht`` + name length + name + bit length + label bits packed 8 to a byte."""
    salt = SALT_MAGIC + bytes([len(spec.name)]) + spec.name + pack_label(label)
    assert len(salt) <= MAX_SALT_SIZE
    return salt


@dataclass(frozen=True, slots=True)
class Node:
    """A decoded PHT node; ``entries`` maps key to value (empty for internal nodes).

    ``hint`` (internal nodes): the deepest label under which all the node's keys lay
    when a split made it internal. Below a long run of one-child internal nodes (many
    keys sharing a long prefix) a range walk fetches that whole path and its siblings
    in one round instead of one level per round. Only a hint: the walk checks every
    node it jumps over, so a stale one costs gets, never an entry.

    ``pending`` (any kind): (depth, seq) of the split that wrote it: the leaf at that
    depth on its path, flipped to internal at that seq. Until that flip lands, the node
    is an orphan no walk from the root reaches (and if the flip lost a race, it stays
    one), so a point lookup that lands on a tagged node first checks that the node at
    that depth is internal at that seq (``Pht.lookup``). A writer that reached a leaf
    that way writes it untagged.
    """

    kind: NodeKind
    entries: Mapping[bytes, bytes] = field(default_factory=dict)
    hint: Label | None = None
    pending: tuple[int, int] | None = None
    shape: bytes = b""  # internal nodes: see shape.py (the walk decodes it)


INTERNAL = Node(NodeKind.INTERNAL)
EMPTY_LEAF = Node(NodeKind.LEAF, {})  # what an absent node reads as


def _leaf_value(kind: NodeKind, packed: bytes) -> Value:
    if kind is NodeKind.INTERNAL:
        return {b"k": kind.value}
    return {b"k": kind.value, b"e": packed}


def pack_label(label: Label) -> bytes:
    nbytes = (label.length + 7) // 8
    return bytes([label.length]) + (label.bits << (nbytes * 8 - label.length)).to_bytes(
        nbytes, "big"
    )


def _unpack_label(raw: object, spec: TreeSpec) -> Label | None:
    if not isinstance(raw, bytes) or not raw or raw[0] > spec.key_bits:
        return None
    length = raw[0]
    nbytes = (length + 7) // 8
    if len(raw) != 1 + nbytes:  # at most 1 + 31 bytes: a key's width bounds it
        return None
    return Label(length, int.from_bytes(raw[1:], "big") >> (nbytes * 8 - length))


def encode_node(spec: TreeSpec, node: Node) -> Value:
    """A leaf packs its records key+value, sorted by key, into one byte string."""
    if len(node.entries) > spec.capacity:
        raise NodeError(f"{len(node.entries)} entries exceed B={spec.capacity}")
    packed = b"".join(k + node.entries[k] for k in sorted(node.entries))
    value = _leaf_value(node.kind, packed)
    assert isinstance(value, dict)
    if node.hint is not None and node.kind is NodeKind.INTERNAL:
        value[b"h"] = pack_label(node.hint)
    if node.shape and node.kind is NodeKind.INTERNAL:
        value[b"t"] = node.shape
    if node.pending is not None:
        value[b"p"], value[b"s"] = node.pending
    return value


def retagged(node: Node, pending: tuple[int, int] | None) -> Node:
    return Node(node.kind, node.entries, node.hint, pending, node.shape)


_KINDS = {kind.value: kind for kind in NodeKind}


def decode_node(spec: TreeSpec, label: Label, value: Value) -> Node:
    """Validate a node read from the network; raise ``NodeError`` if it is poisoned.

    Limits: a leaf may hold at most B records (what a valid writer can store) and every
    key must lie under the node's label, so a forged leaf cannot smuggle in keys that a
    lookup elsewhere in the tree would never reach.
    """
    if not isinstance(value, dict):
        raise NodeError("a PHT node is a dictionary")
    kind = _KINDS.get(value.get(b"k"))  # type: ignore[arg-type]
    if kind is None:
        raise NodeError("unknown PHT node kind")
    depth, seq = value.get(b"p"), value.get(b"s")
    pending: tuple[int, int] | None = None
    if depth is not None or seq is not None:
        if type(depth) is not int or not 0 <= depth < label.length:
            raise NodeError("a pending tag must name a depth above the node")
        if type(seq) is not int or not 0 < seq <= MAX_SEQ:
            raise NodeError("a pending tag needs a seq")
        pending = (depth, seq)
    if kind is NodeKind.INTERNAL:
        hint = _unpack_label(value.get(b"h"), spec)
        if hint is not None and not (
            hint.length > label.length and hint.bits >> (hint.length - label.length) == label.bits
        ):
            hint = None  # a hint outside the node's subtree is ignored, not trusted
        shape = value.get(b"t")
        shape = shape if isinstance(shape, bytes) and len(shape) <= MAX_SHAPE_BYTES else b""
        if hint is None and pending is None and not shape:
            return INTERNAL
        return Node(kind, {}, hint, pending, shape)
    packed = value.get(b"e")
    if not isinstance(packed, bytes) or len(packed) % spec.record_size:
        raise NodeError("leaf records are not a whole number of entries")
    count = len(packed) // spec.record_size
    if count > spec.capacity:
        raise NodeError(f"leaf holds {count} entries, more than B={spec.capacity}")
    entries: dict[bytes, bytes] = {}
    for i in range(0, len(packed), spec.record_size):
        key = packed[i : i + spec.key_bytes]
        if not label.covers(key):
            raise NodeError(f"key {key.hex()} is not under label {label}")
        entries[key] = packed[i + spec.key_bytes : i + spec.record_size]
    return Node(kind, entries, None, pending)


def split_plan(
    spec: TreeSpec, label: Label, entries: Mapping[bytes, bytes], flip_seq: int = 1
) -> list[tuple[Label, Node]]:
    """Nodes to write so that ``label`` can become internal (PHT paper §3.3, split).

    Returned deepest first: the new non-empty leaves, then the new internal nodes below
    ``label``, so that a reader never finds an internal node before its children. Empty
    leaves are not written: an internal node's absent child reads as an empty leaf.
    ``label`` itself is not included: the caller flips it to internal last, by CAS
    (to ``subtree_node(label, entries)``, at ``flip_seq``). Every node is tagged
    pending with both: until that flip lands, they are orphans nobody reaches.
    """
    out: list[tuple[Label, Node]] = []
    internals: list[tuple[Label, Node]] = []
    top = (label.length, flip_seq)
    stack = [(label, dict(entries))]
    while stack:
        node_label, node_entries = stack.pop()
        depth = node_label.length
        halves: tuple[dict[bytes, bytes], dict[bytes, bytes]] = ({}, {})
        byte, shift = divmod(depth, 8)  # the bit after the label: one byte, not the key
        for key, value in node_entries.items():
            halves[(key[byte] >> (7 - shift)) & 1][key] = value
        for bit in (0, 1):
            child = node_label.child(bit)
            if len(halves[bit]) > spec.capacity:
                if child.length >= spec.key_bits:
                    raise NodeError("more than B entries share one full key")
                internals.append((child, subtree_node(child, halves[bit], top)))
                stack.append((child, halves[bit]))
            elif halves[bit]:  # an absent child of an internal node is an empty leaf
                out.append((child, Node(NodeKind.LEAF, halves[bit], None, top)))
    out.sort(key=lambda item: -item[0].length)
    internals.sort(key=lambda item: -item[0].length)
    return out + internals


def subtree_node(
    label: Label, entries: Mapping[bytes, bytes], pending: tuple[int, int] | None
) -> Node:
    """The internal node ``label`` becomes when it splits with ``entries``: its hint is
    where those keys part (the end of a chain of one-child internal nodes below it)."""
    hint = None
    if entries:
        shared = common_prefix(min(entries), max(entries))
        if shared.length >= label.length + 2:  # a child is no jump
            hint = shared
    return Node(NodeKind.INTERNAL, {}, hint, pending)


class LeafSearch:
    """Binary search over prefix length for the leaf covering ``key`` (PHT paper §3.2).

    Feed it what the node at ``next_depth()`` turned out to be (None when absent). It
    starts at ``start`` (the leaf depth last seen for this tree), so with a warm cache a
    lookup costs one get; a cold one at most ceil(log2(D + 1)) gets.
    """

    def __init__(
        self,
        spec: TreeSpec,
        key: bytes,
        start: int | None = None,
        floor: int = 0,
        ceiling: int | None = None,
    ) -> None:
        self.spec = spec
        self.key = key
        self.lo = floor  # the node at floor - 1 is known to be internal
        self.hi = spec.key_bits if ceiling is None else ceiling  # the leaf is not deeper
        self.seen: dict[int, Node | None] = {}
        self._next: int | None = self._clamp(start if start is not None else spec.key_bits // 8)
        self.leaf: tuple[int, Node] | None = None
        self.frozen: dict[int, Node] = {}
        self.deepest_internal = floor - 1
        self.internals: list[int] = []
        self.missing: list[int] = []
        self.probes = 0
        self.rounds = 0
        self._trend = 0  # +1: the last round only saw internal nodes; -1: only absent ones
        self._gallop = 1
        self._hinted = -1  # the deepest hint on the key's path seen (``next_round``)
        self._cold = start is None  # no cached depth: split the interval from the start
        self._round_seen: set[bool] = set()

    def _clamp(self, depth: int) -> int:
        return max(self.lo, min(self.hi, depth))

    def next_depth(self) -> int | None:
        return self._next

    def next_round(self, width: int = 1) -> list[int]:
        """Depths to probe in parallel in the next round (one sequential DHT round).

        With ``width`` w a round cuts the remaining interval into w + 1 parts, so a cold
        lookup takes about log_(w+1)(D) rounds instead of log2(D); the first round
        probes the cached depth and its neighbours, where the leaf usually is.
        """
        if self._next is None:
            return []
        if width <= 1:
            return [self._next]
        if self.rounds == 0 and not self._cold:
            offsets = (0, 1, -1, 2, -2, 3, -3)[:width]
            picks = [self._next + o for o in offsets]
        elif self.lo < self._hinted <= self.hi:
            # An internal node on the path said where its keys parted when it split:
            # the leaf is most likely just below, so search from there down.
            span = self.hi - self._hinted + 1
            picks = [self._hinted + (span * i) // (width + 1) for i in range(width)]
            self._hinted = -1
        elif self._trend and self.rounds == 1 and not self._cold:
            # Every probe of the last round said "deeper" (or every one "shallower"):
            # the leaf is likely just past the bound that moved, so gallop from it.
            steps = [self._gallop * o for o in (0, 2, 6, 14, 30, 62, 126)[:width]]
            picks = (
                [self.lo + d for d in steps] if self._trend > 0 else [self.hi - d for d in steps]
            )
            self._gallop *= 4
        else:
            span = self.hi - self.lo + 1
            picks = [self.lo + (span * (i + 1)) // (width + 1) for i in range(width)]
        self._round_seen = set()
        return sorted({self._clamp(d) for d in picks})

    def label(self, depth: int) -> Label:
        return Label.of_key(self.key, depth)

    def feed(self, depth: int, node: Node | None) -> None:
        self.probes += 1
        self.seen[depth] = node
        if self.leaf is not None:
            return
        if node is not None and node.kind is NodeKind.LEAF:
            self.leaf = (depth, node)
            self._next = None
            return
        self._round_seen.add(node is not None and node.kind is NodeKind.INTERNAL)
        self._trend = (1 if True in self._round_seen else -1) if len(self._round_seen) == 1 else 0
        if node is not None and node.kind is NodeKind.INTERNAL:
            hint = node.hint
            if hint is not None and hint.length > self._hinted and hint.covers(self.key):
                self._hinted = hint.length  # a guess: the nodes above it are not checked
            if node.shape:  # where the split that made it internal left the leaf: a guess
                self._hinted = max(self._hinted, depth_on_path(depth, node.shape, self.key) + 1)
            self.deepest_internal = max(self.deepest_internal, depth)
            self.internals.append(depth)
            self.lo = max(self.lo, depth + 1)
        else:
            if node is not None:  # frozen: readable, but its parent may be the leaf now
                self.frozen[depth] = node
            else:
                self.missing.append(depth)
            self.hi = min(self.hi, depth - 1)
        if self.lo > self.hi:
            self._next = None
            frozen = self.frozen.get(self.lo)
            if frozen is not None and self.deepest_internal == self.lo - 1:
                self.leaf = (self.lo, frozen)
            return
        self._next = (self.lo + self.hi) // 2

    @property
    def hole(self) -> int | None:
        """Where the search ran into a missing node under an internal one (or -1: empty)."""
        if self.leaf is not None or self._next is not None:
            return None
        return self.deepest_internal


def merge_entries(
    current: Mapping[bytes, bytes], add: Mapping[bytes, bytes], remove: Iterable[bytes]
) -> dict[bytes, bytes]:
    merged = dict(current)
    merged.update(add)
    for key in remove:
        merged.pop(key, None)
    return merged


def children_in_range(label: Label, key_bits: int, lo: int, hi: int) -> list[Label]:
    """The children of ``label`` whose key span meets [lo, hi] (range query walk)."""
    out = []
    for bit in (0, 1):
        child = label.child(bit)
        first, last = child.bounds(key_bits)
        if first <= hi and last >= lo:
            out.append(child)
    return out


def common_prefix(lo: bytes, hi: bytes) -> Label:
    """The deepest label covering both ``lo`` and ``hi``: where a range query starts."""
    diff = int.from_bytes(lo, "big") ^ int.from_bytes(hi, "big")
    bits = len(lo) * 8
    length = bits - diff.bit_length()
    return Label.of_key(lo, length)
