"""The Mainline DHT node (BEP 5, 42, 43, 44) that routes queries and stores the index."""

from .config import DhtConfig
from .errors import (
    CasConflict,
    DhtError,
    ItemError,
    KrpcError,
    LookupFailed,
    PutError,
    SeqTooLow,
)
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
from .itemstore import (
    CAS_ABSENT,
    ItemStore,
    MemoryItemStore,
    StoreCounters,
    Updater,
    update_mutable,
)
from .krpc import Address
from .lookup import IterativeLookup
from .node import KrpcNode, NodeStats, OperationFinished
from .routing import RoutingTable
from .transport import DhtNode

__all__ = [
    "CAS_ABSENT",
    "MAX_SALT_SIZE",
    "MAX_VALUE_SIZE",
    "Address",
    "CasConflict",
    "DhtConfig",
    "DhtError",
    "DhtNode",
    "ItemError",
    "ItemStore",
    "IterativeLookup",
    "KeyPair",
    "KrpcError",
    "KrpcNode",
    "LookupFailed",
    "MemoryItemStore",
    "MutableItem",
    "NodeStats",
    "OperationFinished",
    "PutError",
    "RoutingTable",
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
