"""Index benchmark: PHT lookup gets vs log2(D), puts and items per card, LSH quality.

Run: python tests/benchmarks/bench_index.py [--cards 10000] [--catalogue 63664] [--quick]

References, measured in the same run on the same data: the PHT paper's cold binary
search bound ceil(log2(D + 1)) sequential gets; datasketch's in-memory
``MinHashLSH(threshold=0.5, num_perm=128)`` for similarity; exact Jaccard as truth.
Sequential DHT rounds per query on the real catalogue (data/catalogue) are counted
exactly by ``tests/support/pht_rounds.RoundStore`` (operations complete in lockstep
rounds), and every query's results are checked against a brute-force scan.
"""

from __future__ import annotations

import argparse
import asyncio
import gzip
import hashlib
import json
import math
import os
import pathlib
import random
import statistics
import sys
import time
from dataclasses import replace

import numpy as np
from datasketch import MinHash, MinHashLSH

ROOT = pathlib.Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from swarmseek.discovery import KeyPair, MemoryItemStore  # noqa: E402
from swarmseek.index import (  # noqa: E402
    Card,
    IndexConfig,
    Namespace,
    Pht,
    Query,
    SearchIndex,
    TreeSpec,
    normalise,
)
from swarmseek.index.features import (  # noqa: E402
    MINHASH_SEED,
    estimate_jaccard,
    file_features,
    signature,
    word_shingles,
)
from swarmseek.index.query import KW, SIZE, term_prefix  # noqa: E402
from tests.support.index_corpus import near_duplicates, shingle_jaccard  # noqa: E402
from tests.support.pht_rounds import RoundStore, count_rounds  # noqa: E402

CATALOGUE = ROOT / "data" / "catalogue" / "debian-bookworm.jsonl.gz"


def rows(title: str, table: list[tuple[str, ...]]) -> None:
    print(f"\n## {title}")
    width = [max(len(r[i]) for r in table) for i in range(len(table[0]))]
    for r in table:
        print("  ".join(c.ljust(w) for c, w in zip(r, width, strict=True)))


async def bench_lookups(sizes: list[int]) -> None:
    table = [
        (
            "entries",
            "width",
            "ceil(log2(D+1))",
            "cold first",
            "cold max",
            "warm mean",
            "warm max",
            "gets/lookup",
        )
    ]
    kp = KeyPair.from_seed(b"\1" * 32)
    spec = TreeSpec(b"size", 12)
    for n in sizes:
        store = MemoryItemStore()
        rng = random.Random(n)
        keys = [rng.getrandbits(96).to_bytes(12, "big") for _ in range(n)]
        await Pht(store, kp, spec).apply({k: b"\0" * 40 for k in keys})
        for width in (1, 3):
            colds = []
            for i in range(50):  # a fresh reader each time: no cache
                reader = Pht(store, kp, spec, width=width)
                await reader.lookup(keys[i])
                colds.append(reader.counters.lookup_gets)
            reader = Pht(store, kp, spec, width=width)
            await reader.lookup(keys[0])
            c0 = reader.counters.lookup_gets, reader.counters.lookup_probes, reader.counters.lookups
            per = []
            for k in random.Random(5).sample(keys, min(2000, n)):
                before = reader.counters.lookup_gets
                await reader.lookup(k)
                per.append(reader.counters.lookup_gets - before)
            probes = (reader.counters.lookup_probes - c0[1]) / (reader.counters.lookups - c0[2])
            table.append(
                (
                    str(n),
                    str(width),
                    str(math.ceil(math.log2(spec.key_bits + 1))),
                    f"{statistics.median(colds):.1f}",
                    str(max(colds)),
                    f"{statistics.mean(per):.2f}",
                    str(max(per)),
                    f"{probes:.2f}",
                )
            )
    rows("PHT sequential rounds of gets per lookup (size tree, D=96-bit keys, B=19)", table)
    print(
        "width = gets per round; cold = first lookup of a new reader (median of 50);",
        "warm = 2000 lookups by one reader (leaf-depth cache); the reference is the",
        "PHT paper's binary search, ceil(log2(D+1)) sequential gets",
    )


def synthetic_cards(n: int, seed: int = 0) -> list[Card]:
    rng = random.Random(seed)
    words = [
        "".join(
            rng.choice("abcdefghijklmnopqrstuvwxyz0123456789") for _ in range(rng.randint(3, 9))
        )
        for _ in range(5000)
    ]
    return [
        Card.create(
            hashlib.sha1(b"%d" % i).digest(),
            " ".join(rng.choice(words) for _ in range(rng.randint(2, 6))),
            rng.randrange(10**11),
            rng.randint(1, 100),
            1_500_000_000 + rng.randrange(300_000_000),
            tuple(rng.randrange(256) for _ in range(256)),
        )
        for i in range(n)
    ]


async def bench_import(n: int) -> None:
    cards = synthetic_cards(n + 200)
    table = [("config", "cards", "puts/card", "items/card", "gets/card", "seconds")]
    for label, cfg in (
        ("kw+size+time", IndexConfig(content_lsh=None, name_lsh=None)),
        ("all (+32 lsh, +16 nlsh)", IndexConfig()),
    ):
        store = MemoryItemStore()
        idx = SearchIndex(store, config=cfg)
        t = time.perf_counter()
        await idx.publish(cards[:n])
        dt = time.perf_counter() - t
        table.append(
            (
                f"{label}, bulk",
                str(n),
                f"{store.counters.puts / n:.2f}",
                f"{len(store) / n:.2f}",
                f"{store.counters.gets / n:.2f}",
                f"{dt:.1f}",
            )
        )
        puts, gets = store.counters.puts, store.counters.gets
        for c in cards[n:]:
            await idx.publish([c])
        k = len(cards) - n
        table.append(
            (
                f"{label}, one at a time",
                str(k),
                f"{(store.counters.puts - puts) / k:.2f}",
                "",
                f"{(store.counters.gets - gets) / k:.2f}",
                "",
            )
        )
        p0, g0 = store.counters.puts, store.counters.gets
        t = time.perf_counter()
        await idx.republish()
        table.append(
            (
                f"{label}, republish (hourly)",
                str(len(cards)),
                f"{(store.counters.puts - p0) / len(cards):.2f}",
                "",
                f"{(store.counters.gets - g0) / len(cards):.2f}",
                f"{time.perf_counter() - t:.1f}",
            )
        )
        if cfg.content_lsh is None:
            reader = SearchIndex(store, config=cfg)
            rng = random.Random(1)
            sample = rng.sample(cards[:n], 400)
            for part, queries in (("first 100", sample[:100]), ("after 300", sample[300:])):
                if part == "after 300":
                    for c in sample[100:300]:
                        await reader.search(Query((c.name.split()[0],)))
                before = reader.counters.lookup_gets, reader.counters.lookups
                worst = 0
                for c in queries:
                    g0 = reader.counters.lookup_gets
                    page = await reader.search(Query((c.name.split()[0],), limit=1000))
                    assert c.infohash in {r.infohash for r in page.results}  # recall 1
                    worst = max(worst, reader.counters.lookup_gets - g0)
                g = reader.counters.lookup_gets - before[0]
                lk = reader.counters.lookups - before[1]
                print(
                    f"keyword queries, fresh reader, {part} queries: {g / lk:.2f} sequential"
                    f" rounds per kw lookup, width 3 (max {worst} per query;"
                    " D=128, ceil(log2(D+1))=8)"
                )
    rows("Import cost (each leaf touched about once per batch)", table)


def corpus_texts() -> list[tuple[str, bytes]]:
    base = ROOT / "data" / "corpus"
    if not base.is_dir():
        return []
    return [
        (str(p.relative_to(base)), p.read_bytes()) for p in sorted(base.rglob("*")) if p.is_file()
    ]


async def bench_similarity(texts: list[tuple[str, bytes]], label: str) -> None:
    feats = [file_features(data) for _, data in texts]
    sets = [word_shingles(d.decode("utf-8", "replace")) for _, d in texts]
    n = len(texts)
    truth = {
        (i, j)
        for i in range(n)
        for j in range(n)
        if i != j and shingle_jaccard(sets[i], sets[j]) >= 0.5
    }
    cards = [
        Card.create(hashlib.sha1(d).digest(), name, len(d), 1, 0, signature(f))
        for (name, d), f in zip(texts, feats, strict=True)
    ]
    cfg = IndexConfig(name_lsh=None)
    store = MemoryItemStore()
    await SearchIndex(store, config=cfg).publish(cards)
    reader = SearchIndex(store, config=cfg)
    ours = set()
    by_ih = {c.infohash: i for i, c in enumerate(cards)}
    max_gets = 0
    for i, c in enumerate(cards):
        before = reader.counters.lookup_gets_max
        for r in await reader.similar_to(c.signature, limit=10_000):
            j = by_ih[r.infohash]
            if j != i:
                ours.add((i, j))
        max_gets = max(max_gets, reader.counters.lookup_gets_max, before)
    # reference: datasketch in memory, candidates (no re-ranking), same features
    lsh = MinHashLSH(threshold=0.5, num_perm=128)
    mhs = []
    for i, f in enumerate(feats):
        m = MinHash(num_perm=128, seed=MINHASH_SEED)
        m.update_batch(list(f))
        mhs.append(m)
        lsh.insert(str(i), m)
    ref = {(i, int(j)) for i, m in enumerate(mhs) for j in lsh.query(m) if int(j) != i}

    def pr(found: set[tuple[int, int]]) -> tuple[float, float]:
        tp = len(found & truth)
        return (tp / len(truth) if truth else 1.0), (tp / len(found) if found else 1.0)

    (r1, p1), (r2, p2) = pr(ours), pr(ref)
    rows(
        f"Similarity at J >= 0.5, {label}: {n} documents, {len(truth)} ordered pairs",
        [
            ("method", "recall", "precision"),
            ("swarmseek via PHT (LSH 32x3 + re-rank)", f"{r1:.3f}", f"{p1:.3f}"),
            ("datasketch MinHashLSH(0.5, 128) candidates", f"{r2:.3f}", f"{p2:.3f}"),
            (
                "ratio ours/reference",
                f"{r1 / r2 if r2 else float('nan'):.2f}",
                f"{p1 / p2 if p2 else float('nan'):.2f}",
            ),
        ],
    )


def bench_signature_size() -> None:
    texts = near_duplicates(families=30, members=8, seed=9)
    sets = [word_shingles(t) for t in texts]
    pairs = [(i, j) for i in range(len(sets)) for j in range(i + 1, len(sets)) if i // 8 == j // 8]
    table = [("values", "bits", "card bytes", "RMSE of J estimate", "max error")]
    for k in (64, 128, 256):
        full = []
        for s in sets:
            m = MinHash(num_perm=k, seed=MINHASH_SEED)
            m.update_batch(list(s))
            full.append(m.hashvalues.astype(np.uint64))
        for bits in (8, 16, 32):
            errs = []
            for i, j in pairs:
                exact = shingle_jaccard(sets[i], sets[j])
                mask = (1 << bits) - 1
                a = [int(v) & mask for v in full[i]]
                b = [int(v) & mask for v in full[j]]
                errs.append(estimate_jaccard(a, b, bits) - exact)
            rmse = math.sqrt(sum(e * e for e in errs) / len(errs))
            table.append(
                (str(k), str(bits), str(k * bits // 8), f"{rmse:.4f}", f"{max(map(abs, errs)):.3f}")
            )
    rows(f"Signature size vs accuracy ({len(pairs)} near-duplicate pairs)", table)


def catalogue_cards(n: int) -> list[Card]:
    cards = []
    with gzip.open(CATALOGUE, "rt", encoding="utf-8") as f:
        for i, line in enumerate(f):
            if i >= n:
                break
            x = json.loads(line)
            created = 1_600_000_000 + (i * 7919) % 50_000_000  # the catalogue has no dates
            ih = bytes.fromhex(x["infohash"])
            cards.append(Card.create(ih, x["name"], x["size"], x.get("files", 1), created))
    return cards


def brute(cards: list[Card], q: Query) -> set[bytes]:
    out = set()
    for c in cards:
        words = set(normalise(c.name))
        if not set(q.terms) <= words:
            continue
        if q.prefix and not any(w.startswith(q.prefix) for w in words):
            continue
        if (q.min_size is not None and c.size < q.min_size) or (
            q.max_size is not None and c.size > q.max_size
        ):
            continue
        out.add(c.infohash)
    return out


def catalogue_queries(cards: list[Card], n: int) -> dict[str, list[Query]]:
    rng = random.Random(2)
    counts: dict[str, int] = {}
    for c in cards:
        for t in set(normalise(c.name)):
            counts[t] = counts.get(t, 0) + 1
    rare = sorted(t for t, k in counts.items() if k <= 50 and len(t) >= 3)
    common = sorted(t for t, k in counts.items() if 50 < k <= 2000 and len(t) >= 3)
    # Prefixes of every length from 2 to 8 characters: long shared prefixes such as
    # "libreoff" are what made a walk descend one level per round.
    prefixes = sorted({t[:k] for t in counts for k in range(2, 9) if len(t) > k})
    sizes = sorted(c.size for c in cards)
    ranges, combined = [], []
    for _ in range(n):
        i = rng.randrange(len(sizes) - 10)
        ranges.append(Query(min_size=sizes[i], max_size=sizes[i + 9], limit=1000))
    for t in rng.sample(common, min(n, len(common))):
        i = rng.randrange(len(sizes) // 2)
        lo, hi = sizes[i], sizes[i + rng.choice((10, 100, len(sizes) // 4))]
        combined.append(Query((t,), min_size=lo, max_size=hi, limit=20))
    return {
        "keyword": [Query((t,), limit=1000) for t in rng.sample(rare, min(n, len(rare)))],
        "prefix": [Query(prefix=p, limit=20) for p in rng.sample(prefixes, min(n, len(prefixes)))],
        "range": ranges,
        "combined": combined,
    }


async def all_pages(index: SearchIndex, q: Query) -> set[bytes]:
    out: set[bytes] = set()
    cursor = None
    while True:
        page = await index.search(replace(q, limit=100, cursor=cursor))
        out |= {r.infohash for r in page.results}
        if (cursor := page.next_cursor) is None:
            return out


async def bench_catalogue_rounds(n: int, per_kind: int) -> None:
    cards = catalogue_cards(n)
    cfg = IndexConfig(content_lsh=None, name_lsh=None)
    memory = MemoryItemStore()
    t = time.perf_counter()
    await SearchIndex(memory, config=cfg).publish(cards)
    dt = time.perf_counter() - t
    print(f"\ncatalogue index: {len(cards)} cards, {len(memory)} items, built in {dt:.0f} s")
    store = RoundStore(memory)
    bound = {
        "keyword": math.ceil(math.log2(KW.key_bits + 1)),
        "prefix": math.ceil(math.log2(KW.key_bits + 1)),
        "range": math.ceil(math.log2(SIZE.key_bits + 1)),
        "combined": math.ceil(math.log2(KW.key_bits + 1)),
    }
    table = [
        (
            "query",
            "n",
            "cold p50",
            "cold max",
            "warm p50",
            "warm max",
            "log2(D) bound",
            "warm p50/bound",
            "gets/query",
            "exact",
        )
    ]
    for kind, qs in catalogue_queries(cards, per_kind).items():
        warm = SearchIndex(store, config=cfg)  # type: ignore[arg-type]
        cold_rounds, exact, bounds = [], 0, 0
        ops = store.ops
        for q in qs:
            page, r = await count_rounds(store, SearchIndex(store, config=cfg).search(q))  # type: ignore[arg-type]
            cold_rounds.append(r)
            truth = brute(cards, q)
            if page.total_exact:
                exact += page.total == len(truth) and {x.infohash for x in page.results} <= truth
            else:  # total an upper bound (a broad combined query): every page must be right
                bounds += 1
                found = await all_pages(SearchIndex(memory, config=cfg), q)
                exact += page.total >= len(truth) and found == truth
            await count_rounds(store, warm.search(q))
        gets = (store.ops - ops) / (2 * len(qs))
        warm_rounds = [(await count_rounds(store, warm.search(q)))[1] for q in qs]
        table.append(
            (
                kind,
                str(len(qs)),
                f"{statistics.median(cold_rounds):.0f}",
                str(max(cold_rounds)),
                f"{statistics.median(warm_rounds):.0f}",
                str(max(warm_rounds)),
                str(bound[kind]),
                f"{statistics.median(warm_rounds) / bound[kind]:.2f}",
                f"{gets:.0f}",
                f"{exact}/{len(qs)}" + (f" ({bounds} totals bounds)" if bounds else ""),
            )
        )
    rows(
        f"Sequential DHT rounds per search on the Debian catalogue ({len(cards)} cards),"
        " card fetches included",
        table,
    )
    print(
        "cold = a fresh reader per query (empty leaf cache and catalogue); warm = the same"
        " queries again; bound = the PHT paper's binary search, ceil(log2(D+1)) rounds for"
        " one lookup alone (D = 128-bit kw keys, 96-bit size keys); exact = total and"
        " results match a brute-force scan (where total is an upper bound, total_exact"
        " false: every page's results match and the bound holds)"
    )
    await bench_prefix_walks(memory, cards, per_kind)


async def bench_prefix_walks(memory: MemoryItemStore, cards: list[Card], n: int) -> None:
    """The PHT walk alone (no cards), by prefix length: where long chains were."""
    kp = Namespace.open_default().signer
    store = RoundStore(memory)
    terms = sorted({t for c in cards for t in normalise(c.name)})
    rng = random.Random(3)
    table = [("prefix chars", "n", "rounds p50", "rounds max", "nodes/query", "entries/query")]
    for k in (2, 4, 6, 8, 10):
        prefixes = sorted({t[:k] for t in terms if len(t) > k})
        sample = rng.sample(prefixes, min(n, len(prefixes)))
        rounds, found = [], 0
        ops = store.ops
        for p in sample:
            pht = Pht(store, kp, KW)  # type: ignore[arg-type]
            pht.max_range_nodes = None
            entries, r = await count_rounds(store, pht.get_prefix(term_prefix(p, exact=False)))
            rounds.append(r)
            found += len(entries)
        table.append(
            (
                str(k),
                str(len(sample)),
                f"{statistics.median(rounds):.0f}",
                str(max(rounds)),
                f"{(store.ops - ops) / len(sample):.0f}",
                f"{found / len(sample):.0f}",
            )
        )
    rows("kw tree prefix walk alone, cold reader (PHT rounds only)", table)


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--cards", type=int, default=10_000)
    parser.add_argument("--catalogue", type=int, default=63_664)
    parser.add_argument("--queries", type=int, default=60)
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    print(f"os.cpu_count() = {os.cpu_count()}")
    await bench_catalogue_rounds(
        10_000 if args.quick else args.catalogue, 20 if args.quick else args.queries
    )
    await bench_lookups([1_000, 10_000] if args.quick else [1_000, 10_000, 100_000])
    await bench_import(1_000 if args.quick else args.cards)
    corpus = corpus_texts()
    if corpus:
        await bench_similarity(corpus, "data/corpus")
    synthetic = near_duplicates(families=40 if not args.quick else 10, members=8, seed=7)
    await bench_similarity([(f"doc{i}", t.encode()) for i, t in enumerate(synthetic)], "synthetic")
    bench_signature_size()


if __name__ == "__main__":
    asyncio.run(main())
