"""The download trace (``SWARMSEEK_TRACE``): events as JSON lines, and their summary."""

from __future__ import annotations

import json
from pathlib import Path

from swarmseek.transfer import trace


def test_events_are_json_lines_and_summarised(tmp_path: Path) -> None:
    tracer = trace.Tracer(str(tmp_path / "t.jsonl"), 0.1)
    tracer.event(
        "sample",
        span=0.1,
        loop_wait=0.5,
        peers=[[4, 1 << 20, False, False], [0, 0, False, False]],
        disk_bytes=1 << 20,
        disk_jobs=1,
        paused=False,
        partials=2,
        verified=1 << 20,
        endgame=False,
    )
    tracer.event("piece", piece=3, queued=0.001, hash=0.002, write=0.003)
    tracer.event("complete")
    tracer.close()
    lines = [json.loads(line) for line in (tmp_path / "t.jsonl").read_text().splitlines()]
    assert [e["kind"] for e in lines] == ["start", "sample", "piece", "complete"]
    text = trace.summarise(lines)
    assert "no request outstanding: 1 of 2" in text
    assert "piece write: median 3.0 ms" in text


def test_off_unless_asked() -> None:
    assert trace.TRACER is None  # the test run sets no SWARMSEEK_TRACE
    trace.mark("nothing")  # a no-op
