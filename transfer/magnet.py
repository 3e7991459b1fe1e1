"""Magnet URIs (BEP 9): ``magnet:?xt=urn:btih:<hash>&dn=<name>&tr=<url>&x.pe=<peer>``."""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass
from urllib.parse import parse_qsl, quote

from .errors import MagnetError
from .metainfo import InfoHash

# A magnet is typed or pasted by people; browsers cap URLs near 64 KiB.
MAX_MAGNET_LENGTH = 64 * 1024
MAX_TRACKERS = 200
MAX_PEERS = 200
_PREFIX = "magnet:?"


@dataclass(frozen=True, slots=True)
class Magnet:
    """What a magnet link says: the infohash and optional hints."""

    infohash: InfoHash
    name: str | None = None
    trackers: tuple[str, ...] = ()
    peers: tuple[tuple[str, int], ...] = ()

    def to_uri(self) -> str:
        """The BEP 9 URI, hex infohash first."""
        parts = [f"xt=urn:btih:{self.infohash.hex()}"]
        if self.name is not None:
            parts.append(f"dn={quote(self.name, safe='')}")
        parts += [f"tr={quote(t, safe='')}" for t in self.trackers]
        parts += [f"x.pe={quote(_format_peer(h, p), safe=':[]')}" for h, p in self.peers]
        return _PREFIX + "&".join(parts)


def make_magnet(
    infohash: InfoHash,
    name: str | None = None,
    trackers: tuple[str, ...] | list[str] = (),
    peers: tuple[tuple[str, int], ...] | list[tuple[str, int]] = (),
) -> str:
    """Build a magnet URI."""
    return Magnet(infohash, name, tuple(trackers), tuple(peers)).to_uri()


def parse_magnet(uri: str) -> Magnet:
    """Parse a magnet URI; the infohash may be 40 hex or 32 base32 characters."""
    if len(uri) > MAX_MAGNET_LENGTH:
        raise MagnetError(f"magnet longer than {MAX_MAGNET_LENGTH} characters")
    if not uri[: len(_PREFIX)].lower() == _PREFIX:
        raise MagnetError("not a magnet URI (must start with 'magnet:?')")
    infohash: InfoHash | None = None
    name: str | None = None
    trackers: list[str] = []
    peers: list[tuple[str, int]] = []
    try:
        fields = parse_qsl(uri[len(_PREFIX) :], keep_blank_values=True, errors="strict")
    except (UnicodeDecodeError, ValueError) as exc:
        raise MagnetError(f"malformed magnet: {exc}") from exc
    for key, value in fields:
        if key == "xt" and value.lower().startswith("urn:btih:"):
            found = _infohash(value[9:])
            if infohash is not None and found != infohash:
                raise MagnetError("magnet names two different infohashes")
            infohash = found
        elif key == "dn":
            name = value
        elif key == "tr" and value and value not in trackers:
            trackers.append(value)
        elif key == "x.pe":
            peers.append(_parse_peer(value))
    if infohash is None:
        raise MagnetError("magnet has no 'xt=urn:btih:' infohash (v2-only is not supported)")
    if len(trackers) > MAX_TRACKERS or len(peers) > MAX_PEERS:
        raise MagnetError("magnet lists too many trackers or peers")
    return Magnet(infohash, name, tuple(trackers), tuple(peers))


def _infohash(text: str) -> InfoHash:
    try:
        if len(text) == 40:
            return InfoHash(bytes.fromhex(text))
        if len(text) == 32:
            return InfoHash(base64.b32decode(text.upper()))
    except (ValueError, binascii.Error) as exc:
        raise MagnetError(f"bad infohash {text!r}") from exc
    raise MagnetError(f"infohash must be 40 hex or 32 base32 characters, got {len(text)}")


def _format_peer(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def _parse_peer(text: str) -> tuple[str, int]:
    host, sep, port_text = text.rpartition(":")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    if not sep or not host or not _is_port(port_text):
        raise MagnetError(f"bad peer address {text!r} (want host:port)")
    return host, int(port_text)


def _is_port(text: str) -> bool:
    return 0 < len(text) <= 5 and text.isascii() and text.isdigit() and 0 < int(text) < 65536
