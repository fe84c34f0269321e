"""Implicit-feedback matrix factorisation (ALS, Hu, Koren & Volinsky 2008) with the `implicit` package, on CPU.

The member × product matrix counts the baskets of a member that hold the product; it is reweighted either
with BM25 (damps members who buy everything and products everyone buys) or as plain confidence
1 + alpha·count. Recommendations keep products the member already bought by default: in grocery,
repurchase is most of the next basket, and filtering them out would throw that away.

Threads: `implicit` gets `threads` (2 by default, the size of our machines) and BLAS is held to one thread
while fitting, as `implicit` asks (otherwise the two thread pools fight over the cores).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd


@dataclass(frozen=True, slots=True)
class AlsParams:
    factors: int = 64
    regularization: float = 0.05
    iterations: int = 15
    weighting: str = "bm25"  # "bm25" or "confidence"
    alpha: float = 2.0  # confidence = 1 + alpha · count ("confidence" weighting) / scale of BM25 weights
    bm25_k1: float = 100.0
    bm25_b: float = 0.8
    threads: int = 2
    random_state: int = 42

    def __post_init__(self) -> None:
        if self.weighting not in ("bm25", "confidence"):
            raise ValueError("weighting must be 'bm25' or 'confidence'")


class AlsModel:
    def __init__(self, model: Any, user_items: Any, member_ids: Any, product_ids: Any) -> None:
        self.model = model
        self.user_items = user_items  # CSR member × product, the weighted training matrix
        self.member_ids = member_ids
        self.product_ids = product_ids
        self.member_code = {m: i for i, m in enumerate(member_ids)}

    def recommend(self, member_ids: list[str] | None, k: int, *,
                  filter_already_liked_items: bool = False) -> dict[str, list[tuple[str, float]]]:
        """The k best products per member (all when None); members unknown to the model are left out."""
        import numpy as np

        if member_ids is None:
            codes = np.arange(len(self.member_ids))
        else:
            codes = np.array([self.member_code[m] for m in member_ids if m in self.member_code], dtype=np.int64)
        if len(codes) == 0:
            return {}
        k = min(k, len(self.product_ids))
        ids, scores = self.model.recommend(codes, self.user_items[codes], N=k,
                                           filter_already_liked_items=filter_already_liked_items)
        out: dict[str, list[tuple[str, float]]] = {}
        for code, row_ids, row_scores in zip(codes, ids, scores, strict=True):
            out[str(self.member_ids[code])] = [
                (str(self.product_ids[i]), float(s)) for i, s in zip(row_ids, row_scores, strict=True) if i >= 0]
        return out


def fit_als(lines: pd.DataFrame, params: AlsParams = AlsParams()) -> AlsModel:  # noqa: B008
    import numpy as np
    import pandas as pd
    from implicit.als import AlternatingLeastSquares
    from implicit.nearest_neighbours import bm25_weight
    from scipy import sparse
    from threadpoolctl import threadpool_limits

    from oao.insights.baselines import basket_items

    items = basket_items(lines)
    items = items[items["member_id"].notna()]
    member_code, member_ids = pd.factorize(items["member_id"], sort=True)
    item_code, product_ids = pd.factorize(items["product_id"], sort=True)
    counts = sparse.csr_matrix((np.ones(len(items), dtype=np.float32), (member_code, item_code)),
                               shape=(len(member_ids), len(product_ids)))
    counts.sum_duplicates()
    if params.weighting == "bm25":
        weighted = (bm25_weight(counts, K1=params.bm25_k1, B=params.bm25_b) * params.alpha).tocsr()
    else:
        weighted = counts.copy()
        weighted.data = 1.0 + params.alpha * weighted.data
    weighted = weighted.astype(np.float32)
    with threadpool_limits(1, "blas"):  # before the model exists: `implicit` checks BLAS when built
        model = AlternatingLeastSquares(factors=params.factors, regularization=params.regularization,
                                        iterations=params.iterations, num_threads=params.threads,
                                        random_state=params.random_state)
        model.fit(weighted, show_progress=False)
    return AlsModel(model, weighted, np.asarray(member_ids, dtype=object), np.asarray(product_ids, dtype=object))
