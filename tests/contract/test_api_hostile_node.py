"""Hostile requests end to end against a REAL node: the node's path rules (share roots,
its own data, symlinks) and the HTTP layer's shapes together. Every answer is a 4xx
JSON error, and nothing is shared or downloaded."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
from aiohttp import ClientSession

from swarmseek.api.services_node import serve_api
from tests.contract.test_api_hostile import assert_error
from tests.support.node_net import node_network

pytestmark = pytest.mark.timeout(120)
IH = "cd" * 20


async def test_hostile_requests_against_a_real_node(tmp_path: Path) -> None:
    outside = tmp_path.parent / f"{tmp_path.name}-outside"
    outside.mkdir()
    (outside / "secret.txt").write_text("not to be shared")
    async with node_network(tmp_path, 2) as net:
        node = net.nodes[0]
        # Inside a share root, but a symlink pointing out of it.
        link = tmp_path / "escape"
        link.symlink_to(outside / "secret.txt")
        own = node.config.data_dir / "node.sqlite"
        async with serve_api(node, "127.0.0.1", 0, None) as url, ClientSession() as http:

            async def post(path: str, **kw: Any) -> Any:
                return await http.post(url + path, **kw)

            for path, status in (
                ("/etc/passwd", 403),
                (str(outside / "secret.txt"), 403),
                (str(link), 403),
                (str(own), 403),
                (str(node.config.data_dir), 403),
                (str(tmp_path / "does-not-exist"), 404),
                (str(tmp_path) + "/.." * 12 + "/etc/passwd", 403),
                ("relative/path", 400),
                ("/proc/self/environ", 403),
            ):
                for route in ("/api/v1/shares", "/api/v1/similar"):
                    await assert_error(await post(route, json={"path": path}), status)
            for body, status in (
                ({"infohash": IH, "folder": "../../escape"}, 400),
                ({"infohash": IH, "folder": "/tmp"}, 400),
                ({"magnet": "magnet:?xt=urn:btih:nothex"}, 400),
                ({"magnet": "magnet:?dn=no-infohash"}, 400),
            ):
                await assert_error(await post("/api/v1/downloads", json=body), status)
            garbage = {"Content-Type": "application/x-bittorrent"}
            for torrent in (b"not bencode", b"d4:infod6:lengthi-1eee", os.urandom(512)):
                await assert_error(
                    await post("/api/v1/downloads", data=torrent, headers=garbage), 400
                )
            for method, path in (
                ("GET", "/api/v1/downloads/" + IH),
                ("POST", f"/api/v1/downloads/{IH}/pause"),
                ("DELETE", "/api/v1/downloads/" + IH),
                ("GET", "/api/v1/downloads/not-hex"),
                ("GET", f"/api/v1/torrents/{IH}"),
            ):
                await assert_error(await http.request(method, url + path), 404)
            await assert_error(
                await http.get(url + "/api/v1/similar", params={"infohash": IH}), 404
            )
            async with http.get(url + "/api/v1/downloads") as r:
                assert (await r.json())["downloads"] == []
            async with http.get(url + "/api/v1/stats") as r:
                assert (await r.json())["shares"] == 0
