from __future__ import annotations

import struct

import pytest

from swarmseek.transfer.errors import TrackerError
from swarmseek.transfer.tracker import (
    UDP_PROTOCOL_ID,
    Announce,
    AnnounceResponse,
    Event,
    announce_url,
    decode_compact_peers,
    encode_http_response,
    parse_http_response,
    parse_udp_announce,
    parse_udp_connect,
    parse_udp_request,
    udp_announce_request,
    udp_connect_request,
)

IH = bytes(range(20))
PID = b"-SS0001-" + b"x" * 12


def test_announce_url_percent_encodes_binary_fields() -> None:
    url = announce_url("http://t/announce", Announce(IH, PID, 6881, left=5, event=Event.STARTED))
    assert url.startswith("http://t/announce?info_hash=%00%01%02")
    assert "compact=1" in url and "event=started" in url and "left=5" in url
    assert "&info_hash" in announce_url("http://t/a?k=1", Announce(IH, PID, 1))


def test_compact_response_parsed() -> None:
    body = b"d8:intervali1800e5:peers12:\x7f\x00\x00\x01\x1a\xe1\x0a\x00\x00\x02\x00\x50e"
    response = parse_http_response(body)
    assert response.interval == 1800
    assert response.peers == [("127.0.0.1", 6881), ("10.0.0.2", 80)]


def test_dictionary_peer_list_parsed_and_junk_skipped() -> None:
    body = (
        b"d8:intervali60e5:peersl"
        b"d2:ip9:127.0.0.14:porti6881ee"
        b"d2:ip11:example.com4:porti1ee"
        b"d2:ip3:::14:porti99999ee"
        b"ee"
    )
    assert parse_http_response(body).peers == [("127.0.0.1", 6881)]


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"d14:failure reason6:banned", "invalid bencode"),
        (b"d14:failure reason6:bannede", "refused: banned"),
        (b"d5:peers0:e", "interval"),
        (b"d8:intervali60e5:peers5:abcdee", "multiple of 6"),
        (b"le", "not a dictionary"),
        (b"d8:intervali60e5:peersi3ee", "neither"),
    ],
)
def test_bad_tracker_answers(body: bytes, message: str) -> None:
    with pytest.raises(TrackerError, match=message):
        parse_http_response(body)


def test_http_response_round_trip_with_ipv6() -> None:
    response = AnnounceResponse(
        30, [("127.0.0.1", 1), ("::1", 2)], min_interval=15, complete=1, incomplete=1
    )
    assert parse_http_response(encode_http_response(response)) == response


def test_udp_connect_known_bytes() -> None:
    assert udp_connect_request(7) == struct.pack("!QII", UDP_PROTOCOL_ID, 0, 7)
    assert parse_udp_connect(struct.pack("!IIQ", 0, 7, 99), 7) == 99
    with pytest.raises(TrackerError, match="another transaction"):
        parse_udp_connect(struct.pack("!IIQ", 0, 8, 99), 7)
    with pytest.raises(TrackerError, match="refused: nope"):
        parse_udp_connect(struct.pack("!II", 3, 7) + b"nope", 7)


def test_udp_announce_layout_matches_bep15() -> None:
    request = Announce(
        IH,
        PID,
        6881,
        uploaded=3,
        downloaded=2,
        left=1,
        event=Event.COMPLETED,
        numwant=-1 & 0x7FFFFFFF,
        key=5,
    )
    packet = udp_announce_request(42, 9, request)
    assert len(packet) == 98
    assert packet[:16] == struct.pack("!QII", 42, 1, 9)
    assert packet[16:36] == IH and packet[36:56] == PID
    assert struct.unpack_from("!QQQI", packet, 56) == (2, 1, 3, 1)
    parsed = parse_udp_request(packet)
    assert not isinstance(parsed, tuple)
    assert parsed.announce == request


def test_udp_announce_response() -> None:
    data = struct.pack("!IIIII", 1, 5, 120, 2, 3) + b"\x7f\x00\x00\x01\x1a\xe1" + b"xyz"
    response = parse_udp_announce(data, 5)
    assert (response.interval, response.incomplete, response.complete) == (120, 2, 3)
    assert response.peers == [("127.0.0.1", 6881)]


def test_compact_peers_with_port_zero_dropped() -> None:
    assert decode_compact_peers(b"\x01\x02\x03\x04\x00\x00") == []
