"""BEP 10 extension protocol: the extended handshake dictionary."""

from __future__ import annotations

from dataclasses import dataclass, field

from .bencode import MESSAGE_LIMITS, Value, decode_document, encode
from .errors import BencodeError, LocalProtocolError, RemoteProtocolError

UT_METADATA = b"ut_metadata"
UT_PEX = b"ut_pex"


@dataclass(frozen=True, slots=True)
class ExtensionHandshake:
    """The BEP 10 handshake (extended message id 0).

    ``m`` maps extension names to the id the *sender* wants to receive them under;
    id 0 disables an extension (BEP 10). Unknown keys are kept in ``extra``.
    """

    m: dict[bytes, int] = field(default_factory=dict)
    v: str | None = None
    p: int | None = None
    reqq: int | None = None
    metadata_size: int | None = None
    yourip: bytes | None = None
    extra: dict[bytes, Value] = field(default_factory=dict, repr=False)

    __hash__ = None  # type: ignore[assignment]


def encode_extension_handshake(handshake: ExtensionHandshake) -> bytes:
    for name, ext_id in handshake.m.items():
        if not isinstance(name, bytes) or not 0 <= ext_id <= 255:
            raise LocalProtocolError(f"bad extension entry {name!r}: {ext_id}")
    value: dict[bytes, Value] = dict(handshake.extra)
    value[b"m"] = dict(handshake.m)
    optional: dict[bytes, Value] = {
        b"v": handshake.v.encode() if handshake.v is not None else None,
        b"p": handshake.p,
        b"reqq": handshake.reqq,
        b"metadata_size": handshake.metadata_size,
        b"yourip": handshake.yourip,
    }
    value.update({k: v for k, v in optional.items() if v is not None})
    return encode(value)


def _int(value: Value, low: int, high: int) -> int | None:
    if isinstance(value, int) and low <= value <= high:
        return value
    return None


def decode_extension_handshake(payload: bytes) -> ExtensionHandshake:
    """Parse a peer's extended handshake; malformed ``m`` is a RemoteProtocolError.

    Optional fields of the wrong type or range are dropped rather than fatal, as
    libtorrent does: they are hints, and clients disagree on details.
    """
    try:
        # Lenient on key order: not every client sorts keys, and nothing hashes this.
        value = decode_document(payload, limits=MESSAGE_LIMITS).value
    except BencodeError as exc:
        raise RemoteProtocolError(f"bad extension handshake: {exc}") from exc
    if not isinstance(value, dict):
        raise RemoteProtocolError("extension handshake is not a dictionary")
    raw_m = value.get(b"m", {})
    if not isinstance(raw_m, dict):
        raise RemoteProtocolError("extension handshake 'm' is not a dictionary")
    m: dict[bytes, int] = {}
    for name, ext_id in raw_m.items():
        if not isinstance(ext_id, int) or not 0 <= ext_id <= 255:
            raise RemoteProtocolError(f"extension {name!r} has bad id {ext_id!r}")
        m[name] = ext_id
    version = value.get(b"v")
    yourip = value.get(b"yourip")
    known = {b"m", b"v", b"p", b"reqq", b"metadata_size", b"yourip"}
    return ExtensionHandshake(
        m=m,
        v=version.decode("utf-8", "replace") if isinstance(version, bytes) else None,
        p=_int(value.get(b"p"), 1, 0xFFFF),
        reqq=_int(value.get(b"reqq"), 1, 1 << 31),
        metadata_size=_int(value.get(b"metadata_size"), 1, 1 << 62),
        yourip=yourip if isinstance(yourip, bytes) and len(yourip) in (4, 16) else None,
        extra={k: v for k, v in value.items() if k not in known},
    )
