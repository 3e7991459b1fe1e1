"""Tokens, peer store, item storage and rate limits: bounded and BEP-conformant."""

from __future__ import annotations

import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from swarmseek.discovery import KeyPair, sign_item
from swarmseek.discovery.errors import CasConflict, SeqTooLow
from swarmseek.discovery.store import (
    ITEM_TTL,
    PEER_TTL,
    TOKEN_CACHE,
    ItemStorage,
    PeerStore,
    RateLimiter,
    TokenSecrets,
)


def test_token_bound_to_ip_and_valid_5_to_10_minutes() -> None:
    secrets = TokenSecrets(random.Random(1), 0.0)
    token = secrets.token_for("1.2.3.4", 0.0)
    assert secrets.valid(token, "1.2.3.4", 0.0)
    assert not secrets.valid(token, "1.2.3.5", 0.0)
    assert secrets.valid(token, "1.2.3.4", 9 * 60.0)  # previous secret still accepted
    assert not secrets.valid(token, "1.2.3.4", 10 * 60.0 + 1)
    assert not secrets.valid(b"forged!!", "1.2.3.4", 1.0)


def test_issued_tokens_cached_per_secret_and_bounded() -> None:
    secrets = TokenSecrets(random.Random(1), 0.0)
    first = secrets.token_for("1.2.3.4", 0.0)
    assert secrets.token_for("1.2.3.4", 60.0) == first  # same secret, same token
    rotated = secrets.token_for("1.2.3.4", 5 * 60.0 + 1)  # a new secret: a new token
    assert rotated != first and secrets.valid(rotated, "1.2.3.4", 5 * 60.0 + 1)
    for i in range(TOKEN_CACHE + 10):
        token = secrets.token_for(f"10.0.{i // 256}.{i % 256}", 400.0)
        assert secrets.valid(token, f"10.0.{i // 256}.{i % 256}", 400.0)
    assert len(secrets._issued[1]) <= TOKEN_CACHE


def test_token_invalid_after_long_idle() -> None:
    secrets = TokenSecrets(random.Random(1), 0.0)
    token = secrets.token_for("1.2.3.4", 0.0)
    assert not secrets.valid(token, "1.2.3.4", 3600.0)


def test_peer_store_caps_and_expiry() -> None:
    store = PeerStore(max_infohashes=3, max_peers=5)
    rng = random.Random(0)
    for i in range(10):
        store.announce(b"A" * 20, ("10.0.0.1", 1000 + i), 0.0)
    assert len(store.peers(b"A" * 20, 0.0, rng)) == 5
    for i in range(5):
        store.announce(bytes([i]) * 20, ("10.0.0.1", 1), 0.0)
    assert store.peers(b"A" * 20, 0.0, rng) == []  # evicted: oldest infohash goes first
    assert store.peers(bytes([4]) * 20, PEER_TTL + 1, rng) == []
    store.expire(PEER_TTL + 1)
    assert len(store) == 0


def test_item_storage_cas_and_seq() -> None:
    keys = KeyPair.from_seed(bytes(32))
    storage = ItemStorage()
    storage.put_mutable(sign_item(keys, b"one", 1), None, 0.0)
    with pytest.raises(CasConflict) as info:
        storage.put_mutable(sign_item(keys, b"two", 2), 5, 0.0)
    assert info.value.current_seq == 1
    with pytest.raises(SeqTooLow):
        storage.put_mutable(sign_item(keys, b"zero", 0), None, 0.0)
    with pytest.raises(SeqTooLow):
        storage.put_mutable(sign_item(keys, b"other", 1), None, 0.0)
    storage.put_mutable(sign_item(keys, b"one", 1), 1, 0.0)  # same item again is fine
    storage.put_mutable(sign_item(keys, b"two", 2), 1, 0.0)
    stored = storage.get(sign_item(keys, b"two", 2).target, 1.0)
    assert stored is not None and stored.value == b"two"


def test_item_storage_bounded_and_expires() -> None:
    storage = ItemStorage(max_items=3)
    for i in range(5):
        storage.put_immutable(bytes([i]) * 20, b"v", float(i))
    assert len(storage) == 3
    assert storage.get(bytes([0]) * 20, 5.0) is None
    assert storage.get(bytes([4]) * 20, 5.0) is not None
    assert storage.get(bytes([4]) * 20, 4.0 + ITEM_TTL) is None
    storage.expire(10 * ITEM_TTL)
    assert len(storage) == 0


def test_rate_limiter_per_source_and_bounded() -> None:
    limiter = RateLimiter(rate=1.0, burst=3.0, max_sources=10)
    assert [limiter.allow("a", 0.0) for _ in range(4)] == [True, True, True, False]
    assert limiter.allow("b", 0.0)
    assert limiter.allow("a", 1.0)  # refilled one per second
    for i in range(100):
        limiter.allow(f"x{i}", 2.0)
    assert len(limiter._buckets) == 10


@settings(max_examples=300)
@given(
    st.lists(
        st.tuples(
            st.sampled_from(["put", "restore", "get", "expire"]),
            st.integers(0, 9),  # which target
            st.floats(0, 3 * ITEM_TTL),  # how far the clock moves first / a restored age
        ),
        max_size=60,
    ),
    st.integers(2, 12),
)
def test_expiry_by_age_queue_matches_a_full_scan(
    ops: list[tuple[str, int, float]], cap: int
) -> None:
    """Expiry looks only at the oldest items; it must drop exactly what a scan of every
    item would (re-stored items, evictions and restored ages included) and stay bounded."""
    storage = ItemStorage(max_items=cap)
    now = 0.0
    for op, which, amount in ops:
        target = bytes([which]) * 20
        if op == "put":
            now += amount / 100
            storage.put_immutable(target, b"v", now)
        elif op == "restore":
            storage.put_immutable(target, b"v", now - amount)
        elif op == "get":
            storage.get(target, now)
        else:
            now += amount
            alive = {t for t, i in storage.items() if now - i.stored_at < ITEM_TTL}
            storage.expire(now)
            assert {t for t, _ in storage.items()} == alive
        assert len(storage._by_age) <= 2 * len(storage) + 64
