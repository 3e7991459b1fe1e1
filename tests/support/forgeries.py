"""Signed BEP 44 items changed after signing: each one must fail verification."""

from __future__ import annotations

from dataclasses import replace

from swarmseek.discovery import KeyPair, MutableItem

OTHER = KeyPair.from_seed(bytes(range(1, 33)))


def forgeries(item: MutableItem) -> list[MutableItem]:
    """``item`` with its value, seq, salt or public key changed, signature kept."""
    return [
        replace(item, value=b"other"),
        replace(item, seq=item.seq + 1),
        replace(item, salt=b"pepper"),
        replace(item, public_key=OTHER.public_key),
    ]
