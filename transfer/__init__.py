"""Torrents, the peer wire protocol and the swarm: swarmseek's transfer engine.

Foundation layer (what the swarm, the DHT and the index build on):

- bencode: ``encode``, ``decode``, ``decode_document``, ``decode_prefix``, ``Limits``.
- metainfo: ``parse_torrent(bytes) -> Metainfo``, ``Info.from_bytes(raw, expected)``
  for BEP 9 metadata, ``create_torrent(path, ...) -> Created``, ``InfoHash``.
- magnets: ``parse_magnet(uri) -> Magnet``, ``make_magnet(...)``, ``Magnet.to_uri()``.
- storage: ``PieceStorage`` (protocol), ``DiskStorage``, ``MemoryStorage``,
  ``FileMap`` (piece -> file spans), ``data_paths``.
- hashing and checking: ``sha1``, ``piece_hashes``, ``check_pieces``, ``verify``,
  ``verify_async``; resume records: ``ResumeStore``, ``to_bitfield``, ``from_bitfield``."""

from .bencode import (
    DEFAULT_LIMITS,
    MESSAGE_LIMITS,
    Document,
    Limits,
    Value,
    decode,
    decode_document,
    decode_prefix,
    encode,
)
from .create import (
    Created,
    choose_piece_length,
    create_torrent,
)
from .errors import (
    BencodeError,
    MagnetError,
    MetainfoError,
    MseError,
    MseProtocolError,
    MseRefused,
    MseStateError,
    MseTimeout,
    StorageError,
    TrackerError,
    TransferError,
    UnsafePathError,
)
from .filemap import (
    FileMap,
    Span,
)
from .hashing import (
    check_pieces,
    piece_hashes,
    sha1,
)
from .magnet import (
    Magnet,
    make_magnet,
    parse_magnet,
)
from .metainfo import (
    FileEntry,
    Info,
    InfoHash,
    Metainfo,
    as_infohash,
    infohash_of,
    parse_info,
    parse_torrent,
)
from .mse import (
    HandshakeCompleted,
    MseConfig,
    MseEvent,
    MseInitiator,
    MseReceiver,
    MseStage,
    TorrentIdentified,
    req2_index,
    should_retry_plaintext,
)
from .mse_crypto import (
    CryptoMethod,
    StreamCipher,
)
from .mse_policy import (
    EncryptionPolicy,
    Incoming,
    allowed_methods,
    classify_incoming,
    outgoing_uses_mse,
    select_method,
)
from .paths import (
    Skipped,
    walk_folder,
)
from .resume import (
    ResumeRecord,
    ResumeStore,
    from_bitfield,
    stat_files,
    to_bitfield,
)
from .storage import (
    DiskStorage,
    MemoryStorage,
    PieceStorage,
    data_paths,
)
from .tracker import (
    Announce,
    AnnounceResponse,
    Event,
)
from .tracker_client import (
    TrackerClientConfig,
    announce,
)
from .tracker_server import (
    TrackerConfig,
    TrackerServer,
)
from .verify import (
    FileProblem,
    VerifyResult,
    verify,
    verify_async,
)

__all__ = [
    "DEFAULT_LIMITS",
    "MESSAGE_LIMITS",
    "Announce",
    "AnnounceResponse",
    "BencodeError",
    "Created",
    "CryptoMethod",
    "DiskStorage",
    "Document",
    "EncryptionPolicy",
    "Event",
    "FileEntry",
    "FileMap",
    "FileProblem",
    "HandshakeCompleted",
    "Incoming",
    "Info",
    "InfoHash",
    "Limits",
    "Magnet",
    "MagnetError",
    "MemoryStorage",
    "Metainfo",
    "MetainfoError",
    "MseConfig",
    "MseError",
    "MseEvent",
    "MseInitiator",
    "MseProtocolError",
    "MseReceiver",
    "MseRefused",
    "MseStage",
    "MseStateError",
    "MseTimeout",
    "PieceStorage",
    "ResumeRecord",
    "ResumeStore",
    "Skipped",
    "Span",
    "StorageError",
    "StreamCipher",
    "TorrentIdentified",
    "TrackerClientConfig",
    "TrackerConfig",
    "TrackerError",
    "TrackerServer",
    "TransferError",
    "UnsafePathError",
    "Value",
    "VerifyResult",
    "allowed_methods",
    "announce",
    "as_infohash",
    "check_pieces",
    "choose_piece_length",
    "classify_incoming",
    "create_torrent",
    "data_paths",
    "decode",
    "decode_document",
    "decode_prefix",
    "encode",
    "from_bitfield",
    "infohash_of",
    "make_magnet",
    "outgoing_uses_mse",
    "parse_info",
    "parse_magnet",
    "parse_torrent",
    "piece_hashes",
    "req2_index",
    "select_method",
    "sha1",
    "should_retry_plaintext",
    "stat_files",
    "to_bitfield",
    "verify",
    "verify_async",
    "walk_folder",
]
