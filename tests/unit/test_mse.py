"""MSE/PE handshake machines: two machines in memory, a spec-written peer, hostile input."""

from __future__ import annotations

import random
from collections.abc import Callable, Iterable

import pytest
from cryptography.hazmat.decrepit.ciphers.algorithms import ARC4
from cryptography.hazmat.primitives.ciphers import Cipher

from swarmseek.transfer import (
    CryptoMethod,
    EncryptionPolicy,
    HandshakeCompleted,
    Incoming,
    MseConfig,
    MseError,
    MseEvent,
    MseInitiator,
    MseProtocolError,
    MseReceiver,
    MseRefused,
    MseStage,
    MseStateError,
    MseTimeout,
    StreamCipher,
    TorrentIdentified,
    TransferError,
    classify_incoming,
    mse_crypto,
    outgoing_uses_mse,
    req2_index,
    select_method,
    should_retry_plaintext,
)
from tests.support.mse_peer import (
    SPEC_P,
    SpecInitiator,
    SpecReceiver,
    spec_hash,
    spec_public,
    spec_rc4,
    spec_secret,
)

PREFER, REQUIRE, DISABLE = (
    EncryptionPolicy.PREFER,
    EncryptionPolicy.REQUIRE,
    EncryptionPolicy.DISABLE,
)
IH = bytes(range(20))
OTHER_IH = bytes(range(100, 120))
BT_HANDSHAKE = b"\x13BitTorrent protocol" + bytes(8) + IH + b"-SS0001-" + bytes(12)
# What the wire layer sends right after the handshake: bitfield, interested, a request.
A_MESSAGES = b"\x00\x00\x00\x02\x05\xff" + b"\x00\x00\x00\x01\x02" + bytes(range(256)) * 4
B_MESSAGES = BT_HANDSHAKE + b"\x00\x00\x00\x01\x01" + b"\x00\x00\x40\x09\x07" + bytes(0x4008)


def lookup() -> Callable[[bytes], bytes | None]:
    return req2_index([OTHER_IH, IH]).get


def initiator(
    policy: EncryptionPolicy = PREFER,
    *,
    ia: bytes = BT_HANDSHAKE,
    pads: tuple[int, int] = (0, 512),
    seed: int = 1,
    now: float = 0.0,
) -> MseInitiator:
    config = MseConfig(policy, pad_min=pads[0], pad_max=pads[1])
    return MseInitiator(IH, rng=random.Random(seed), now=now, config=config, initial_payload=ia)


def receiver(
    policy: EncryptionPolicy = PREFER,
    *,
    pads: tuple[int, int] = (0, 512),
    seed: int = 2,
    now: float = 0.0,
) -> MseReceiver:
    config = MseConfig(policy, pad_min=pads[0], pad_max=pads[1])
    return MseReceiver(lookup(), rng=random.Random(seed), now=now, config=config)


def feed(machine: MseInitiator | MseReceiver, pieces: Iterable[bytes]) -> list[MseEvent]:
    events: list[MseEvent] = []
    for piece in pieces:
        if piece:
            events += machine.receive_data(piece)
    return events


def adapter_read(machine: MseInitiator | MseReceiver, pieces: Iterable[bytes]) -> bytes:
    """What an adapter does: feed the machine, then decrypt reads with its cipher."""
    cipher: StreamCipher | None = None
    plain = b""
    for piece in pieces:
        if cipher is not None:
            plain += cipher.decrypt(piece)
        elif piece:
            for event in machine.receive_data(piece):
                if isinstance(event, HandshakeCompleted):
                    cipher, plain = event.cipher, event.payload
    assert cipher is not None, "handshake did not complete"
    return plain


def completed(events: list[MseEvent]) -> HandshakeCompleted:
    done = [e for e in events if isinstance(e, HandshakeCompleted)]
    assert len(done) == 1, events
    return done[0]


def converse(
    a: MseInitiator, b: MseReceiver
) -> tuple[list[MseEvent], list[MseEvent], bytes, bytes]:
    """Shuttle bytes until both are quiet; returns events and everything each side sent."""
    events_a: list[MseEvent] = []
    events_b: list[MseEvent] = []
    sent_a = sent_b = b""
    for _ in range(10):
        out_a, out_b = a.data_to_send(), b.data_to_send()
        if not out_a and not out_b:
            break
        sent_a, sent_b = sent_a + out_a, sent_b + out_b
        events_b += feed(b, [out_a])
        events_a += feed(a, [out_b])
    return events_a, events_b, sent_a, sent_b


def transcript(
    make_a: Callable[[], MseInitiator], make_b: Callable[[], MseReceiver]
) -> tuple[bytes, bytes, HandshakeCompleted, HandshakeCompleted]:
    """Both whole streams, each ending with the first encrypted BitTorrent messages."""
    events_a, events_b, sent_a, sent_b = converse(make_a(), make_b())
    done_a, done_b = completed(events_a), completed(events_b)
    a_stream = sent_a + done_a.cipher.encrypt(A_MESSAGES)
    b_stream = sent_b + done_b.cipher.encrypt(B_MESSAGES)
    return a_stream, b_stream, done_a, done_b


# --- two machines talking ---------------------------------------------------------


@pytest.mark.parametrize(
    ("policy_a", "policy_b"),
    [(PREFER, PREFER), (PREFER, REQUIRE), (REQUIRE, PREFER), (REQUIRE, REQUIRE)],
)
def test_two_machines_agree_on_rc4_and_carry_data_both_ways(
    policy_a: EncryptionPolicy, policy_b: EncryptionPolicy
) -> None:
    a, b = initiator(policy_a), receiver(policy_b)
    events_a, events_b, _, _ = converse(a, b)
    done_a, done_b = completed(events_a), completed(events_b)
    assert events_b[0] == TorrentIdentified(IH)
    assert done_a.method is done_b.method is CryptoMethod.RC4
    assert done_a.info_hash == done_b.info_hash == IH
    assert done_b.payload == BT_HANDSHAKE and done_a.payload == b""
    assert a.stage is b.stage is MseStage.DONE
    wire_ab = done_a.cipher.encrypt(A_MESSAGES)
    assert wire_ab != A_MESSAGES and done_b.cipher.decrypt(wire_ab) == A_MESSAGES
    wire_ba = done_b.cipher.encrypt(B_MESSAGES)
    assert done_a.cipher.decrypt(wire_ba) == B_MESSAGES


def test_empty_initial_payload_completes_with_empty_payload() -> None:
    events_a, events_b, _, _ = converse(initiator(ia=b""), receiver())
    assert completed(events_b).payload == b"" and completed(events_a).payload == b""


def test_largest_padding_on_both_sides_still_syncs() -> None:
    a, b = initiator(pads=(512, 512)), receiver(pads=(512, 512))
    events_a, events_b, sent_a, sent_b = converse(a, b)
    assert completed(events_b).payload == BT_HANDSHAKE
    assert completed(events_a).method is CryptoMethod.RC4
    # Ya + PadA(512) + req1 + req2^req3 + VC, provide, len, PadC(512), len(IA), IA
    assert len(sent_a) == 96 + 512 + 40 + 14 + 512 + 2 + len(BT_HANDSHAKE)
    assert len(sent_b) == 96 + 512 + 14 + 512


def test_every_split_of_either_stream_gives_the_same_result() -> None:
    make_a = lambda: initiator(pads=(40, 40))  # noqa: E731
    make_b = lambda: receiver(pads=(30, 30))  # noqa: E731
    a_stream, b_stream, _, _ = transcript(make_a, make_b)
    for cut in range(len(a_stream) + 1):
        plain = adapter_read(make_b(), [a_stream[:cut], a_stream[cut:]])
        assert plain == BT_HANDSHAKE + A_MESSAGES, cut
    handshake_end = len(b_stream) - len(B_MESSAGES)
    for cut in [*range(handshake_end + 70), len(b_stream) - 1, len(b_stream)]:
        assert adapter_read(make_a(), [b_stream[:cut], b_stream[cut:]]) == B_MESSAGES, cut


def test_one_byte_at_a_time() -> None:
    make_a, make_b = (lambda: initiator(seed=5)), (lambda: receiver(seed=6))
    a_stream, b_stream, _, _ = transcript(make_a, make_b)
    b = make_b()
    handshake_part = a_stream[: len(a_stream) - len(A_MESSAGES)]
    events = feed(b, [handshake_part[i : i + 1] for i in range(len(handshake_part))])
    assert completed(events).payload == BT_HANDSHAKE
    a = make_a()
    handshake_part = b_stream[: len(b_stream) - len(B_MESSAGES)]
    assert completed(feed(a, [handshake_part[i : i + 1] for i in range(len(handshake_part))]))


def test_whole_stream_at_once_including_first_encrypted_messages() -> None:
    make_a, make_b = (lambda: initiator(seed=7)), (lambda: receiver(seed=8))
    a_stream, b_stream, done_a, _ = transcript(make_a, make_b)
    b = make_b()
    done = completed(b.receive_data(a_stream))
    assert done.payload == BT_HANDSHAKE + A_MESSAGES
    a = make_a()
    assert completed(a.receive_data(b_stream)).payload == B_MESSAGES
    # the handed-over ciphers continue where the payload stopped
    assert done.cipher.decrypt(done_a.cipher.encrypt(b"next")) == b"next"


def test_receiver_key_is_ready_before_any_input() -> None:
    b = receiver(pads=(0, 0))
    assert len(b.data_to_send()) == 96 and b.data_to_send() == b""


# --- against a peer written from the spec -----------------------------------------


def test_initiator_step3_matches_the_spec_formulas() -> None:
    a = initiator(ia=BT_HANDSHAKE, pads=(0, 0))
    ya = a.data_to_send()
    peer = SpecReceiver(IH, pad_b=b"\x99" * 17)
    a.receive_data(peer.step2())
    step3 = a.data_to_send()
    req2, provide, pad_c, ia, rest = peer.read_step3(ya + step3)
    assert req2 == spec_hash(b"req2", IH) and provide == 0x03 and ia == BT_HANDSHAKE
    assert pad_c == b"" and rest == b""
    assert step3[:20] == spec_hash(b"req1", spec_secret(peer.x, ya))


def test_receiver_against_spec_initiator_with_padding_and_ia() -> None:
    peer = SpecInitiator(IH, pad_a=b"\x01" * 300, pad_c=bytes(100), ia=BT_HANDSHAKE)
    b = receiver()
    yb = b.data_to_send()
    events = b.receive_data(peer.step1() + peer.step3(yb))
    select, _, rest = peer.read_step4(b.data_to_send())
    assert select == 0x02 and rest == b""
    done = completed(events)
    assert done.payload == BT_HANDSHAKE and done.method is CryptoMethod.RC4
    assert peer.encryptor is not None and peer.decryptor is not None
    assert done.cipher.decrypt(peer.encryptor.update(b"after")) == b"after"
    assert peer.decryptor.update(done.cipher.encrypt(b"reply")) == b"reply"


def test_receiver_selects_plaintext_when_only_plaintext_is_provided() -> None:
    peer = SpecInitiator(IH, provide=0x01, ia=BT_HANDSHAKE)
    b = receiver(PREFER)
    yb = b.data_to_send()
    events = b.receive_data(peer.step1() + peer.step3(yb) + b"plain bytes")
    select, _, _ = peer.read_step4(b.data_to_send())
    done = completed(events)
    assert select == 0x01 and done.method is CryptoMethod.PLAINTEXT
    assert done.payload == BT_HANDSHAKE + b"plain bytes"  # IA is RC4, the rest is not
    assert done.cipher.is_identity and done.cipher.encrypt(b"x") == b"x"


def test_initiator_accepts_plaintext_selected_by_the_peer() -> None:
    a = initiator(PREFER)
    ya = a.data_to_send()
    peer = SpecReceiver(IH, pad_b=b"\x07" * 512)
    a.receive_data(peer.step2())
    peer.read_step3(ya + a.data_to_send())
    events = a.receive_data(peer.step4(0x01, pad_d=bytes(512)) + B_MESSAGES)
    done = completed(events)
    assert done.method is CryptoMethod.PLAINTEXT and done.payload == B_MESSAGES
    assert done.cipher.decrypt(b"raw") == b"raw"


@pytest.mark.parametrize("select", [0x00, 0x03, 0x04, 0x01])
def test_initiator_rejects_a_select_it_did_not_provide(select: int) -> None:
    a = initiator(REQUIRE)  # provides RC4 only, so 0x01 is not ours either
    ya = a.data_to_send()
    peer = SpecReceiver(IH)
    a.receive_data(peer.step2())
    peer.read_step3(ya + a.data_to_send())
    with pytest.raises(MseProtocolError, match="selected") as caught:
        a.receive_data(peer.step4(select))
    assert caught.value.stage == MseStage.NEGOTIATION


@pytest.mark.parametrize(
    ("policy", "provide"), [(REQUIRE, 0x01), (PREFER, 0x04), (PREFER, 0x00), (REQUIRE, 0xFC)]
)
def test_receiver_refuses_when_no_method_is_common(policy: EncryptionPolicy, provide: int) -> None:
    peer = SpecInitiator(IH, provide=provide)
    b = receiver(policy)
    with pytest.raises(MseRefused, match="no common crypto method"):
        b.receive_data(peer.step1() + peer.step3(b.data_to_send()))


# --- hostile input ----------------------------------------------------------------


def test_garbage_first_packet_is_dropped_after_the_sync_window() -> None:
    garbage = random.Random(3).randbytes(96 + 512 + 20 - 1)
    b = receiver()
    assert b.receive_data(garbage) == []  # the req1 hash could still start at byte 608
    assert b.buffered < 96 + 512 + 20
    with pytest.raises(MseProtocolError, match="req1") as caught:
        b.receive_data(b"x")
    assert caught.value.stage == MseStage.SYNC


def test_garbage_reply_to_initiator_is_dropped_after_the_vc_window() -> None:
    a = initiator()
    with pytest.raises(MseProtocolError, match="VC"):
        a.receive_data(random.Random(4).randbytes(96 + 512 + 8))
    assert should_retry_plaintext(PREFER, a)


def test_pad_a_longer_than_512_misses_the_sync_window() -> None:
    peer = SpecInitiator(IH, pad_a=bytes(513))
    b = receiver()
    with pytest.raises(MseProtocolError, match="req1"):
        b.receive_data(peer.step1() + peer.step3(b.data_to_send()))


def test_pad_b_longer_than_512_misses_the_vc_window() -> None:
    a = initiator()
    ya = a.data_to_send()
    peer = SpecReceiver(IH, pad_b=bytes(513))
    a.receive_data(peer.step2()[:96])
    peer.read_step3(ya + a.data_to_send())
    with pytest.raises(MseProtocolError, match="VC"):
        a.receive_data(peer.step2()[96:] + peer.step4(0x02))


def test_len_pad_c_over_512_is_refused() -> None:
    peer = SpecInitiator(IH, pad_c=bytes(513))
    b = receiver()
    with pytest.raises(MseProtocolError, match="PadC of 513"):
        b.receive_data(peer.step1() + peer.step3(b.data_to_send()))


def test_len_pad_d_over_512_is_refused() -> None:
    a = initiator()
    ya = a.data_to_send()
    peer = SpecReceiver(IH)
    a.receive_data(peer.step2())
    peer.read_step3(ya + a.data_to_send())
    with pytest.raises(MseProtocolError, match="PadD of 65535"):
        a.receive_data(peer.step4(0x02, pad_d_len=0xFFFF))


def test_wrong_vc_from_initiator_is_refused() -> None:
    peer = SpecInitiator(IH, vc=b"\x00" * 7 + b"\x01")
    b = receiver()
    with pytest.raises(MseProtocolError, match="verification constant"):
        b.receive_data(peer.step1() + peer.step3(b.data_to_send()))


def test_wrong_vc_from_receiver_never_syncs() -> None:
    a = initiator()
    ya = a.data_to_send()
    peer = SpecReceiver(IH)
    a.receive_data(peer.step2())
    peer.read_step3(ya + a.data_to_send())
    with pytest.raises(MseProtocolError, match="VC"):
        a.receive_data(peer.step4(0x02, vc=b"\x01" + bytes(7)) + bytes(600))


@pytest.mark.parametrize("y", [0, 1, SPEC_P - 1, SPEC_P, 2**768 - 1])
def test_degenerate_dh_keys_are_refused_by_both_sides(y: int) -> None:
    key = y.to_bytes(96, "big")
    b = receiver()
    with pytest.raises(MseProtocolError, match="degenerate DH") as caught:
        b.receive_data(key)
    assert caught.value.stage == MseStage.KEY_EXCHANGE
    with pytest.raises(MseProtocolError, match="degenerate DH"):
        initiator().receive_data(key)


def test_req2_of_an_unknown_torrent_is_refused() -> None:
    peer = SpecInitiator(b"\xee" * 20)
    b = receiver()
    with pytest.raises(MseRefused, match="torrent we do not have") as caught:
        b.receive_data(peer.step1() + peer.step3(b.data_to_send()))
    assert caught.value.stage == MseStage.NEGOTIATION


def test_any_of_many_torrents_is_found() -> None:
    hashes = [bytes([i]) * 20 for i in range(200)]
    b = MseReceiver(req2_index(hashes).get, rng=random.Random(9), now=0.0)
    peer = SpecInitiator(hashes[137])
    events = b.receive_data(peer.step1() + peer.step3(b.data_to_send()))
    assert events[0] == TorrentIdentified(hashes[137])
    assert completed(events).info_hash == hashes[137]


def test_stall_times_out_at_the_deadline_and_not_before() -> None:
    b = receiver(now=100.0)
    b.receive_data(b"\x01" * 50)  # half a key, then silence
    assert b.deadline == 130.0 and b.started_at == 100.0
    b.check_timeout(129.9)
    with pytest.raises(MseTimeout) as caught:
        b.check_timeout(130.0)
    assert caught.value.stage == MseStage.KEY_EXCHANGE
    assert b.buffered == 0
    with pytest.raises(MseStateError, match="already failed"):
        b.receive_data(b"more")


def test_finished_handshake_never_times_out() -> None:
    a, b = initiator(), receiver()
    converse(a, b)
    a.check_timeout(1e9)
    b.check_timeout(1e9)
    with pytest.raises(MseStateError, match="already done"):
        a.receive_data(b"late")


def test_eof_mid_handshake_is_an_error_with_its_stage() -> None:
    a = initiator()
    a.receive_data(spec_public(12345))
    with pytest.raises(MseProtocolError, match="closed") as caught:
        a.receive_eof()
    assert caught.value.stage == MseStage.SYNC
    assert isinstance(caught.value, MseError) and isinstance(caught.value, TransferError)


# --- policy -----------------------------------------------------------------------


@pytest.mark.parametrize("n", range(20))
def test_prefixes_of_the_bt_header_need_more_bytes(n: int) -> None:
    for policy in EncryptionPolicy:
        assert classify_incoming(BT_HANDSHAKE[:n], policy) is Incoming.NEED_MORE


def test_classify_incoming_under_each_policy() -> None:
    assert classify_incoming(BT_HANDSHAKE, PREFER) is Incoming.PLAINTEXT
    assert classify_incoming(BT_HANDSHAKE[:20], DISABLE) is Incoming.PLAINTEXT
    with pytest.raises(MseRefused, match="requires encryption"):
        classify_incoming(BT_HANDSHAKE, REQUIRE)
    key = b"\x13BitTorrent protocoX"  # a DH key may share 19 bytes with the header
    assert classify_incoming(key, PREFER) is Incoming.ENCRYPTED
    assert classify_incoming(b"\x14", REQUIRE) is Incoming.ENCRYPTED
    with pytest.raises(MseRefused, match="disables encryption"):
        classify_incoming(b"\x00", DISABLE)


def test_disable_means_no_mse_machine_at_all() -> None:
    assert not outgoing_uses_mse(DISABLE) and outgoing_uses_mse(PREFER)
    assert outgoing_uses_mse(REQUIRE)
    with pytest.raises(MseRefused):
        initiator(DISABLE)
    with pytest.raises(MseRefused):
        receiver(DISABLE)


def test_select_method_prefers_rc4() -> None:
    assert select_method(PREFER, 0x03) is CryptoMethod.RC4
    assert select_method(PREFER, 0x01) is CryptoMethod.PLAINTEXT
    assert select_method(PREFER, 0xFF) is CryptoMethod.RC4
    assert select_method(REQUIRE, 0x03) is CryptoMethod.RC4
    with pytest.raises(MseRefused):
        select_method(REQUIRE, 0x01)
    with pytest.raises(MseRefused):
        select_method(DISABLE, 0x03)


def test_retry_plaintext_only_under_prefer_before_the_peer_proved_mse() -> None:
    fresh = initiator()
    assert should_retry_plaintext(PREFER, fresh)  # e.g. reset before any reply
    assert not should_retry_plaintext(REQUIRE, initiator(REQUIRE))
    a = initiator()
    ya = a.data_to_send()
    peer = SpecReceiver(IH)
    a.receive_data(peer.step2())
    assert should_retry_plaintext(PREFER, a)  # stage SYNC: the peer may be plaintext-only
    peer.read_step3(ya + a.data_to_send())
    with pytest.raises(MseProtocolError):
        a.receive_data(peer.step4(0x04))
    assert not should_retry_plaintext(PREFER, a)  # it synced: it speaks MSE
    finished = initiator()
    converse(finished, receiver())
    assert not should_retry_plaintext(PREFER, finished)


# --- known answers ----------------------------------------------------------------


def _rc4_reference(key: bytes, length: int) -> bytes:
    """RC4 keystream (KSA + PRGA) in plain Python, to check ARC4 with the 1024 drop."""
    s = list(range(256))
    j = 0
    for i in range(256):
        j = (j + s[i] + key[i % len(key)]) % 256
        s[i], s[j] = s[j], s[i]
    out = bytearray()
    i = j = 0
    for _ in range(length):
        i = (i + 1) % 256
        j = (j + s[i]) % 256
        s[i], s[j] = s[j], s[i]
        out.append(s[(s[i] + s[j]) % 256])
    return bytes(out)


def test_rc4_drop1024_known_answer() -> None:
    key = spec_hash(b"keyA", bytes(96), IH)
    stream = _rc4_reference(key, 1024 + 64)
    assert mse_crypto.rc4_drop1024(key).update(bytes(64)) == stream[1024:]
    # and our reference agrees with RFC 6229's first test vector (key 0102030405)
    assert _rc4_reference(bytes([1, 2, 3, 4, 5]), 16).hex() == "b2396305f03dc027ccc3524a0a1118a8"
    plain = Cipher(ARC4(key), mode=None).encryptor().update(bytes(1024 + 64))
    assert plain == stream


def test_key_derivation_matches_the_spec_formulas() -> None:
    xa, xb = 0x1234567 << 100, 0x7654321 << 100
    s = spec_secret(xa, spec_public(xb))
    assert mse_crypto.shared_secret(xb, spec_public(xa)) == s
    assert mse_crypto.public_key(xa) == spec_public(xa)
    assert mse_crypto.req1_hash(s) == spec_hash(b"req1", s)
    assert mse_crypto.req2_hash(IH) == spec_hash(b"req2", IH)
    assert mse_crypto.req3_hash(s) == spec_hash(b"req3", s)
    assert mse_crypto.rc4_keys(s, IH) == (spec_hash(b"keyA", s, IH), spec_hash(b"keyB", s, IH))
    ours = StreamCipher.rc4(
        mse_crypto.rc4_drop1024(spec_hash(b"keyA", s, IH)),
        mse_crypto.rc4_drop1024(spec_hash(b"keyB", s, IH)),
    )
    assert ours.encrypt(b"data") == spec_rc4(spec_hash(b"keyA", s, IH)).update(b"data")


def test_the_prime_is_the_spec_prime_and_safe() -> None:
    assert mse_crypto.P == SPEC_P and SPEC_P.bit_length() == 768
    q = (SPEC_P - 1) // 2
    for witness in (2, 3, 5, 7):
        assert pow(witness, SPEC_P - 1, SPEC_P) == 1
        assert pow(witness, q - 1, q) == 1


def test_private_keys_have_160_bits() -> None:
    rng = random.Random(11)
    keys = {mse_crypto.private_key(rng) for _ in range(50)}
    assert len(keys) == 50 and all(k.bit_length() == 160 for k in keys)


def test_event_reprs_stay_short() -> None:
    _, events_b, _, _ = converse(initiator(), receiver())
    text = repr(completed(events_b))
    assert "68 bytes" in text and len(text) < 200
    assert IH.hex() in repr(events_b[0])


def test_config_rejects_padding_over_512() -> None:
    with pytest.raises(ValueError):
        MseConfig(pad_max=513)
    with pytest.raises(ValueError):
        MseConfig(handshake_timeout=0)
    with pytest.raises(ValueError):
        MseInitiator(b"short", rng=random.Random(), now=0.0)


def test_rc4_decrypts_in_place_into_any_writable_buffer() -> None:
    # the hot path of an encrypted download: each read decrypted where it landed (a
    # slice of the wire protocol's receive buffer), continuing the same keystream
    events_a, events_b, _, _ = converse(initiator(), receiver())
    sender, receiver_cipher = completed(events_a).cipher, completed(events_b).cipher
    assert receiver_cipher.decrypt_in_place is not None
    plain = bytes(range(256)) * 40
    wire = sender.encrypt(plain)
    buf = bytearray(len(wire) + 10)
    view = memoryview(buf)
    view[5 : 5 + len(wire)] = wire
    receiver_cipher.decrypt_in_place(view[5:1005])
    receiver_cipher.decrypt_in_place(view[1005 : 5 + len(wire)])
    assert bytes(buf[5 : 5 + len(wire)]) == plain and buf[:5] == bytes(5)
    assert receiver_cipher.decrypt(sender.encrypt(b"more")) == b"more"
    assert not sender.is_identity and StreamCipher.plaintext().is_identity
    assert StreamCipher.plaintext().decrypt_in_place is None


def test_both_rc4_backends_give_the_same_keystream(monkeypatch: pytest.MonkeyPatch) -> None:
    key = bytes(range(20))
    first = mse_crypto.rc4_drop1024(key)
    stream = first.update(bytes(5000))
    in_place = getattr(first, "in_place", None)
    if in_place is not None:  # the in-place call continues the same keystream
        more = bytearray(3000)
        in_place(more)
        stream += bytes(more)
    else:
        stream += first.update(bytes(3000))
    monkeypatch.setattr(mse_crypto, "_openssl", lambda: None)
    assert mse_crypto.rc4_drop1024(key).update(bytes(8000)) == stream
    # the fallback's in-place decryption (through a copy) continues its keystream too
    fallback = StreamCipher.rc4(mse_crypto.rc4_drop1024(key), mse_crypto.rc4_drop1024(key))
    assert fallback.decrypt_in_place is not None
    buf = bytearray(8000)
    fallback.decrypt_in_place(memoryview(buf)[:5000])
    fallback.decrypt_in_place(memoryview(buf)[5000:])
    assert bytes(buf) == stream
