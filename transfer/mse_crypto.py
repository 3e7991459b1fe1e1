"""The arithmetic and ciphers of Message Stream Encryption (MSE/PE), without state.

Everything here follows the Vuze "Message Stream Encryption" specification (the de
facto spec; BitTorrent clients call it MSE or PE): a 768-bit Diffie-Hellman
exchange, SHA-1 for ``HASH``, and RC4 with the first 1024 bytes of keystream
discarded. The handshake state machine in ``mse.py`` builds on these functions.

The DH arithmetic is Python's ``pow``. RC4 runs in C: OpenSSL's libcrypto through
ctypes where it is found, else the ``cryptography`` package's ARC4. Both cost no Python
work per byte; libcrypto's RC4 also works in place on any writable buffer
(``StreamCipher.decrypt_in_place``), so a read is decrypted where it landed, in the
wire protocol's receive buffer, with no copy. RC4 is about as much CPU per byte as
everything else the download loop does.
"""

from __future__ import annotations

import ctypes
import enum
import functools
import hashlib
import random
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, Protocol

from .errors import MseProtocolError

# MSE spec, "DH Parameters": the 768-bit prime of the Oakley group 1 (RFC 2409 §6.1),
# a safe prime (P = 2q + 1), with generator 2.
P = int(
    "FFFFFFFFFFFFFFFFC90FDAA22168C234C4C6628B80DC1CD129024E088A67CC74"
    "020BBEA63B139B22514A08798E3404DDEF9519B3CD3A431B302B0A6DF25F1437"
    "4FE1356D6D51C245E485B576625E7EC6F44C42E9A63A36210000000000090563",
    16,
)
G = 2
KEY_BYTES = 96  # a DH public key or secret is sent as a 96-byte big-endian integer
PRIVATE_KEY_BYTES = 20  # MSE spec: "160 bits is recommended"
VC = bytes(8)  # the verification constant: 8 zero bytes
RC4_DROP = 1024  # MSE spec: "discard the first 1024 bytes of the RC4 output"
MAX_PAD = 512  # MSE spec: PadA/B/C/D are each 0 to 512 bytes long


class CryptoMethod(enum.IntFlag):
    """The bits of ``crypto_provide`` / ``crypto_select`` (MSE spec)."""

    PLAINTEXT = 0x01
    RC4 = 0x02


def sha1(*parts: bytes) -> bytes:
    """The spec's ``HASH(a, b, ...)``: SHA-1 over the concatenation."""
    digest = hashlib.sha1(usedforsecurity=False)
    for part in parts:
        digest.update(part)
    return digest.digest()


def private_key(rng: random.Random) -> int:
    """A fresh 160-bit DH private key. Pass a ``random.SystemRandom()`` in production."""
    # The top bit is set so the key really has 160 bits (and is never 0 or 1).
    return int.from_bytes(rng.randbytes(PRIVATE_KEY_BYTES), "big") | (1 << 159)


def public_key(private: int) -> bytes:
    """``Y = G^X mod P`` as 96 big-endian bytes."""
    return pow(G, private, P).to_bytes(KEY_BYTES, "big")


def shared_secret(private: int, peer_public: bytes) -> bytes:
    """``S = Y_peer^X mod P`` as 96 big-endian bytes, after validating ``Y_peer``.

    P is a safe prime, so the only subgroups small enough to make S predictable are
    {1} and {1, P-1}: a public key of 0, 1 or P-1 (or one not reduced mod P) would
    let an attacker know S without the DH exchange, so it is refused.
    """
    if len(peer_public) != KEY_BYTES:
        raise MseProtocolError(f"DH public key must be {KEY_BYTES} bytes")
    y = int.from_bytes(peer_public, "big")
    if y <= 1 or y >= P - 1:
        raise MseProtocolError("degenerate DH public key (0, 1, P-1 or >= P)")
    return pow(y, private, P).to_bytes(KEY_BYTES, "big")


def req1_hash(secret: bytes) -> bytes:
    """``HASH('req1', S)``: the receiver's synchronisation point."""
    return sha1(b"req1", secret)


def req2_hash(skey: bytes) -> bytes:
    """``HASH('req2', SKEY)``: what a receiver indexes its info hashes by."""
    return sha1(b"req2", skey)


def req3_hash(secret: bytes) -> bytes:
    """``HASH('req3', S)``: masks the req2 hash on the wire."""
    return sha1(b"req3", secret)


def xor20(a: bytes, b: bytes) -> bytes:
    """XOR of two 20-byte strings."""
    return (int.from_bytes(a, "big") ^ int.from_bytes(b, "big")).to_bytes(20, "big")


def rc4_keys(secret: bytes, skey: bytes) -> tuple[bytes, bytes]:
    """``(HASH('keyA', S, SKEY), HASH('keyB', S, SKEY))``: A->B and B->A keys."""
    return sha1(b"keyA", secret, skey), sha1(b"keyB", secret, skey)


class Keystream(Protocol):
    """An RC4 context: ``update`` XORs data with the next bytes of keystream."""

    def update(self, data: bytes) -> bytes: ...


def _libcrypto_names() -> Iterator[str]:
    yield from ("libcrypto.so.3", "libcrypto.so.1.1", "libcrypto.dylib")
    import ctypes.util  # noqa: PLC0415 - rarely needed (see _load_openssl_rc4)

    found = ctypes.util.find_library("crypto")
    if found:
        yield found


def _load_openssl_rc4() -> Any:
    """libcrypto's RC4 functions through ctypes, or None where they cannot be found.

    Hand-bound rather than a package: cryptography's ARC4 holds the GIL, and
    pycryptodome's (which releases it) cost a second of CPU per GiB more than this in
    its wrapper (a zeroed output buffer and a copy per call). The two functions are
    OpenSSL's long-stable low-level API (``RC4_set_key``, ``RC4``; deprecated in 3.0,
    still exported), and ctypes releases the GIL for the call.

    Loaded at the first MSE handshake, not at import (cached): a download without MSE
    never pays for it. The usual sonames are tried first; ``find_library`` (which
    imports ``ctypes.util`` and runs ``ldconfig -p``) only when they are missing.
    """
    for name in _libcrypto_names():
        try:
            lib = ctypes.CDLL(name)
            set_key, rc4 = lib.RC4_set_key, lib.RC4
        except (OSError, AttributeError):
            continue
        set_key.argtypes = [ctypes.c_void_p, ctypes.c_int, ctypes.c_char_p]
        set_key.restype = None
        rc4.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_void_p, ctypes.c_void_p]
        rc4.restype = None
        return lib
    return None


_openssl = functools.cache(_load_openssl_rc4)
# RC4_KEY is 2 + 256 RC4_INTs (1032 bytes with OpenSSL's 4-byte RC4_INT); room for
# any RC4_INT up to 8 bytes.
_RC4_KEY_SPACE = 4096


class _OpenSslRc4:
    """An RC4 keystream in libcrypto, usable from a worker thread without the GIL."""

    __slots__ = ("_key", "_rc4")

    def __init__(self, lib: Any, key: bytes) -> None:
        self._key = ctypes.create_string_buffer(_RC4_KEY_SPACE)
        self._rc4 = lib.RC4
        lib.RC4_set_key(self._key, len(key), key)
        self.in_place(bytearray(RC4_DROP))

    def in_place(self, buf: bytearray | memoryview) -> None:
        """XOR ``buf`` (any writable buffer) with the next ``len(buf)`` bytes of
        keystream, in place: RC4 reads and writes the same memory."""
        size = len(buf)
        if size:
            # A ctypes object over the buffer's first byte: its address is all RC4
            # needs (no array type per size). Deleted at once to release the export,
            # so the caller may resize ``buf``.
            first = ctypes.c_char.from_buffer(buf)
            where = ctypes.byref(first)
            self._rc4(self._key, size, where, where)
            del where
            del first

    def update(self, data: bytes) -> bytes:
        out = bytearray(data)
        self.in_place(out)
        return bytes(out)


def rc4_drop1024(key: bytes) -> Keystream:
    """An RC4 keystream context keyed with ``key``, first 1024 bytes discarded.

    RC4 is symmetric, so the same context type encrypts and decrypts.
    """
    lib = _openssl()
    if lib is not None:
        return _OpenSslRc4(lib, key)
    # The fallback, imported only here: most machines have libcrypto.
    from cryptography.hazmat.decrepit.ciphers.algorithms import ARC4  # noqa: PLC0415
    from cryptography.hazmat.primitives.ciphers import Cipher  # noqa: PLC0415

    context = Cipher(ARC4(key), mode=None).encryptor()
    context.update(bytes(RC4_DROP))
    return context


def _identity(data: bytes) -> bytes:
    return data


def _in_place_by_copy(keystream: Keystream) -> Callable[[bytearray | memoryview], None]:
    """``in_place`` for a context that can only return new bytes (cryptography's)."""

    def in_place(buf: bytearray | memoryview) -> None:
        buf[:] = keystream.update(bytes(buf))

    return in_place


def _in_place(keystream: Keystream) -> Callable[[bytearray | memoryview], None]:
    if isinstance(keystream, _OpenSslRc4):
        return keystream.in_place
    return _in_place_by_copy(keystream)


@dataclass(frozen=True, slots=True)
class StreamCipher:
    """The cipher for the rest of a connection after the MSE/PE handshake.

    ``encrypt`` and ``decrypt`` are plain callables (for RC4, the bound ``update``
    of a C cipher context, so a call costs no Python work per byte); both keep
    keystream state, so every byte sent must go through ``encrypt`` exactly once
    and in order, and every byte received through ``decrypt``. For plaintext both
    are the identity and ``is_identity`` lets a hot loop skip the call.
    """

    method: CryptoMethod
    encrypt: Callable[[bytes], bytes]
    decrypt: Callable[[bytes], bytes]
    # The same keystream as ``decrypt``, decrypting a writable buffer in place: the
    # adapter decrypts each read where it landed, in the wire protocol's own buffer.
    # None for plaintext.
    decrypt_in_place: Callable[[bytearray | memoryview], None] | None = None
    # The same keystream as ``encrypt``, in place: the adapter encrypts each write in
    # the buffer it was assembled in (no bytes <-> bytearray copies). None for plaintext.
    encrypt_in_place: Callable[[bytearray | memoryview], None] | None = None

    @property
    def is_identity(self) -> bool:
        """True when the connection is not encrypted after the handshake."""
        return self.method is CryptoMethod.PLAINTEXT

    @classmethod
    def plaintext(cls) -> StreamCipher:
        """The identity cipher (the peer selected plaintext, or no MSE at all)."""
        return cls(CryptoMethod.PLAINTEXT, _identity, _identity)

    @classmethod
    def rc4(cls, encryptor: Keystream, decryptor: Keystream) -> StreamCipher:
        """RC4 continuing the handshake's keystreams (they are never re-keyed)."""
        return cls(
            CryptoMethod.RC4,
            encryptor.update,
            decryptor.update,
            _in_place(decryptor),
            _in_place(encryptor),
        )
