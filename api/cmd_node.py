"""``swarmseek node`` and the commands that talk to a running node over its JSON API:
``share``, ``import``, ``search``, ``similar``; and ``swarmseek demo``.

The client commands find the node at ``--api`` (default ``$SWARMSEEK_API`` or
http://127.0.0.1:8600) and send ``$SWARMSEEK_TOKEN`` as a bearer token when set.
"""

from __future__ import annotations

import argparse
import asyncio
import calendar
import contextlib
import json
import os
import re
import signal
import socket
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from swarmseek.transfer import EncryptionPolicy

from .argtypes import port_number
from .cmd_dht import DEFAULT_BOOTSTRAP
from .cmd_transfer import _address, encryption_arg
from .errors import CliError
from .node_config import NodeConfig

if TYPE_CHECKING:
    from .node import Node

# The node, its API and the demo load the index, aiohttp and more (about 0.5 s
# of start-up). They are imported by the commands that run them, so `swarmseek get`,
# `create`, `search` and the others start without paying for it.

DEFAULT_API = "http://127.0.0.1:8600"
# The largest body the API takes (ApiConfig.max_body): a larger file is compared where it
# lies, by path, as a folder is (the node must be on this machine and may read it).
UPLOAD_LIMIT = 64 * 1024 * 1024
_HEX40 = re.compile(r"^[0-9a-fA-F]{40}$")
_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([kmgtp]?)(i?)b?\s*$", re.IGNORECASE)


# -- argument types ------------------------------------------------------------


def parse_size(text: str) -> int:
    """``1500``, ``10MB`` (10^7), ``1GiB`` (2^30), ``512k``."""
    match = _SIZE.match(text)
    if match is None:
        raise argparse.ArgumentTypeError(f"not a size: {text!r} (try 10MB or 1GiB)")
    number, unit, binary = match.groups()
    power = "kmgtp".find(unit.lower()) + 1 if unit else 0
    base = 1024 if binary else 1000
    return int(float(number) * base**power)


def parse_date(text: str) -> int:
    """``YYYY-MM-DD`` (UTC midnight) or Unix seconds."""
    if text.isdigit():
        return int(text)
    try:
        return calendar.timegm(time.strptime(text, "%Y-%m-%d"))
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"not a date: {text!r} (YYYY-MM-DD or Unix seconds)"
        ) from None


# -- the HTTP client -----------------------------------------------------------


def call(
    api: str,
    method: str,
    path: str,
    *,
    params: dict[str, Any] | None = None,
    body: bytes | None = None,
    content_type: str = "application/json",
    timeout: float = 60.0,
) -> Any:
    """One JSON API request; every failure becomes a one-line ``CliError``."""
    query = {k: str(v) for k, v in (params or {}).items() if v is not None}
    url = api.rstrip("/") + path + ("?" + urllib.parse.urlencode(query) if query else "")
    request = urllib.request.Request(url, data=body, method=method)
    if body is not None:
        request.add_header("Content-Type", content_type)
    token = os.environ.get("SWARMSEEK_TOKEN")
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return json.loads(response.read())
    except urllib.error.HTTPError as exc:
        try:
            message = json.loads(exc.read())["error"]["message"]
        except (ValueError, KeyError, TypeError):
            message = f"HTTP {exc.code}"
        raise CliError(f"the node says: {message}") from None
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise CliError(
            f"cannot reach the node at {api} ({reason}); is 'swarmseek node' running?"
        ) from None
    except ValueError:
        raise CliError(f"{api} did not answer with JSON; is it a swarmseek node?") from None


def _api_arg(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--api",
        default=os.environ.get("SWARMSEEK_API", DEFAULT_API),
        metavar="URL",
        help="the node's API (default $SWARMSEEK_API or %(default)s)",
    )


# -- commands ------------------------------------------------------------------


def register(subparsers: Any) -> None:
    node = subparsers.add_parser("node", help="run a node: DHT, peers, JSON API and web page")
    node.add_argument(
        "--data-dir",
        type=Path,
        default=Path("~/.swarmseek"),
        metavar="DIR",
        help="state: routing table, DHT items, catalogue, resume data (default %(default)s)",
    )
    node.add_argument(
        "--port",
        type=port_number,
        default=6881,
        help="DHT (UDP) and peer (TCP) port (default %(default)s)",
    )
    node.add_argument(
        "--api-port", type=port_number, default=8600, metavar="N", help="JSON API and web page port"
    )
    node.add_argument(
        "--bootstrap",
        action="append",
        default=[],
        metavar="HOST:PORT",
        help="a DHT node to join through (repeatable; default the public Mainline routers)",
    )
    encryption_arg(node)
    node.add_argument(
        "--download-dir",
        type=Path,
        metavar="DIR",
        help="where downloads go (default DATA_DIR/downloads)",
    )
    node.add_argument(
        "--share-root",
        action="append",
        type=Path,
        default=[],
        metavar="DIR",
        help="folder the API may share from (repeatable; default the home folder)",
    )
    node.add_argument(
        "--api-host",
        default="127.0.0.1",
        metavar="ADDR",
        help="address the API listens on (default 127.0.0.1; any other needs --token)",
    )
    node.add_argument(
        "--token",
        default=os.environ.get("SWARMSEEK_TOKEN"),
        help="bearer token every mutating API request must carry (default $SWARMSEEK_TOKEN)",
    )
    node.add_argument(
        "--name-similarity",
        action="store_true",
        help="also index names by character 3-gram MinHash LSH, so a search no name"
        " matches finds names like it (typos anywhere, word order); costs about 8 more"
        " DHT items per card",
    )
    node.add_argument("--republish-interval", type=float, default=3600.0, help=argparse.SUPPRESS)
    node.add_argument("--loopback", action="store_true", help=argparse.SUPPRESS)
    node.set_defaults(func=_node)

    share = subparsers.add_parser("share", help="share a file or folder through a running node")
    share.add_argument("path", type=Path, metavar="PATH")
    _api_arg(share)
    share.set_defaults(func=_share)

    imp = subparsers.add_parser("import", help="index JSON lines (.jsonl or .jsonl.gz)")
    imp.add_argument("file", type=Path, metavar="FILE")
    _api_arg(imp)
    imp.set_defaults(func=_import)

    search = subparsers.add_parser("search", help="search the index through a running node")
    search.add_argument(
        "query",
        nargs="?",
        default=None,
        metavar="QUERY",
        help='words every name must have ("debian iso"; "ubuntu desk*" ends in a prefix)',
    )
    search.add_argument("--prefix", metavar="P", help="names with a word starting with P")
    search.add_argument(
        "--size-min", type=parse_size, metavar="SIZE", help="at least SIZE (1500, 10MB, 1GiB)"
    )
    search.add_argument("--size-max", type=parse_size, metavar="SIZE", help="at most SIZE")
    search.add_argument(
        "--after", type=parse_date, metavar="DATE", help="created on or after DATE (YYYY-MM-DD)"
    )
    search.add_argument("--before", type=parse_date, metavar="DATE", help="created before DATE")
    search.add_argument(
        "--limit", type=int, default=20, metavar="N", help="results to show (default %(default)s)"
    )
    search.add_argument(
        "--exact",
        action="store_true",
        help="only names with every word (no fallback to names like the query)",
    )
    search.add_argument("--json", action="store_true", help="print a JSON array")
    _api_arg(search)
    search.set_defaults(func=_search)

    similar = subparsers.add_parser("similar", help="torrents with content like a file")
    similar.add_argument("target", metavar="PATH|INFOHASH")
    similar.add_argument(
        "--limit", type=int, default=20, metavar="N", help="results to show (default %(default)s)"
    )
    similar.add_argument("--json", action="store_true", help="print a JSON array")
    _api_arg(similar)
    similar.set_defaults(func=_similar)

    demo = subparsers.add_parser("demo", help="a whole network on this machine, with a web page")
    demo.add_argument(
        "--nodes", type=int, default=20, metavar="N", help="DHT nodes to run (default %(default)s)"
    )
    demo.add_argument("--api-port", type=port_number, default=8600, metavar="N", help="0 picks one")
    demo.add_argument(
        "--empty", action="store_true", help="start an empty network: share nothing, import nothing"
    )
    demo.add_argument(
        "--catalogue",
        type=Path,
        metavar="FILE",
        help="JSON lines to import (default: the bundled Debian catalogue)",
    )
    demo.add_argument(
        "--data-dir", type=Path, metavar="DIR", help="keep state here (default: a temporary folder)"
    )
    demo.set_defaults(func=_demo)


def _node(args: argparse.Namespace) -> int:
    bootstrap: list[tuple[str, int]] = []
    for text in args.bootstrap or DEFAULT_BOOTSTRAP:
        try:
            bootstrap.append(_address(text, socket.SOCK_DGRAM))
        except CliError:
            if args.bootstrap:
                raise
    loopback = args.loopback or all(host.startswith("127.") for host, _ in bootstrap)
    config = NodeConfig(
        data_dir=args.data_dir.expanduser(),
        dht_port=args.port,
        peer_port=args.port,
        bootstrap=tuple(bootstrap),
        api_host=args.api_host,
        api_port=args.api_port,
        api_token=args.token,
        encryption=EncryptionPolicy(args.encryption),
        download_dir=args.download_dir,
        share_roots=tuple(args.share_root),
        republish_interval=args.republish_interval,
        name_similarity=args.name_similarity,
        loopback=loopback and bool(bootstrap),
    )
    return asyncio.run(_run_node(config))


async def _run_node(config: NodeConfig) -> int:
    from .node import Node  # noqa: PLC0415 - lazily (see the imports above)
    from .services_node import serve_api  # noqa: PLC0415 - lazily

    stop = _stop_event()
    try:
        async with (
            Node(config) as node,
            serve_api(node, config.api_host, config.api_port, config.api_token) as url,
        ):
            host, port = node.dht.address
            print(f"swarmseek node: DHT on {host}:{port}, peers on port {node.session.port}")
            print(f"swarmseek node: API at {url}/", flush=True)
            joined = asyncio.create_task(_report_bootstrap(node, config.bootstrap))
            await stop.wait()
            joined.cancel()
            print("swarmseek node: stopping (saving state)", flush=True)
    except OSError as exc:
        raise CliError(f"cannot start the node: {exc}") from None
    return 0


async def _report_bootstrap(node: Node, bootstrap: Sequence[tuple[str, int]]) -> None:
    """Say once whether the node joined the DHT: a node nobody answered keeps trying in
    the background (discovery's upkeep), but its user should know why searches fail."""
    closest = await node.dht.bootstrap()
    known = node.dht.stats().routing_nodes
    if closest:
        print(
            f"swarmseek node: joined the DHT ({known} node{'' if known == 1 else 's'} known)",
            flush=True,
        )
        return
    tried = ", ".join(f"{h}:{p}" for h, p in bootstrap) or "no bootstrap address resolved"
    print(
        f"swarmseek node: no DHT node answered yet ({tried}); retrying in the background",
        file=sys.stderr,
        flush=True,
    )


def _stop_event() -> asyncio.Event:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, stop.set)
    return stop


def _share(args: argparse.Namespace) -> int:
    path = args.path.expanduser()
    if not path.exists():
        raise CliError(f"{path}: no such file or folder")
    result = call(
        args.api,
        "POST",
        "/api/v1/shares",
        body=json.dumps({"path": str(path.resolve())}).encode(),
        timeout=3600.0,
    )
    print(f"shared {result['name']} ({result['size']} bytes)")
    print(f"infohash {result['infohash']}")
    print(result["magnet"])
    return 0


def _import(args: argparse.Namespace) -> int:
    path = args.file.expanduser()
    if not path.is_file():
        raise CliError(f"{path}: no such file")
    data = path.read_bytes()
    start = time.monotonic()
    report = call(
        args.api,
        "POST",
        "/api/v1/imports",
        body=data,
        content_type="application/x-ndjson",
        timeout=24 * 3600.0,
    )
    elapsed = time.monotonic() - start
    for error in report.get("errors", []):
        print(f"rejected: {error}", file=sys.stderr)
    print(
        f"imported {report['imported']} cards, rejected {report['rejected']},"
        f" {report.get('puts', 0)} DHT puts in {elapsed:.1f} s"
    )
    return 0 if report["imported"] or not report["rejected"] else 1


def _search(args: argparse.Namespace) -> int:
    query = (args.query or "").strip() or None  # "" is no query, as the page reads it
    prefix = (args.prefix or "").strip() or None
    criteria = (query, prefix, args.size_min, args.size_max, args.after, args.before)
    if all(c is None for c in criteria):
        raise CliError("give a query, --prefix, a size range or a date range")
    params = {
        "q": query,
        "prefix": prefix,
        "size_min": args.size_min,
        "size_max": args.size_max,
        "after": args.after,
        "before": args.before,
        "limit": args.limit,
        "fuzzy": "false" if args.exact else None,
    }
    page = call(args.api, "GET", "/api/v1/search", params=params)
    if page.get("fuzzy") and page["results"] and not args.json:
        words = " ".join(w for w in (query, prefix) if w)
        like = f"results for {page['corrected']!r}" if "corrected" in page else "names like it"
        print(f"no name has every word of {words!r}; {like}:", file=sys.stderr)
    _print_results(page["results"], args.json)
    return 0


def _similar(args: argparse.Namespace) -> int:
    target = args.target
    path = Path(target).expanduser()
    if _HEX40.match(target) and not path.exists():
        page = call(
            args.api,
            "GET",
            "/api/v1/similar",
            params={"infohash": target.lower(), "limit": args.limit},
        )
    elif path.is_file() and path.stat().st_size <= UPLOAD_LIMIT:
        page = call(
            args.api,
            "POST",
            "/api/v1/similar",
            params={"limit": args.limit},
            body=path.read_bytes(),
            content_type="application/octet-stream",
            timeout=600.0,
        )
    elif path.exists():  # a folder, or a file too large to send
        try:
            page = call(
                args.api,
                "POST",
                "/api/v1/similar",
                params={"limit": args.limit},
                body=json.dumps({"path": str(path.resolve())}).encode(),
                timeout=600.0,
            )
        except CliError as exc:
            if path.is_dir():
                raise
            raise CliError(
                f"{path} is too large to send (over {UPLOAD_LIMIT >> 20} MiB), so the node"
                f" must read it where it is: {exc}"
            ) from None
    else:
        raise CliError(f"{target}: neither a file, a folder nor an infohash")
    _print_results(page["results"], args.json)
    return 0


def _print_results(results: list[dict[str, Any]], as_json: bool) -> None:
    if as_json:
        print(json.dumps(results, indent=1))
        return
    if not results:
        print("no results")
        return
    for r in results:
        score = r.get("similarity", r.get("score", 0.0))
        print(f"{score:6.3f}  {_human(r['size']):>9}  {r['infohash']}  {r['name']}")


def _human(size: int) -> str:
    value = float(size)
    for unit in ("B", "kB", "MB", "GB", "TB"):
        if value < 1000 or unit == "TB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1000
    return f"{size} B"


def _demo(args: argparse.Namespace) -> int:
    if args.nodes < 2:
        raise CliError("a demo needs at least 2 nodes")
    from .demo import DemoOptions, run_demo  # noqa: PLC0415 - lazily (see the imports above)

    options = DemoOptions(
        nodes=args.nodes,
        api_port=args.api_port,
        catalogue=None if args.empty else args.catalogue,
        empty=args.empty,
        data_dir=args.data_dir,
    )
    return asyncio.run(run_demo(options, _stop_event))
