"""What a newcomer's mistakes get from the command line: one line on stderr naming the
problem, and the documented exit status (1 error, 2 bad usage), never a traceback."""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest
from aiohttp import web

from swarmseek.api import cmd_dht, cmd_node
from swarmseek.api.cli import main
from swarmseek.api.http import ApiConfig, make_app
from tests.support.api_server import serve_in_thread
from tests.support.fake_services import FakeServices, sample_cards


def one_line_error(capsys: pytest.CaptureFixture[str], *words: str) -> str:
    err = capsys.readouterr().err
    last = err.strip().splitlines()[-1]
    assert "Traceback" not in err, err
    assert all(w in last for w in words), err
    return last


@pytest.mark.parametrize(
    "argv",
    [
        ["tracker", "--port", "99999"],
        ["node", "--port", "70000"],
        ["node", "--api-port", "-1"],
        ["demo", "--api-port", "65536"],
        ["get", "11" * 20, "--out", "d", "--port", "99999"],
        ["seed", "t.torrent", "--data", "d", "--port", "x"],
        ["dht", "ping", "127.0.0.1:1", "--port", "99999"],
        ["dht", "announce", "11" * 20, "--peer-port", "65536"],
    ],
)
def test_a_port_out_of_range_is_a_usage_error(
    argv: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    # Regression: `swarmseek tracker --port 99999` (and node, get, ...) ended in an
    # OverflowError traceback from socket.bind.
    with pytest.raises(SystemExit) as exit_:
        main(argv)
    assert exit_.value.code == 2
    one_line_error(capsys, "port")


def test_get_names_a_corrupt_torrent_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Regression: "swarmseek: error: unexpected byte b'g' at byte 0", naming nothing.
    bad = tmp_path / "bad.torrent"
    bad.write_bytes(b"garbage")
    assert main(["get", str(bad), "--out", str(tmp_path / "out")]) == 1
    one_line_error(capsys, str(bad), "not a .torrent")
    no_pieces = tmp_path / "nopieces.torrent"
    no_pieces.write_bytes(b"d4:infod4:name1:xee")
    assert main(["seed", str(no_pieces), "--data", str(tmp_path)]) == 1
    one_line_error(capsys, str(no_pieces), "not a .torrent")


def test_import_of_a_missing_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    missing = tmp_path / "nope.jsonl"
    assert main(["import", str(missing), "--api", "http://127.0.0.1:9"]) == 1
    assert one_line_error(capsys) == f"swarmseek: error: {missing}: no such file"


def test_dht_ping_needs_no_router(capsys: pytest.CaptureFixture[str]) -> None:
    # Regression: `dht ping HOST:PORT` first resolved the public routers, so offline it
    # failed with "no bootstrap node could be resolved" before pinging anything.
    assert main(["dht", "ping", "nohost"]) == 1
    assert one_line_error(capsys) == "swarmseek: error: expected HOST:PORT, got 'nohost'"


@pytest.fixture
def fuzzy_node() -> Iterator[str]:
    """A node whose index knows nothing like anything: fuzzy answers with no results."""

    async def search(request: web.Request) -> web.Response:
        return web.json_response({"results": [], "next_cursor": None, "fuzzy": True})

    def make() -> web.Application:
        app = web.Application()
        app.router.add_get("/api/v1/search", search)
        return app

    with serve_in_thread(make) as url:
        yield url


def test_an_empty_search_says_so_plainly(
    fuzzy_node: str, capsys: pytest.CaptureFixture[str]
) -> None:
    # Regression: "no name has every word of 'zzzz'; names like it:" then "no results".
    assert main(["search", "zzzz", "--api", fuzzy_node]) == 0
    captured = capsys.readouterr()
    assert captured.out == "no results\n"
    assert captured.err == ""


@pytest.mark.parametrize("query", ["", "   "])
def test_a_blank_query_is_no_query(query: str, capsys: pytest.CaptureFixture[str]) -> None:
    # Regression: `search ""` went to the node, which answered in its own words.
    assert main(["search", query, "--api", "http://127.0.0.1:9"]) == 1
    one_line_error(capsys, "give a query, --prefix, a size range or a date range")


@pytest.mark.parametrize(("kind", "option"), [("udp", "--port"), ("tcp", "--api-port")])
def test_a_port_in_use_is_named(
    kind: str, option: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Regression: "cannot start the node: [Errno 98] Address already in use", naming
    # neither the port nor which part of the node (DHT, peers, API) wanted it.
    busy = socket.socket(socket.AF_INET, socket.SOCK_DGRAM if kind == "udp" else socket.SOCK_STREAM)
    with busy:
        busy.bind(("0.0.0.0" if kind == "udp" else "127.0.0.1", 0))
        if kind == "tcp":
            busy.listen()
        port = str(busy.getsockname()[1])
        ports = {"--port": "0", "--api-port": "0", option: port}
        argv = ["node", "--data-dir", str(tmp_path), "--bootstrap", "127.0.0.1:1"]
        assert main([*argv, *(x for item in ports.items() for x in item)]) == 1
    what = "the DHT cannot listen on UDP" if kind == "udp" else "the API cannot listen on"
    one_line_error(capsys, what, f":{port}: Address already in use", f"{option} 0 picks")


def test_get_without_any_peer_source_says_what_to_give(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Offline, the public routers do not resolve (.invalid never does, RFC 2606).
    monkeypatch.setattr(cmd_dht, "DEFAULT_BOOTSTRAP", ("router.invalid:6881",))
    assert main(["get", "11" * 20, "--out", str(tmp_path)]) == 1
    one_line_error(capsys, "no DHT bootstrap node could be resolved", "--dht-bootstrap")


def test_similar_sends_a_large_file_by_path(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Regression: `similar FILE` sent any file whole, and one over the API's body limit
    # failed: "the node says: the body may be at most 67108864 bytes".
    assert ApiConfig().max_body == cmd_node.UPLOAD_LIMIT
    monkeypatch.setattr(cmd_node, "UPLOAD_LIMIT", 100)
    big = tmp_path / "debian-notes"
    big.write_text("z" * 101)  # the fake compares a path by its name, bytes by content
    with serve_in_thread(lambda: make_app(FakeServices(cards=sample_cards()))) as url:
        assert main(["similar", str(big), "--json", "--api", url]) == 0
    names = [r["name"] for r in json.loads(capsys.readouterr().out)]
    assert names and all("debian" in name for name in names)
