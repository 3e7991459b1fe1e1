"""The demo's catalogue importer (api/demo_import.py): a read-only DHT node in a process
of its own, publishing through ``SearchIndex.publish``."""

from __future__ import annotations

import asyncio
import io
import json
import os
import sys
from pathlib import Path

import pytest

from swarmseek.api import demo as demo_module
from swarmseek.api import demo_import
from swarmseek.api.demo import DemoOptions, run_demo
from swarmseek.api.demo_import import Report, command, import_catalogue
from swarmseek.api.import_lines import parse_lines
from swarmseek.index import Query
from tests.support.node_net import catalogue_lines, node_network

pytestmark = pytest.mark.timeout(120)

NOW = 1_700_000_000


def write_catalogue(path: Path, lines: int) -> list[dict[str, object]]:
    rows = catalogue_lines(lines, 997)
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))
    return rows


class Stdout:
    """What ``_emit`` writes to (sys.stdout.buffer)."""

    def __init__(self) -> None:
        self.buffer = io.BytesIO()

    def reports(self) -> list[Report]:
        return [Report.parse(line) for line in self.buffer.getvalue().splitlines()]


async def test_the_importer_publishes_every_card_from_a_read_only_node(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    rows = write_catalogue(tmp_path / "cat.jsonl", 30)
    out = Stdout()
    monkeypatch.setattr(sys, "stdout", out)
    async with node_network(tmp_path, 4) as net:
        cards, _, _ = parse_lines((tmp_path / "cat.jsonl").read_bytes(), NOW)
        await import_catalogue(cards, [n.dht.address for n in net.nodes])
        assert [r.done for r in out.reports()] == [30]
        found = await net.nodes[2].index.search(Query((), min_size=1, limit=50))
        assert sorted(r.name for r in found.results) == sorted(str(r["name"]) for r in rows)
        # BEP 43: a read-only node enters nobody's routing table
        assert all(n.dht.stats().routing_nodes == 3 for n in net.nodes)


async def test_the_importer_stops_when_its_parent_is_gone(tmp_path: Path) -> None:
    write_catalogue(tmp_path / "cat.jsonl", 3000)
    async with node_network(tmp_path, 4) as net:
        child = await asyncio.create_subprocess_exec(
            *command(tmp_path / "cat.jsonl", NOW, [n.dht.address for n in net.nodes]),
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
        )
        assert child.stdin is not None and child.stdout is not None
        child.stdin.close()  # as when the demo exits, however it exits
        lines = await child.stdout.read()
        assert await child.wait() == 0
    # it stopped: without the watch on stdin it would have published all 3000 cards
    assert not [r for r in map(Report.parse, lines.splitlines()) if r.done == 3000]


def test_an_import_that_cannot_read_its_catalogue_reports_why(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = Stdout()
    monkeypatch.setattr(sys, "stdout", out)
    read, write = os.pipe()  # a parent that is still there: stdin stays open
    with open(read, "rb") as stdin:
        monkeypatch.setattr(sys, "stdin", stdin)
        status = demo_import.main([str(tmp_path / "missing.jsonl"), "--now", str(NOW)])
    os.close(write)
    assert status == 1
    [report] = out.reports()
    assert report.error is not None and "missing.jsonl" in report.error


def test_reports_round_trip_and_ignore_unknown_fields() -> None:
    for report in (Report(done=5), Report(writing=9, items=3), Report(error="no")):
        assert Report.parse(report.line()) == report
    assert Report.parse(b'{"done": 2, "later": 1}') == Report(done=2)
    with pytest.raises(ValueError):
        Report.parse(b"[1]")


def importers() -> list[int]:
    """Our child processes that are demo importers (live or not yet reaped)."""
    me, out = str(os.getpid()), []
    for entry in Path("/proc").iterdir():
        try:
            stat = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            cmdline = (entry / "cmdline").read_bytes()
        except OSError:
            continue
        if stat[1] == me and b"swarmseek.api.demo_import" in cmdline:
            out.append(int(entry.name))
    return out


async def test_a_demo_stopped_mid_import_leaves_no_importer_behind(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    write_catalogue(tmp_path / "cat.jsonl", 3000)
    (tmp_path / "corpus").mkdir()
    started = asyncio.Event()
    follow = demo_module._follow

    async def following(child: asyncio.subprocess.Process, total: int, start: float) -> Report:
        started.set()  # the child is running: the demo now reads its reports
        return await follow(child, total, start)

    monkeypatch.setattr(demo_module, "_follow", following)
    stop = asyncio.Event()
    options = DemoOptions(
        nodes=4, api_port=0, catalogue=tmp_path / "cat.jsonl", corpus=tmp_path / "corpus"
    )
    demo = asyncio.create_task(run_demo(options, lambda: stop))
    await started.wait()
    assert importers()
    stop.set()
    assert await demo == 0
    assert importers() == []
    out = capsys.readouterr().out
    assert "stopping" in out and "catalogue imported" not in out
