"""Top-k metrics of a next-basket recommendation (binary relevance: an item is in the basket or not).

For one member with ranked recommendations R (first k used) and the set T of products of her next basket:
- recall@k  = |R[:k] ∩ T| / |T|
- hit@k     = 1 if R[:k] ∩ T is not empty, else 0
- NDCG@k    = DCG / IDCG, DCG = Σ_{i: R[i] ∈ T} 1 / log2(i + 2) (i from 0), and IDCG the DCG of a perfect
              list, which has min(k, |T|) hits at the top.
Members with an empty target basket are not counted (they bought nothing to predict).
Plain Python: cheap enough for thousands of members and importable without numpy.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass


def recall_at_k(recommended: Sequence[str], truth: Iterable[str], k: int) -> float:
    t = set(truth)
    if not t:
        raise ValueError("an empty target basket has no recall")
    return len(set(recommended[:k]) & t) / len(t)


def hit_at_k(recommended: Sequence[str], truth: Iterable[str], k: int) -> float:
    t = set(truth)
    return 1.0 if any(r in t for r in recommended[:k]) else 0.0


def ndcg_at_k(recommended: Sequence[str], truth: Iterable[str], k: int) -> float:
    t = set(truth)
    if not t:
        raise ValueError("an empty target basket has no NDCG")
    seen: set[str] = set()
    dcg = 0.0
    for i, r in enumerate(recommended[:k]):
        if r in t and r not in seen:  # a repeated item earns nothing the second time
            dcg += 1.0 / math.log2(i + 2)
        seen.add(r)
    ideal = sum(1.0 / math.log2(i + 2) for i in range(min(k, len(t))))
    return dcg / ideal


@dataclass(frozen=True, slots=True)
class Scores:
    recall: float
    ndcg: float
    hit_rate: float
    members: int  # members the means are over


def score(recommendations: Mapping[str, Sequence[str]], truth: Mapping[str, Iterable[str]], k: int) -> Scores:
    """Mean recall@k, NDCG@k and hit rate@k over every member of `truth` with a non-empty basket.
    A member without recommendations counts as all misses (a model must not win by abstaining)."""
    recall = ndcg = hit = 0.0
    n = 0
    for member, basket in truth.items():
        t = set(basket)
        if not t:
            continue
        recs = list(recommendations.get(member, ()))
        recall += recall_at_k(recs, t, k)
        ndcg += ndcg_at_k(recs, t, k)
        hit += hit_at_k(recs, t, k)
        n += 1
    if n == 0:
        return Scores(0.0, 0.0, 0.0, 0)
    return Scores(recall / n, ndcg / n, hit / n, n)
