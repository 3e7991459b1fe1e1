"""The Mainline DHT node (BEP 5, 42, 43, 44) that routes queries and stores the index."""

from .errors import CasConflict, DhtError, ItemError, KrpcError, PutError, SeqTooLow
from .items import (
    MAX_SALT_SIZE,
    MAX_VALUE_SIZE,
    KeyPair,
    MutableItem,
    immutable_target,
    mutable_target,
    sign_item,
    signable,
    verify_item,
)
from .itemstore import ItemStore, MemoryItemStore, StoreCounters, Updater, update_mutable

__all__ = [
    "MAX_SALT_SIZE",
    "MAX_VALUE_SIZE",
    "CasConflict",
    "DhtError",
    "ItemError",
    "ItemStore",
    "KeyPair",
    "KrpcError",
    "MemoryItemStore",
    "MutableItem",
    "PutError",
    "SeqTooLow",
    "StoreCounters",
    "Updater",
    "immutable_target",
    "mutable_target",
    "sign_item",
    "signable",
    "update_mutable",
    "verify_item",
]
