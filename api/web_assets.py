"""The web page's files, versioned by content hash so browsers may cache them for ever."""

from __future__ import annotations

import hashlib
import mimetypes
from dataclasses import dataclass
from importlib import resources

_ASSETS = ("app.js", "style.css")


@dataclass(frozen=True, slots=True)
class Asset:
    body: bytes
    content_type: str


@dataclass(frozen=True, slots=True)
class WebAssets:
    version: str
    index_html: bytes
    assets: dict[str, Asset]

    @classmethod
    def load(cls) -> WebAssets:
        folder = resources.files(__package__).joinpath("web")
        files = {name: folder.joinpath(name).read_bytes() for name in _ASSETS}
        digest = hashlib.sha256()
        for name in _ASSETS:
            digest.update(files[name])
        version = digest.hexdigest()[:12]
        template = folder.joinpath("index.html").read_bytes()
        assets = {
            name: Asset(body, mimetypes.guess_type(name)[0] or "application/octet-stream")
            for name, body in files.items()
        }
        return cls(version, template.replace(b"{{version}}", version.encode()), assets)
