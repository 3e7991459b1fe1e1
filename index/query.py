"""Queries, their results and the keys each tree is searched by. Pure.

Tree keys end with the first 4 bytes of the card's target so that every entry's key
is unique (PHT paper §3 assumes distinct keys; a popular term would otherwise fill a
leaf at maximal depth), and entries carry the card target and the infohash (a ``kw``
entry only its first ``INFOHASH_ID_BYTES``, then its name's length in terms, the
term's count, the card's size and time: 42 bytes, see ``KW_VALUE_BYTES``):

    kw2     term (UTF-8, at most 12 bytes) + NUL + target[:15 - len(term)]   16 bytes
    size    total size, 64-bit big-endian                 + target[:4]      12 bytes
    time    creation time, 64-bit big-endian              + target[:4]      12 bytes
    lsh<i>  band hash (8 bytes)                           + target[:4]      12 bytes

Big-endian fixed width makes lexicographic order numeric order, so a term prefix, a
size range or a date range is a PHT range query. A ``kw`` key continues with target
bytes right after the term's NUL terminator rather than NUL padding: the entries of
one popular term then split on random bits at once, instead of through a chain of
internal nodes (one item each) along the padding. NUL never occurs in a term, so it
sorts a term before its extensions and ``term + NUL`` is the exact-term prefix.
"""

from __future__ import annotations

import base64
import hashlib
import re
import unicodedata
from collections import Counter
from dataclasses import dataclass, field
from urllib.parse import quote

from swarmseek.transfer import BencodeError, decode, encode

from .errors import QueryError
from .pht import TreeSpec

TERM_BYTES = 12
TAIL_BYTES = 4
VALUE_BYTES = 40  # target (20) + infohash (20)
# A keyword entry also carries the name's length in terms and the term's count in it
# (one byte each, capped at 255): what BM25 needs, so a result set too large to fetch
# every card is still ranked by relevance (index/paging.py). Then the card's size and
# creation time, so a keyword or prefix walk answers a combined query's ranges from
# its own entries: no range walk, no card fetched to count the matches (plan.py).
# 6 bytes of size (up to 256 TiB) and 4 of time (up to 2106); a number that does not
# fit is written as all ones, "unknown", and such a candidate is checked on its card.
# Room for them: a keyword entry keeps only the infohash's first 10 bytes, which is all
# a search uses before the card (one result per infohash, a tie-break; the card's own
# infohash is checked against them), so B stays 16 (the full 20 would make it 14: 13%
# more puts per imported card and more leaves per common word).
INFOHASH_ID_BYTES = 10
KW_SIZE_BYTES = 6
KW_TIME_BYTES = 4
KW_VALUE_BYTES = 20 + INFOHASH_ID_BYTES + 2 + KW_SIZE_BYTES + KW_TIME_BYTES
STOPWORDS = frozenset({"a", "an", "and", "the", "of", "or", "to", "in", "on", "for", "by"})
MAX_QUERY_TERMS = 16  # each term costs a PHT lookup; more is not a search, it is a scan

# "kw2": the entry layout above; the tree of the older, narrower entries was "kw"
KW = TreeSpec(b"kw2", TERM_BYTES + TAIL_BYTES, KW_VALUE_BYTES)
SIZE = TreeSpec(b"size", 8 + TAIL_BYTES, VALUE_BYTES)
TIME = TreeSpec(b"time", 8 + TAIL_BYTES, VALUE_BYTES)
U64 = 2**64 - 1


def normalise(text: str) -> list[str]:
    """Search terms: NFKC, casefolded, split on non-alphanumerics, tiny stopwords gone."""
    folded = unicodedata.normalize("NFKC", text).casefold()
    return [t for t in re.split(r"[\W_]+", folded) if t and t not in STOPWORDS]


def term_prefix(term: str, exact: bool) -> bytes:
    """The key prefix to range over: the term and its terminator, or just its bytes."""
    raw = term.encode("utf-8")[:TERM_BYTES]
    return raw + b"\0" if exact else raw


def entry_value(target: bytes, infohash: bytes) -> bytes:
    return target + infohash


def kw_value(  # noqa: PLR0917 - the entry's fields, in their order
    target: bytes,
    infohash: bytes,
    length: int,
    count: int,
    size: int | None = None,
    created: int | None = None,
) -> bytes:
    """A keyword entry's value: ``length`` terms in the name, ``count`` of them this
    key's, then the card's size and creation time (None: unknown)."""
    stats = bytes((min(length, 255), min(count, 255)))
    numbers = _fixed(size, KW_SIZE_BYTES) + _fixed(created, KW_TIME_BYTES)
    return target + infohash[:INFOHASH_ID_BYTES] + stats + numbers


def kw_numbers(value: bytes) -> tuple[int | None, int | None]:
    """The size and creation time a keyword entry's value carries (None: unknown)."""
    if len(value) < KW_VALUE_BYTES:
        return None, None
    at = 20 + INFOHASH_ID_BYTES + 2
    size = int.from_bytes(value[at : at + KW_SIZE_BYTES], "big")
    created = int.from_bytes(value[at + KW_SIZE_BYTES : at + KW_SIZE_BYTES + KW_TIME_BYTES], "big")
    return (
        None if size == _ones(KW_SIZE_BYTES) else size,
        None if created == _ones(KW_TIME_BYTES) else created,
    )


def _ones(width: int) -> int:
    return (1 << 8 * width) - 1


def _fixed(number: int | None, width: int) -> bytes:
    top = _ones(width)  # all ones: unknown (also any number too large to say)
    return (top if number is None or not 0 <= number < top else number).to_bytes(width, "big")


def kw_entries(
    name: str, target: bytes, infohash: bytes, size: int | None = None, created: int | None = None
) -> dict[bytes, bytes]:
    """The keyword entries of one name: one per distinct key, counting the terms that
    share it (a term longer than a key shares it with any term of the same first
    ``TERM_BYTES`` bytes)."""
    terms = normalise(name)
    counts = Counter(kw_key(t, target) for t in terms)
    return {
        key: kw_value(target, infohash, len(terms), n, size, created) for key, n in counts.items()
    }


def kw_key(term: str, target: bytes) -> bytes:
    head = term_prefix(term, exact=True)
    return head + target[: KW.key_bytes - len(head)]


def u64_key(number: int, target: bytes) -> bytes:
    return min(max(number, 0), U64).to_bytes(8, "big") + target[:TAIL_BYTES]


def u64_bounds(lo: int | None, hi: int | None) -> tuple[bytes, bytes]:
    first = min(max(lo or 0, 0), U64).to_bytes(8, "big") + b"\0" * TAIL_BYTES
    last = min(max(U64 if hi is None else hi, 0), U64).to_bytes(8, "big") + b"\xff" * TAIL_BYTES
    return first, last


@dataclass(frozen=True, slots=True)
class Query:
    """Keyword AND, an optional last-word prefix, size and creation-time ranges."""

    terms: tuple[str, ...] = ()
    prefix: str | None = None
    min_size: int | None = None
    max_size: int | None = None
    after: int | None = None
    before: int | None = None
    limit: int = 20
    cursor: str | None = None

    @classmethod
    def from_text(cls, text: str, **kwargs: int | str | None) -> Query:
        """``"ubuntu desk*"`` -> terms ("ubuntu",), prefix "desk"."""
        prefix = None
        stripped = text.rstrip()
        if stripped.endswith("*"):
            head, _, last = stripped[:-1].rpartition(" ")
            parts = normalise(last)
            prefix = parts[-1] if parts else None
            stripped = head
        return cls(tuple(normalise(stripped)), prefix, **kwargs)  # type: ignore[arg-type]

    def validate(self) -> None:
        if len(self.terms) > MAX_QUERY_TERMS:
            raise QueryError(f"at most {MAX_QUERY_TERMS} terms")
        if not (self.terms or self.prefix or self.has_ranges):
            raise QueryError("a query needs a term, a prefix or a range")
        if not 1 <= self.limit <= 1000:
            raise QueryError("limit must be 1..1000")

    @property
    def has_ranges(self) -> bool:
        return any(v is not None for v in (self.min_size, self.max_size, self.after, self.before))

    def fingerprint(self) -> bytes:
        """Binds a cursor to the query it pages through."""
        parts = (self.terms, self.prefix, self.min_size, self.max_size, self.after, self.before)
        return hashlib.sha1(repr(parts).encode()).digest()[:8]


@dataclass(frozen=True, slots=True)
class Result:
    """One search result, built from a card."""

    infohash: bytes
    name: str
    size: int
    files: int
    created: int
    score: float
    target: bytes
    namespace: bytes = b""
    signature: bool = False  # the card has a content signature: "similar" can use it

    @property
    def magnet(self) -> str:
        return f"magnet:?xt=urn:btih:{self.infohash.hex()}&dn={quote(self.name)}"


@dataclass(frozen=True, slots=True)
class Page:
    results: list[Result] = field(default_factory=list)
    total: int = 0
    next_cursor: str | None = None
    # False: ``total`` counts candidates of which some may not match (a combined query
    # too broad to narrow by its range, whose cards are checked only page by page)
    total_exact: bool = True


def make_cursor(query: Query, offset: int) -> str:
    raw = encode({b"o": offset, b"q": query.fingerprint()})
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def read_cursor(query: Query) -> int:
    """The offset an opaque cursor points at; 0 without one."""
    if query.cursor is None:
        return 0
    if len(query.cursor) > 64:  # a real cursor is ~30 characters
        raise QueryError("cursor too long")
    try:
        raw = base64.urlsafe_b64decode(query.cursor + "=" * (-len(query.cursor) % 4))
        value = decode(raw)
    except (BencodeError, ValueError) as exc:
        raise QueryError("malformed cursor") from exc
    if not isinstance(value, dict) or value.get(b"q") != query.fingerprint():
        raise QueryError("cursor belongs to another query")
    offset = value.get(b"o")
    if type(offset) is not int or offset < 0:
        raise QueryError("malformed cursor")
    return offset
