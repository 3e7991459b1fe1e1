"""An in-memory ``Services`` for testing the HTTP API and the web page without a network.

Search is a scan over a list of cards (keywords, word prefix, size and date filters,
cursor pages); similarity is the Jaccard index of name words; downloads progress only
when told to (``advance``), or by themselves in ``auto`` mode, and copy the bytes of a
registered source file, so a test can check the result on disk.
"""

from __future__ import annotations

import asyncio
import hashlib
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from swarmseek.api.errors import BadRequest, Conflict, NotFound
from swarmseek.api.services import DownloadRequest, Json, SearchRequest

_WORD = re.compile(r"[a-z0-9]+")


def words(text: str) -> set[str]:
    return set(_WORD.findall(text.lower()))


def infohash_of(name: str) -> str:
    return hashlib.sha1(name.encode()).hexdigest()


@dataclass(slots=True)
class Card:
    name: str
    size: int
    created: int | None = None
    peers: int | None = None
    files: int = 1
    infohash: str = ""
    signature: bool = True  # False: a catalogue entry, no content to compare

    def __post_init__(self) -> None:
        if not self.infohash:
            self.infohash = infohash_of(self.name)

    def json(self, **extra: Any) -> Json:
        return {
            "infohash": self.infohash,
            "name": self.name,
            "size": self.size,
            "files": self.files,
            "created": self.created,
            "peers": self.peers,
            "magnet": f"magnet:?xt=urn:btih:{self.infohash}",
            "signature": self.signature,
            **extra,
        }


@dataclass(slots=True)
class _Download:
    id: str
    infohash: str
    name: str | None
    total_size: int
    folder: str
    state: str = "downloading"
    verified_bytes: int = 0
    peers: int = 1

    def json(self) -> Json:
        return {
            "id": self.id,
            "infohash": self.infohash,
            "name": self.name,
            "state": self.state,
            "total_size": self.total_size,
            "verified_bytes": self.verified_bytes,
            "rate": 0.0,
            "peers": self.peers,
            "eta": None,
            "folder": self.folder,
            "path": f"{self.folder}/{self.name}" if self.folder and self.name else None,
            "error": None,
        }


@dataclass
class FakeServices:
    cards: list[Card] = field(default_factory=list)
    download_dir: Path | None = None
    sources: dict[str, Path] = field(default_factory=dict)  # infohash -> file to "download"
    auto_steps: int = 0  # > 0: downloads complete by themselves in this many steps
    # Prefixes shorter than this are refused as the real index refuses too broad a range.
    broad_prefix_below: int = 0
    searches: list[SearchRequest] = field(default_factory=list)
    requests: list[DownloadRequest] = field(default_factory=list)
    shared: list[str] = field(default_factory=list)
    _downloads: dict[str, _Download] = field(default_factory=dict)
    _listeners: list[asyncio.Queue[tuple[str, Json] | None]] = field(default_factory=list)
    _tasks: set[asyncio.Task[None]] = field(default_factory=set)

    # ---------- search ----------
    def _by_infohash(self, infohash: str) -> Card:
        for card in self.cards:
            if card.infohash == infohash:
                return card
        raise NotFound(f"no card for {infohash}")

    async def search(self, request: SearchRequest) -> Json:
        self.searches.append(request)
        keywords = words(request.q or "")
        prefix = (request.prefix or "").lower()
        ranges = (request.size_min, request.size_max, request.after, request.before)
        if not keywords and not prefix and request.q is None and all(r is None for r in ranges):
            raise BadRequest("a query needs a term, a prefix or a range")
        if prefix and len(prefix) < self.broad_prefix_below:
            raise BadRequest("range too broad for the index: narrow it down")
        hits: list[tuple[float, Card]] = []
        for card in self.cards:
            name_words = words(card.name)
            if not keywords <= name_words:
                continue
            if prefix and not any(word.startswith(prefix) for word in name_words):
                continue
            if request.size_min is not None and card.size < request.size_min:
                continue
            if request.size_max is not None and card.size > request.size_max:
                continue
            created = card.created or 0
            if request.after is not None and created < request.after:
                continue
            if request.before is not None and created >= request.before:
                continue
            score = (len(keywords) + (1 if prefix else 0)) / max(1, len(name_words))
            hits.append((score, card))
        hits.sort(key=lambda hit: (-hit[0], hit[1].name))
        start = 0
        if request.cursor is not None:
            if not request.cursor.isdigit():
                raise BadRequest("bad cursor")
            start = int(request.cursor)
        page = hits[start : start + request.limit]
        more = start + request.limit < len(hits)
        return {
            "results": [card.json(score=round(score, 4)) for score, card in page],
            "next_cursor": str(start + request.limit) if more else None,
            "took_ms": 0.1,
        }

    def _similar(self, reference: set[str], limit: int, exclude: str | None) -> Json:
        scored = []
        for card in self.cards:
            if card.infohash == exclude:
                continue
            other = words(card.name)
            union = reference | other
            similarity = len(reference & other) / len(union) if union else 0.0
            if similarity > 0:
                scored.append((similarity, card))
        scored.sort(key=lambda hit: (-hit[0], hit[1].name))
        return {
            "results": [card.json(similarity=round(s, 4)) for s, card in scored[:limit]],
            "took_ms": 0.1,
        }

    async def similar_to_infohash(self, infohash: str, limit: int) -> Json:
        if not self._by_infohash(infohash).signature:
            raise NotFound("no content signature for that infohash")
        return self._similar(words(self._by_infohash(infohash).name), limit, infohash)

    async def similar_to_bytes(self, data: bytes, limit: int) -> Json:
        return self._similar(words(data[:65536].decode("utf-8", "replace")), limit, None)

    async def similar_to_path(self, path: str, limit: int) -> Json:
        if not Path(path).is_absolute():
            raise BadRequest("path must be absolute")
        return self._similar(words(Path(path).name), limit, None)

    async def suggest(self, prefix: str, limit: int) -> Json:
        lowered = prefix.lower()
        found = sorted({w for c in self.cards for w in words(c.name) if w.startswith(lowered)})
        return {"suggestions": found[:limit]}

    async def torrent(self, infohash: str) -> Json:
        return self._by_infohash(infohash).json()

    async def share(self, path: str) -> Json:
        if not Path(path).is_absolute():
            raise BadRequest("path must be absolute")
        if not Path(path).exists():
            raise NotFound(f"{path} does not exist")
        self.shared.append(path)
        card = Card(Path(path).name, Path(path).stat().st_size)
        return {"infohash": card.infohash, "name": card.name, "size": card.size, "magnet": ""}

    async def import_lines(self, data: bytes) -> Json:
        return {"imported": data.count(b"\n"), "rejected": 0, "errors": []}

    async def stats(self) -> Json:
        return {"dht": {"nodes": 0}, "cards": len(self.cards), "downloads": len(self._downloads)}

    # ---------- downloads ----------
    async def list_downloads(self) -> Json:
        return {"downloads": [d.json() for d in self._downloads.values()]}

    async def add_download(self, request: DownloadRequest) -> Json:
        self.requests.append(request)
        infohash = request.infohash
        if infohash is None:
            match = re.search(r"btih:([0-9a-fA-F]{40})", request.magnet or "")
            if match is None:
                raise BadRequest("the magnet link has no v1 infohash")
            infohash = match.group(1).lower()
        if any(d.infohash == infohash for d in self._downloads.values()):
            raise Conflict("already downloading this torrent")
        card = next((c for c in self.cards if c.infohash == infohash), None)
        download = _Download(
            id=str(len(self._downloads) + 1),
            infohash=infohash,
            name=card.name if card else request.name,
            total_size=card.size if card else 0,
            folder=str(self.download_dir or ""),
        )
        self._downloads[download.id] = download
        self._publish(download)
        if self.auto_steps > 0:
            task = asyncio.get_running_loop().create_task(self._run(download))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        return download.json()

    async def _run(self, download: _Download) -> None:
        step = max(1, -(-download.total_size // self.auto_steps))
        while download.state != "complete":
            await asyncio.sleep(0.05)  # paces the fake transfer; tests wait on the DOM state
            if download.state == "downloading":
                self.advance(download.id, step)

    def advance(self, download_id: str, nbytes: int) -> None:
        """Make progress; at the end, copy the source file into the download folder."""
        download = self._downloads[download_id]
        download.verified_bytes = min(download.total_size, download.verified_bytes + nbytes)
        if download.verified_bytes >= download.total_size:
            download.state = "complete"
            source = self.sources.get(download.infohash)
            if source is not None and self.download_dir is not None:
                target = self.download_dir / (download.name or download.infohash)
                target.write_bytes(source.read_bytes())
        self._publish(download)

    def lose_peers(self, download_id: str) -> None:
        """Every peer of a download goes away (its seeder stopped)."""
        download = self._downloads[download_id]
        download.peers = 0
        self._publish(download)

    def _get(self, download_id: str) -> _Download:
        try:
            return self._downloads[download_id]
        except KeyError:
            raise NotFound("no such download") from None

    async def get_download(self, download_id: str) -> Json:
        return self._get(download_id).json()

    async def remove_download(self, download_id: str, delete_files: bool) -> Json:
        download = self._get(download_id)
        del self._downloads[download_id]
        self._publish_json({"id": download_id, "removed": True})
        return download.json()

    async def pause_download(self, download_id: str) -> Json:
        download = self._get(download_id)
        if download.state == "downloading":
            download.state = "paused"
            self._publish(download)
        return download.json()

    async def resume_download(self, download_id: str) -> Json:
        download = self._get(download_id)
        if download.state == "paused":
            download.state = "downloading"
            self._publish(download)
        return download.json()

    # ---------- events ----------
    def _publish(self, download: _Download) -> None:
        self._publish_json(download.json())

    def _publish_json(self, data: Json) -> None:
        for queue in self._listeners:
            queue.put_nowait(("download", data))

    def close(self) -> None:
        """End every event stream."""
        for queue in self._listeners:
            queue.put_nowait(None)
        for task in self._tasks:
            task.cancel()

    async def events(self) -> AsyncIterator[tuple[str, Json]]:
        queue: asyncio.Queue[tuple[str, Json] | None] = asyncio.Queue()
        self._listeners.append(queue)
        try:
            while (item := await queue.get()) is not None:
                yield item
        finally:
            self._listeners.remove(queue)


def sample_cards() -> list[Card]:
    """A small catalogue with names like the Debian one, for tests and the page."""
    names = [
        ("debian-12.5.0-amd64-netinst.iso", 659_554_304, 1_707_523_200),
        ("debian-12.5.0-arm64-netinst.iso", 541_065_216, 1_707_523_200),
        ("debian-live-12.5.0-amd64-gnome.iso", 3_288_334_336, 1_707_609_600),
        ("ubuntu-24.04-desktop-amd64.iso", 6_114_656_256, 1_713_398_400),
        ("gnu-licenses-v1.tar", 409_600, 1_600_000_000),
        ("gnu-licenses-v2.tar", 419_840, 1_650_000_000),
        ("GPL-3.0.txt", 35_149, 1_183_334_400),
        ("LGPL-3.0.txt", 7_651, 1_183_334_400),
        ("Apache-2.0.txt", 11_358, 1_072_915_200),
    ]
    return [Card(name, size, created, peers=3) for name, size, created in names]
