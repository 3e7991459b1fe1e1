"""A hand-rolled MSE/PE peer written straight from the spec, for tests of transfer/mse.py.

It shares no code with swarmseek: the prime, hashes and RC4-drop1024 are spelled out
again here with hashlib and cryptography's ARC4, so a test that talks to it checks our
machines against the spec formulas, not against themselves. Every field can be
overridden to build hostile input (wrong VC, oversized padding, odd crypto bits).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

from cryptography.hazmat.decrepit.ciphers.algorithms import ARC4
from cryptography.hazmat.primitives.ciphers import Cipher, CipherContext

# Vuze MSE spec, "DH Parameters" (Oakley group 1, RFC 2409 §6.1).
SPEC_P = int(
    "FFFFFFFFFFFFFFFFC90FDAA22168C234C4C6628B80DC1CD129024E088A67CC74"
    "020BBEA63B139B22514A08798E3404DDEF9519B3CD3A431B302B0A6DF25F1437"
    "4FE1356D6D51C245E485B576625E7EC6F44C42E9A63A36210000000000090563",
    16,
)


def spec_hash(*parts: bytes) -> bytes:
    return hashlib.sha1(b"".join(parts)).digest()


def spec_rc4(key: bytes) -> CipherContext:
    context = Cipher(ARC4(key), mode=None).encryptor()
    context.update(bytes(1024))
    return context


def spec_public(x: int) -> bytes:
    return pow(2, x, SPEC_P).to_bytes(96, "big")


def spec_secret(x: int, peer_public: bytes) -> bytes:
    return pow(int.from_bytes(peer_public, "big"), x, SPEC_P).to_bytes(96, "big")


def u16(n: int) -> bytes:
    return n.to_bytes(2, "big")


def u32(n: int) -> bytes:
    return n.to_bytes(4, "big")


@dataclass
class SpecInitiator:
    """Side A by the spec. ``public`` overrides Ya (to send a degenerate key)."""

    skey: bytes
    x: int = 0xA5A5_1234_5678_9ABC_DEF0_1122_3344_5566_7788_99AA
    pad_a: bytes = b""
    provide: int = 0x03
    pad_c: bytes = b""
    pad_c_len: int | None = None  # the len(PadC) field, when it should lie
    ia: bytes = b""
    vc: bytes = bytes(8)
    public: bytes | None = None
    secret: bytes = b""
    encryptor: CipherContext | None = field(default=None, repr=False)
    decryptor: CipherContext | None = field(default=None, repr=False)

    def step1(self) -> bytes:
        return (self.public if self.public is not None else spec_public(self.x)) + self.pad_a

    def step3(self, yb: bytes, *, req2_skey: bytes | None = None) -> bytes:
        self.secret = spec_secret(self.x, yb[:96])
        self.encryptor = spec_rc4(spec_hash(b"keyA", self.secret, self.skey))
        self.decryptor = spec_rc4(spec_hash(b"keyB", self.secret, self.skey))
        req2 = spec_hash(b"req2", self.skey if req2_skey is None else req2_skey)
        req3 = spec_hash(b"req3", self.secret)
        masked = bytes(p ^ q for p, q in zip(req2, req3, strict=True))
        pad_len = len(self.pad_c) if self.pad_c_len is None else self.pad_c_len
        plain = self.vc + u32(self.provide) + u16(pad_len) + self.pad_c + u16(len(self.ia))
        return spec_hash(b"req1", self.secret) + masked + self.encryptor.update(plain + self.ia)

    def read_step4(self, data: bytes) -> tuple[int, bytes, bytes]:
        """(crypto_select, PadD, decrypted rest) from B's bytes after Yb and PadB."""
        assert self.decryptor is not None
        marker = self.decryptor.update(bytes(8))
        start = data.index(marker) + 8
        head = self.decryptor.update(data[start : start + 6])
        select, pad_len = int.from_bytes(head[:4], "big"), int.from_bytes(head[4:], "big")
        pad_d = self.decryptor.update(data[start + 6 : start + 6 + pad_len])
        return select, pad_d, data[start + 6 + pad_len :]


@dataclass
class SpecReceiver:
    """Side B by the spec, for a single SKEY."""

    skey: bytes
    x: int = 0x5A5A_8765_4321_0FED_CBA9_8877_6655_4433_2211_0099
    pad_b: bytes = b""
    public: bytes | None = None
    secret: bytes = b""
    encryptor: CipherContext | None = field(default=None, repr=False)
    decryptor: CipherContext | None = field(default=None, repr=False)

    def step2(self) -> bytes:
        return (self.public if self.public is not None else spec_public(self.x)) + self.pad_b

    def read_step3(self, data: bytes) -> tuple[bytes, int, bytes, bytes, bytes]:
        """(req2 hash, crypto_provide, PadC, IA, rest) from A's whole stream."""
        self.secret = spec_secret(self.x, data[:96])
        start = data.index(spec_hash(b"req1", self.secret), 96) + 20
        req3 = spec_hash(b"req3", self.secret)
        req2 = bytes(p ^ q for p, q in zip(data[start : start + 20], req3, strict=True))
        self.decryptor = spec_rc4(spec_hash(b"keyA", self.secret, self.skey))
        self.encryptor = spec_rc4(spec_hash(b"keyB", self.secret, self.skey))
        at = start + 20
        head = self.decryptor.update(data[at : at + 14])
        assert head[:8] == bytes(8), "VC"
        provide, pad_len = int.from_bytes(head[8:12], "big"), int.from_bytes(head[12:], "big")
        at += 14
        pad_c = self.decryptor.update(data[at : at + pad_len])
        at += pad_len
        ia_len = int.from_bytes(self.decryptor.update(data[at : at + 2]), "big")
        at += 2
        ia = self.decryptor.update(data[at : at + ia_len])
        return req2, provide, pad_c, ia, data[at + ia_len :]

    def step4(
        self, select: int, *, pad_d: bytes = b"", pad_d_len: int | None = None, vc: bytes = bytes(8)
    ) -> bytes:
        assert self.encryptor is not None
        pad_len = len(pad_d) if pad_d_len is None else pad_d_len
        return self.encryptor.update(vc + u32(select) + u16(pad_len) + pad_d)
