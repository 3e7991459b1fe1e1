from __future__ import annotations

import asyncio

import pytest

from swarmseek.discovery import (
    CasConflict,
    ItemError,
    KeyPair,
    MemoryItemStore,
    SeqTooLow,
    sign_item,
    update_mutable,
    verify_item,
)


async def test_immutable_round_trip() -> None:
    store = MemoryItemStore()
    target = await store.put_immutable({b"n": b"card"})
    assert await store.get_immutable(target) == {b"n": b"card"}


def test_signature_rejects_tampering() -> None:
    keypair = KeyPair.generate()
    item = sign_item(keypair, b"hello", 1, b"salt")
    verify_item(item)
    forged = type(item)(b"hellp", item.seq, item.public_key, item.salt, item.signature)
    with pytest.raises(ItemError):
        verify_item(forged)


def test_value_over_1000_bytes_rejected() -> None:
    with pytest.raises(ItemError):
        sign_item(KeyPair.generate(), b"x" * 1000, 1)


async def test_cas_and_seq_rules() -> None:
    store = MemoryItemStore()
    keypair = KeyPair.generate()
    await store.put_mutable(sign_item(keypair, b"a", 1))
    with pytest.raises(CasConflict):
        await store.put_mutable(sign_item(keypair, b"b", 2), cas=0)
    with pytest.raises(SeqTooLow):
        await store.put_mutable(sign_item(keypair, b"b", 1))
    await store.put_mutable(sign_item(keypair, b"b", 2), cas=1)


async def test_concurrent_read_modify_write_loses_no_entry() -> None:
    store = MemoryItemStore()
    keypair = KeyPair.generate()

    async def add(entry: bytes) -> None:
        await asyncio.sleep(0)
        await update_mutable(
            store, keypair, b"leaf", lambda v: sorted([*(v or []), entry]), retries=50
        )

    await asyncio.gather(*(add(b"%d" % i) for i in range(20)))
    item = await store.get_mutable(keypair.public_key, b"leaf")
    assert item is not None
    assert sorted(item.value) == sorted(b"%d" % i for i in range(20))
