"""Build debian-bookworm.jsonl.gz from this machine's Debian package index.

Run: ``apt-cache dumpavail | python data/catalogue/make_catalogue.py`` (writes
``debian-bookworm.jsonl.gz``), or with another release's package index and its output
name, e.g. ``xz -dc Packages.xz | python data/catalogue/make_catalogue.py
debian-trixie.jsonl.gz``.

Each Debian package becomes one catalogue line in the format ``swarmseek import``
reads: ``name`` is the .deb's file name, ``size`` its size in bytes, ``description``
its one-line summary, ``files`` 1. The ``infohash`` is SHA-1 of the package's SHA256
field: it names the entry uniquely and reproducibly but is NOT the infohash of a
real torrent, so these entries are searchable metadata only (no peer holds them).
"""

from __future__ import annotations

import gzip
import hashlib
import json
import pathlib
import sys


def records(text: str) -> list[dict[str, object]]:
    out = []
    for stanza in text.split("\n\n"):
        fields: dict[str, str] = {}
        for line in stanza.splitlines():
            if line[:1] in (" ", "\t") or ":" not in line:
                continue
            key, _, value = line.partition(":")
            fields.setdefault(key, value.strip())
        if "Filename" not in fields or "SHA256" not in fields:
            continue
        out.append(
            {
                "infohash": hashlib.sha1(fields["SHA256"].encode()).hexdigest(),
                "name": fields["Filename"].rsplit("/", 1)[-1],
                "size": int(fields["Size"]),
                "files": 1,
                "description": fields.get("Description", "")[:200],
            }
        )
    out.sort(key=lambda r: str(r["name"]))
    return out


def main() -> None:
    rows = records(sys.stdin.read())
    name = sys.argv[1] if len(sys.argv) > 1 else "debian-bookworm.jsonl.gz"
    target = pathlib.Path(__file__).with_name(name)
    # mtime=0 keeps the file byte-identical between runs.
    with gzip.GzipFile(target, "wb", mtime=0) as out:
        for row in rows:
            out.write(json.dumps(row, ensure_ascii=False).encode() + b"\n")
    print(f"{len(rows)} entries -> {target}")


if __name__ == "__main__":
    main()
