"""Choker (BEP 3 tit-for-tat) and the request queue depth rule, with a fake clock."""

from __future__ import annotations

import random

from swarmseek.transfer import Choker, PeerStats, desired_queue_depth, is_snubbed


def stats(peer: str, down: float = 0, up: float = 0, **kw: object) -> PeerStats:
    return PeerStats(
        peer,
        interested=bool(kw.get("interested", True)),
        download_rate=down,
        upload_rate=up,
        connected_at=float(kw.get("connected_at", -1000.0)),  # type: ignore[arg-type]
        snubbed=bool(kw.get("snubbed", False)),
    )


def test_unchokes_fastest_uploaders_to_us_plus_one_optimistic() -> None:
    choker = Choker(random.Random(1), slots=2)
    peers = [stats(f"p{i}", down=i * 1000) for i in range(6)]
    decision = choker.rechoke(0.0, peers, seeding=False)
    assert {"p5", "p4"} <= decision.unchoke
    assert decision.optimistic not in {"p5", "p4", None}
    assert decision.unchoke == {"p5", "p4", decision.optimistic}
    assert decision.choke == frozenset()


def test_seeding_ranks_by_upload_rate() -> None:
    choker = Choker(random.Random(1), slots=1)
    peers = [stats("a", down=0, up=10), stats("b", down=99, up=1), stats("c", up=5)]
    decision = choker.rechoke(0.0, peers, seeding=True)
    assert "a" in decision.unchoke


def test_uninterested_and_snubbed_peers_not_regular() -> None:
    choker = Choker(random.Random(1), slots=4, new_peer_window=0)
    peers = [stats("fast", down=1e6, snubbed=True), stats("idle", down=1e6, interested=False)]
    decision = choker.rechoke(0.0, peers, seeding=False)
    # the snubbed peer may still win the optimistic slot, never a regular one
    assert "idle" not in decision.unchoke
    assert decision.unchoke <= {"fast"} and decision.optimistic in {"fast", None}


def test_rechoke_interval_and_changes() -> None:
    choker = Choker(random.Random(1), slots=1)
    assert choker.due(0.0)
    choker.rechoke(0.0, [stats("a", down=10), stats("b", down=1)], seeding=False)
    assert not choker.due(9.9) and choker.due(10.0)
    decision = choker.rechoke(10.0, [stats("a", down=1), stats("b", down=10)], seeding=False)
    # b overtook a; a stays unchoked as the optimistic unchoke, so nothing changes
    assert decision.optimistic == "a" and choker.unchoked == {"a", "b"}
    assert decision.unchoke == decision.choke == frozenset()


def test_optimistic_rotates_every_30_seconds() -> None:
    choker = Choker(random.Random(3), slots=0)
    peers = [stats(f"p{i}") for i in range(5)]
    seen = []
    now = 0.0
    for _ in range(8):
        decision = choker.rechoke(now, peers, seeding=False)
        seen.append(decision.optimistic)
        now += 10.0
    # constant for 30 s, then a different peer
    assert seen[0] == seen[1] == seen[2]
    assert seen[3] != seen[2]
    assert len(set(seen)) >= 2


def test_new_peers_three_times_as_likely() -> None:
    rng = random.Random(7)
    wins = 0
    for _ in range(2000):
        choker = Choker(rng, slots=0)
        peers = [stats("old"), stats("new", connected_at=0.0)]
        if choker.rechoke(10.0, peers, seeding=False).optimistic == "new":
            wins += 1
    assert 0.68 < wins / 2000 < 0.82  # expected 0.75


def test_forget_disconnected_peer() -> None:
    choker = Choker(random.Random(1), slots=1)
    choker.rechoke(0.0, [stats("a", down=5), stats("b")], seeding=False)
    choker.forget("a")
    choker.forget("b")
    assert choker.unchoked == frozenset() and choker.optimistic is None


def test_snubbed_rule() -> None:
    kw = {"am_interested": True, "peer_choking": False}
    assert is_snubbed(100.0, last_block_at=40.0, unchoked_at=0.0, **kw)
    assert not is_snubbed(100.0, last_block_at=41.0, unchoked_at=0.0, **kw)
    assert not is_snubbed(100.0, last_block_at=None, unchoked_at=50.0, **kw)
    assert is_snubbed(100.0, last_block_at=None, unchoked_at=40.0, **kw)
    assert not is_snubbed(
        100.0, am_interested=False, peer_choking=False, last_block_at=0.0, unchoked_at=0.0
    )
    assert not is_snubbed(
        100.0, am_interested=True, peer_choking=True, last_block_at=0.0, unchoked_at=0.0
    )


def test_desired_queue_depth() -> None:
    assert desired_queue_depth(0) == 2
    assert desired_queue_depth(1_000_000) == int(1_000_000 * 3 / 16384)  # 183
    assert desired_queue_depth(1e12) == 500
    assert desired_queue_depth(1e6, snubbed=True) == 1


def test_desired_queue_depth_slow_start_until_the_rate_is_known() -> None:
    # Each block received adds a request (libtorrent's slow start), up to the cap.
    assert desired_queue_depth(0, minimum=16, received=0) == 16
    assert desired_queue_depth(0, minimum=16, received=100) == 116
    assert desired_queue_depth(0, minimum=16, received=10_000) == 500
    # Once the rate is known, it alone decides; a snubbed peer still gets one.
    assert desired_queue_depth(16384 / 3, minimum=2, received=10_000) == 2
    assert desired_queue_depth(0, received=10_000, snubbed=True) == 1
