"""A share on one node, found by search on another, downloaded through the API on a third;
downloads survive a restart of the downloading node."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from swarmseek.api.services import DownloadRequest, SearchRequest
from swarmseek.api.services_node import NodeServices
from tests.support.node_net import node_network

pytestmark = pytest.mark.timeout(120)


def make_folder(root: Path, size: int) -> Path:
    folder = root / "shared" / "holiday photos"
    folder.mkdir(parents=True)
    data = os.urandom(size)
    (folder / "a.bin").write_bytes(data[: size // 3])
    (folder / "b.bin").write_bytes(data[size // 3 :])
    return folder


def same_tree(a: Path, b: Path) -> bool:
    names = sorted(p.name for p in a.iterdir())
    if names != sorted(p.name for p in b.iterdir()):
        return False
    return all((a / n).read_bytes() == (b / n).read_bytes() for n in names)


async def test_share_search_download_and_restart(tmp_path: Path) -> None:
    async with node_network(tmp_path, 6) as net:
        sharer, searcher, getter = net.nodes[0], net.nodes[1], net.nodes[2]
        folder = make_folder(tmp_path, 3 << 20)
        shared = await NodeServices(sharer).share(str(folder))
        assert shared["announced"] > 0

        page = await NodeServices(searcher).search(SearchRequest(q="holiday photos"))
        assert [r["infohash"] for r in page["results"]] == [shared["infohash"]]
        assert page["results"][0]["size"] == 3 << 20

        # Download by infohash only: peers from the DHT, metadata by BEP 9.
        api = NodeServices(getter)
        added = await api.add_download(
            DownloadRequest(infohash=shared["infohash"], folder="got/here")
        )
        assert added["state"] in ("metadata", "checking", "downloading")
        # Stop the downloading node as soon as it has metadata and some progress.
        ih = bytes.fromhex(shared["infohash"])
        await getter.wait_for(ih, {"downloading", "complete"})
        name = getter.config.data_dir.name
        await net.stop(getter)

        again = await net.start(name)
        api = NodeServices(again)
        listed = (await api.list_downloads())["downloads"]
        assert [d["infohash"] for d in listed] == [shared["infohash"]]
        done = await again.wait_for(ih, {"complete", "failed"})
        assert done["state"] == "complete", done
        assert done["verified_bytes"] == 3 << 20
        got = again.config.downloads / "got" / "here" / "holiday photos"
        assert same_tree(folder, got)


async def test_pause_resume_remove_and_events(tmp_path: Path) -> None:
    async with node_network(tmp_path, 4) as net:
        sharer, getter = net.nodes[0], net.nodes[1]
        folder = make_folder(tmp_path, 1 << 20)
        shared = await NodeServices(sharer).share(str(folder))
        api = NodeServices(getter)
        events = api.events()
        added = await api.add_download(DownloadRequest(magnet=shared["magnet"]))
        paused = await api.pause_download(added["id"])
        assert paused["state"] == "paused"
        resumed = await api.resume_download(added["id"])
        assert resumed["state"] != "paused"
        async for name, data in events:
            assert name == "download"
            if data["state"] == "complete":
                break
        await events.aclose()  # type: ignore[attr-defined]
        removed = await api.remove_download(added["id"], delete_files=True)
        assert removed["infohash"] == shared["infohash"]
        assert (await api.list_downloads())["downloads"] == []
        assert not (getter.config.downloads / "holiday photos").exists()
        assert folder.exists()
