"""A download's timeline for finding stalls, only when ``SWARMSEEK_TRACE`` names a file
(``{pid}`` in the name is replaced by the process id).

Off by default and free then (``TRACER`` is None; callers test it once). When on, a
task samples every ``SWARMSEEK_TRACE_PERIOD`` seconds (0.1 by default) what each peer
has outstanding and delivered, the disk queue, and how much of the period the event
loop spent blocked in ``select`` (waiting) rather than running callbacks (working);
the disk workers add how long each piece waited in the queue, hashed and wrote, and
commits add their fsync time. One JSON object a line::

    {"t": 1.2, "kind": "sample", "loop_wait": 0.31, "peers": [[out, got, choked, snubbed]], ...}
    {"t": 1.3, "kind": "piece", "piece": 7, "queued": 0.002, "hash": 0.0006, "write": 0.0004}

``python -m swarmseek.transfer.trace FILE`` summarises a trace (idle peers, loop
wait, disk latencies, the tail).
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import time
from typing import IO, TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .torrent import Torrent


class Tracer:
    """Writes the trace; see the module docstring."""

    def __init__(self, path: str, period: float) -> None:
        self._file: IO[str] = open(path, "a", buffering=1 << 16)  # noqa: SIM115 - process-long
        self.period = period
        self.start = time.monotonic()
        self._waited = 0.0
        self._patched = False
        self.event("start", since_exec=round(_since_exec(), 4))

    def now(self) -> float:
        return time.monotonic() - self.start

    def event(self, kind: str, **fields: Any) -> None:
        fields.update(t=round(self.now(), 4), kind=kind)
        self._file.write(json.dumps(fields) + "\n")

    def _patch_selector(self, loop: asyncio.AbstractEventLoop) -> None:
        # The time blocked in select() is the loop's idle time; everything else is work.
        selector = getattr(loop, "_selector", None)
        if selector is None or self._patched:
            return
        self._patched = True
        select = selector.select

        def timed_select(timeout: float | None = None) -> Any:
            began = time.perf_counter()
            try:
                return select(timeout)
            finally:
                self._waited += time.perf_counter() - began

        selector.select = timed_select

    async def sample(self, torrent: Torrent) -> None:
        self._patch_selector(asyncio.get_running_loop())
        last = {id(p): p.downloaded for p in torrent.peers}
        last_time = time.perf_counter()
        while True:
            await asyncio.sleep(self.period)
            now = time.perf_counter()
            span, last_time = now - last_time, now
            waited, self._waited = self._waited, 0.0
            peers = []
            for peer in torrent.peers:
                got = peer.downloaded - last.get(id(peer), 0)
                last[id(peer)] = peer.downloaded
                peers.append(
                    [len(peer.conn.our_requests), got, peer.conn.peer_choking, peer.snubbed]
                )
            picker = torrent.picker
            self.event(
                "sample",
                span=round(span, 4),
                loop_wait=round(waited / span, 3) if span > 0 else 0.0,
                peers=peers,
                disk_bytes=torrent.disk_backlog,
                disk_jobs=torrent._disk_queue.qsize(),
                paused=torrent._reading_paused,
                partials=len(picker._partials) if picker is not None else 0,
                verified=torrent.verified_bytes,
                endgame=bool(picker is not None and picker.in_endgame()),
            )

    def close(self) -> None:
        self._file.close()


def _since_exec() -> float:
    """Seconds since this process started (Linux; 0 elsewhere)."""
    try:
        with open("/proc/self/stat") as f:
            ticks = int(f.read().rsplit(")", 1)[1].split()[19])
        return time.clock_gettime(time.CLOCK_BOOTTIME) - ticks / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError, AttributeError):
        return 0.0


def _from_env() -> Tracer | None:
    path = os.environ.get("SWARMSEEK_TRACE")
    if not path:
        return None
    period = float(os.environ.get("SWARMSEEK_TRACE_PERIOD", "0.1"))
    return Tracer(path.replace("{pid}", str(os.getpid())), period)


TRACER = _from_env()


def mark(kind: str, **fields: Any) -> None:
    """One event, when tracing (a milestone: handshake, unchoke, ...)."""
    if TRACER is not None:
        TRACER.event(kind, **fields)


def summarise(lines: list[dict[str, Any]]) -> str:
    import statistics  # noqa: PLC0415 - only here: 10 ms of import no download needs

    samples = [e for e in lines if e["kind"] == "sample"]
    pieces = [e for e in lines if e["kind"] == "piece"]
    out = []
    active = [s for s in samples if s["verified"] > 0 or any(p[1] for p in s["peers"])]
    if active:
        first, last = active[0]["t"], active[-1]["t"]
        out.append(f"active {first:.2f}-{last:.2f} s, {len(active)} samples")
        idle = [sum(1 for p in s["peers"] if p[0] == 0) for s in active]
        out.append(
            f"peer-samples with no request outstanding: {sum(idle)} of "
            f"{sum(len(s['peers']) for s in active)}"
        )
        waits = [s["loop_wait"] for s in active]
        out.append(
            f"loop wait fraction: median {statistics.median(waits):.2f} "
            f"min {min(waits):.2f} max {max(waits):.2f}"
        )
        out.append(f"paused-for-disk samples: {sum(1 for s in active if s['paused'])}")
        out.append(f"disk backlog max {max(s['disk_bytes'] for s in active) >> 20} MiB")
        end = [s for s in active if s["endgame"]]
        if end:
            out.append(f"endgame from {end[0]['t']:.2f} s ({active[-1]['t'] - end[0]['t']:.2f} s)")
    for key in ("queued", "hash", "write"):
        values = sorted(e[key] for e in pieces)
        if values:
            out.append(
                f"piece {key}: median {values[len(values) // 2] * 1e3:.1f} ms, "
                f"p99 {values[int(len(values) * 0.99)] * 1e3:.1f} ms, "
                f"sum {sum(values):.2f} s"
            )
    for e in lines:
        if e["kind"] not in ("sample", "piece"):
            out.append(json.dumps(e))
    return "\n".join(out)


if __name__ == "__main__":
    with open(sys.argv[1]) as f:
        print(summarise([json.loads(line) for line in f]))
