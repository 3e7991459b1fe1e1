"""MSE/PE machines under hypothesis: any chunking agrees, any bytes only raise MseError."""

from __future__ import annotations

import random

from hypothesis import given
from hypothesis import strategies as st

from swarmseek.transfer import (
    EncryptionPolicy,
    HandshakeCompleted,
    Incoming,
    MseConfig,
    MseError,
    MseInitiator,
    MseReceiver,
    MseRefused,
    MseStage,
    classify_incoming,
    req2_index,
)

IH = bytes(range(20))
MAX_IA = 0xFFFF
# Between calls a machine holds less than its current stage needs: at most 96 + 532
# bytes while syncing, at most a 65535-byte IA later.
GARBAGE_BOUND = 96 + 512 + 20
policies = st.sampled_from([EncryptionPolicy.PREFER, EncryptionPolicy.REQUIRE])
pads = st.tuples(st.integers(0, 512), st.integers(0, 512)).map(sorted)
chunk_sizes = st.lists(st.integers(1, 700), max_size=12)


def chunks(data: bytes, sizes: list[int]) -> list[bytes]:
    pieces, at = [], 0
    for size in sizes:
        pieces.append(data[at : at + size])
        at += size
    pieces.append(data[at:])
    return [p for p in pieces if p]


def make_initiator(seed: int, policy: EncryptionPolicy, pad: list[int], ia: bytes) -> MseInitiator:
    config = MseConfig(policy, pad_min=pad[0], pad_max=pad[1])
    return MseInitiator(IH, rng=random.Random(seed), now=0.0, config=config, initial_payload=ia)


def make_receiver(seed: int, policy: EncryptionPolicy, pad: list[int]) -> MseReceiver:
    config = MseConfig(policy, pad_min=pad[0], pad_max=pad[1])
    return MseReceiver(req2_index([IH]).get, rng=random.Random(seed), now=0.0, config=config)


def run(
    machine: MseInitiator | MseReceiver, pieces: list[bytes]
) -> tuple[HandshakeCompleted | None, bytes]:
    """Feed like an adapter; returns the completion and all plaintext received."""
    done: HandshakeCompleted | None = None
    plain = b""
    for piece in pieces:
        if done is not None:
            plain += done.cipher.decrypt(piece)
            continue
        for event in machine.receive_data(piece):
            if isinstance(event, HandshakeCompleted):
                done, plain = event, event.payload
        assert machine.buffered <= MAX_IA
    return done, plain


def streams(
    seed: int, policies: tuple[EncryptionPolicy, EncryptionPolicy], pad: list[int], ia: bytes
) -> tuple[bytes, bytes]:
    """A's and B's whole streams from one conversation, each with a payload tail."""
    a = make_initiator(seed, policies[0], pad, ia)
    b = make_receiver(seed + 1, policies[1], pad)
    sent_a = sent_b = b""
    done_a = done_b = None
    for _ in range(4):
        out_a, out_b = a.data_to_send(), b.data_to_send()
        sent_a, sent_b = sent_a + out_a, sent_b + out_b
        done_b = run(b, chunks(out_a, []))[0] or done_b
        done_a = run(a, chunks(out_b, []))[0] or done_a
    assert done_a is not None and done_b is not None
    return sent_a + done_a.cipher.encrypt(b"tail-a"), sent_b + done_b.cipher.encrypt(b"tail-b")


@given(
    st.integers(0, 2**32),
    policies,
    policies,
    pads,
    st.binary(max_size=300),
    chunk_sizes,
    chunk_sizes,
)
def test_any_chunking_of_either_stream_completes_the_same(
    seed: int,
    policy_a: EncryptionPolicy,
    policy_b: EncryptionPolicy,
    pad: list[int],
    ia: bytes,
    cuts_a: list[int],
    cuts_b: list[int],
) -> None:
    a_stream, b_stream = streams(seed, (policy_a, policy_b), pad, ia)
    done_b, plain_b = run(make_receiver(seed + 1, policy_b, pad), chunks(a_stream, cuts_a))
    done_a, plain_a = run(make_initiator(seed, policy_a, pad, ia), chunks(b_stream, cuts_b))
    assert done_a is not None and done_b is not None
    assert plain_b == ia + b"tail-a" and plain_a == b"tail-b"
    assert done_a.method is done_b.method
    # the replayed A has not sent the tail yet: step its keystream past it first
    done_a.cipher.encrypt(b"tail-a")
    assert done_b.cipher.decrypt(done_a.cipher.encrypt(b"more")) == b"more"


@given(st.integers(0, 2**16), st.binary(max_size=2000), chunk_sizes)
def test_receiver_fed_arbitrary_bytes_only_raises_mse_error(
    seed: int, data: bytes, cuts: list[int]
) -> None:
    b = make_receiver(seed, EncryptionPolicy.PREFER, [0, 512])
    try:
        for piece in chunks(data, cuts):
            b.receive_data(piece)
            assert b.buffered < GARBAGE_BOUND
    except MseError:
        assert b.error is not None and b.buffered == 0
    else:
        assert b.stage in (MseStage.KEY_EXCHANGE, MseStage.SYNC)


@given(st.integers(0, 2**16), st.binary(max_size=2000), chunk_sizes)
def test_initiator_fed_arbitrary_bytes_only_raises_mse_error(
    seed: int, data: bytes, cuts: list[int]
) -> None:
    a = make_initiator(seed, EncryptionPolicy.PREFER, [0, 512], b"")
    try:
        for piece in chunks(data, cuts):
            a.receive_data(piece)
            assert a.buffered < 96 + 512 + 8
    except MseError:
        assert a.error is not None
    else:
        assert a.stage in (MseStage.KEY_EXCHANGE, MseStage.SYNC)


mutations = st.lists(
    st.tuples(st.integers(0, 3000), st.integers(1, 255), st.sampled_from(["xor", "cut", "ins"])),
    min_size=1,
    max_size=4,
)


def mutate(data: bytes, edits: list[tuple[int, int, str]]) -> bytes:
    out = bytearray(data)
    for position, value, kind in edits:
        at = position % (len(out) + 1)
        if kind == "xor" and at < len(out):
            out[at] ^= value
        elif kind == "cut":
            del out[at : at + value]
        else:
            out[at:at] = bytes([value]) * (value % 7 + 1)
    return bytes(out)


@given(st.integers(0, 2**16), pads, st.binary(max_size=80), mutations, chunk_sizes)
def test_mutated_streams_only_raise_mse_error(
    seed: int, pad: list[int], ia: bytes, edits: list[tuple[int, int, str]], cuts: list[int]
) -> None:
    prefer = EncryptionPolicy.PREFER
    a_stream, b_stream = streams(seed, (prefer, prefer), pad, ia)
    for machine, stream in (
        (make_receiver(seed + 1, prefer, pad), a_stream),
        (make_initiator(seed, prefer, pad, ia), b_stream),
    ):
        try:
            run(machine, chunks(mutate(stream, edits), cuts))
        except MseError:
            assert machine.error is not None


@given(st.binary(max_size=40), st.sampled_from(list(EncryptionPolicy)))
def test_classify_incoming_never_needs_more_than_20_bytes(
    data: bytes, policy: EncryptionPolicy
) -> None:
    try:
        kind = classify_incoming(data, policy)
    except MseRefused:
        return
    if kind is Incoming.NEED_MORE:
        assert len(data) < 20
