"""libtorrent announces to our tracker, and our client finds libtorrent through it."""

from __future__ import annotations

import asyncio
import pathlib
from typing import Any

import libtorrent as lt
import pytest

from swarmseek.transfer.tracker import Announce
from swarmseek.transfer.tracker_client import announce
from swarmseek.transfer.tracker_server import TrackerServer
from tests.support.clients import lt_session, wait_for_alert

pytestmark = pytest.mark.interop
IH = bytes.fromhex("0123456789abcdef0123456789abcdef01234567")


def _replied(alert: Any) -> bool:
    if isinstance(alert, lt.tracker_error_alert):
        raise AssertionError(f"libtorrent tracker error: {alert.message()}")
    return isinstance(alert, lt.tracker_reply_alert)


@pytest.mark.parametrize("kind", ["http", "udp"])
async def test_libtorrent_announces_to_our_tracker(kind: str, tmp_path: pathlib.Path) -> None:
    async with TrackerServer() as server:
        url = server.announce_url if kind == "http" else server.udp_url
        session = lt_session()
        params = lt.add_torrent_params()
        params.info_hashes = lt.info_hash_t(lt.sha1_hash(IH))
        params.trackers = [url]
        params.save_path = str(tmp_path)
        session.add_torrent(params)
        await asyncio.to_thread(wait_for_alert, session, _replied)
        ours = await announce(url, Announce(IH, b"-SS0001-000000000001", 7001, left=1))
        assert ("127.0.0.1", session.listen_port()) in ours.peers
