"""Relevance: BM25 over names (Robertson and Zaragoza 2009). Pure.

Our own ~30 lines rather than scikit-learn's TfidfVectorizer: BM25's term-frequency
saturation (k1) and length normalisation (b) suit short names better than TF-IDF's
linear term counts, and the scored set is a few hundred candidates, for which fitting
a vectorizer (vocabulary, sparse matrix) costs more than the arithmetic.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence

from .query import Result, normalise

K1 = 1.2
B = 0.75


def bm25(
    query_terms: Sequence[str], documents: Sequence[Sequence[str]], prefix: str | None = None
) -> list[float]:
    """One score per document; the candidate set is the corpus for IDF.

    A ``prefix`` counts as a query term that every document term starting with it
    matches.
    """
    wanted = [(t, False) for t in query_terms] + ([(prefix, True)] if prefix else [])
    counts = [Counter(doc) for doc in documents]

    def freq(tf: Counter[str], term: str, is_prefix: bool) -> int:
        if not is_prefix:
            return tf.get(term, 0)
        return sum(c for t, c in tf.items() if t.startswith(term))

    tfs = [[freq(tf, term, is_prefix) for tf in counts] for term, is_prefix in wanted]
    return bm25_scores([len(d) for d in documents], tfs)


def bm25_scores(lengths: Sequence[int], tfs: Sequence[Sequence[int]]) -> list[float]:
    """BM25 from statistics alone: each document's length in terms, and ``tfs[j][i]``,
    how often wanted term ``j`` occurs in document ``i``.

    Both a card's name and its keyword entries (which carry the name's length and the
    term's count) give these numbers, so a result set too large to fetch every card is
    ranked exactly as one whose cards were all fetched.
    """
    n = len(lengths)
    if n == 0 or not tfs:
        return [0.0] * n
    avg = sum(lengths) / n or 1.0
    scores = [0.0] * n
    for per_doc in tfs:
        df = sum(1 for f in per_doc if f)
        idf = math.log(1 + (n - df + 0.5) / (df + 0.5))
        for i, f in enumerate(per_doc):
            if f:
                norm = K1 * (1 - B + B * lengths[i] / avg)
                scores[i] += idf * f * (K1 + 1) / (f + norm)
    return scores


def rank(
    results: Sequence[Result], query_terms: Sequence[str], prefix: str | None = None
) -> list[Result]:
    """Scored and sorted: score desc, then name, then infohash (a stable total order)."""
    scores = bm25(query_terms, [normalise(r.name) for r in results], prefix)
    scored = [
        Result(
            r.infohash, r.name, r.size, r.files, r.created, s, r.target, r.namespace, r.signature
        )
        for r, s in zip(results, scores, strict=True)
    ]
    return sorted(scored, key=lambda r: (-r.score, r.name.casefold(), r.infohash))
