"""``swarmseek create``, ``info`` and ``verify``: torrents and data on disk."""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from tqdm import tqdm  # type: ignore[import-untyped]  # no stubs without types-tqdm

from swarmseek.transfer import (
    BencodeError,
    Info,
    Magnet,
    Metainfo,
    MetainfoError,
    create_torrent,
    make_magnet,
    parse_magnet,
    parse_torrent,
    verify,
)

from .errors import CliError

# A .torrent larger than this is not a torrent (the bencode limit is 10 MiB too).
MAX_TORRENT_FILE = 10 * 1024 * 1024


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    create = sub.add_parser("create", help="make a .torrent of a file or a folder")
    create.add_argument("path", type=Path, help="file or folder to share")
    create.add_argument("-o", "--output", type=Path, help="where to write the .torrent")
    create.add_argument("--piece-size", type=int, help="bytes per piece (power of two)")
    create.add_argument("--tracker", action="append", default=[], help="announce URL")
    create.add_argument("--comment", help="free text stored in the torrent")
    create.add_argument("--private", action="store_true", help="BEP 27 private flag")
    create.set_defaults(func=cmd_create)

    info = sub.add_parser("info", help="show what a .torrent or magnet link holds")
    info.add_argument("source", help=".torrent file or magnet URI")
    info.add_argument("--json", action="store_true", help="one JSON object on stdout")
    info.set_defaults(func=cmd_info)

    check = sub.add_parser("verify", help="check data on disk against a .torrent")
    check.add_argument("torrent", type=Path, help=".torrent file")
    check.add_argument("--data", type=Path, required=True, help="save path (folder)")
    check.set_defaults(func=cmd_verify)


def cmd_create(args: argparse.Namespace) -> int:
    if not args.path.exists():
        raise CliError(f"{args.path}: no such file or folder")
    if args.output is not None and not args.output.parent.is_dir():
        # Said before hashing, not after minutes of it.
        raise CliError(f"{args.output}: no such folder as {args.output.parent}")
    with _progress_bar("hashing") as progress:
        created = create_torrent(
            args.path,
            piece_length=args.piece_size,
            trackers=args.tracker,
            comment=args.comment,
            private=args.private,
            creation_date=int(time.time()),
            progress=progress,
        )
    for skipped in created.skipped:
        print(f"swarmseek: warning: skipped {skipped.path}: {skipped.reason}", file=sys.stderr)
    meta = created.metainfo
    output = args.output or Path(f"{meta.info.name}.torrent")
    try:
        output.write_bytes(meta.to_bytes())
    except OSError as exc:
        raise CliError(f"cannot write {output}: {exc.strerror or exc}") from None
    print(f"infohash {meta.infohash.hex()}")
    print(f"magnet   {make_magnet(meta.infohash, meta.info.name, meta.trackers)}")
    print(f"torrent  {output}")
    return 0


def cmd_info(args: argparse.Namespace) -> int:
    source: str = args.source
    if source.startswith("magnet:"):
        data = _magnet_json(parse_magnet(source))
    else:
        data = _metainfo_json(_load_torrent(Path(source)))
    if args.json:
        print(json.dumps(data, indent=2))
    else:
        _print_human(data)
    return 0


def cmd_verify(args: argparse.Namespace) -> int:
    meta = _load_torrent(args.torrent)
    if not args.data.is_dir():
        raise CliError(f"{args.data}: not a folder")
    with _progress_bar("verifying", meta.info.total_length) as progress:
        result = verify(meta.info, args.data, progress=progress)
    total = meta.info.num_pieces
    for problem in result.files:
        state = "missing" if problem.actual is None else f"truncated ({problem.actual} bytes)"
        print(f"{state} file: {problem.path} (expected {problem.expected} bytes)")
    if result.bad:
        print(f"bad pieces ({len(result.bad)}): {format_ranges(result.bad)}")
    if result.missing:
        print(f"missing pieces ({len(result.missing)}): {format_ranges(result.missing)}")
    print(f"{result.num_have}/{total} pieces verified")
    return 0 if result.complete else 1


def format_ranges(pieces: Sequence[int]) -> str:
    """Compact sorted piece list: ``[0, 1, 2, 5, 7, 8]`` -> ``0-2,5,7-8``."""
    parts: list[str] = []
    start = prev = None
    for p in sorted(pieces):
        if prev is not None and p == prev + 1:
            prev = p
            continue
        if start is not None:
            parts.append(f"{start}-{prev}" if start != prev else f"{start}")
        start = prev = p
    if start is not None:
        parts.append(f"{start}-{prev}" if start != prev else f"{start}")
    return ",".join(parts)


def _load_torrent(path: Path) -> Metainfo:
    if path.is_dir():
        raise CliError(f"{path}: a folder, not a .torrent file")
    if not path.is_file():
        raise CliError(f"{path}: no such file")
    if path.stat().st_size > MAX_TORRENT_FILE:
        raise CliError(f"{path}: larger than {MAX_TORRENT_FILE} bytes; not a .torrent")
    try:
        return parse_torrent(path.read_bytes())
    except BencodeError as exc:
        raise CliError(f"{path}: not a .torrent (bad bencode: {exc})") from exc
    except MetainfoError as exc:
        raise CliError(f"{path}: {exc}") from exc


def _info_files(info: Info) -> list[dict[str, Any]]:
    return [{"path": "/".join(f.path), "size": f.length} for f in info.files if not f.pad]


def _metainfo_json(meta: Metainfo) -> dict[str, Any]:
    info = meta.info
    return {
        "infohash": meta.infohash.hex(),
        "name": info.name,
        "total_size": info.total_length,
        "piece_length": info.piece_length,
        "num_pieces": info.num_pieces,
        "private": info.private,
        "files": _info_files(info),
        "trackers": list(meta.trackers),
        "web_seeds": list(meta.url_list),
        "comment": meta.comment,
        "created_by": meta.created_by,
        "creation_date": meta.creation_date,
        "magnet": make_magnet(meta.infohash, info.name, meta.trackers),
    }


def _magnet_json(magnet: Magnet) -> dict[str, Any]:
    return {
        "infohash": magnet.infohash.hex(),
        "name": magnet.name,
        "trackers": list(magnet.trackers),
        "peers": [f"{h}:{p}" for h, p in magnet.peers],
        "magnet": magnet.to_uri(),
    }


def _print_human(data: dict[str, Any]) -> None:
    for key, value in data.items():
        if key == "files":
            print(f"files ({len(value)}):")
            for f in value:
                print(f"  {f['size']:>14}  {f['path']}")
        elif isinstance(value, list):
            print(f"{key}: {', '.join(value) if value else '-'}")
        elif value is not None:
            print(f"{key}: {value}")


@contextmanager
def _progress_bar(label: str, total: int | None = None) -> Iterator[Callable[[int], None] | None]:
    """A tqdm bar on stderr when it is a terminal; otherwise no progress output."""
    if not sys.stderr.isatty():
        yield None
        return
    with tqdm(total=total, desc=label, unit="B", unit_scale=True, file=sys.stderr) as bar:
        yield bar.update
