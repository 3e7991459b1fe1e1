"""Torrents, the peer wire protocol and the swarm: swarmseek's transfer engine.

Foundation layer (what the swarm, the DHT and the index build on):

- bencode: ``encode``, ``decode``, ``decode_document``, ``decode_prefix``, ``Limits``.
- metainfo: ``parse_torrent(bytes) -> Metainfo``, ``Info.from_bytes(raw, expected)``
  for BEP 9 metadata, ``create_torrent(path, ...) -> Created``, ``InfoHash``.
- magnets: ``parse_magnet(uri) -> Magnet``, ``make_magnet(...)``, ``Magnet.to_uri()``.
- storage: ``PieceStorage`` (protocol), ``DiskStorage``, ``MemoryStorage``,
  ``FileMap`` (piece -> file spans), ``data_paths``.
- hashing and checking: ``sha1``, ``piece_hashes``, ``check_pieces``, ``verify``,
  ``verify_async``; resume records: ``ResumeStore``, ``to_bitfield``, ``from_bitfield``.

The swarm (asyncio): ``Session(SessionConfig(...), resume_db=..., dht=PeerFinder)`` as an
async context manager; ``await session.add(metainfo|magnet|infohash, save_path,
peers=..., trackers=...) -> Torrent``; ``session.status(infohash) -> TorrentStatus``
(state, verified bytes, rates, peers, ETA); ``pause``/``resume_torrent``/``remove``."""

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
from .bitfield import (
    Bitfield,
)
from .choker import (
    ChokeDecision,
    Choker,
    PeerStats,
    desired_queue_depth,
    is_snubbed,
)
from .create import (
    Created,
    choose_piece_length,
    create_torrent,
)
from .errors import (
    BencodeError,
    LocalProtocolError,
    MagnetError,
    MetadataHashMismatch,
    MetainfoError,
    MseError,
    MseProtocolError,
    MseRefused,
    MseStateError,
    MseTimeout,
    ProtocolError,
    RemoteProtocolError,
    StorageError,
    TrackerError,
    TransferError,
    UnsafePathError,
)
from .extension import (
    UT_METADATA,
    UT_PEX,
    ExtensionHandshake,
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
from .metadata import (
    METADATA_PIECE_SIZE,
    MetadataAssembler,
    MetadataData,
    MetadataReject,
    MetadataRequest,
    metadata_piece_count,
    metadata_pieces,
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
from .peer_sources import (
    PeerFinder,
    PeerSourceError,
)
from .picker import (
    Block,
    BlockReceipt,
    BlockState,
    PiecePicker,
)
from .resume import (
    ResumeRecord,
    ResumeStore,
    from_bitfield,
    stat_files,
    to_bitfield,
)
from .session import (
    Session,
)
from .storage import (
    DiskStorage,
    MemoryStorage,
    PieceStorage,
    data_paths,
)
from .swarm_config import (
    SessionConfig,
    TorrentState,
    TorrentStatus,
)
from .torrent import (
    Torrent,
)
from .tracker import (
    Announce,
    AnnounceResponse,
)
from .tracker import Event as TrackerEvent
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
from .wire import (
    PeerConnection,
)
from .wire_events import (
    AllowedFastReceived,
    BitfieldReceived,
    BlockReceived,
    CancelReceived,
    Event,
    ExtensionHandshakeReceived,
    ExtensionMessageReceived,
    HandshakeReceived,
    HaveAllReceived,
    HaveNoneReceived,
    HaveReceived,
    KeepAliveReceived,
    MetadataDataReceived,
    MetadataRejectReceived,
    MetadataRequestReceived,
    PeerChoked,
    PeerInterested,
    PeerNotInterested,
    PeerUnchoked,
    PortReceived,
    RejectReceived,
    RequestReceived,
    SuggestReceived,
    UnknownMessageReceived,
)
from .wire_messages import (
    BLOCK_SIZE,
    MAX_METADATA_SIZE,
    AllowedFast,
    BitfieldMessage,
    Cancel,
    Choke,
    ExtensionMessage,
    Have,
    HaveAll,
    HaveNone,
    Interested,
    KeepAlive,
    NotInterested,
    Piece,
    Port,
    Reject,
    Request,
    Suggest,
    Unchoke,
    allowed_fast_set,
)
from .wire_send import (
    Phase,
)

__all__ = [
    "BLOCK_SIZE",
    "DEFAULT_LIMITS",
    "MAX_METADATA_SIZE",
    "MESSAGE_LIMITS",
    "METADATA_PIECE_SIZE",
    "UT_METADATA",
    "UT_PEX",
    "AllowedFast",
    "AllowedFastReceived",
    "Announce",
    "AnnounceResponse",
    "BencodeError",
    "Bitfield",
    "BitfieldMessage",
    "BitfieldReceived",
    "Block",
    "BlockReceipt",
    "BlockReceived",
    "BlockState",
    "Cancel",
    "CancelReceived",
    "Choke",
    "ChokeDecision",
    "Choker",
    "Created",
    "CryptoMethod",
    "DiskStorage",
    "Document",
    "EncryptionPolicy",
    "Event",
    "ExtensionHandshake",
    "ExtensionHandshakeReceived",
    "ExtensionMessage",
    "ExtensionMessageReceived",
    "FileEntry",
    "FileMap",
    "FileProblem",
    "HandshakeCompleted",
    "HandshakeReceived",
    "Have",
    "HaveAll",
    "HaveAllReceived",
    "HaveNone",
    "HaveNoneReceived",
    "HaveReceived",
    "Incoming",
    "Info",
    "InfoHash",
    "Interested",
    "KeepAlive",
    "KeepAliveReceived",
    "Limits",
    "LocalProtocolError",
    "Magnet",
    "MagnetError",
    "MemoryStorage",
    "MetadataAssembler",
    "MetadataData",
    "MetadataDataReceived",
    "MetadataHashMismatch",
    "MetadataReject",
    "MetadataRejectReceived",
    "MetadataRequest",
    "MetadataRequestReceived",
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
    "NotInterested",
    "PeerChoked",
    "PeerConnection",
    "PeerFinder",
    "PeerInterested",
    "PeerNotInterested",
    "PeerSourceError",
    "PeerStats",
    "PeerUnchoked",
    "Phase",
    "Piece",
    "PiecePicker",
    "PieceStorage",
    "Port",
    "PortReceived",
    "ProtocolError",
    "Reject",
    "RejectReceived",
    "RemoteProtocolError",
    "Request",
    "RequestReceived",
    "ResumeRecord",
    "ResumeStore",
    "Session",
    "SessionConfig",
    "Skipped",
    "Span",
    "StorageError",
    "StreamCipher",
    "Suggest",
    "SuggestReceived",
    "Torrent",
    "TorrentIdentified",
    "TorrentState",
    "TorrentStatus",
    "TrackerClientConfig",
    "TrackerConfig",
    "TrackerError",
    "TrackerEvent",
    "TrackerServer",
    "TransferError",
    "Unchoke",
    "UnknownMessageReceived",
    "UnsafePathError",
    "Value",
    "VerifyResult",
    "allowed_fast_set",
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
    "desired_queue_depth",
    "encode",
    "from_bitfield",
    "infohash_of",
    "is_snubbed",
    "make_magnet",
    "metadata_piece_count",
    "metadata_pieces",
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
