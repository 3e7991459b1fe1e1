from __future__ import annotations

import contextlib

from hypothesis import given
from hypothesis import strategies as st

from swarmseek.transfer.errors import TrackerError
from swarmseek.transfer.tracker import (
    AnnounceResponse,
    encode_http_response,
    parse_http_response,
    parse_udp_announce,
    parse_udp_request,
)

peers4 = st.tuples(st.ip_addresses(v=4).map(str), st.integers(1, 65535))
peers6 = st.tuples(st.ip_addresses(v=6).map(str), st.integers(1, 65535))


@given(st.lists(peers4, max_size=30), st.lists(peers6, max_size=5), st.integers(0, 10**6))
def test_http_response_round_trip(v4: list, v6: list, interval: int) -> None:
    response = AnnounceResponse(interval, v4 + v6)
    assert parse_http_response(encode_http_response(response)) == response


@given(st.binary(max_size=300))
def test_arbitrary_tracker_answers_raise_only_tracker_error(data: bytes) -> None:
    with contextlib.suppress(TrackerError):
        parse_http_response(data)
    with contextlib.suppress(TrackerError):
        parse_udp_announce(data, 0)
    with contextlib.suppress(TrackerError):
        parse_udp_request(data)
