"""When a failed peer address is dialled again (TorrentPeers._retry_at / _failed).

Regression: one dial lost to a busy moment (a connect or handshake timeout under load)
kept a tracker-found seeder away for the whole 30 s retry interval, long enough for
test_peers_found_through_our_tracker to time out on a loaded machine.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from swarmseek.transfer import SessionConfig
from swarmseek.transfer.torrent_peers import TorrentPeers

ADDRESS = ("127.0.0.1", 6881)


@dataclass
class Clocked:
    """Just what the retry schedule reads: a config, a clock and the failures."""

    config: SessionConfig = field(default_factory=SessionConfig)
    clock: float = 100.0
    _failed_at: dict[tuple[str, int], tuple[float, int]] = field(default_factory=dict)

    def now(self) -> float:
        return self.clock

    def fail(self, *, afresh: bool = False) -> float:
        TorrentPeers._failed(self, ADDRESS, afresh=afresh)  # type: ignore[arg-type]
        return TorrentPeers._retry_at(self, ADDRESS) - self.clock  # type: ignore[arg-type]


def test_an_address_never_failed_may_be_dialled_at_once() -> None:
    assert TorrentPeers._retry_at(Clocked(), ADDRESS) == 0.0  # type: ignore[arg-type]


def test_failures_in_a_row_back_off_from_one_second_to_the_interval() -> None:
    t = Clocked()
    waits = [t.fail() for _ in range(8)]
    assert waits == [1.0, 2.0, 4.0, 8.0, 16.0, 30.0, 30.0, 30.0]


def test_a_connection_that_lasted_starts_the_backoff_afresh() -> None:
    t = Clocked()
    for _ in range(6):
        t.fail()
    assert t.fail(afresh=True) == 1.0


def test_the_schedule_follows_the_config() -> None:
    t = Clocked(SessionConfig(retry_first=0.5, retry_interval=3.0))
    assert [t.fail() for _ in range(5)] == [0.5, 1.0, 2.0, 3.0, 3.0]
