"""What the JSON API asks of a node. ``api/http.py`` serves any object with these methods.

Values are JSON-ready dictionaries (the shapes are documented in ``api/openapi.py``);
the node converts its own types. Methods raise ``HttpError`` subclasses (``NotFound``,
``Conflict``…) or ``ValueError`` for bad input, which the API turns into a 400.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any, Protocol

Json = dict[str, Any]


@dataclass(frozen=True, slots=True)
class SearchRequest:
    q: str | None = None
    prefix: str | None = None
    size_min: int | None = None
    size_max: int | None = None
    after: int | None = None
    before: int | None = None
    limit: int = 20
    cursor: str | None = None
    fuzzy: bool = True  # nothing matches every word: return names like the words


@dataclass(frozen=True, slots=True)
class DownloadRequest:
    infohash: str | None = None
    magnet: str | None = None
    torrent: bytes | None = None
    folder: str | None = None
    name: str | None = None

    def __repr__(self) -> str:  # never print a whole .torrent
        size = None if self.torrent is None else len(self.torrent)
        return (
            f"DownloadRequest(infohash={self.infohash!r}, magnet={self.magnet!r}, torrent={size})"
        )


class Services(Protocol):
    async def search(self, request: SearchRequest) -> Json: ...
    async def similar_to_infohash(self, infohash: str, limit: int) -> Json: ...
    async def similar_to_bytes(self, data: bytes, limit: int) -> Json: ...
    async def similar_to_path(self, path: str, limit: int) -> Json: ...
    async def suggest(self, prefix: str, limit: int) -> Json: ...
    async def torrent(self, infohash: str) -> Json: ...
    async def share(self, path: str) -> Json: ...
    async def import_lines(self, data: bytes) -> Json: ...
    async def stats(self) -> Json: ...
    async def list_downloads(self) -> Json: ...
    async def add_download(self, request: DownloadRequest) -> Json: ...
    async def get_download(self, download_id: str) -> Json: ...
    async def remove_download(self, download_id: str, delete_files: bool) -> Json: ...
    async def pause_download(self, download_id: str) -> Json: ...
    async def resume_download(self, download_id: str) -> Json: ...
    def events(self) -> AsyncIterator[tuple[str, Json]]:
        """Live events as (event name, data); the iterator ends when the node stops."""
        ...
