"""Message Stream Encryption (MSE/PE) handshake as pure state machines.

The Vuze "Message Stream Encryption" spec, in five steps (A initiates, B receives)::

    1 A->B: Ya, PadA
    2 B->A: Yb, PadB
    3 A->B: HASH('req1', S), HASH('req2', SKEY) xor HASH('req3', S),
            ENCRYPT(VC, crypto_provide, len(PadC), PadC, len(IA)), ENCRYPT(IA)
    4 B->A: ENCRYPT(VC, crypto_select, len(PadD), PadD), ENCRYPT2(payload)
    5 A->B: ENCRYPT2(payload)

``MseInitiator`` plays A (it knows the info hash, which is SKEY) and ``MseReceiver``
plays B (it finds SKEY among its torrents from the req2 hash). Both are driven like
h11: ``receive_data(bytes) -> list[event]``, ``data_to_send() -> bytes``; no sockets,
no clock (``now`` and a ``random.Random`` are passed in). When the handshake ends they
emit ``HandshakeCompleted`` with a ``StreamCipher`` for the rest of the connection
and the payload bytes that arrived with the handshake, already decrypted.

Every read is bounded by the spec's limits: padding is at most 512 bytes, so a peer
that never sends the sync point is dropped after 512 bytes of padding. Between calls
a machine holds less than its current stage needs (at most 96 + 512 + 20 bytes while
syncing, at most a 65535-byte IA after), and drops its buffers when it fails.

Driving it from an adapter (asyncio or otherwise):

- outgoing, policy ``prefer``/``require``: ``m = MseInitiator(info_hash, rng=...,
  now=loop.time(), config=..., initial_payload=bt_handshake)``; write
  ``m.data_to_send()``; then for every read ``events = m.receive_data(chunk)`` and
  write ``m.data_to_send()`` again. Policy ``disable``: plaintext handshake, no machine.
- incoming: buffer the first reads until ``classify_incoming(data, policy)`` is not
  ``NEED_MORE`` (at most 20 bytes decide); ``PLAINTEXT`` goes to the wire protocol
  as is, ``ENCRYPTED`` builds ``MseReceiver(index.get, ...)`` and feeds it ``data``.
- on ``HandshakeCompleted``: write any last ``data_to_send()``, give ``payload`` to the
  wire protocol, and from then on pass every read through ``cipher.decrypt`` and every
  write through ``cipher.encrypt`` (never call ``receive_data`` again).
- bound the handshake with ``deadline`` (same clock as ``now``) or poll
  ``check_timeout(now)``; call ``receive_eof()`` when the peer closes. Every failure
  is an ``MseError`` with ``reason`` and ``stage``; after an outgoing failure ask
  ``should_retry_plaintext(policy, machine)``.
"""

from __future__ import annotations

import enum
import random
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from .errors import MseError, MseProtocolError, MseRefused, MseStateError, MseTimeout
from .mse_crypto import (
    KEY_BYTES,
    MAX_PAD,
    VC,
    CryptoMethod,
    Keystream,
    StreamCipher,
    private_key,
    public_key,
    rc4_drop1024,
    rc4_keys,
    req1_hash,
    req2_hash,
    req3_hash,
    shared_secret,
    xor20,
)
from .mse_policy import EncryptionPolicy, allowed_methods, select_method

MAX_IA = 0xFFFF  # len(IA) is a 2-byte field; libtorrent itself accepts only <= 68


def should_retry_plaintext(policy: EncryptionPolicy, failed: MseInitiator) -> bool:
    """After an outgoing MSE attempt ended early, reconnect with a plaintext handshake?

    Call it whatever ended the attempt (``MseError``, EOF, reset, timeout). Only under
    ``prefer``, and only if the peer never proved it speaks MSE (no valid VC yet): a
    plaintext-only peer drops or ignores our DH key, while a peer that synced and then
    failed would fail the same way in plaintext. libtorrent's ``pe_support`` toggle
    makes the same choice.
    """
    if policy is not EncryptionPolicy.PREFER or failed.stage is MseStage.DONE:
        return False
    return failed.stage in (MseStage.KEY_EXCHANGE, MseStage.SYNC)


def req2_index(info_hashes: Iterable[bytes]) -> dict[bytes, bytes]:
    """``{HASH('req2', ih): ih}``; its ``.get`` is a receiver's SKEY lookup."""
    return {req2_hash(info_hash): info_hash for info_hash in info_hashes}


class MseStage(enum.StrEnum):
    """Where a handshake is; errors carry it as ``MseError.stage``."""

    KEY_EXCHANGE = "key exchange"  # waiting for the peer's 96-byte DH key
    SYNC = "sync"  # searching for HASH('req1', S) (B) or ENCRYPT(VC) (A)
    NEGOTIATION = "negotiation"  # SKEY hash, VC, crypto_provide/select, len(pad)
    PADDING = "padding"  # PadC + len(IA) (B) or PadD (A)
    INITIAL_PAYLOAD = "initial payload"  # IA (B only)
    DONE = "done"


@dataclass(frozen=True, slots=True)
class MseConfig:
    """Settings shared by both sides of the MSE/PE handshake."""

    policy: EncryptionPolicy = EncryptionPolicy.PREFER
    # The spec drops a peer that sends too little "within 30 seconds"; we bound the
    # whole handshake by one deadline so a slow drip cannot keep it alive.
    handshake_timeout: float = 30.0
    # Our own padding lengths are drawn from [pad_min, pad_max]; the spec caps 512.
    pad_min: int = 0
    pad_max: int = MAX_PAD

    def __post_init__(self) -> None:
        if not 0 <= self.pad_min <= self.pad_max <= MAX_PAD:
            raise ValueError(f"need 0 <= pad_min <= pad_max <= {MAX_PAD}")
        if self.handshake_timeout <= 0:
            raise ValueError("handshake_timeout must be positive")


@dataclass(frozen=True, slots=True)
class TorrentIdentified:
    """B found which torrent A asked for (the SKEY behind the req2 hash)."""

    info_hash: bytes

    def __repr__(self) -> str:
        return f"TorrentIdentified(info_hash={self.info_hash.hex()})"


@dataclass(frozen=True, slots=True)
class HandshakeCompleted:
    """The handshake is over; hand the connection to the peer wire protocol.

    ``payload`` is everything after the handshake received so far, decrypted: for B
    the initial payload IA (A's BitTorrent handshake) followed by any later bytes, for
    A the first bytes of B's payload stream. ``cipher`` encrypts what we send and
    decrypts what we receive from now on.
    """

    method: CryptoMethod
    info_hash: bytes
    cipher: StreamCipher
    payload: bytes

    def __repr__(self) -> str:
        return (
            f"HandshakeCompleted(method={self.method.name}, info_hash={self.info_hash.hex()},"
            f" payload=<{len(self.payload)} bytes>)"
        )


MseEvent = TorrentIdentified | HandshakeCompleted


class _Handshake:
    """What both sides share: buffers, deadline, failure and the step loop."""

    def __init__(self, config: MseConfig, rng: random.Random, now: float) -> None:
        if config.policy is EncryptionPolicy.DISABLE:
            raise MseRefused("MSE handshake refused: policy disables encryption")
        self.config = config
        self.started_at = now
        self.deadline = now + config.handshake_timeout
        self.stage = MseStage.KEY_EXCHANGE
        self.error: MseError | None = None
        self._rng = rng
        self._private = private_key(rng)
        self._buffer = bytearray()
        self._outgoing = bytearray(public_key(self._private) + self._padding(random_bytes=True))
        self._info_hash = b""

    def _padding(self, *, random_bytes: bool) -> bytes:
        length = self._rng.randint(self.config.pad_min, self.config.pad_max)
        # PadA/PadB must look random; the spec asks for PadC/PadD to be zeroed (they
        # are encrypted anyway).
        return self._rng.randbytes(length) if random_bytes else bytes(length)

    def data_to_send(self) -> bytes:
        """Bytes to write to the socket, in order; empty when there are none."""
        data = bytes(self._outgoing)
        self._outgoing.clear()
        return data

    def receive_data(self, data: bytes) -> list[MseEvent]:
        """Feed bytes read from the socket; returns what happened. Raises ``MseError``."""
        self._check_usable()
        self._buffer += data
        events: list[MseEvent] = []
        try:
            while self.stage is not MseStage.DONE and self._step(events):
                pass
        except MseError as error:
            self._fail(error)
            raise
        return events

    def receive_eof(self) -> None:
        """The peer closed the connection: raises ``MseProtocolError`` before ``DONE``."""
        self._check_usable()
        error = MseProtocolError("peer closed the connection mid-handshake")
        self._fail(error)
        raise error

    def check_timeout(self, now: float) -> None:
        """Raise ``MseTimeout`` if the handshake is unfinished at ``now >= deadline``.

        ``now`` must come from the clock that gave the constructor's ``now``.
        """
        if self.stage is MseStage.DONE or self.error is not None or now < self.deadline:
            return
        error = MseTimeout(f"handshake unfinished {now - self.started_at:.1f}s after start")
        self._fail(error)
        raise error

    @property
    def buffered(self) -> int:
        """Bytes received and not yet consumed (bounded by the spec's field sizes)."""
        return len(self._buffer)

    def _check_usable(self) -> None:
        if self.error is not None:
            raise MseStateError(f"handshake already failed: {self.error.reason}", self.stage)
        if self.stage is MseStage.DONE:
            raise MseStateError("handshake already done: use the cipher", self.stage)

    def _fail(self, error: MseError) -> None:
        if error.stage is None:
            error.stage = self.stage.value
        self.error = error
        self._buffer.clear()
        self._outgoing.clear()

    def _take(self, count: int) -> bytes | None:
        if len(self._buffer) < count:
            return None
        head = bytes(self._buffer[:count])
        del self._buffer[:count]
        return head

    def _sync(self, marker: bytes, what: str) -> bool:
        """Consume up to and including ``marker`` if it starts within 512 bytes.

        Spec, "Optional early termination conditions": the sync point follows at most
        512 bytes of padding, so B must see HASH('req1', S) within 512 + 20 bytes
        after Ya and A must see ENCRYPT(VC) within 512 + 8 bytes after Yb; past that
        the peer is dropped instead of being read forever.
        """
        end = MAX_PAD + len(marker)
        found = self._buffer.find(marker, 0, end)
        if found >= 0:
            del self._buffer[: found + len(marker)]
            return True
        if len(self._buffer) >= end:
            raise MseProtocolError(f"{what} not found after {MAX_PAD} bytes of padding")
        return False

    def _step(self, events: list[MseEvent]) -> bool:
        raise NotImplementedError

    def _complete(
        self,
        events: list[MseEvent],
        method: CryptoMethod,
        encryptor: Keystream,
        decryptor: Keystream,
        head: bytes = b"",
    ) -> None:
        if method is CryptoMethod.RC4:
            cipher = StreamCipher.rc4(encryptor, decryptor)
        else:
            cipher = StreamCipher.plaintext()
        payload = head + cipher.decrypt(bytes(self._buffer))
        self._buffer.clear()
        self.stage = MseStage.DONE
        events.append(HandshakeCompleted(method, self._info_hash, cipher, payload))


class MseInitiator(_Handshake):
    """Side A: we opened the connection and know the torrent's info hash (SKEY).

    ``initial_payload`` (IA) is sent RC4-encrypted inside step 3, before the method is
    known; pass the 68-byte BitTorrent handshake (libtorrent accepts at most 68) or
    nothing and send it after ``HandshakeCompleted``.
    """

    def __init__(
        self,
        info_hash: bytes,
        *,
        rng: random.Random,
        now: float,
        config: MseConfig = MseConfig(),
        initial_payload: bytes = b"",
    ) -> None:
        if len(info_hash) != 20:
            raise ValueError("info_hash must be 20 bytes")
        if len(initial_payload) > MAX_IA:
            raise ValueError(f"initial_payload is limited to {MAX_IA} bytes")
        super().__init__(config, rng, now)
        self._info_hash = bytes(info_hash)
        self._initial_payload = bytes(initial_payload)
        self._provide = allowed_methods(config.policy)
        self._encryptor: Keystream | None = None
        self._decryptor: Keystream | None = None
        self._vc_marker = b""
        self._select = CryptoMethod(0)
        self._pad_d = 0

    def _step(self, events: list[MseEvent]) -> bool:
        return _INITIATOR_STEPS[self.stage](self, events)

    def _on_key(self, _events: list[MseEvent]) -> bool:
        peer_key = self._take(KEY_BYTES)
        if peer_key is None:
            return False
        secret = shared_secret(self._private, peer_key)
        key_a, key_b = rc4_keys(secret, self._info_hash)
        self._encryptor, self._decryptor = rc4_drop1024(key_a), rc4_drop1024(key_b)
        # ENCRYPT(VC) is B's first 8 keystream bytes; computing it advances our
        # decryptor exactly past the VC we are about to find.
        self._vc_marker = self._decryptor.update(VC)
        pad_c = self._padding(random_bytes=False)
        ia = self._initial_payload
        negotiation = (
            VC
            + int(self._provide).to_bytes(4, "big")
            + len(pad_c).to_bytes(2, "big")
            + pad_c
            + len(ia).to_bytes(2, "big")
            + ia
        )
        sync = req1_hash(secret) + xor20(req2_hash(self._info_hash), req3_hash(secret))
        self._outgoing += sync + self._encryptor.update(negotiation)
        self.stage = MseStage.SYNC
        return True

    def _on_sync(self, _events: list[MseEvent]) -> bool:
        if not self._sync(self._vc_marker, "ENCRYPT(VC)"):
            return False
        self.stage = MseStage.NEGOTIATION
        return True

    def _on_negotiation(self, _events: list[MseEvent]) -> bool:
        assert self._decryptor is not None
        head = self._take(6)
        if head is None:
            return False
        plain = self._decryptor.update(head)
        select = int.from_bytes(plain[:4], "big")
        if select.bit_count() != 1 or not select & self._provide:
            raise MseProtocolError(
                f"peer selected {select:#x}, we provided {int(self._provide):#x}"
            )
        self._select = CryptoMethod(select)
        self._pad_d = int.from_bytes(plain[4:], "big")
        if self._pad_d > MAX_PAD:
            raise MseProtocolError(f"PadD of {self._pad_d} bytes exceeds {MAX_PAD}")
        self.stage = MseStage.PADDING
        return True

    def _on_padding(self, events: list[MseEvent]) -> bool:
        assert self._encryptor is not None and self._decryptor is not None
        pad = self._take(self._pad_d)
        if pad is None:
            return False
        self._decryptor.update(pad)  # keeps the keystream in step with B's
        self._complete(events, self._select, self._encryptor, self._decryptor)
        return True


_INITIATOR_STEPS: dict[MseStage, Callable[[MseInitiator, list[MseEvent]], bool]] = {
    MseStage.KEY_EXCHANGE: MseInitiator._on_key,
    MseStage.SYNC: MseInitiator._on_sync,
    MseStage.NEGOTIATION: MseInitiator._on_negotiation,
    MseStage.PADDING: MseInitiator._on_padding,
}


class MseReceiver(_Handshake):
    """Side B: a peer connected to us; ``lookup`` maps ``HASH('req2', SKEY)`` to SKEY.

    Build the lookup with ``req2_index(info_hashes).get`` (only info hashes are needed,
    so torrents added by magnet link without metadata take part). Our DH key is ready
    in ``data_to_send()`` as soon as the machine exists.
    """

    def __init__(
        self,
        lookup: Callable[[bytes], bytes | None],
        *,
        rng: random.Random,
        now: float,
        config: MseConfig = MseConfig(),
    ) -> None:
        super().__init__(config, rng, now)
        self._lookup = lookup
        self._secret = b""
        self._req1 = b""
        self._encryptor: Keystream | None = None
        self._decryptor: Keystream | None = None
        self._select = CryptoMethod(0)
        self._pad_c = 0
        self._ia_length = 0

    def _step(self, events: list[MseEvent]) -> bool:
        return _RECEIVER_STEPS[self.stage](self, events)

    def _on_key(self, _events: list[MseEvent]) -> bool:
        peer_key = self._take(KEY_BYTES)
        if peer_key is None:
            return False
        self._secret = shared_secret(self._private, peer_key)
        self._req1 = req1_hash(self._secret)
        self.stage = MseStage.SYNC
        return True

    def _on_sync(self, _events: list[MseEvent]) -> bool:
        if not self._sync(self._req1, "HASH('req1', S)"):
            return False
        self.stage = MseStage.NEGOTIATION
        return True

    def _on_negotiation(self, events: list[MseEvent]) -> bool:
        head = self._take(20 + 14)
        if head is None:
            return False
        skey = self._lookup(xor20(head[:20], req3_hash(self._secret)))
        if skey is None:
            raise MseRefused("peer asked for a torrent we do not have (req2 hash unknown)")
        self._info_hash = bytes(skey)
        events.append(TorrentIdentified(self._info_hash))
        key_a, key_b = rc4_keys(self._secret, self._info_hash)
        self._encryptor, self._decryptor = rc4_drop1024(key_b), rc4_drop1024(key_a)
        plain = self._decryptor.update(head[20:])
        if plain[:8] != VC:
            raise MseProtocolError("wrong verification constant (VC)")
        provide = int.from_bytes(plain[8:12], "big")
        self._pad_c = int.from_bytes(plain[12:14], "big")
        if self._pad_c > MAX_PAD:
            raise MseProtocolError(f"PadC of {self._pad_c} bytes exceeds {MAX_PAD}")
        self._select = select_method(self.config.policy, provide)
        pad_d = self._padding(random_bytes=False)
        step4 = VC + int(self._select).to_bytes(4, "big") + len(pad_d).to_bytes(2, "big") + pad_d
        self._outgoing += self._encryptor.update(step4)
        self.stage = MseStage.PADDING
        return True

    def _on_padding(self, _events: list[MseEvent]) -> bool:
        assert self._decryptor is not None
        data = self._take(self._pad_c + 2)
        if data is None:
            return False
        self._ia_length = int.from_bytes(self._decryptor.update(data)[-2:], "big")
        self.stage = MseStage.INITIAL_PAYLOAD
        return True

    def _on_initial_payload(self, events: list[MseEvent]) -> bool:
        assert self._encryptor is not None and self._decryptor is not None
        data = self._take(self._ia_length)
        if data is None:
            return False
        # IA is always RC4 (A sent it before knowing the method); what follows is in
        # the selected method.
        initial_payload = self._decryptor.update(data)
        self._complete(events, self._select, self._encryptor, self._decryptor, initial_payload)
        return True


_RECEIVER_STEPS: dict[MseStage, Callable[[MseReceiver, list[MseEvent]], bool]] = {
    MseStage.KEY_EXCHANGE: MseReceiver._on_key,
    MseStage.SYNC: MseReceiver._on_sync,
    MseStage.NEGOTIATION: MseReceiver._on_negotiation,
    MseStage.PADDING: MseReceiver._on_padding,
    MseStage.INITIAL_PAYLOAD: MseReceiver._on_initial_payload,
}
