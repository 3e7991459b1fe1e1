"""MSE/PE post-handshake throughput next to cryptography's raw ARC4 (the reference).

Run: ``python tests/benchmarks/bench_mse.py [MiB]`` (default 256). Each byte is
encrypted by one side's ``StreamCipher`` and decrypted by the other's in place, in
64 KiB reads landing in one reused buffer (as a download's reads do); the reference
does the same with two bare ARC4 contexts (drop-1024 applied the same way), decrypting
into new bytes. "Two threads" runs two connections at once, each moving half the bytes,
to show whether the cipher releases the GIL: ours does when it runs on libcrypto
through ctypes; cryptography 48's ARC4 holds it, so its two-thread figure stays at its
one-thread one. Figures are bytes through
the pipe a second (each byte is RC4'd twice), best of three alternating runs. Also
prints how many full handshakes (both sides, in memory) one core does a second.
"""

from __future__ import annotations

import os
import random
import sys
import threading
import time
from collections.abc import Callable

from cryptography.hazmat.decrepit.ciphers.algorithms import ARC4
from cryptography.hazmat.primitives.ciphers import Cipher

from swarmseek.transfer import (
    HandshakeCompleted,
    MseEvent,
    MseInitiator,
    MseReceiver,
    StreamCipher,
    req2_index,
)

CHUNK = 64 * 1024
INFO_HASH = bytes(range(20))

Pipe = tuple[Callable[[bytes], bytes], Callable[[bytes], bytes]]


def handshake(seed: int) -> tuple[StreamCipher, StreamCipher]:
    """A full in-memory MSE handshake; returns (initiator cipher, receiver cipher)."""
    a = MseInitiator(INFO_HASH, rng=random.Random(seed), now=0.0)
    b = MseReceiver(req2_index([INFO_HASH]).get, rng=random.Random(seed + 1), now=0.0)
    done: dict[str, StreamCipher] = {}

    def note(side: str, events: list[MseEvent]) -> None:
        for event in events:
            if isinstance(event, HandshakeCompleted):
                done[side] = event.cipher

    while len(done) < 2:
        out_a, out_b = a.data_to_send(), b.data_to_send()
        if out_a:
            note("b", b.receive_data(out_a))
        if out_b:
            note("a", a.receive_data(out_b))
    return done["a"], done["b"]


def ours(seed: int) -> Pipe:
    a, b = handshake(seed)
    in_place = b.decrypt_in_place
    assert in_place is not None
    landing = memoryview(bytearray(CHUNK))  # the wire protocol's receive buffer

    def decrypt(data: bytes) -> bytes:
        landing[: len(data)] = data  # what the kernel's copy into it does
        in_place(landing[: len(data)])
        return data  # unused: pump only keeps the bytes moving

    return a.encrypt, decrypt


def raw_arc4(seed: int) -> Pipe:
    key = random.Random(seed).randbytes(20)
    enc = Cipher(ARC4(key), mode=None).encryptor()
    dec = Cipher(ARC4(key), mode=None).encryptor()
    enc.update(bytes(1024))
    dec.update(bytes(1024))
    return enc.update, dec.update


def pump(pipe: Pipe, chunk: bytes, count: int) -> None:
    encrypt, decrypt = pipe
    for _ in range(count):
        decrypt(encrypt(chunk))


def rate(make: Callable[[int], Pipe], total: int, threads: int) -> float:
    """Bytes a second through encrypt+decrypt, ``threads`` connections at once."""
    chunk = random.Random(7).randbytes(CHUNK)
    per_thread = total // CHUNK // threads
    pipes = [make(seed) for seed in range(threads)]
    workers = [threading.Thread(target=pump, args=(p, chunk, per_thread)) for p in pipes]
    start = time.perf_counter()
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    return per_thread * threads * CHUNK / (time.perf_counter() - start)


def handshakes_per_second(count: int = 200) -> float:
    start = time.perf_counter()
    for seed in range(count):
        handshake(seed)
    return count / (time.perf_counter() - start)


def main() -> None:
    mib = int(sys.argv[1]) if len(sys.argv) > 1 else 256
    total = mib * 1024 * 1024
    print(f"cpu_count={os.cpu_count()}  data={mib} MiB  read size={CHUNK // 1024} KiB")
    for threads in (1, 2):
        # alternate the two, best of three each: the machine is shared and noisy
        reference = measured = 0.0
        for _ in range(3):
            reference = max(reference, rate(raw_arc4, total, threads))
            measured = max(measured, rate(ours, total, threads))
        print(
            f"{threads} thread(s): swarmseek StreamCipher {measured / 1e6:7.0f} MB/s"
            f"   cryptography ARC4 {reference / 1e6:7.0f} MB/s"
            f"   ratio {measured / reference:.2f}"
        )
    print(f"full handshakes (both sides, one core): {handshakes_per_second():.0f}/s")


if __name__ == "__main__":
    main()
