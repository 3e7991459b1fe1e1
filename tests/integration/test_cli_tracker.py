"""``swarmseek tracker`` as a user runs it: a process that serves until interrupted."""

from __future__ import annotations

import signal
import subprocess

from swarmseek.transfer import Announce, announce
from tests.support.cli_process import cli_argv


async def test_tracker_command_serves_and_stops_on_ctrl_c() -> None:
    process = subprocess.Popen(
        cli_argv("tracker", "--port", "0"),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        http_url = process.stdout.readline().split()[-1]
        udp_url = process.stdout.readline().split()[-1]
        assert http_url.startswith("http://127.0.0.1:") and udp_url.startswith("udp://")
        ih = bytes(20)
        await announce(http_url, Announce(ih, b"A" * 20, 1000, left=0))
        answer = await announce(udp_url, Announce(ih, b"B" * 20, 1001, left=5))
        assert answer.peers == [("127.0.0.1", 1000)]
    finally:
        process.send_signal(signal.SIGINT)
        _, stderr = process.communicate(timeout=30)
    assert "Traceback" not in stderr
