"""BEP 44 cas when writers race: each replica decides alone, so a put's outcome must
say whether the replicas as a whole took it (pure KRPC nodes on a fake network)."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from swarmseek.discovery import KeyPair, MemoryItemStore, sign_item, update_mutable
from swarmseek.discovery.errors import CasConflict
from swarmseek.discovery.itemops import GetFound, GetOp, LostWrites
from swarmseek.discovery.items import MutableItem
from swarmseek.discovery.krpc import Response
from tests.support.dhtsim import FakeNet, bootstrapped

KEYS = KeyPair.from_seed(bytes(range(32)))


def network(n: int, seed: int) -> FakeNet:
    return bootstrapped(n, seed, reorder=True)


def read(net: FakeNet, reader: tuple[str, int], target: bytes) -> GetFound:
    found = net.run(
        reader,
        net.start(reader, lambda n, now: n.get(target, now, public_key=KEYS.public_key)),
    )
    assert isinstance(found, GetFound)
    return found


@pytest.mark.parametrize("seed", range(40))
def test_two_writers_at_one_seq_never_both_win(seed: int) -> None:
    # Six nodes: both writers are replicas of the item too (k = 8 > 6), the case where
    # each writer's put lands first on part of the others and both used to "win".
    net = network(6, seed)
    a, b, *readers = list(net.nodes)
    one = sign_item(KEYS, b"1", 1)
    assert isinstance(net.run(a, net.start(a, lambda n, now: n.put_mutable(one, now))), int)
    two_a, two_b = sign_item(KEYS, b"2a", 2), sign_item(KEYS, b"2b", 2)
    op_a = net.start(a, lambda n, now: n.put_mutable(two_a, now, cas=1))
    op_b = net.start(b, lambda n, now: n.put_mutable(two_b, now, cas=1))
    outcome_a, outcome_b = net.run(a, op_a), net.run(b, op_b)
    won = [item for item, o in ((two_a, outcome_a), (two_b, outcome_b)) if isinstance(o, int)]
    assert len(won) <= 1, (outcome_a, outcome_b)
    assert all(isinstance(o, (int, CasConflict)) for o in (outcome_a, outcome_b))
    if won:  # whoever was told it won is what every reader gets
        for reader in readers:
            assert read(net, reader, one.target).item == won[0]


def test_a_lagging_replica_does_not_block_writers_and_catches_up() -> None:
    net = network(12, 5)
    addrs = list(net.nodes)
    writer = addrs[0]
    one, two, three = (sign_item(KEYS, b"v%d" % i, i) for i in (1, 2, 3))
    # The 8 closest other nodes, and the writer's own store: it is one of the closest.
    assert net.run(writer, net.start(writer, lambda n, now: n.put_mutable(one, now))) == 9
    holders = [a for a in addrs if net.nodes[a].items.get(one.target, net.now) is not None]
    away = holders[-1]
    net.dead.add(away)  # misses the write of seq 2
    outcome = net.run(writer, net.start(writer, lambda n, now: n.put_mutable(two, now, cas=1)))
    assert isinstance(outcome, int)
    net.dead.discard(away)
    stale = net.nodes[away].items.get(one.target, net.now)
    assert stale is not None and stale.mutable is not None and stale.mutable.seq == 1
    # The lagging node refuses cas=2 with 301 forever; that must not fail the put.
    outcome = net.run(writer, net.start(writer, lambda n, now: n.put_mutable(three, now, cas=2)))
    assert isinstance(outcome, int)
    caught_up = net.nodes[away].items.get(one.target, net.now)
    assert caught_up is not None and caught_up.mutable == three


class SplitOnce(MemoryItemStore):
    """The first put lands but reports a race (our item won on 3 of the replicas)."""

    def __init__(self) -> None:
        super().__init__()
        self.split = True

    async def put_mutable(self, item, *, cas=None):  # type: ignore[no-untyped-def]
        await super().put_mutable(item, cas=cas)
        if self.split:
            self.split = False
            raise CasConflict(current_seq=item.seq, landed=3)


async def test_update_after_a_race_settles_even_when_nothing_changes() -> None:
    store = SplitOnce()
    written = await update_mutable(
        store, KEYS, b"s", lambda old: old if old is not None else b"mine", retries=3
    )
    # Attempt 1 stored b"mine" (seq 1) but met a race; attempt 2 found its change there
    # and still re-put it (seq 2): one clean write puts every replica on one version.
    assert written is not None and written.seq == 2 and written.value == b"mine"
    assert store.counters.puts == 2


async def test_update_without_a_race_writes_nothing_unchanged() -> None:
    store = MemoryItemStore()
    await store.put_mutable(sign_item(KEYS, b"x", 1, b"s"))
    current = await update_mutable(store, KEYS, b"s", lambda old: None)
    assert current is not None and current.seq == 1 and store.counters.puts == 1


class RefusedOnce(MemoryItemStore):
    """The first put reaches no replica: a clean refusal, nothing to settle."""

    def __init__(self) -> None:
        super().__init__()
        self.refuse = True

    async def put_mutable(self, item, *, cas=None):  # type: ignore[no-untyped-def]
        if self.refuse:
            self.refuse = False
            await super().put_mutable(sign_item(KEYS, b"theirs", item.seq, item.salt))
            raise CasConflict(current_seq=item.seq, landed=0)
        await super().put_mutable(item, cas=cas)


async def test_a_clean_refusal_does_not_force_a_rewrite() -> None:
    store = RefusedOnce()
    current = await update_mutable(store, KEYS, b"s", lambda old: None if old else b"mine")
    # Someone else's item won everywhere: our update wants no change, nothing to settle.
    assert current is not None and current.value == b"theirs" and store.counters.puts == 1


@pytest.mark.parametrize("seed", range(40))
def test_two_writers_never_both_win_when_a_replica_lags(seed: int) -> None:
    # Regression: a replica both writers read as lagging (it missed seq 2) gets their
    # seq 3 without cas; whichever lands there second is refused with 302. That refusal
    # was ignored as "lagging", so both writers could win on disjoint replicas and one
    # PHT entry vanished (test_concurrent_publishers_lose_no_card, ~1 run in 10).
    net = network(4, seed)
    a, b, *others = list(net.nodes)
    one, two = sign_item(KEYS, b"1", 1), sign_item(KEYS, b"2", 2)
    assert isinstance(net.run(a, net.start(a, lambda n, now: n.put_mutable(one, now))), int)
    away = others[seed % len(others)]
    net.dead.add(away)
    assert isinstance(net.run(a, net.start(a, lambda n, now: n.put_mutable(two, now, cas=1))), int)
    net.dead.discard(away)
    three_a, three_b = sign_item(KEYS, b"3a", 3), sign_item(KEYS, b"3b", 3)
    op_a = net.start(a, lambda n, now: n.put_mutable(three_a, now, cas=2))
    op_b = net.start(b, lambda n, now: n.put_mutable(three_b, now, cas=2))
    outcome_a, outcome_b = net.run(a, op_a), net.run(b, op_b)
    won = [item for item, o in ((three_a, outcome_a), (three_b, outcome_b)) if isinstance(o, int)]
    assert len(won) <= 1, (outcome_a, outcome_b)
    if won:
        for reader in others:
            assert read(net, reader, one.target).item == won[0]


def _reply(op: GetOp, item: MutableItem, port: int) -> None:
    body = {b"v": item.value, b"k": KEYS.public_key, b"sig": item.signature, b"seq": item.seq}
    op.on_reply(None, ("10.0.0.1", port), Response(b"t", bytes([port % 250 + 1]) * 20, body))


def test_a_get_follows_most_replicas_not_a_lost_race_leftover_at_a_higher_seq() -> None:
    # A writer that lost a race left seq 5 (built on an old version) on one replica;
    # the winner's seq 4 is on two. Taking the highest seq dropped the winner's entries.
    won, leftover = sign_item(KEYS, b"won", 4), sign_item(KEYS, b"leftover", 5)
    op = GetOp(won.target, [], [], 8, 3, public_key=KEYS.public_key)
    for item, port in ((leftover, 1), (won, 2), (won, 3)):
        _reply(op, item, port)
    assert op.found.item == won and op.found.newest_seq == 5


def test_a_node_that_answers_twice_votes_once() -> None:
    # Regression: a node asked as a bootstrap address and again by its id answered
    # twice, its version got two votes and beat the version two other nodes held.
    theirs, ours = sign_item(KEYS, b"theirs", 5), sign_item(KEYS, b"ours", 5)
    op = GetOp(ours.target, [], [], 8, 3, public_key=KEYS.public_key)
    for item, port in ((theirs, 1), (theirs, 1), (ours, 2), (ours, 3)):
        _reply(op, item, port)
    assert op.found.item == ours
    assert op._votes == {theirs.signature: 1, ours.signature: 2}


def test_a_leftover_above_the_version_read_is_overwritten_by_the_next_write() -> None:
    net = network(6, 3)
    writer, *others = list(net.nodes)
    one = sign_item(KEYS, b"1", 1)
    assert isinstance(
        net.run(writer, net.start(writer, lambda n, now: n.put_mutable(one, now))), int
    )
    leftover = sign_item(KEYS, b"leftover", 5)
    net.nodes[others[0]].items.put_mutable(leftover, None, net.now)
    found = read(net, writer, one.target)  # the get whose tokens the puts reuse
    assert found.item == one and found.newest_seq == 5
    two = sign_item(KEYS, b"2", 2)
    outcome = net.run(writer, net.start(writer, lambda n, now: n.put_mutable(two, now, cas=1)))
    # Refused by the replica holding seq 5, and told so: the next attempt goes above it.
    assert isinstance(outcome, CasConflict) and outcome.current_seq == 5
    read(net, writer, one.target)
    six = sign_item(KEYS, b"6", 6)
    outcome = net.run(writer, net.start(writer, lambda n, now: n.put_mutable(six, now, cas=2)))
    assert isinstance(outcome, int)
    for reader in others:
        assert read(net, reader, one.target).item == six


def test_a_writer_does_not_build_on_its_own_lost_write_when_replicas_tie() -> None:
    # Regression: three versions one vote each (a winner's, another writer's leftover,
    # ours that lost); the tie went to ours by seq, and our settling re-put erased the
    # winner's entry. Our own lost write is the last choice.
    winner, ours = sign_item(KEYS, b"winner", 5), sign_item(KEYS, b"ours", 6)
    op = GetOp(
        ours.target, [], [], 8, 3, public_key=KEYS.public_key, avoid=frozenset({ours.signature})
    )
    for item, port in ((ours, 1), (winner, 2)):
        _reply(op, item, port)
    assert op.found.item == winner
    alone = GetOp(
        ours.target, [], [], 8, 3, public_key=KEYS.public_key, avoid=frozenset({ours.signature})
    )
    _reply(alone, ours, 1)
    assert alone.found.item == ours  # nothing else there: still read


def test_lost_writes_are_remembered_until_a_clean_win() -> None:
    lost = LostWrites()
    first, second = sign_item(KEYS, b"a", 2), sign_item(KEYS, b"b", 3)
    lost.record(SimpleNamespace(item=first, outcome=CasConflict(landed=1)))  # type: ignore[arg-type]
    lost.record(SimpleNamespace(item=second, outcome=CasConflict(landed=0)))  # type: ignore[arg-type]
    assert lost.avoid(first.target) == {first.signature}  # a clean refusal left nothing
    lost.record(SimpleNamespace(item=second, outcome=3))  # type: ignore[arg-type]
    assert lost.avoid(first.target) == frozenset()
