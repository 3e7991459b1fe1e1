"""The JSON API end to end over HTTP against real nodes (aiohttp client), hostile input
included; and the command line against a node serving its API."""

from __future__ import annotations

import asyncio
import contextlib
import io
import json
import os
import shutil
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from swarmseek.api.cli import main
from swarmseek.api.services_node import serve_api
from tests.support.node_net import CORPUS, NodeNet, node_network

pytestmark = pytest.mark.timeout(180)


@pytest.fixture
async def api(tmp_path: Path) -> AsyncIterator[tuple[str, NodeNet, Path]]:
    corpus = tmp_path / "corpus"
    shutil.copytree(CORPUS / "licenses", corpus / "licenses")
    async with node_network(tmp_path, 5) as net:
        # Another node shares GFDL-1.2, so the API node can find it as similar to 1.3.
        await net.nodes[1].share(corpus / "licenses" / "GFDL-1.2.txt")
        async with serve_api(net.nodes[0], "127.0.0.1", 0, None) as url:
            yield url, net, corpus


async def get(session: aiohttp.ClientSession, url: str, **params: Any) -> tuple[int, Any]:
    async with session.get(url, params=params) as response:
        return response.status, await response.json()


async def test_every_endpoint_and_hostile_requests(api: Any, tmp_path: Path) -> None:
    url, net, corpus = api
    base = url + "/api/v1"
    async with aiohttp.ClientSession() as http:
        # share through the API, then find it every way
        apache = corpus / "licenses" / "Apache-2.0.txt"
        async with http.post(base + "/shares", json={"path": str(apache)}) as r:
            assert r.status == 200, await r.text()
            mine = await r.json()
        assert mine["name"] == "Apache-2.0.txt" and mine["size"] == apache.stat().st_size
        status, page = await get(http, base + "/search", q="apache")
        assert status == 200 and [x["infohash"] for x in page["results"]] == [mine["infohash"]]
        assert {"infohash", "name", "size", "files", "score", "magnet", "peers"} <= set(
            page["results"][0]
        )
        assert page["results"][0]["signature"] is True  # shared: its content is known
        status, card = await get(http, base + "/torrents/" + mine["infohash"])
        assert status == 200 and card["name"] == "Apache-2.0.txt"
        # a folder shared by another node: found by keyword, prefix and size
        folder = await net.nodes[1].share(corpus / "licenses")
        shared = {"infohash": folder.infohash.hex(), "size": folder.size}
        status, page = await get(http, base + "/search", q="licenses")
        assert [x["infohash"] for x in page["results"]] == [shared["infohash"]]
        status, page = await get(http, base + "/search", prefix="licen", size_min=100_000)
        assert [x["infohash"] for x in page["results"]] == [shared["infohash"]]
        status, sugg = await get(http, base + "/suggest", prefix="apa")
        assert status == 200 and sugg["suggestions"] == ["apache"]

        # similar: by local path, by uploaded bytes, by infohash
        gfdl13 = corpus / "licenses" / "GFDL-1.3.txt"
        async with http.post(base + "/similar", json={"path": str(gfdl13)}) as r:
            assert r.status == 200, await r.text()
            names = [x["name"] for x in (await r.json())["results"]]
        assert "GFDL-1.2.txt" in names
        async with http.post(base + "/similar", data=gfdl13.read_bytes()) as r:
            assert r.status == 200
            similar = (await r.json())["results"]
        assert "GFDL-1.2.txt" in [x["name"] for x in similar]
        assert all(0.5 <= x["similarity"] <= 1.0 for x in similar)
        status, _ = await get(http, base + "/similar", infohash=shared["infohash"])
        assert status == 200

        # imports
        lines = b"\n".join(
            [
                json.dumps({"infohash": "12" * 20, "name": "zebra stripes", "size": 9}).encode(),
                b"garbage",
            ]
        )
        async with http.post(
            base + "/imports", data=lines, headers={"Content-Type": "application/x-ndjson"}
        ) as r:
            report = await r.json()
        assert report["imported"] == 1 and report["rejected"] == 1
        assert report["errors"][0].startswith("line 2")
        # An imported line has no content signature: nothing to find similar files by.
        status, page = await get(http, base + "/search", q="zebra")
        assert [(x["name"], x["signature"]) for x in page["results"]] == [("zebra stripes", False)]

        # downloads: add (infohash), list, get, pause, resume, events, remove
        async with http.post(
            base + "/downloads", json={"infohash": shared["infohash"], "folder": "sub/dir"}
        ) as r:
            assert r.status == 200, await r.text()
            download = await r.json()
        # Named from its card at once (it said 40 hex digits until the metadata came).
        assert download["name"] == "licenses"
        async with http.post(base + "/downloads", json={"infohash": shared["infohash"]}) as r:
            assert r.status == 409
        status, listed = await get(http, base + "/downloads")
        assert [d["id"] for d in listed["downloads"]] == [download["id"]]
        async with http.get(base + "/events") as events:
            async for raw in events.content:
                line = raw.decode().strip()
                if line.startswith("data:") and '"complete"' in line:
                    break
        status, one = await get(http, base + "/downloads/" + download["id"])
        assert one["state"] == "complete" and one["verified_bytes"] == shared["size"]
        got = net.nodes[0].config.downloads / "sub" / "dir" / "licenses"
        assert one["path"] == str(got)  # where it is, not only the folder asked for
        assert (got / "GPL-3.txt").read_bytes() == (corpus / "licenses" / "GPL-3.txt").read_bytes()
        for action in ("pause", "resume"):
            async with http.post(base + f"/downloads/{download['id']}/{action}") as r:
                assert r.status == 200
        async with http.delete(base + "/downloads/" + download["id"]) as r:
            assert r.status == 200
        status, _ = await get(http, base + "/downloads/" + download["id"])
        assert status == 404

        status, stats = await get(http, base + "/stats")
        assert status == 200 and stats["dht"]["nodes"] > 0 and stats["cards"] >= 2
        assert stats["index"]["puts"] > 0 and "lookups" in stats["pht"]

        # hostile requests: every one a 4xx JSON error, nothing outside is touched
        outside = tmp_path.parent / "outside-secret.txt"
        outside.write_text("secret")
        hostile_posts = [
            ("/downloads", {"infohash": shared["infohash"], "folder": "../../etc"}),
            ("/downloads", {"infohash": shared["infohash"], "folder": "/etc"}),
            ("/downloads", {"infohash": shared["infohash"], "folder": "a/../../b"}),
            ("/downloads", {"magnet": "magnet:?xt=urn:btih:nothex"}),
            ("/shares", {"path": "/etc/passwd"}),
            ("/shares", {"path": str(outside)}),
            ("/shares", {"path": str(corpus / "missing")}),
            ("/shares", {"path": "relative/path"}),
            ("/shares", {"path": str(net.nodes[0].config.db_path)}),
            ("/similar", {"path": "/etc/hostname"}),
            ("/shares", {"path": str(corpus) + "/\u0000x"}),
        ]
        for path, body in hostile_posts:
            async with http.post(base + path, json=body) as r:
                assert 400 <= r.status < 500, (path, body, r.status)
                assert (await r.json())["error"]["message"]
        outside.unlink()
        hostile_gets = [
            ("/search", {}),
            ("/search", {"size_min": "-5"}),
            ("/search", {"q": "x", "cursor": "garbage!"}),
            ("/similar", {"infohash": "00" * 20}),
            ("/torrents/" + "00" * 20, {}),
            ("/downloads/nothex", {}),
            ("/downloads/" + "00" * 20, {}),
            ("/suggest", {}),
        ]
        for path, params in hostile_gets:
            status, body = await get(http, base + path, **params)
            assert 400 <= status < 500, (path, params, status)
            assert body["error"]["message"]
        async with http.post(
            base + "/downloads",
            data=b"not a torrent",
            headers={"Content-Type": "application/x-bittorrent"},
        ) as r:
            assert r.status == 400
    assert not (Path("/etc") / "licenses").exists()


async def run_cli(*argv: str) -> tuple[int, str]:
    """The CLI in a worker thread (it blocks on HTTP) while this loop serves the node."""
    out = io.StringIO()

    def call() -> int:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(out):
            return main(list(argv))

    code = await asyncio.to_thread(call)
    return code, out.getvalue()


async def test_cli_against_a_running_node(api: Any, tmp_path: Path) -> None:
    url, _, corpus = api
    code, out = await run_cli("share", str(corpus / "licenses" / "MPL-2.0.txt"), "--api", url)
    assert code == 0 and "shared MPL-2.0.txt" in out
    catalogue = tmp_path / "cat.jsonl"
    catalogue.write_text(
        json.dumps({"infohash": "34" * 20, "name": "walrus-tools_1.0_all.deb", "size": 2048})
        + "\n"
        + json.dumps({"infohash": "56" * 20, "name": "walrus-doc_1.0_all.deb", "size": 10_000_000})
        + "\n"
    )
    code, out = await run_cli("import", str(catalogue), "--api", url)
    assert code == 0 and "imported 2 cards" in out
    code, out = await run_cli("search", "walrus", "--json", "--api", url)
    assert code == 0
    results = json.loads(out)
    assert {r["name"] for r in results} == {"walrus-tools_1.0_all.deb", "walrus-doc_1.0_all.deb"}
    assert all({"infohash", "name", "size", "score"} <= set(r) for r in results)
    code, out = await run_cli(
        "search", "--prefix", "walr", "--size-min", "1MB", "--json", "--api", url
    )
    assert [r["name"] for r in json.loads(out)] == ["walrus-doc_1.0_all.deb"]
    code, out = await run_cli("search", "--size-max", "2KiB", "--after", "1970-01-01", "--api", url)
    assert code == 0 and "walrus-tools" in out
    code, out = await run_cli(
        "similar", str(corpus / "licenses" / "GFDL-1.3.txt"), "--json", "--api", url
    )
    assert code == 0 and "GFDL-1.2.txt" in [r["name"] for r in json.loads(out)]
    code, out = await run_cli("search", "--api", url)
    assert code == 1 and "give a query" in out


def test_cli_says_when_the_node_is_unreachable(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["search", "x", "--api", "http://127.0.0.1:9"]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "cannot reach the node" in err
    os.environ.pop("SWARMSEEK_API", None)


async def test_the_node_passes_its_dht_settings(tmp_path: Path) -> None:
    net = NodeNet(tmp_path)
    try:
        node = await net.start("a", dht_query_slow=0.25, dht_query_timeout=1.5)
        assert node.dht.config.query_slow == 0.25
        assert node.dht.config.query_timeout == 1.5
        assert node.dht.socket.getsockname() == node.dht.address  # the public accessor
    finally:
        await net.close()
