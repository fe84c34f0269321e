"""TIFU-KNN next-basket recommendation (Hu, He, Wang, Fang & Huang, SIGIR 2020, "Modeling Personalized
Item Frequency Information for Next-basket Recommendation"), plus item-item "bought together" neighbours.

Each basket is a multi-hot vector over products. A member's baskets, newest first, are cut into groups of
m = `group_size` baskets (the oldest group may be shorter). Inside a group of t baskets the basket j
places before the group's newest weighs r_b**j / t (`within_group_decay`); group g places before the
newest group weighs r_g**g (`group_decay`); the member vector is the sum over groups divided by the
number of groups G. So basket b of a member with n baskets gets

    w_b = r_g**g(b) * r_b**j(b) / t(g(b)) / G,   g = age // m,  j = age % m,  age = 0 for the newest,

and her vector is Σ_b w_b · v_b — a personal, time-decayed item frequency. The prediction blends it with
what similar members buy: score = alpha · own + (1 - alpha) · mean of the `neighbours` nearest members'
vectors (cosine similarity of the vectors, herself excluded). Items she already bought stay eligible:
in grocery, repurchase is most of the next basket.

Everything is sparse (scipy): the member vectors are one COO → CSR build over the (basket, item) pairs;
the nearest members come from blocks of a sparse cosine product; the neighbour mean is a sparse product.
numpy/scipy/pandas are imported inside functions so importing this module is free for the core install.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd


@dataclass(frozen=True, slots=True)
class TifuParams:
    # Defaults: chosen on The Complete Journey's validation split (benchmarks/recommend_eval.py).
    group_size: int = 7  # m: baskets per group
    within_group_decay: float = 1.0  # r_b
    group_decay: float = 0.7  # r_g
    neighbours: int = 50  # k nearest members
    alpha: float = 0.8  # weight of her own vector against her neighbours'
    # Item-item neighbours: a pair must share at least this many baskets (cosine of rare pairs is noise).
    min_pair_baskets: int = 3

    def __post_init__(self) -> None:
        if self.group_size < 1:
            raise ValueError("group_size must be >= 1")
        if not (0 < self.within_group_decay <= 1 and 0 < self.group_decay <= 1):
            raise ValueError("decay rates must be in (0, 1]")
        if self.neighbours < 0:
            raise ValueError("neighbours must be >= 0")
        if not 0 <= self.alpha <= 1:
            raise ValueError("alpha must be in [0, 1]")


@dataclass(slots=True)
class History:
    """The training baskets as integer codes, prepared once and shared by every parameter setting."""
    member_ids: Any  # numpy object array: member code -> member id
    product_ids: Any  # numpy object array: item code -> product id
    member_code: dict[str, int]
    # One entry per (basket, item) pair:
    pair_basket: Any  # int64 basket code (guest baskets included)
    pair_item: Any  # int32 item code
    pair_member: Any  # int32 member code, -1 for a guest basket
    pair_age: Any  # int32: 0 = the member's newest basket, 1 = the one before, ... (-1 for guests)
    baskets_per_member: Any  # int32 per member code


def prepare_history(lines: pd.DataFrame) -> History:
    import numpy as np
    import pandas as pd

    from oao.insights.baselines import basket_items

    items = basket_items(lines)
    item_code, product_ids = pd.factorize(items["product_id"], sort=True)
    known = items["member_id"].notna().to_numpy()
    member_code = np.full(len(items), -1, dtype=np.int32)
    codes, member_ids = pd.factorize(items.loc[known, "member_id"], sort=True)
    member_code[known] = codes
    # Age of each basket within its member: rank of the basket time from the newest (dense over baskets).
    baskets = (pd.DataFrame({"m": member_code, "b": items["basket"].to_numpy(), "at": items["at"].to_numpy()})
               [known].drop_duplicates("b").sort_values(["m", "at", "b"]))
    baskets["age"] = baskets.groupby("m").cumcount(ascending=False).astype(np.int32)
    per_member = np.bincount(baskets["m"].to_numpy(), minlength=len(member_ids)).astype(np.int32)
    age_of = pd.Series(baskets["age"].to_numpy(), index=baskets["b"].to_numpy())
    pair_age = np.full(len(items), -1, dtype=np.int32)
    pair_age[known] = age_of.reindex(items.loc[known, "basket"].to_numpy()).to_numpy()
    return History(
        member_ids=np.asarray(member_ids, dtype=object), product_ids=np.asarray(product_ids, dtype=object),
        member_code={m: i for i, m in enumerate(member_ids)},
        pair_basket=items["basket"].to_numpy(np.int64), pair_item=item_code.astype(np.int32),
        pair_member=member_code, pair_age=pair_age, baskets_per_member=per_member,
    )


def basket_weights(age: Any, n_baskets: Any, params: TifuParams) -> Any:
    """w_b for baskets of age `age` (0 = newest) of members with `n_baskets` baskets (numpy arrays)."""
    import numpy as np

    age = np.asarray(age, dtype=np.int64)
    n = np.asarray(n_baskets, dtype=np.int64)
    m = params.group_size
    groups = -(-n // m)  # ceil
    g = age // m
    j = age % m
    # Groups are cut from the newest basket back, so only the oldest group can be short.
    t = np.where(g == groups - 1, n - m * (groups - 1), m)
    return (params.group_decay ** g) * (params.within_group_decay ** j) / t / groups


def member_vectors(history: History, params: TifuParams) -> Any:
    """CSR (members × items) of the decayed member vectors."""
    import numpy as np
    from scipy import sparse

    mine = history.pair_member >= 0
    rows = history.pair_member[mine]
    w = basket_weights(history.pair_age[mine], history.baskets_per_member[rows], params)
    shape = (len(history.member_ids), len(history.product_ids))
    return sparse.csr_matrix((w.astype(np.float32), (rows, history.pair_item[mine])), shape=shape)


def nearest_members(vectors: Any, k: int, *, block: int | None = None) -> tuple[Any, Any]:
    """For each member, the k most cosine-similar other members (indices, similarities), best first.

    Computed in blocks of rows so the dense similarity slab stays around 16 M floats whatever the
    number of members."""
    import numpy as np
    from scipy import sparse

    n = vectors.shape[0]
    k = min(k, n - 1)
    if k <= 0:
        return np.zeros((n, 0), dtype=np.int32), np.zeros((n, 0), dtype=np.float32)
    norms = np.sqrt(np.asarray(vectors.multiply(vectors).sum(axis=1)).ravel())
    norms[norms == 0] = 1.0
    unit = sparse.diags((1.0 / norms).astype(np.float32)) @ vectors
    unit_t = unit.T.tocsr()
    block = block or max(1, min(n, 16_000_000 // max(n, 1)))
    idx = np.empty((n, k), dtype=np.int32)
    sim = np.empty((n, k), dtype=np.float32)
    for start in range(0, n, block):
        stop = min(n, start + block)
        s = (unit[start:stop] @ unit_t).toarray()
        s[np.arange(stop - start), np.arange(start, stop)] = -np.inf  # never your own neighbour
        part = np.argpartition(-s, k - 1, axis=1)[:, :k]
        ps = np.take_along_axis(s, part, axis=1)
        order = np.argsort(-ps, axis=1, kind="stable")
        idx[start:stop] = np.take_along_axis(part, order, axis=1)
        sim[start:stop] = np.take_along_axis(ps, order, axis=1)
    return idx, sim


def _top_of_rows(scores: Any, k: int) -> list[tuple[Any, Any]]:
    """Per row of a CSR matrix, the (columns, values) of its k largest entries, best first (ties by column)."""
    import numpy as np

    out = []
    indptr, indices, data = scores.indptr, scores.indices, scores.data
    for r in range(scores.shape[0]):
        lo, hi = indptr[r], indptr[r + 1]
        cols, vals = indices[lo:hi], data[lo:hi]
        keep = vals > 0
        cols, vals = cols[keep], vals[keep]
        if len(vals) > k:
            part = np.argpartition(-vals, k - 1)[:k]
            cols, vals = cols[part], vals[part]
        order = np.lexsort((cols, -vals))
        out.append((cols[order], vals[order]))
    return out


class TifuModel:
    """A fitted TIFU-KNN model. `with_params` reuses the prepared history and whatever the new parameters
    leave unchanged (member vectors, the neighbour lists), which is what makes tuning affordable."""

    def __init__(self, history: History, params: TifuParams, *, _cache: dict | None = None) -> None:
        self.history = history
        self.params = params
        self._cache = _cache if _cache is not None else {}

    # --- parts ---------------------------------------------------------------------------------------
    def _vector_key(self) -> tuple:
        p = self.params
        return (p.group_size, p.within_group_decay, p.group_decay)

    @property
    def vectors(self) -> Any:
        key = ("vectors", self._vector_key())
        if key not in self._cache:
            self._cache[key] = member_vectors(self.history, self.params)
        return self._cache[key]

    def _neighbour_lists(self) -> Any:
        """Indices of the k nearest members (computed once for the largest k asked for these vectors)."""
        key = ("knn", self._vector_key())
        k = self.params.neighbours
        cached = self._cache.get(key)
        if cached is None or cached.shape[1] < min(k, len(self.history.member_ids) - 1):
            cached, _ = nearest_members(self.vectors, k)
            self._cache[key] = cached
        return cached[:, :k]

    def with_params(self, params: TifuParams) -> TifuModel:
        return TifuModel(self.history, params, _cache=self._cache)

    def scores(self, member_codes: Any) -> Any:
        """CSR (len(member_codes) × items): alpha · own + (1 - alpha) · neighbour mean."""
        import numpy as np
        from scipy import sparse

        vectors = self.vectors
        rows = np.asarray(member_codes, dtype=np.int64)
        alpha = self.params.alpha
        if self.params.neighbours == 0 or alpha >= 1.0 or vectors.shape[0] < 2:
            return vectors[rows]
        nbrs = self._neighbour_lists()[rows]
        k = nbrs.shape[1]
        # One product instead of own·alpha + mix @ vectors: each row of `mix` holds the member herself
        # (alpha) and her k neighbours ((1 - alpha) / k each), which avoids adding two huge sparse results.
        cols = np.concatenate([rows[:, None], nbrs], axis=1)
        weights = np.empty(cols.shape, dtype=np.float32)
        weights[:, 0] = alpha
        weights[:, 1:] = (1.0 - alpha) / k
        mix = sparse.csr_matrix((weights.ravel(), cols.ravel(), np.arange(0, cols.size + 1, k + 1)),
                                shape=(len(rows), vectors.shape[0]))
        mix.sum_duplicates()
        return mix @ vectors

    # --- public API ----------------------------------------------------------------------------------
    def recommend(self, member_ids: list[str] | None, k: int) -> dict[str, list[tuple[str, float]]]:
        """The k best products for each member (all members when None). Members without training
        baskets are left out: the caller falls back to non-personal answers."""
        import numpy as np

        if member_ids is None:
            codes = np.arange(len(self.history.member_ids))
        else:
            codes = np.array([self.history.member_code[m] for m in member_ids if m in self.history.member_code],
                             dtype=np.int64)
        out: dict[str, list[tuple[str, float]]] = {}
        products = self.history.product_ids
        chunk = 2048  # bounds the memory of the neighbour-mean product
        for start in range(0, len(codes), chunk):
            part = codes[start:start + chunk]
            for code, (cols, vals) in zip(part, _top_of_rows(self.scores(part), k), strict=True):
                out[str(self.history.member_ids[code])] = [
                    (str(products[c]), float(v)) for c, v in zip(cols, vals, strict=True)]
        return out

    def neighbours(self, k: int) -> dict[str, list[tuple[str, float]]]:
        """Item-item "bought together": for each product, the k products sharing most baskets with it,
        scored by cosine co-occurrence c_ij / sqrt(n_i · n_j) (n = baskets holding the product), over
        every basket (guests' too), pairs sharing fewer than `min_pair_baskets` baskets left out."""
        return item_neighbours(self.history, k, min_pair_baskets=self.params.min_pair_baskets)


def item_neighbours(history: History, k: int, *, min_pair_baskets: int = 3,
                    chunk: int = 2048) -> dict[str, list[tuple[str, float]]]:
    import numpy as np
    import pandas as pd
    from scipy import sparse

    basket_code, _ = pd.factorize(history.pair_basket)
    n_items = len(history.product_ids)
    b = sparse.csr_matrix((np.ones(len(basket_code), dtype=np.float32), (basket_code, history.pair_item)),
                          shape=(int(basket_code.max()) + 1 if len(basket_code) else 0, n_items))
    n = np.asarray(b.sum(axis=0)).ravel()
    root = np.sqrt(np.maximum(n, 1.0)).astype(np.float32)
    # Only products in enough baskets can have a pair that passes the threshold: skip the rest early.
    eligible = np.flatnonzero(n >= min_pair_baskets)
    bt = b.T.tocsr()
    b_eligible = b[:, eligible]
    out: dict[str, list[tuple[str, float]]] = {}
    products = history.product_ids
    for start in range(0, len(eligible), chunk):
        rows = eligible[start:start + chunk]
        co = (bt[rows] @ b_eligible).tocoo()
        keep = (co.data >= min_pair_baskets) & (rows[co.row] != eligible[co.col])
        r, c, v = co.row[keep], eligible[co.col[keep]], co.data[keep]
        cos = v / (root[rows[r]] * root[c])
        sims = sparse.csr_matrix((cos, (r, c)), shape=(len(rows), n_items))
        for item, (cols, vals) in zip(rows, _top_of_rows(sims, k), strict=True):
            if len(cols):
                out[str(products[item])] = [(str(products[j]), float(s)) for j, s in zip(cols, vals, strict=True)]
    return out


def fit_tifu(lines: pd.DataFrame, params: TifuParams = TifuParams()) -> TifuModel:  # noqa: B008
    """Prepare the baskets of `lines` (the lines frame) and compute the member vectors."""
    model = TifuModel(prepare_history(lines), params)
    _ = model.vectors
    return model


__all__ = ["History", "TifuModel", "TifuParams", "basket_weights", "fit_tifu", "item_neighbours",
           "member_vectors", "nearest_members", "prepare_history"]
