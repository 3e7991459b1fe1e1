"""``swarmseek node`` says whether it joined the DHT: a user whose bootstrap nodes are
silent learns why searches find nothing, and that the node keeps trying."""

from __future__ import annotations

import asyncio
import pathlib
import signal
import socket
import sys

NODE = [sys.executable, "-c", "import sys; from swarmseek.api.cli import main; sys.exit(main())"]


async def line_with(stream: asyncio.StreamReader, text: str, seen: list[str]) -> str:
    """The first line holding ``text`` (every line read is kept in ``seen``)."""
    while True:
        raw = await stream.readline()
        if not raw:
            raise AssertionError(f"{text!r} never printed; got {seen}")
        line = raw.decode()
        seen.append(line)
        if text in line:
            return line


async def start(data: pathlib.Path, bootstrap: str) -> asyncio.subprocess.Process:
    argv = ["node", "--data-dir", str(data), "--port", "0", "--api-port", "0"]
    return await asyncio.create_subprocess_exec(
        *NODE,
        *argv,
        "--bootstrap",
        bootstrap,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )


async def stop(proc: asyncio.subprocess.Process) -> None:
    if proc.returncode is None:
        proc.send_signal(signal.SIGINT)
    assert await asyncio.wait_for(proc.wait(), 60) == 0


async def test_node_reports_a_silent_bootstrap_then_a_joined_one(tmp_path: pathlib.Path) -> None:
    silent = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)  # takes queries, answers none
    silent.bind(("127.0.0.1", 0))
    lonely = await start(tmp_path / "a", f"127.0.0.1:{silent.getsockname()[1]}")
    joiner = None
    try:
        assert lonely.stdout is not None and lonely.stderr is not None
        out: list[str] = []
        dht = await line_with(lonely.stdout, "DHT on", out)
        port = int(dht.split("DHT on ")[1].split(",")[0].rsplit(":", 1)[1])
        err: list[str] = []
        said = await line_with(lonely.stderr, "no DHT node answered yet", err)
        assert "retrying in the background" in said and "Traceback" not in "".join(err)

        joiner = await start(tmp_path / "b", f"127.0.0.1:{port}")
        assert joiner.stdout is not None
        joined = await line_with(joiner.stdout, "joined the DHT", [])
        assert "(1 node known)" in joined
    finally:
        silent.close()
        await stop(lonely)
        if joiner is not None:
            await stop(joiner)
