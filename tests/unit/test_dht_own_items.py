"""A writer's check of its own item before a put: what ``sign_item`` made here needs no
second signature check; anything else is still verified."""

from __future__ import annotations

from dataclasses import replace

import pytest

from swarmseek.discovery import KeyPair, sign_item
from swarmseek.discovery import items as items_module
from swarmseek.discovery.errors import ItemError
from swarmseek.discovery.items import MutableItem, verify_own_item
from tests.support.forgeries import forgeries

KEYS = KeyPair.from_seed(bytes(range(32)))


def counting_verify(monkeypatch: pytest.MonkeyPatch) -> list[MutableItem]:
    seen: list[MutableItem] = []
    real = items_module.verify_item

    def verify(item: MutableItem) -> None:
        seen.append(item)
        real(item)

    monkeypatch.setattr(items_module, "verify_item", verify)
    return seen


def test_an_item_signed_here_is_not_verified_again(monkeypatch: pytest.MonkeyPatch) -> None:
    item = sign_item(KEYS, b"value", 3, b"salt")
    seen = counting_verify(monkeypatch)
    verify_own_item(item)
    assert seen == []


def test_a_changed_item_with_a_signature_made_here_is_refused() -> None:
    item = sign_item(KEYS, b"value", 3, b"salt")
    for forged in forgeries(item):
        with pytest.raises(ItemError):
            verify_own_item(forged)


def test_an_item_signed_elsewhere_is_verified(monkeypatch: pytest.MonkeyPatch) -> None:
    item = sign_item(KEYS, b"value", 3)
    monkeypatch.setattr(items_module, "_SIGNED", type(items_module._SIGNED)())
    seen = counting_verify(monkeypatch)
    verify_own_item(item)  # valid, but not signed in this process (as far as it knows)
    assert seen == [item]
    with pytest.raises(ItemError):
        verify_own_item(replace(item, signature=bytes(64)))


def test_the_memo_of_signatures_is_bounded() -> None:
    for i in range(items_module.SIGNED_MEMO + 50):
        sign_item(KEYS, b"v%d" % i, 1)
    assert len(items_module._SIGNED) == items_module.SIGNED_MEMO
