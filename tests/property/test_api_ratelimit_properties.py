"""The API's token bucket: never more than burst + rate x elapsed requests allowed,
and bounded memory whatever the client addresses."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from swarmseek.api.ratelimit import RateLimiter

steps = st.lists(
    st.tuples(st.sampled_from(["a", "b", "c"]), st.floats(min_value=0, max_value=5)),
    max_size=300,
)


@given(
    st.floats(min_value=0.1, max_value=100),
    st.integers(min_value=1, max_value=50),
    steps,
)
def test_never_more_than_burst_plus_refill(
    rate: float, burst: int, requests: list[tuple[str, float]]
) -> None:
    limiter = RateLimiter(rate, burst)
    now = 0.0
    allowed: dict[str, int] = {}
    for key, gap in requests:
        now += gap
        if limiter.allow(key, now):
            allowed[key] = allowed.get(key, 0) + 1
    for count in allowed.values():
        assert count <= burst + rate * now + 1e-9


@given(st.integers(min_value=1, max_value=50), st.floats(min_value=0.1, max_value=10))
def test_a_burst_is_allowed_then_refused(burst: int, rate: float) -> None:
    limiter = RateLimiter(rate, burst)
    assert all(limiter.allow("x", 0.0) for _ in range(burst))
    assert not limiter.allow("x", 0.0)
    assert limiter.allow("x", 1.001 / rate)  # a token back after 1/rate seconds


@given(st.lists(st.text(max_size=8), max_size=500))
def test_memory_is_bounded(keys: list[str]) -> None:
    limiter = RateLimiter(1.0, 2.0, max_keys=16)
    for i, key in enumerate(keys):
        limiter.allow(key, float(i))
    assert len(limiter._buckets) <= 16


def test_time_going_backwards_does_not_refill() -> None:
    limiter = RateLimiter(1.0, 1.0)
    assert limiter.allow("x", 100.0)
    assert not limiter.allow("x", 50.0)
    assert not limiter.allow("x", 100.5)
