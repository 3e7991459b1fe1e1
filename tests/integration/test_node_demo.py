"""``swarmseek demo`` on a small network: shares, background import, page, clean stop."""

from __future__ import annotations

import asyncio
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import aiohttp
import pytest

from swarmseek.api.demo import DemoOptions, run_demo
from tests.support.node_net import CORPUS, catalogue_lines

pytestmark = pytest.mark.timeout(120)


async def test_demo_serves_shares_and_catalogue_then_stops(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    corpus = tmp_path / "corpus"
    (corpus / "licenses").mkdir(parents=True)
    for name in ("GFDL-1.2.txt", "GFDL-1.3.txt", "BSD.txt"):
        shutil.copy(CORPUS / "licenses" / name, corpus / "licenses" / name)
    catalogue = tmp_path / "cat.jsonl"
    lines = catalogue_lines(40, 1500)
    catalogue.write_text("".join(json.dumps(x) + "\n" for x in lines))
    stop, ready, imported = asyncio.Event(), asyncio.Event(), asyncio.Event()
    options = DemoOptions(
        nodes=4, api_port=0, catalogue=catalogue, data_dir=tmp_path / "state", corpus=corpus
    )
    demo = asyncio.create_task(run_demo(options, lambda: stop, ready, imported))
    await asyncio.wait({demo, asyncio.create_task(ready.wait())}, return_when="FIRST_COMPLETED")
    assert not demo.done(), demo.result()
    startup = capsys.readouterr().out
    url = re.search(r"open (http://127\.0\.0\.1:\d+)/", startup)
    assert url is not None
    base = url.group(1) + "/api/v1"
    async with aiohttp.ClientSession() as http:
        async with http.get(url.group(1) + "/") as page:
            assert page.status == 200 and "swarmseek" in await page.text()
        # while the catalogue is still being imported
        async with http.get(base + "/search", params={"q": "gfdl"}) as r:
            found = {x["name"]: x["infohash"] for x in (await r.json())["results"]}
        assert set(found) == {"GFDL-1.2.txt", "GFDL-1.3.txt"}, startup
        async with http.get(base + "/similar", params={"infohash": found["GFDL-1.3.txt"]}) as r:
            similar = [x["name"] for x in (await r.json())["results"]]
        assert similar == ["GFDL-1.2.txt"]  # J = 0.85; BSD is unrelated
        await imported.wait()
        name = lines[7]["name"]
        async with http.get(base + "/search", params={"q": name}) as r:
            assert lines[7]["infohash"] in [x["infohash"] for x in (await r.json())["results"]]
    stop.set()
    assert await demo == 0
    out = capsys.readouterr().out
    assert "catalogue imported: 40 cards" in out and "stopping" in out


def test_empty_demo_shares_and_imports_nothing() -> None:
    # Regression: --empty used to be dropped on the way from the CLI to the demo.
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "swarmseek.api.cli",
            "demo",
            "--empty",
            "--nodes",
            "3",
            "--api-port",
            "0",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    lines = []
    try:
        assert process.stdout is not None
        for line in process.stdout:
            lines.append(line)
            if "open http" in line:
                break
    finally:
        process.terminate()
        process.wait(timeout=60)
    text = "".join(lines)
    assert "nothing shared, nothing imported" in text
    assert "sharing" not in text and "importing" not in text
