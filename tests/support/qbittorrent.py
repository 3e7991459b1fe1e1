"""qBittorrent as a test peer: ``qbittorrent-nox`` headless on 127.0.0.1, driven by Web API v2.

Each :class:`QBittorrent` is a fresh process with its own profile folder and a
pre-written ``qBittorrent.conf``: legal notice accepted, DHT, LSD, PeX, UPnP/NAT-PMP
and the GeoIP download off, queueing off, the Web UI on 127.0.0.1 without a login
for localhost, and TCP only (uTP off, since our peers speak TCP). Both ports are 0,
so the kernel picks free ones and nothing can collide:

* the torrenting port is the one qBittorrent reports in its log
  ("Successfully listening on IP ... TCP/PORT", read back through ``api/v2/log/main``);
* the Web UI port is found from the kernel's table of the process's own listening
  sockets (``/proc/PID/net/tcp`` and ``/proc/PID/fd``): the TCP listener that has no
  uTP twin on the same UDP port. qBittorrent logs the configured port (0), not the
  bound one.

Checked with qBittorrent 4.5.2 (Debian 12; Web API 2.8.19). Waits poll the external
process (its sockets, ``torrents/info``) every 0.1 s; their timeouts only bound a failure.
``.ci/run`` installs the package; locally a missing binary skips, and with
``SWARMSEEK_REQUIRE_INTEROP=1`` it fails (see ``clients.require_binary``).
"""

from __future__ import annotations

import asyncio
import enum
import logging
import os
import re
from collections.abc import Callable, Iterable
from pathlib import Path
from types import TracebackType
from typing import Any

import aiohttp

from tests.support.clients import require_binary

log = logging.getLogger(__name__)

POLL = 0.1  # seconds between looks at the external process's state
STARTUP_TIMEOUT = 30.0
SHUTDOWN_TIMEOUT = 15.0
# torrents/info states of a torrent that has every piece and is serving them
SEEDING_STATES = frozenset({"uploading", "stalledUP", "forcedUP", "queuedUP"})
_LISTENING = re.compile(r'Successfully listening on IP\. IP: "127\.0\.0\.1"\. Port: "TCP/(\d+)"')
_LISTEN_FAILED = re.compile(r"Failed to listen on IP|Web UI: Unable to bind")
_TCP_LISTEN = "0A"  # /proc/net/tcp state column: TCP_LISTEN


class Encryption(enum.IntEnum):
    """``BitTorrent\\Session\\Encryption``: qBittorrent's MSE/PE policy."""

    PREFER = 0  # "Allow encryption": libtorrent pe_enabled both ways
    REQUIRE = 1  # "Require encryption": pe_forced both ways, plaintext peers refused
    DISABLE = 2


class QBittorrentError(RuntimeError):
    """qBittorrent did not start, answer or reach the state a test waited for."""


def write_config(profile: Path, encryption: Encryption) -> Path:
    """Write the profile's ``qBittorrent.conf`` (qBittorrent 4.5 keys); return its path."""
    config = profile / "qBittorrent" / "config" / "qBittorrent.conf"
    config.parent.mkdir(parents=True, exist_ok=True)
    downloads = profile / "downloads"
    config.write_text(
        "[LegalNotice]\n"
        "Accepted=true\n"
        "\n"
        "[BitTorrent]\n"
        "Session\\DHTEnabled=false\n"
        "Session\\LSDEnabled=false\n"
        "Session\\PeXEnabled=false\n"
        f"Session\\Encryption={int(encryption)}\n"
        "Session\\BTProtocol=TCP\n"
        "Session\\Port=0\n"
        "Session\\Interface=lo\n"
        "Session\\InterfaceName=lo\n"
        "Session\\InterfaceAddress=127.0.0.1\n"
        "Session\\QueueingSystemEnabled=false\n"
        "Session\\AnonymousModeEnabled=false\n"
        f"Session\\DefaultSavePath={downloads}\n"
        "Session\\TorrentContentLayout=Original\n"
        "\n"
        "[Network]\n"
        "PortForwardingEnabled=false\n"
        "\n"
        "[Preferences]\n"
        "General\\Locale=en\n"
        "Connection\\ResolvePeerCountries=false\n"
        "WebUI\\Enabled=true\n"
        "WebUI\\Address=127.0.0.1\n"
        "WebUI\\Port=0\n"
        "WebUI\\LocalHostAuth=false\n"
        "WebUI\\UseUPnP=false\n"
        "WebUI\\CSRFProtection=false\n",
        encoding="utf-8",
    )
    return config


def _socket_inodes(pid: int) -> set[str]:
    inodes = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            target = os.readlink(fd)
        except OSError:  # the fd closed while we looked
            continue
        if target.startswith("socket:["):
            inodes.add(target[len("socket:[") : -1])
    return inodes


def _ports(pid: int, table: str, inodes: set[str], state: str | None) -> set[int]:
    """Local ports of ``pid``'s sockets in ``/proc/PID/net/<table>`` (IPv4)."""
    ports = set()
    for line in Path(f"/proc/{pid}/net/{table}").read_text().splitlines()[1:]:
        fields = line.split()
        if fields[9] in inodes and (state is None or fields[3] == state):
            ports.add(int(fields[1].rsplit(":", 1)[1], 16))
    return ports


def web_ui_candidates(pid: int) -> set[int]:
    """TCP ports ``pid`` listens on that are not a BitTorrent port (which has a uTP twin)."""
    inodes = _socket_inodes(pid)
    listening = _ports(pid, "tcp", inodes, _TCP_LISTEN)
    return listening - _ports(pid, "udp", inodes, None)


class QBittorrent:
    """One ``qbittorrent-nox`` process; ``async with QBittorrent(folder) as qbt: ...``."""

    def __init__(self, profile: Path, encryption: Encryption = Encryption.PREFER) -> None:
        self.profile = profile
        self.encryption = encryption
        self.port = 0  # torrenting (peer wire) port, known after start
        self.web_port = 0
        self._process: asyncio.subprocess.Process | None = None
        self._http: aiohttp.ClientSession | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.web_port}/api/v2/"

    async def __aenter__(self) -> QBittorrent:
        binary = require_binary("qbittorrent-nox")
        write_config(self.profile, self.encryption)
        # HOME too: nothing of qBittorrent's or Qt's lands outside the profile.
        env = dict(os.environ, HOME=str(self.profile), XDG_RUNTIME_DIR=str(self.profile))
        with self.output_file.open("wb") as output:  # the child keeps its own descriptor
            self._process = await asyncio.create_subprocess_exec(
                binary,
                f"--profile={self.profile}",
                stdin=asyncio.subprocess.DEVNULL,
                stdout=output,
                stderr=asyncio.subprocess.STDOUT,
                env=env,
            )
        self._http = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10))
        try:
            async with asyncio.timeout(STARTUP_TIMEOUT):
                self.web_port = await self._find_web_ui()
                self.port = await self._find_listen_port()
                await self._check_settings()
        except BaseException:
            await self.close()
            raise
        log.info("qbittorrent-nox pid %s: web ui %s, peers %s", self.pid, self.web_port, self.port)
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    @property
    def pid(self) -> int:
        assert self._process is not None
        return self._process.pid

    def _check_alive(self) -> None:
        assert self._process is not None
        if self._process.returncode is not None:
            raise QBittorrentError(
                f"qbittorrent-nox exited with {self._process.returncode};"
                f" see {self.output_file} and {self.log_file}"
            )

    @property
    def log_file(self) -> Path:
        return self.profile / "qBittorrent" / "data" / "logs" / "qbittorrent.log"

    @property
    def output_file(self) -> Path:
        return self.profile / "output.txt"

    async def _find_web_ui(self) -> int:
        while True:
            self._check_alive()
            for port in web_ui_candidates(self.pid):
                self.web_port = port
                if await self._answers():
                    return port
                self.web_port = 0  # not (yet) the Web UI: close() must not post to it
            await asyncio.sleep(POLL)

    async def _answers(self) -> bool:
        try:
            await self.get("app/webapiVersion")
        except (aiohttp.ClientError, QBittorrentError):
            return False
        return True

    async def _find_listen_port(self) -> int:
        while True:
            self._check_alive()
            for entry in await self.get("log/main"):
                message = entry["message"]
                if _LISTEN_FAILED.search(message):
                    raise QBittorrentError(message)
                found = _LISTENING.search(message)
                if found:
                    return int(found.group(1))
            await asyncio.sleep(POLL)

    async def _check_settings(self) -> None:
        # A key this version ignored would silently test something else (app/preferences
        # names: encryption 0/1/2, bittorrent_protocol 1 = TCP).
        expected = {
            "encryption": int(self.encryption),
            "dht": False,
            "lsd": False,
            "pex": False,
            "upnp": False,
            "bittorrent_protocol": 1,
            "queueing_enabled": False,
        }
        preferences = await self.get("app/preferences")
        actual = {key: preferences.get(key) for key in expected}
        if actual != expected:
            raise QBittorrentError(f"qBittorrent.conf not applied: {actual} != {expected}")

    async def close(self) -> None:
        """``app/shutdown``, then wait; kill the process if it has not exited in time."""
        process, http = self._process, self._http
        if process is not None and process.returncode is None and self.web_port:
            try:
                await self.post("app/shutdown")
            except (aiohttp.ClientError, QBittorrentError, TimeoutError) as error:
                log.warning("qBittorrent shutdown request failed: %s", error)
        if process is not None:
            try:
                async with asyncio.timeout(SHUTDOWN_TIMEOUT):
                    await process.wait()
            except TimeoutError:
                log.warning("qbittorrent-nox %s did not exit; killing it", process.pid)
            if process.returncode is None:
                process.kill()
                await process.wait()
        if http is not None:
            await http.close()
        self._http = None

    # ---- Web API v2 ---------------------------------------------------------------

    async def get(self, method: str, **params: str) -> Any:
        assert self._http is not None
        async with self._http.get(self.url + method, params=params) as response:
            return await self._result(method, response)

    async def post(self, method: str, data: Any = None) -> Any:
        assert self._http is not None
        async with self._http.post(self.url + method, data=data) as response:
            return await self._result(method, response)

    @staticmethod
    async def _result(method: str, response: aiohttp.ClientResponse) -> Any:
        text = await response.text()
        if response.status != 200:
            raise QBittorrentError(f"{method}: HTTP {response.status} {text[:200]}")
        if response.content_type == "application/json":
            return await response.json()
        return text

    async def add_torrent(
        self, torrent: bytes, save_path: Path, *, skip_checking: bool = False
    ) -> None:
        """``torrents/add`` a .torrent file; ``skip_checking`` trusts the data already there."""
        form = aiohttp.FormData()
        form.add_field(
            "torrents", torrent, filename="add.torrent", content_type="application/x-bittorrent"
        )
        form.add_field("savepath", str(save_path))
        form.add_field("skip_checking", "true" if skip_checking else "false")
        await self._add(form)

    async def add_magnet(self, uri: str, save_path: Path) -> None:
        form = aiohttp.FormData()
        form.add_field("urls", uri)
        form.add_field("savepath", str(save_path))
        await self._add(form)

    async def _add(self, form: aiohttp.FormData) -> None:
        answer = await self.post("torrents/add", form)
        if answer.strip() != "Ok.":  # 4.5 answers 200 "Fails." for a rejected torrent
            raise QBittorrentError(f"torrents/add: {answer!r}")

    async def add_peers(self, info_hash: bytes, peers: Iterable[tuple[str, int]]) -> None:
        """``torrents/addPeers``: have qBittorrent connect to these peers."""
        joined = "|".join(f"{host}:{port}" for host, port in peers)
        answer = await self.post("torrents/addPeers", {"hashes": info_hash.hex(), "peers": joined})
        added = answer.get(info_hash.hex(), {}).get("added", 0) if isinstance(answer, dict) else 0
        if not added:
            raise QBittorrentError(f"torrents/addPeers {joined}: {answer!r}")

    async def info(self, info_hash: bytes) -> dict[str, Any] | None:
        """The torrent's ``torrents/info`` entry, or None while qBittorrent lacks it."""
        found = await self.get("torrents/info", hashes=info_hash.hex())
        return found[0] if found else None

    async def peers(self, info_hash: bytes) -> dict[str, dict[str, Any]]:
        """``sync/torrentPeers``: the torrent's connected peers keyed by ``ip:port``."""
        answer = await self.get("sync/torrentPeers", hash=info_hash.hex())
        return dict(answer.get("peers", {}))

    async def wait_torrent(
        self,
        info_hash: bytes,
        condition: Callable[[dict[str, Any]], bool],
        timeout: float = 60.0,
    ) -> dict[str, Any]:
        """Poll ``torrents/info`` until ``condition(entry)``; the timeout bounds a failure."""
        entry: dict[str, Any] | None = None
        try:
            async with asyncio.timeout(timeout):
                while True:
                    self._check_alive()
                    entry = await self.info(info_hash)
                    if entry is not None and entry["state"] in ("error", "missingFiles"):
                        raise QBittorrentError(f"torrent {info_hash.hex()}: {entry['state']}")
                    if entry is not None and condition(entry):
                        return entry
                    await asyncio.sleep(POLL)
        except TimeoutError:
            state = None if entry is None else (entry["state"], entry["progress"])
            raise QBittorrentError(
                f"torrent {info_hash.hex()} not there within {timeout} s (last {state})"
            ) from None

    async def wait_added(self, info_hash: bytes, timeout: float = 30.0) -> dict[str, Any]:
        return await self.wait_torrent(info_hash, lambda entry: True, timeout)

    async def wait_seeding(self, info_hash: bytes, timeout: float = 60.0) -> dict[str, Any]:
        """Until the torrent has every piece (checked or downloaded) and serves them."""
        return await self.wait_torrent(
            info_hash,
            lambda entry: entry["progress"] == 1 and entry["state"] in SEEDING_STATES,
            timeout,
        )


__all__ = ["SEEDING_STATES", "Encryption", "QBittorrent", "QBittorrentError", "write_config"]
