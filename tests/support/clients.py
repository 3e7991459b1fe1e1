"""Real BitTorrent clients for interop tests: libtorrent sessions and Debian binaries.

libtorrent is a required test dependency. Debian clients (aria2c, transmission-cli,
qbittorrent-nox) are installed by ``.ci/run``; locally a missing one skips its test, but with
``SWARMSEEK_REQUIRE_INTEROP=1`` (set by CI) a missing client fails the test.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import time
from collections.abc import Callable
from typing import Any

import libtorrent as lt
import pytest


def require_binary(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        if os.environ.get("SWARMSEEK_REQUIRE_INTEROP") == "1":
            pytest.fail(f"{name} is required for interop tests but is not installed")
        pytest.skip(f"{name} not installed (CI installs it through .ci/run)")
    return path


def lt_session(**overrides: Any) -> Any:
    """A quiet libtorrent session on 127.0.0.1 with an ephemeral port (LIBTORRENT_NOTES.md)."""
    settings: dict[str, Any] = {
        "listen_interfaces": "127.0.0.1:0",
        "enable_lsd": False,
        "enable_upnp": False,
        "enable_natpmp": False,
        "enable_dht": False,
        "dht_bootstrap_nodes": "",
        "allow_multiple_connections_per_ip": True,
        "alert_mask": lt.alert_category.all,
    }
    settings.update(overrides)
    return lt.session(settings)


def lt_expanded_secret(seed: bytes) -> bytes:
    """The 64-byte expanded ed25519 key libtorrent's mutable puts take for a 32-byte
    seed (LIBTORRENT_NOTES.md)."""
    h = bytearray(hashlib.sha512(seed).digest())
    h[0] &= 248
    h[31] &= 63
    h[31] |= 64
    return bytes(h)


def wait_for_alert(session: Any, predicate: Callable[[Any], bool], timeout: float = 60.0) -> Any:
    """Block until an alert satisfying ``predicate`` arrives (read its fields inside).

    Waits on libtorrent's alert queue, not on time; ``timeout`` only bounds a failure.
    Returns whatever non-None value ``predicate`` produced, so callers can extract
    fields before the alert is freed by the next ``pop_alerts()``.
    """
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        session.wait_for_alert(int(max(0.0, deadline - time.monotonic()) * 1000) or 1)
        for alert in session.pop_alerts():
            result = predicate(alert)
            if result:
                return result
    raise AssertionError(f"no matching libtorrent alert within {timeout} s")


def wait_accepting_peers(handle: Any, session: Any, timeout: float = 60.0) -> None:
    """Wait until a libtorrent torrent accepts incoming peers: its state is seeding.
    ``status().is_seeding`` is not enough: a seed-mode torrent has every piece from the
    start, while its state is still checking_resume_data, and libtorrent closes an
    incoming connection then ("torrent is not ready to accept peers"; 31 of 120
    handshakes under load before this wait)."""
    wait_until(lambda: handle.status().state == lt.torrent_status.seeding, session, timeout)


def wait_until(
    condition: Callable[[], bool], session: Any | None = None, timeout: float = 60.0
) -> None:
    """Poll ``condition`` between libtorrent alerts (or short waits) until true."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() >= deadline:
            raise AssertionError(f"condition not met within {timeout} s")
        if session is not None:
            session.wait_for_alert(100)
            session.pop_alerts()
        else:
            time.sleep(0.05)
