from __future__ import annotations

import hashlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from swarmseek.discovery import KeyPair
from swarmseek.index import OPEN_NAMESPACE_SEED, Card, CardError, Namespace, SearchIndexError
from swarmseek.index.card import SIG_BYTES
from swarmseek.transfer import encode

IH = bytes(range(20))
SIG = tuple(i % 256 for i in range(0, 256 * 7, 7))


def test_round_trip() -> None:
    card = Card.create(IH, "Ubuntu 24.04 Desktop", 5_000_000_000, 3, 1_700_000_000, SIG)
    assert Card.decode(card.encode()) == card
    assert len(card.to_value()[b"m"]) == SIG_BYTES


def test_long_name_truncated_on_utf8_boundary_and_fits() -> None:
    for ch in ("a", "é", "日", "😀"):
        card = Card.create(IH, ch * 2000, 1, 1, 0, SIG)
        assert len(card.encode()) <= 1000
        assert card.name and set(card.name) == {ch}
        assert len(card.encode()) > 1000 - 8  # it used the room there was
        assert Card.decode(card.encode()) == card


@pytest.mark.parametrize(
    "mutate",
    [
        lambda v: v.update({b"ih": b"short"}),
        lambda v: v.update({b"m": b"\0" * 3}),
        lambda v: v.update({b"n": b"\xff\xfe"}),
        lambda v: v.update({b"s": -1}),
        lambda v: v.update({b"f": 0}),
        lambda v: v.update({b"t": b"yesterday"}),
        lambda v: v.update({b"v": 2}),
        lambda v: v.pop(b"ih"),
    ],
)
def test_poisoned_cards_rejected(mutate: object) -> None:
    value = Card.create(IH, "x", 1, 1, 0, SIG).to_value()
    mutate(value)  # type: ignore[operator]
    with pytest.raises(CardError):
        Card.decode(encode(value))


@given(st.binary(max_size=1100))
def test_decode_fuzz_raises_only_our_error(data: bytes) -> None:
    try:
        Card.decode(data)
    except CardError as exc:
        assert isinstance(exc, SearchIndexError)


@given(
    st.text(max_size=800),
    st.integers(0, 2**63 - 1),
    st.integers(1, 10**6),
    st.lists(st.integers(0, 0xFF), min_size=256, max_size=256),
)
def test_card_property_round_trip(name: str, size: int, files: int, sig: list[int]) -> None:
    card = Card.create(IH, name, size, files, 0, sig)
    assert len(card.encode()) <= 1000
    assert Card.decode(card.encode()) == card


def test_open_namespace_is_published_constant() -> None:
    assert hashlib.sha256(b"swarmseek open namespace v1").digest() == OPEN_NAMESPACE_SEED
    assert Namespace.open_default().public_key == KeyPair.from_seed(OPEN_NAMESPACE_SEED).public_key
    followed = Namespace.follow(KeyPair.generate().public_key)
    assert not followed.writable
    with pytest.raises(SearchIndexError):
        followed.signer.sign(b"x")
