"""The memo of signatures verified in this process: the k replicas of a put that share a
process (the demo's network) check each item once, and nothing else passes for it."""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import replace

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from swarmseek.discovery import KeyPair, sign_item, verify_item
from swarmseek.discovery import items as items_module
from swarmseek.discovery.errors import ItemError
from tests.support.forgeries import forgeries

KEYS = KeyPair.from_seed(bytes(range(32)))


class CountingKey:
    """Stands in for ``Ed25519PublicKey``: counts the real verifications."""

    calls = 0

    @classmethod
    def from_public_bytes(cls, data: bytes) -> Ed25519PublicKey:
        cls.calls += 1
        return Ed25519PublicKey.from_public_bytes(data)


@pytest.fixture
def fresh_memo(monkeypatch: pytest.MonkeyPatch) -> type[CountingKey]:
    monkeypatch.setattr(items_module, "_VERIFIED", OrderedDict())
    monkeypatch.setattr(items_module, "Ed25519PublicKey", CountingKey)
    CountingKey.calls = 0
    return CountingKey


def test_the_replicas_of_one_put_verify_its_signature_once(
    fresh_memo: type[CountingKey],
) -> None:
    item = sign_item(KEYS, {b"e": b"entries"}, 7, b"pht-leaf")
    for _ in range(8):  # k replicas in one process
        verify_item(replace(item))
    assert fresh_memo.calls == 1


def test_a_verified_signature_vouches_for_nothing_else(fresh_memo: type[CountingKey]) -> None:
    item = sign_item(KEYS, b"value", 3, b"salt")
    verify_item(item)
    for forged in forgeries(item):
        with pytest.raises(ItemError):
            verify_item(forged)
    assert fresh_memo.calls == 5  # each forgery went to ed25519, and failed there


def test_a_failed_check_is_not_remembered(fresh_memo: type[CountingKey]) -> None:
    bad = replace(sign_item(KEYS, b"value", 3), signature=bytes(64))
    for _ in range(2):
        with pytest.raises(ItemError):
            verify_item(bad)
    assert fresh_memo.calls == 2
    assert not items_module._VERIFIED


def test_the_memo_of_verified_signatures_is_bounded(fresh_memo: type[CountingKey]) -> None:
    first = sign_item(KEYS, b"v-first", 1)
    verify_item(first)
    for i in range(items_module.VERIFIED_MEMO):
        verify_item(sign_item(KEYS, b"v%d" % i, 1))
    assert len(items_module._VERIFIED) == items_module.VERIFIED_MEMO
    calls = fresh_memo.calls
    verify_item(first)  # the oldest went first: verified again
    assert fresh_memo.calls == calls + 1
