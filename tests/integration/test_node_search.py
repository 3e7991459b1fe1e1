"""Exactness: the real catalogue imported into 20 real nodes; every query through another
node's search returns exactly what a brute-force scan of the same lines returns.

The subset is every 96th line of data/catalogue/debian-bookworm.jsonl.gz (664 lines,
spread over the whole alphabet), so the test stays well under a minute.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import orjson
import pytest

from swarmseek.api.services import SearchRequest
from swarmseek.api.services_node import NodeServices
from swarmseek.index import normalise
from tests.support.node_net import catalogue_lines, node_network

pytestmark = pytest.mark.timeout(240)

STEP = 96
LINES = 10_000


def brute(lines: list[dict[str, Any]], request: SearchRequest) -> set[str]:
    out = set()
    terms = set(normalise(request.q or ""))
    prefix = normalise(request.prefix)[-1] if request.prefix else None
    for line in lines:
        words = set(normalise(line["name"]))
        if not terms <= words:
            continue
        if prefix is not None and not any(w.startswith(prefix) for w in words):
            continue
        size = line["size"]
        if request.size_min is not None and size < request.size_min:
            continue
        if request.size_max is not None and size > request.size_max:
            continue
        out.add(line["infohash"])
    return out


async def found(api: NodeServices, request: SearchRequest) -> set[str]:
    out: set[str] = set()
    cursor = None
    while True:
        page = await api.search(
            SearchRequest(
                q=request.q,
                prefix=request.prefix,
                size_min=request.size_min,
                size_max=request.size_max,
                limit=200,
                cursor=cursor,
                fuzzy=False,  # exactly the names with every word, as the scan finds them
            )
        )
        out |= {r["infohash"] for r in page["results"]}
        cursor = page["next_cursor"]
        if cursor is None:
            return out


QUERIES = [
    SearchRequest(q="python3"),
    SearchRequest(q="perl"),
    SearchRequest(q="dev amd64"),
    SearchRequest(q="all doc"),
    SearchRequest(q="deb"),  # every line: a very common term
    SearchRequest(q="golang"),
    SearchRequest(q="nosuchword"),
    SearchRequest(prefix="lib"),
    SearchRequest(prefix="xserv"),
    SearchRequest(prefix="py"),
    SearchRequest(size_min=1_000_000, size_max=1_200_000),
    SearchRequest(size_min=200_000_000),
    SearchRequest(size_max=2_000),
    SearchRequest(q="dev", prefix="libg"),
    SearchRequest(q="all", size_min=5_000_000, size_max=20_000_000),
    SearchRequest(prefix="r", size_max=50_000),
]


async def test_catalogue_search_is_exact_on_20_nodes(tmp_path: Path) -> None:
    lines = catalogue_lines(LINES, STEP)
    async with node_network(tmp_path, 20) as net:
        importer, reader = net.nodes[0], net.nodes[13]
        body = b"\n".join(orjson.dumps(line) for line in lines)
        start = time.perf_counter()
        report = await NodeServices(importer).import_lines(body)
        elapsed = time.perf_counter() - start
        assert report["imported"] == len(lines) and report["rejected"] == 0
        print(f"imported {len(lines)} cards in {elapsed:.1f} s, {report['puts']} puts")
        api = NodeServices(reader)
        for request in QUERIES:
            expected = brute(lines, request)
            assert await found(api, request) == expected, request
        assert len(reader.catalogue) > 0  # the reader learnt cards from the DHT


async def test_bad_import_lines_are_reported_with_line_numbers(tmp_path: Path) -> None:
    async with node_network(tmp_path, 3) as net:
        api = NodeServices(net.nodes[0])
        good = orjson.dumps({"infohash": "ab" * 20, "name": "fine name", "size": 5})
        body = b"\n".join(
            [
                good,
                b"not json",
                b'{"infohash": "zz", "name": "x", "size": 1}',
                b'{"infohash": "' + b"cd" * 20 + b'", "name": "", "size": 1}',
                b'{"infohash": "' + b"cd" * 20 + b'", "name": "n", "size": -1}',
                b"[1, 2]",
                b"",
                b'{"infohash": "' + b"ef" * 20 + b'", "name": "other", "size": 7, "files": 2}',
            ]
        )
        report = await api.import_lines(body)
        assert report["imported"] == 2 and report["rejected"] == 5
        assert [e.split(":")[0] for e in report["errors"]] == [
            "line 2",
            "line 3",
            "line 4",
            "line 5",
            "line 6",
        ]
        page = await api.search(SearchRequest(q="other"))
        assert [r["infohash"] for r in page["results"]] == ["ef" * 20]


async def test_a_query_no_name_matches_is_retried_with_its_typos_corrected(
    tmp_path: Path,
) -> None:
    lines = [
        {"infohash": "a1" * 20, "name": "ubuntu-24.04-desktop-amd64.iso", "size": 6_000_000_000},
        {"infohash": "b2" * 20, "name": "ubuntu-24.04-server-amd64.iso", "size": 2_700_000_000},
        {"infohash": "c3" * 20, "name": "debian-13.1.0-amd64-netinst.iso", "size": 750_000_000},
        {"infohash": "d4" * 20, "name": "GNU Free Documentation License", "size": 20_000},
    ]
    async with node_network(tmp_path, 5) as net:
        await NodeServices(net.nodes[0]).import_lines(b"\n".join(map(orjson.dumps, lines)))
        api = NodeServices(net.nodes[3])
        # Typos, in another word order, and a misspelt prefix as the page sends it.
        page = await api.search(SearchRequest(q="desktop ubunto", prefix="amd6"))
        assert page["fuzzy"] is True and page["next_cursor"] is None
        assert page["corrected"] == "desktop ubuntu amd6"
        assert [(r["infohash"], r["match"]) for r in page["results"]] == [("a1" * 20, "fuzzy")]
        typo_prefix = await api.search(SearchRequest(q="ubuntu", prefix="servr"))
        assert typo_prefix["corrected"] == "ubuntu serve"
        assert [r["infohash"] for r in typo_prefix["results"]] == ["b2" * 20]
        # The ranges asked for still hold for the corrected words.
        small = await api.search(SearchRequest(q="ubunto", size_max=3 * 10**9))
        assert [r["infohash"] for r in small["results"]] == ["b2" * 20]
        # Asked not to, nothing fuzzy is returned.
        exact_only = await api.search(SearchRequest(q="ubunto desktop", fuzzy=False))
        assert exact_only["results"] == [] and exact_only["fuzzy"] is False
        assert "corrected" not in exact_only
        # Nothing near enough: an honest empty page.
        nothing = await api.search(SearchRequest(q="qwxzvb"))
        assert nothing["results"] == [] and nothing["fuzzy"] is True
        hit = await api.search(SearchRequest(q="ubuntu server"))
        assert hit["fuzzy"] is False and "corrected" not in hit
        assert [(r["infohash"], r["match"]) for r in hit["results"]] == [("b2" * 20, "exact")]


async def test_with_name_similarity_a_typo_anywhere_finds_names_like_it(tmp_path: Path) -> None:
    lines = [
        {"infohash": "a1" * 20, "name": "ubuntu-24.04-desktop-amd64.iso", "size": 6_000_000_000},
        {"infohash": "c3" * 20, "name": "debian-13.1.0-amd64-netinst.iso", "size": 750_000_000},
    ]
    async with node_network(tmp_path, 5, name_similarity=True) as net:
        await NodeServices(net.nodes[0]).import_lines(b"\n".join(map(orjson.dumps, lines)))
        api = NodeServices(net.nodes[3])
        # "ubnutu": its first three letters are wrong, so no kw term is near it; the
        # names' 3-gram MinHash LSH still finds the name.
        page = await api.search(SearchRequest(q="ubnutu 24.04 desktop"))
        assert page["fuzzy"] is True and "corrected" not in page
        assert [(r["infohash"], r["match"]) for r in page["results"]] == [("a1" * 20, "fuzzy")]
