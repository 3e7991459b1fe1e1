"""Typo correction from the keyword tree: how often a typo'd query finds what the
right spelling finds, and what it costs in DHT rounds and gets.

Run: python tests/benchmarks/bench_spelling.py [--cards 20000] [--queries 200]

Cards are real Debian package names (data/catalogue). Each query is one word of a
random card's name (5 letters or more) with one typo at a random position from the
fourth letter on: two letters swapped, one dropped, one doubled or one replaced. The
reference, in the same run, is the same query spelt right. Reported: how often the
correction is the right word (and, if not, still a known term), results found versus
the right spelling's, and cold sequential rounds and gets of the correction alone
(counted exactly by ``tests/support/pht_rounds``) next to the right spelling's search.
Typos in the first three letters are out of scope by design (spelling.py).
"""

from __future__ import annotations

import argparse
import asyncio
import gzip
import json
import os
import random
import statistics
import string
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", ".."))

from swarmseek.discovery import MemoryItemStore
from swarmseek.index import Card, IndexConfig, Query, SearchIndex, normalise, spelling
from tests.support.pht_rounds import RoundStore, count_rounds

CATALOGUE = os.path.join(os.path.dirname(__file__), "..", "..", "data", "catalogue")
CONFIG = IndexConfig(content_lsh=None, name_lsh=None)


def typo(word: str, rng: random.Random, first: int) -> str:
    i = rng.randrange(first, len(word) - 1)
    kind = rng.choice(["swap", "drop", "double", "replace"])
    if kind == "swap":
        return word[:i] + word[i + 1] + word[i] + word[i + 2 :]
    if kind == "drop":
        return word[:i] + word[i + 1 :]
    if kind == "double":
        return word[:i] + word[i] + word[i:]
    other = rng.choice([c for c in string.ascii_lowercase if c != word[i]])
    return word[:i] + other + word[i + 1 :]


async def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--cards", type=int, default=20_000)
    ap.add_argument("--queries", type=int, default=200)
    ap.add_argument("--walk-nodes", type=int, default=spelling.WALK_NODES)
    args = ap.parse_args()
    spelling.WALK_NODES = args.walk_nodes
    lines = []
    with gzip.open(os.path.join(CATALOGUE, "debian-bookworm.jsonl.gz"), "rt") as f:
        for i, line in enumerate(f):
            if i % max(1, 63_664 // args.cards) == 0:
                lines.append(json.loads(line))
            if len(lines) >= args.cards:
                break
    cards = [
        Card.create(bytes.fromhex(d["infohash"]), d["name"], d["size"], 1, 1_700_000_000)
        for d in lines
    ]
    store = MemoryItemStore()
    await SearchIndex(store, config=CONFIG).publish(cards)
    rng = random.Random(7)
    known = {t for c in cards for t in normalise(c.name)}
    words = sorted({t for t in known if len(t) >= 5 and t.isalpha()})
    right = wrong_known = missed = 0
    found_ratio, rounds, gets, ref_rounds, ref_gets = [], [], [], [], []
    for _ in range(args.queries):
        word = rng.choice(words)
        bad = typo(word, rng, 3)
        if bad in known:
            continue  # the typo is itself a real term: nothing to correct
        reader_store = RoundStore(store)
        reader = SearchIndex(reader_store, config=CONFIG)
        before = reader_store.ops
        fixed, n = await count_rounds(reader_store, reader.corrected(Query((bad,))))
        rounds.append(n)
        gets.append(reader_store.ops - before)
        ref_store = RoundStore(store)
        ref = SearchIndex(ref_store, config=CONFIG)
        ref_page, m = await count_rounds(ref_store, ref.search(Query((word,), limit=20)))
        ref_rounds.append(m)
        ref_gets.append(ref_store.ops)
        if fixed is None:
            missed += 1
            continue
        if fixed.terms == (word,) or (fixed.prefix and word.startswith(fixed.prefix)):
            right += 1
        else:
            wrong_known += 1
        page = await SearchIndex(store, config=CONFIG).search(fixed)
        want = {r.infohash for r in ref_page.results}
        got = {r.infohash for r in page.results}
        found_ratio.append(len(want & got) / len(want) if want else 1.0)
    total = right + wrong_known + missed
    load = os.getloadavg()[0]
    print(f"{len(cards)} real cards, {total} typo'd one-word queries, load {load:.1f}", end="")
    print(f", walks of at most {args.walk_nodes} PHT nodes")
    print(f"  corrected to the right word   {right / total:.3f}")
    print(f"  corrected to another term     {wrong_known / total:.3f}")
    print(f"  not corrected                 {missed / total:.3f}")
    share = statistics.mean(found_ratio)
    print(f"  right spelling's results found (mean over corrected queries) {share:.3f}")
    for label, xs, ys in (("rounds", rounds, ref_rounds), ("gets", gets, ref_gets)):
        print(
            f"  {label:6s} correction p50 {statistics.median(xs):.0f} max {max(xs)}"
            f" | right spelling's search p50 {statistics.median(ys):.0f} max {max(ys)}"
        )


if __name__ == "__main__":
    asyncio.run(main())
