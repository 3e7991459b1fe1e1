"""Namespaces: whose key pair signs the PHT nodes (DESIGN.md decision 2).

The *open* namespace's key pair is published with the software, so any node can
write to it: its 32-byte ed25519 seed is SHA-256 of the fixed string
``OPEN_NAMESPACE_PHRASE`` below. A *curated* namespace keeps its private key: only
its owner writes, anyone who knows the public key reads. A search spans several.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from swarmseek.discovery import KeyPair

from .errors import SearchIndexError

OPEN_NAMESPACE_PHRASE = b"swarmseek open namespace v1"
OPEN_NAMESPACE_SEED = hashlib.sha256(OPEN_NAMESPACE_PHRASE).digest()


@dataclass(frozen=True, slots=True)
class Namespace:
    """A PHT/LSH index signed by one ed25519 key; ``keypair`` is None when read-only."""

    name: str
    public_key: bytes
    keypair: KeyPair | None = None

    @classmethod
    def open_default(cls) -> Namespace:
        keypair = _SigningKey(KeyPair.from_seed(OPEN_NAMESPACE_SEED))
        return cls("open", keypair.public_key, keypair)

    @classmethod
    def curated(cls, keypair: KeyPair, name: str = "curated") -> Namespace:
        return cls(name, keypair.public_key, _SigningKey(keypair))

    @classmethod
    def follow(cls, public_key: bytes, name: str = "followed") -> Namespace:
        """Someone else's curated namespace: searchable, not writable."""
        if len(public_key) != 32:
            raise SearchIndexError("an ed25519 public key is 32 bytes")
        return cls(name, public_key)

    @property
    def writable(self) -> bool:
        return self.keypair is not None

    @property
    def signer(self) -> KeyPair:
        """The key pair, or a verifying-only stand-in for reads of a followed namespace."""
        if self.keypair is not None:
            return self.keypair
        return _ReadOnlyKey(self.public_key)


class _SigningKey(KeyPair):
    """A key pair that keeps its parsed private key: ``KeyPair.sign`` parses the seed on
    every call, which was a third of the signing cost of a bulk import (cProfile:
    ``from_private_bytes`` 1.1 s next to ``sign`` 1.1 s for 30,000 PHT writes)."""

    def __init__(self, keypair: KeyPair) -> None:
        object.__setattr__(self, "seed", keypair.seed)
        object.__setattr__(self, "public_key", keypair.public_key)
        object.__setattr__(self, "_private", Ed25519PrivateKey.from_private_bytes(keypair.seed))

    def sign(self, message: bytes) -> bytes:
        private: Ed25519PrivateKey = self.__dict__["_private"]
        return private.sign(message)


class _ReadOnlyKey(KeyPair):
    """Carries the public key for reads; any attempt to sign is our own error."""

    def __init__(self, public_key: bytes) -> None:
        object.__setattr__(self, "seed", b"")
        object.__setattr__(self, "public_key", public_key)

    def sign(self, message: bytes) -> bytes:
        raise SearchIndexError("this namespace is read-only (no private key)")
