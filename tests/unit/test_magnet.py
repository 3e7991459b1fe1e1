"""Magnet URIs: hex and base32 infohashes, names, trackers, peers, bad input."""

from __future__ import annotations

import base64

import pytest

from swarmseek.transfer import InfoHash, Magnet, MagnetError, make_magnet, parse_magnet

IH = InfoHash(bytes(range(20)))


def test_hex_and_base32_give_the_same_infohash() -> None:
    b32 = base64.b32encode(IH).decode()
    assert len(b32) == 32
    assert parse_magnet(f"magnet:?xt=urn:btih:{IH.hex()}").infohash == IH
    assert parse_magnet(f"magnet:?xt=urn:btih:{b32}").infohash == IH
    assert parse_magnet(f"magnet:?xt=urn:btih:{b32.lower()}").infohash == IH
    assert parse_magnet(f"MAGNET:?xt=urn:btih:{IH.hex().upper()}").infohash == IH


def test_fields() -> None:
    uri = (
        f"magnet:?xt=urn:btih:{IH.hex()}&dn=My+File%20%C3%A9"
        "&tr=http%3A%2F%2Fa%2Fann&tr=udp://b:80&tr=udp://b:80"
        "&x.pe=10.0.0.1:6881&x.pe=[2001:db8::1]:51413&xs=ignored&ws=ignored"
    )
    magnet = parse_magnet(uri)
    assert magnet == Magnet(
        IH,
        "My File é",
        ("http://a/ann", "udp://b:80"),
        (("10.0.0.1", 6881), ("2001:db8::1", 51413)),
    )
    assert parse_magnet(magnet.to_uri()) == magnet


def test_make_magnet_is_bep9_form() -> None:
    uri = make_magnet(IH, "a b&c", ["http://t/a?x=1&y=2"], [("1.2.3.4", 5)])
    assert uri.startswith(f"magnet:?xt=urn:btih:{IH.hex()}&dn=a%20b%26c&tr=http%3A%2F%2F")
    assert uri.endswith("&x.pe=1.2.3.4:5")


def test_v2_and_btih_together_keeps_btih() -> None:
    uri = f"magnet:?xt=urn:btmh:1220{'ab' * 32}&xt=urn:btih:{IH.hex()}"
    assert parse_magnet(uri).infohash == IH


@pytest.mark.parametrize(
    ("uri", "message"),
    [
        ("http://example.com", "not a magnet"),
        ("magnet:?dn=x", "no 'xt"),
        (f"magnet:?xt=urn:btmh:1220{'ab' * 32}", "v2-only"),
        ("magnet:?xt=urn:btih:1234", "40 hex or 32 base32"),
        ("magnet:?xt=urn:btih:" + "zz" * 20, "bad infohash"),
        ("magnet:?xt=urn:btih:" + "1" * 32, "bad infohash"),
        (f"magnet:?xt=urn:btih:{IH.hex()}&xt=urn:btih:{'00' * 20}", "two different"),
        (f"magnet:?xt=urn:btih:{IH.hex()}&x.pe=host", "bad peer"),
        (f"magnet:?xt=urn:btih:{IH.hex()}&x.pe=host:0", "bad peer"),
        (f"magnet:?xt=urn:btih:{IH.hex()}&x.pe=host:99999", "bad peer"),
        (f"magnet:?xt=urn:btih:{IH.hex()}&x.pe=host:²", "bad peer"),
        (f"magnet:?xt=urn:btih:{IH.hex()}&dn=%ff", "malformed"),
        ("magnet:?" + "tr=x&" * 20_000, "longer than"),
        (f"magnet:?xt=urn:btih:{IH.hex()}" + "".join(f"&tr=u{i}" for i in range(300)), "too many"),
    ],
)
def test_bad_magnets(uri: str, message: str) -> None:
    with pytest.raises(MagnetError, match=message):
        parse_magnet(uri)
