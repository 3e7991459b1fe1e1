"""BEP 44 items: targets, ed25519 key pairs, signing and verification. Pure.

BEP 44: an immutable item's target is SHA-1 of its bencoded value; a mutable item's
target is SHA-1(public key + salt); the signature covers the bencoded fragments
``4:salt<n>:<salt>`` (only when a salt is present), ``3:seqi<seq>e`` and ``1:v<v>``.
"""

from __future__ import annotations

import functools
import hashlib
from collections import OrderedDict
from dataclasses import dataclass

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from swarmseek.transfer import Value, encode

from .errors import ItemError

MAX_VALUE_SIZE = 1000  # BEP 44: "v" must be less than 1000 bytes, bencoded
MAX_SALT_SIZE = 64  # BEP 44: the salt must not exceed 64 bytes


@dataclass(frozen=True, slots=True)
class KeyPair:
    """An ed25519 key pair; ``seed`` is the 32-byte private key ``cryptography`` uses."""

    seed: bytes
    public_key: bytes

    @classmethod
    def from_seed(cls, seed: bytes) -> KeyPair:
        if len(seed) != 32:
            raise ItemError("an ed25519 seed is 32 bytes")
        public = Ed25519PrivateKey.from_private_bytes(seed).public_key()
        return cls(seed, public.public_bytes(Encoding.Raw, PublicFormat.Raw))

    @classmethod
    def generate(cls) -> KeyPair:
        private = Ed25519PrivateKey.generate()
        seed = private.private_bytes_raw()
        return cls.from_seed(seed)

    def sign(self, message: bytes) -> bytes:
        return _private_key(self.seed).sign(message)

    def __repr__(self) -> str:  # never print the private key
        return f"KeyPair(public_key={self.public_key.hex()})"


@dataclass(frozen=True, slots=True)
class MutableItem:
    """A signed BEP 44 mutable item as stored or fetched."""

    value: Value
    seq: int
    public_key: bytes
    salt: bytes
    signature: bytes

    @property
    def target(self) -> bytes:
        return mutable_target(self.public_key, self.salt)


@functools.lru_cache(maxsize=16)
def _private_key(seed: bytes) -> Ed25519PrivateKey:
    # Deriving the key from its seed costs about as much as a signature, and a node
    # signs with one or two namespace keys all day: derive each once.
    return Ed25519PrivateKey.from_private_bytes(seed)


def encoded_value(value: Value) -> bytes:
    data = encode(value)
    if len(data) > MAX_VALUE_SIZE:
        raise ItemError(f"value of {len(data)} bytes exceeds BEP 44's {MAX_VALUE_SIZE}")
    return data


def immutable_target(value: Value) -> bytes:
    return hashlib.sha1(encoded_value(value)).digest()


def mutable_target(public_key: bytes, salt: bytes = b"") -> bytes:
    _check_key_and_salt(public_key, salt)
    return hashlib.sha1(public_key + salt).digest()


def signable(salt: bytes, seq: int, encoded: bytes) -> bytes:
    """The byte string BEP 44 signs for a mutable item."""
    prefix = b"4:salt%d:%s" % (len(salt), salt) if salt else b""
    return prefix + b"3:seqi%de1:v" % seq + encoded


# Signatures this process made (signature -> public key and signed message), bounded:
# a writer checks its own item before putting it, and an ed25519 verify costs 3x a sign
# (about 140 us against 40 us with ``cryptography`` here). Only that check of our own
# writes looks here; items from the network are always verified.
_SIGNED: OrderedDict[bytes, tuple[bytes, bytes]] = OrderedDict()
SIGNED_MEMO = 256


def sign_item(keypair: KeyPair, value: Value, seq: int, salt: bytes = b"") -> MutableItem:
    _check_key_and_salt(keypair.public_key, salt)
    message = signable(salt, seq, encoded_value(value))
    signature = keypair.sign(message)
    _SIGNED[signature] = (keypair.public_key, message)
    while len(_SIGNED) > SIGNED_MEMO:
        _SIGNED.popitem(last=False)
    return MutableItem(value, seq, keypair.public_key, salt, signature)


def verify_own_item(item: MutableItem) -> None:
    """``verify_item`` for an item we are about to put: one that ``sign_item`` made in
    this process from the same key and bytes needs no second look at its signature."""
    _check_key_and_salt(item.public_key, item.salt)
    made = _SIGNED.get(item.signature)
    if made is None or made != (
        item.public_key,
        signable(item.salt, item.seq, encoded_value(item.value)),
    ):
        verify_item(item)


# Signatures this process has verified (signature -> public key and signed message),
# bounded. A put reaches the k closest nodes, and every replica checks it: where several
# replicas share a process (``swarmseek demo`` runs its whole network in one) they
# checked the very same bytes k times over, 21 ed25519 verifies per imported card and a
# fifth of the demo's CPU. ed25519 verification is a pure function of the key, the
# message and the signature, so a hit needs all three to be equal to what passed: each
# distinct item is still verified in this process, once. Failures are not remembered.
_VERIFIED: OrderedDict[bytes, tuple[bytes, bytes]] = OrderedDict()
# The replicas of one put verify it within a round trip of each other, so the oldest
# entry goes first (no reordering on a hit: saved items are loaded in worker threads,
# and single dict operations are what stays safe between threads under the GIL); 4096
# covers the puts a node keeps in flight many times over (the index allows 64 at once)
# for about 4 MiB at most (a message is at most ~1.1 KB).
VERIFIED_MEMO = 4096


def verify_item(item: MutableItem) -> None:
    """Raise :class:`ItemError` unless the item's signature is valid."""
    _check_key_and_salt(item.public_key, item.salt)
    signature = item.signature
    if len(signature) != 64:
        raise ItemError("an ed25519 signature is 64 bytes")
    message = signable(item.salt, item.seq, encoded_value(item.value))
    signed = (item.public_key, message)
    if _VERIFIED.get(signature) == signed:
        return
    try:
        Ed25519PublicKey.from_public_bytes(item.public_key).verify(signature, message)
    except InvalidSignature as exc:
        raise ItemError("invalid signature") from exc
    _VERIFIED[signature] = signed
    while len(_VERIFIED) > VERIFIED_MEMO:
        _VERIFIED.popitem(last=False)


def _check_key_and_salt(public_key: bytes, salt: bytes) -> None:
    if len(public_key) != 32:
        raise ItemError("an ed25519 public key is 32 bytes")
    if len(salt) > MAX_SALT_SIZE:
        raise ItemError(f"salt of {len(salt)} bytes exceeds BEP 44's {MAX_SALT_SIZE}")
