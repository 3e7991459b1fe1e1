"""The JSON API's ``Services`` over a running :class:`~swarmseek.api.node.Node`.

Input from the API is checked here before it reaches the node: paths to share or
compare must exist, be a regular file or folder, be readable and lie under one of the
node's share roots (never its own data directory); a download's ``folder`` is a
relative subfolder of the download directory (no absolute path, no ``..``).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import tempfile
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

from aiohttp import web

from swarmseek.discovery import DhtError
from swarmseek.index import (
    Card,
    Page,
    PublishError,
    Query,
    QueryError,
    ReadError,
    Result,
    normalise,
    signature_of_paths,
)
from swarmseek.transfer import (
    MagnetError,
    MetainfoError,
    as_infohash,
    parse_magnet,
    parse_torrent,
    walk_folder,
)

from .errors import BadRequest, Forbidden, NotFound, Unavailable, listening
from .http import ApiConfig, make_app
from .import_lines import parse_lines
from .node import Node
from .peer_counts import PeerCounts
from .services import DownloadRequest, Json, SearchRequest


def result_json(result: Result, *, similarity: bool = False, peers: int | None = None) -> Json:
    out: Json = {
        "infohash": result.infohash.hex(),
        "name": result.name,
        "size": result.size,
        "files": result.files,
        "created": result.created or None,
        "score": round(result.score, 4),
        "peers": peers,  # None: not asked, or the DHT did not answer in time
        "magnet": result.magnet,
        "namespace": result.namespace.hex(),
        "signature": result.signature,  # False: no content to compare, so no "similar"
    }
    if similarity:
        out["similarity"] = out["score"]
    return out


def card_json(card: Card) -> Json:
    return result_json(
        Result(
            card.infohash,
            card.name,
            card.size,
            card.files,
            card.created,
            0.0,
            card.target,
            signature=bool(card.signature),
        )
    )


# -- imports ---------------------------------------------------------------------


# -- paths -----------------------------------------------------------------------


def check_local_path(text: str, roots: tuple[Path, ...], data_dir: Path) -> Path:
    """A readable regular file or folder under one of ``roots``, not the node's own."""
    if not text or "\x00" in text:
        raise BadRequest("'path' must be a non-empty path")
    path = Path(text).expanduser()
    if not path.is_absolute():
        raise BadRequest("'path' must be absolute")
    try:
        real = path.resolve(strict=True)
    except (OSError, RuntimeError):
        raise NotFound(f"{text}: no such file or folder") from None
    if not (real.is_file() or real.is_dir()):
        raise BadRequest(f"{text}: not a regular file or folder")
    if not any(real.is_relative_to(root) for root in roots):
        raise Forbidden(f"{text}: outside the folders this node may share")
    if real.is_relative_to(data_dir.resolve()):
        raise Forbidden(f"{text}: the node's own data is not shared")
    if not os.access(real, os.R_OK | (os.X_OK if real.is_dir() else 0)):
        raise Forbidden(f"{text}: not readable")
    return real


def check_folder(text: str | None) -> str:
    """A relative subfolder of the download directory: no absolute path, no ``..``."""
    if text is None or text in ("", "."):
        return ""
    if "\x00" in text or "\\" in text or len(text) > 1024:
        raise BadRequest("'folder' has characters that are not allowed")
    if text.startswith("/") or text.startswith("~") or Path(text).is_absolute():
        raise BadRequest("'folder' must be relative to the download directory")
    parts = [p for p in text.split("/") if p not in ("", ".")]
    if any(p == ".." for p in parts):
        raise BadRequest("'folder' may not contain '..'")
    return "/".join(parts)


def _files_of(path: Path) -> list[Path]:
    if path.is_file():
        return [path]
    return [found.path for found in walk_folder(path).files]


# -- the services ----------------------------------------------------------------


class NodeServices:
    """What ``api/http.py`` serves, backed by one node."""

    def __init__(self, node: Node) -> None:
        self.node = node
        roots = node.config.share_roots or (Path.home(),)
        self.roots = tuple(Path(r).resolve() for r in roots)
        self._peers = PeerCounts(node)

    async def search(self, request: SearchRequest) -> Json:
        start = time.perf_counter()
        terms: tuple[str, ...] = ()
        prefix = None
        if request.q:
            parsed = Query.from_text(request.q)
            terms, prefix = parsed.terms, parsed.prefix
        if request.prefix:
            words = normalise(request.prefix)
            if not words:
                raise BadRequest("'prefix' has no letters or digits")
            prefix = words[-1]
        query = Query(
            terms,
            prefix,
            min_size=request.size_min,
            max_size=request.size_max,
            after=request.after,
            before=request.before,
            limit=request.limit,
            cursor=request.cursor,
        )
        corrected: Query | None = None
        with _network():
            page = await self.node.index.search(query)
            fuzzy = not page.results and request.fuzzy and request.cursor is None
            fuzzy = fuzzy and bool(query.terms or query.prefix)
            if fuzzy:
                corrected, page = await self._like(request, query)
        peers = await self._peers.counts([r.infohash for r in page.results])
        results = [result_json(r, peers=peers.get(r.infohash)) for r in page.results]
        for item in results:
            item["match"] = "fuzzy" if fuzzy else "exact"
        out: Json = {
            "results": results,
            "next_cursor": page.next_cursor,
            "total": page.total,
            "total_exact": page.total_exact,
            "fuzzy": fuzzy,
        }
        if corrected is not None:
            words = [*corrected.terms, *([corrected.prefix] if corrected.prefix else [])]
            out["corrected"] = " ".join(words)
        out["took_ms"] = round((time.perf_counter() - start) * 1000, 2)
        return out

    async def _like(self, request: SearchRequest, query: Query) -> tuple[Query | None, Page]:
        """Nothing has every word. First the words spelt as known terms are (a typo
        after the first letters), as one page; else, where the index keeps name
        similarity, names like the words (typos anywhere, word order). Both within
        the size and time ranges asked for."""
        index = self.node.index
        corrected = await index.corrected(query)
        if corrected is not None:
            page = await index.search(corrected)
            if page.results:
                return corrected, Page(page.results, page.total, None, page.total_exact)
        words = " ".join(w for w in (request.q, request.prefix) if w)
        try:
            found = await index.similar_names(words, limit=request.limit, within=query)
        except QueryError:  # this index keeps no name similarity
            return None, Page()
        return None, Page(found, len(found))

    async def _similar(self, what: tuple[int, ...] | bytes, limit: int) -> Json:
        start = time.perf_counter()
        try:
            with _network():
                found = await self.node.index.similar_to(what, limit=limit)
        except QueryError as exc:
            raise NotFound(str(exc)) from None
        return {
            "results": [result_json(r, similarity=True) for r in found],
            "took_ms": round((time.perf_counter() - start) * 1000, 2),
        }

    async def similar_to_infohash(self, infohash: str, limit: int) -> Json:
        return await self._similar(bytes.fromhex(infohash), limit)

    async def similar_to_bytes(self, data: bytes, limit: int) -> Json:
        tmp = self.node.config.data_dir / "tmp"
        tmp.mkdir(exist_ok=True)

        def signature_of(data: bytes) -> tuple[int, ...]:
            with tempfile.NamedTemporaryFile(dir=tmp, prefix="similar-") as f:
                f.write(data)
                f.flush()
                return signature_of_paths([Path(f.name)])

        return await self._similar(await asyncio.to_thread(signature_of, data), limit)

    async def similar_to_path(self, path: str, limit: int) -> Json:
        real = check_local_path(path, self.roots, self.node.config.data_dir)
        files = await asyncio.to_thread(_files_of, real)
        if not files:
            raise BadRequest(f"{path}: no files to compare")
        signature = await asyncio.to_thread(signature_of_paths, files)
        return await self._similar(signature, limit)

    async def suggest(self, prefix: str, limit: int) -> Json:
        return {"suggestions": await self.node.index.suggest(prefix, limit)}

    async def torrent(self, infohash: str) -> Json:
        card = self.node.catalogue.by_infohash(bytes.fromhex(infohash))
        if card is None:
            raise NotFound(f"no card for {infohash}")
        return card_json(card)

    async def share(self, path: str) -> Json:
        real = check_local_path(path, self.roots, self.node.config.data_dir)
        try:
            with _network():
                shared = await self.node.share(real)
        except MetainfoError as exc:
            raise BadRequest(str(exc)) from None
        except Unavailable as exc:  # hashed and seeding by now: only the index lacks it
            raise Unavailable(
                f"{real.name} is seeded, but not yet findable: {exc.message}."
                " Share it again once other DHT nodes answer"
            ) from None
        return {
            "infohash": shared.infohash.hex(),
            "name": shared.name,
            "size": shared.size,
            "files": shared.files,
            "magnet": shared.magnet,
            "announced": shared.announced,
        }

    async def import_lines(self, data: bytes) -> Json:
        cards, errors, rejected = await asyncio.to_thread(parse_lines, data, int(time.time()))
        puts = self.node.index.stats.puts
        start = time.perf_counter()
        with _network():
            await self.node.publish(cards)
        return {
            "imported": len(cards),
            "rejected": rejected,
            "errors": errors,
            "puts": self.node.index.stats.puts - puts,
            "seconds": round(time.perf_counter() - start, 3),
        }

    async def stats(self) -> Json:
        node = self.node
        dht = node.dht.stats()
        index = node.index.stats
        pht = node.index.counters
        counters = node.counters
        return {
            "dht": {
                "node_id": dht.node_id.hex(),
                "address": list(node.dht.address),
                "nodes": dht.routing_nodes,
                "items": dht.items,
                "peers": dht.peers,
                "queries_sent": dht.queries_sent,
                "dropped": dht.dropped,
            },
            "cards": len(node.catalogue),
            "published": index.cards_published,
            "index": {
                "gets": index.gets,
                "puts": index.puts,
                "puts_per_card": round(index.puts_per_card, 2),
                # gets too few DHT nodes answered (each retried, or the search failed)
                "unanswered_gets": index.unanswered_gets,
                "import_queue": counters.import_queue,
            },
            "pht": {
                "lookups": pht.lookups,
                "lookup_gets": pht.lookup_gets,
                "lookup_gets_max": pht.lookup_gets_max,
                "lookup_probes": pht.lookup_probes,
                "splits": pht.splits,
                "repairs": pht.repairs,
            },
            "republish": {
                "runs": counters.republish_runs,
                "puts": counters.republish_puts,
                "seconds": round(counters.republish_seconds, 3),
                "cards": counters.republish_cards,
                "interval": node.config.republish_interval,
            },
            "downloads": len(node.download_ids()),
            "shares": len(node.state.shares()),
            "peer_port": node.session.port,
        }

    async def list_downloads(self) -> Json:
        return {"downloads": [self.node.download_json(ih) for ih in self.node.download_ids()]}

    async def add_download(self, request: DownloadRequest) -> Json:
        folder = check_folder(request.folder)
        try:
            if request.torrent is not None:
                source: Any = parse_torrent(request.torrent)
            elif request.magnet is not None:
                source = parse_magnet(request.magnet)
            elif request.infohash is not None:
                source = as_infohash(bytes.fromhex(request.infohash))
            else:
                raise BadRequest("give an infohash, a magnet link or a .torrent file")
        except (MetainfoError, MagnetError) as exc:
            raise BadRequest(str(exc)) from None
        name = request.name if request.name and len(request.name) <= 1024 else None
        return await self.node.add_download(source, folder, name)

    def _id(self, download_id: str) -> bytes:
        try:
            raw = bytes.fromhex(download_id)
        except ValueError:
            raise NotFound(f"no download {download_id}") from None
        if len(raw) != 20:
            raise NotFound(f"no download {download_id}")
        return raw

    async def get_download(self, download_id: str) -> Json:
        return self.node.download_json(self._id(download_id))

    async def remove_download(self, download_id: str, delete_files: bool) -> Json:
        last, data = await self.node.remove(self._id(download_id))
        root = self.node.config.downloads.resolve()
        if delete_files and data is not None and data.resolve().is_relative_to(root):
            target = data.resolve()
            if target != root:
                await asyncio.to_thread(_delete, target)
        last["state"] = "paused" if last["state"] != "complete" else "complete"
        return last

    async def pause_download(self, download_id: str) -> Json:
        return self.node.pause(self._id(download_id))

    async def resume_download(self, download_id: str) -> Json:
        return self.node.resume(self._id(download_id))

    def events(self) -> AsyncIterator[tuple[str, Json]]:
        return self.node.events()


@contextlib.contextmanager
def _network() -> Iterator[None]:
    """DHT failures (nobody answered, a write lost every retry) are a 503, not a 500,
    and so is a read of the index the DHT could not answer: a search that cannot read a
    PHT node answers 503 rather than a silently partial page."""
    try:
        yield
    except ReadError as exc:
        raise Unavailable(f"the index could not be read completely: {exc}") from None
    except (DhtError, PublishError) as exc:
        raise Unavailable(f"the DHT did not answer: {exc}") from None


def _delete(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        with contextlib.suppress(FileNotFoundError):
            path.unlink()


@contextlib.asynccontextmanager
async def serve_api(node: Node, host: str, port: int, token: str | None) -> AsyncIterator[str]:
    """Serve the node's JSON API and web page; yields the base URL."""
    app = make_app(NodeServices(node), ApiConfig(host=host, port=port, token=token))
    runner = web.AppRunner(app, shutdown_timeout=1.0)
    await runner.setup()
    try:
        site = web.TCPSite(runner, host, port)
        with listening("the API", f"{host}:{port}", "--api-port"):
            await site.start()
        server = site._server  # aiohttp exposes the bound port only through the server
        sockets = getattr(server, "sockets", None) or []
        bound = sockets[0].getsockname()[1] if sockets else port
        yield f"http://{host}:{bound}"
    finally:
        await runner.cleanup()
