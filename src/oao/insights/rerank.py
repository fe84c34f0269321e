"""Learning-to-rank re-ranker for next-basket recommendation, on top of TIFU-KNN and the repurchase model.

Own-most-frequent is a strong grocery baseline and TIFU-KNN only beats it by a little: both rank by one
decayed count. A re-ranker learns how to weigh several signals per (member, item) instead:

Candidates per member (as of a time `now`, from lines strictly before it):
  her own products (the `own_candidates` best by decayed frequency) ∪ TIFU-KNN's top `tifu_candidates`
  ∪ the global top `popular_candidates` (so every member has at least that many candidates).
Features per (member, item), all from lines before `now` (see FEATURES):
  her purchase count, its share of her baskets, a decayed frequency (half-life `half_life_days`), count
  in her last 5 baskets, her own-most-frequent rank, days since she last bought it, that divided by her
  estimated interval for it and the repurchase probabilities within 7 and 14 days (repurchase.py),
  the TIFU-KNN score and its rank among her candidates; the item's share of baskets (all time and the last
  4 weeks), its share of members who bought it twice or more and its repeat rate (repeat buyers / buyers);
  her number of baskets, her mean basket size and the days since her last basket.
Labels: the item is in her first basket at or after `now`.

Training stacks several cutoffs (e.g. 2, 4, 6, 8 weeks before the evaluation cutoff, targets strictly
before it) and fits a LightGBM lambdarank model (2 threads, fixed seed, deterministic). Nothing after a
cutoff reaches its features: each cutoff gets its own TIFU-KNN and repurchase fits on the lines before it.

`Reranker.recommend(lines, member_ids, k, now)` works at any `now`: serving can call it with the lines it
has. numpy/pandas/lightgbm are imported inside functions (the insights extra).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from oao.insights.tifuknn import TifuParams

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd

FEATURES = (
    "own_count", "own_share", "own_decayed", "own_last5", "own_rank", "days_since_item",
    "overdue_ratio", "p_within_7", "p_within_14", "interval_days", "repeat_prob",
    "tifu_score", "tifu_rank",
    "item_share", "item_share_recent", "item_repeat_pop", "item_repeat_rate",
    "member_baskets", "member_basket_size", "days_since_basket",
)
RECENT_DAYS = 28
Progress = Callable[[str], None]


@dataclass(frozen=True, slots=True)
class RerankParams:
    own_candidates: int = 100
    tifu_candidates: int = 50
    popular_candidates: int = 20
    half_life_days: float = 60.0  # of the decayed own frequency
    # LightGBM
    objective: str = "lambdarank"  # or "binary"
    num_leaves: int = 31
    min_child_samples: int = 100
    learning_rate: float = 0.05
    rounds: int = 300
    feature_fraction: float = 0.8
    seed: int = 7
    # 1 thread by default: on a shared 2-core machine OpenMP's spinning made 2 threads 2-15x slower (measured);
    # set 2 (or more) where the cores are free.
    threads: int = 1

    def lgb_params(self) -> dict[str, Any]:
        p: dict[str, Any] = {
            "objective": self.objective, "learning_rate": self.learning_rate, "num_leaves": self.num_leaves,
            "min_data_in_leaf": self.min_child_samples, "feature_fraction": self.feature_fraction,
            "lambda_l2": 1.0, "num_threads": self.threads, "seed": self.seed, "deterministic": True,
            "force_row_wise": True, "verbose": -1,
        }
        if self.objective == "lambdarank":
            p["lambdarank_truncation_level"] = 20
            p["eval_at"] = [10]
        return p


# Small grid the validation split chooses from (each setting is one LightGBM fit; rounds are read off
# the same fit at several iteration counts).
# Settings compared on the validation split only. The binary objective lost there (0.1754 vs 0.1781
# recall@10 on The Complete Journey) and was dropped; the smaller, more regular trees came from a
# validation-only experiment with weekly training cutoffs.
RERANK_GRID: tuple[dict[str, Any], ...] = (
    {"num_leaves": 31, "min_child_samples": 100},
    {"num_leaves": 15, "min_child_samples": 300},
)
TRAINING_WEEKS = (1, 2, 3, 4, 5, 6, 7, 8)  # one stacked training set per weekly cutoff before the evaluation cutoff
ROUND_CHOICES = (50, 100, 200, 300)


# --- candidates and features -----------------------------------------------------------------------

def _days(delta: Any) -> Any:
    import numpy as np

    return np.asarray(delta, dtype="timedelta64[ns]").astype(np.int64) / 86_400e9


def candidate_features(lines: pd.DataFrame, *, now: datetime, member_ids: Sequence[str] | None,
                       tifu_params: TifuParams, params: RerankParams = RerankParams()) -> pd.DataFrame:  # noqa: B008
    """One row per (member, candidate item) with the FEATURES columns, from the lines strictly before
    `now`. Members without a basket before `now` get no rows (the caller falls back to popular items)."""
    import numpy as np
    import pandas as pd

    from oao.insights.baselines import _popular_from_items, basket_items
    from oao.insights.repurchase import fit_repurchase
    from oao.insights.tifuknn import fit_tifu

    at = pd.to_datetime(lines["occurred_at"], utc=True)
    before = lines[(at < pd.Timestamp(now)).to_numpy()]
    items = basket_items(before)
    now_naive = np.datetime64(pd.Timestamp(now).tz_convert("UTC").tz_localize(None).to_datetime64(), "ns")
    mine = items[items["member_id"].notna()]
    if member_ids is not None:
        mine = mine[mine["member_id"].isin(set(member_ids))]
    if mine.empty:
        return pd.DataFrame(columns=["member_id", "product_id", *FEATURES])

    # Per member: baskets, basket size, recency; each basket's age (0 = her newest).
    baskets = mine.groupby("basket", sort=False).agg(member_id=("member_id", "first"), at=("at", "first"),
                                                     size=("product_id", "size")).reset_index()
    baskets = baskets.sort_values(["member_id", "at", "basket"])
    baskets["age"] = baskets.groupby("member_id").cumcount(ascending=False)
    member = baskets.groupby("member_id").agg(member_baskets=("basket", "size"),
                                              member_basket_size=("size", "mean"), last=("at", "max"))
    member["days_since_basket"] = _days(now_naive - member.pop("last").to_numpy())

    # Per (member, item).
    mine = mine.merge(baskets[["basket", "age"]], on="basket")
    ago = _days(now_naive - mine["at"].to_numpy())
    mine = mine.assign(decayed=0.5 ** (ago / params.half_life_days), last5=(mine["age"] < 5).astype(np.int64))
    pairs = mine.groupby(["member_id", "product_id"], sort=False).agg(
        own_count=("basket", "size"), own_decayed=("decayed", "sum"), own_last5=("last5", "sum"),
        last=("at", "max")).reset_index()
    pairs["days_since_item"] = _days(now_naive - pairs["last"].to_numpy())
    # The own-most-frequent baseline's order: count, then the most recent purchase, then the id.
    pairs = pairs.sort_values(["member_id", "own_count", "last", "product_id"], ascending=[True, False, False, True])
    pairs["own_rank"] = pairs.groupby("member_id").cumcount() + 1
    pairs = pairs.drop(columns="last")
    pairs["_decayed_rank"] = pairs.groupby("member_id")["own_decayed"].rank(ascending=False, method="first")

    members = list(member.index)
    tifu = fit_tifu(before, tifu_params)
    tifu_top = tifu.recommend(members, params.tifu_candidates)
    popular = [p for p, _ in _popular_from_items(items, params.popular_candidates)]
    cand = pd.concat([
        pairs.loc[pairs["_decayed_rank"] <= params.own_candidates, ["member_id", "product_id"]],
        pd.DataFrame([(m, p) for m, recs in tifu_top.items() for p, _ in recs], columns=["member_id", "product_id"]),
        pd.DataFrame([(m, p) for m in members for p in popular], columns=["member_id", "product_id"]),
    ], ignore_index=True).drop_duplicates(["member_id", "product_id"])
    cand = cand.merge(pairs.drop(columns="_decayed_rank"), on=["member_id", "product_id"], how="left")
    for col in ("own_count", "own_decayed", "own_last5"):
        cand[col] = cand[col].fillna(0.0)
    cand = cand.merge(member, left_on="member_id", right_index=True)
    cand["own_share"] = cand["own_count"] / cand["member_baskets"]
    cand["tifu_score"] = _tifu_scores(tifu, cand)
    cand["tifu_rank"] = cand.groupby("member_id")["tifu_score"].rank(ascending=False, method="min")

    # Per item, over every basket before `now` (guests' too).
    n_baskets = max(items["basket"].nunique(), 1)
    recent = items[items["at"] >= now_naive - np.timedelta64(RECENT_DAYS, "D")]
    n_recent = max(recent["basket"].nunique(), 1)
    known = items[items["member_id"].notna()]
    per_pair = known.groupby(["product_id", "member_id"], sort=False).size()
    buyers = per_pair.groupby(level=0).size()
    repeaters = (per_pair >= 2).groupby(level=0).sum()
    n_members = max(known["member_id"].nunique(), 1)
    item = pd.DataFrame({"item_share": items.groupby("product_id").size() / n_baskets})
    item["item_share_recent"] = (recent.groupby("product_id").size() / n_recent).reindex(item.index).fillna(0.0)
    item["item_repeat_pop"] = (repeaters / n_members).reindex(item.index).fillna(0.0)
    item["item_repeat_rate"] = (repeaters / buyers).reindex(item.index).fillna(0.0)
    cand = cand.merge(item, left_on="product_id", right_index=True, how="left")

    # Her repurchase cycle for the item (pairs she never bought stay NaN: LightGBM routes them apart).
    rep = fit_repurchase(before, now=now)
    rf = rep.frame()[["member_id", "product_id", "interval_days", "repeat"]]
    rf = rf.assign(p_within_7=rep.probability_within(now=now, horizon_days=7),
                   p_within_14=rep.probability_within(now=now, horizon_days=14))
    rf = rf[rf["member_id"].isin(set(members))].rename(columns={"repeat": "repeat_prob"})
    cand = cand.merge(rf, on=["member_id", "product_id"], how="left")
    cand["overdue_ratio"] = cand["days_since_item"] / cand["interval_days"]
    cand = cand.sort_values(["member_id", "product_id"], kind="stable").reset_index(drop=True)
    return cand[["member_id", "product_id", *FEATURES]]


def _tifu_scores(tifu: Any, cand: pd.DataFrame, chunk: int = 2048) -> Any:
    """TIFU-KNN's score of every candidate (0 where TIFU gives it nothing)."""
    import numpy as np
    import pandas as pd

    h = tifu.history
    m_code = cand["member_id"].map(h.member_code).to_numpy()
    i_code = pd.Index(h.product_ids).get_indexer(cand["product_id"].to_numpy())
    out = np.zeros(len(cand), dtype=np.float64)
    codes = np.unique(m_code)
    for start in range(0, len(codes), chunk):
        part = codes[start:start + chunk]
        scores = tifu.scores(part).tocsr()
        row_of = np.full(int(codes.max()) + 1, -1, dtype=np.int64)
        row_of[part] = np.arange(len(part))
        sel = np.flatnonzero((row_of[m_code] >= 0) & (i_code >= 0))
        if len(sel):
            out[sel] = np.asarray(scores[row_of[m_code[sel]], i_code[sel]]).ravel()
    return out


def label(frame: pd.DataFrame, targets: dict[str, set[str]]) -> Any:
    """1 where the candidate is in the member's target basket, else 0."""
    import numpy as np

    pairs = {(m, p) for m, ps in targets.items() for p in ps}
    return np.fromiter(((m, p) in pairs for m, p in zip(frame["member_id"], frame["product_id"], strict=True)),
                       dtype=np.int64, count=len(frame))


# --- training and ranking --------------------------------------------------------------------------

@dataclass(slots=True)
class TrainingFrame:
    cutoff: datetime
    features: pd.DataFrame  # candidate_features(...) rows
    labels: Any  # numpy int array aligned on features
    targets: dict[str, set[str]]


def training_frame(lines: pd.DataFrame, *, cutoff: datetime, until: datetime | None, tifu_params: TifuParams,
                   params: RerankParams) -> TrainingFrame:
    """Features as of `cutoff`, labels = each member's first basket in [cutoff, until)."""
    from oao.insights.evaluation import next_basket_split

    split = next_basket_split(lines, cutoff, until=until)
    members = list(split.targets)
    feats = candidate_features(lines, now=cutoff, member_ids=members, tifu_params=tifu_params, params=params)
    return TrainingFrame(cutoff, feats, label(feats, split.targets), split.targets)


def _fit_booster(frames: Sequence[TrainingFrame], params: RerankParams) -> Any:
    import lightgbm as lgb
    import numpy as np
    import pandas as pd

    data = pd.concat([f.features.assign(_y=f.labels, _g=f"{i}:") for i, f in enumerate(frames)], ignore_index=True)
    data["_g"] = data["_g"] + data["member_id"].astype(str)
    # Members whose candidates hold nothing of their next basket teach a ranker nothing.
    data = data[data.groupby("_g")["_y"].transform("max") > 0]
    data = data.sort_values("_g", kind="stable")
    ds = lgb.Dataset(data[list(FEATURES)].to_numpy(np.float32), label=data["_y"].to_numpy(),
                     feature_name=list(FEATURES), free_raw_data=True)
    if params.objective == "lambdarank":
        ds.set_group(data.groupby("_g", sort=False).size().to_numpy())
    return lgb.train(params.lgb_params(), ds, num_boost_round=params.rounds)


def _rank(features: pd.DataFrame, scores: Any, k: int) -> dict[str, list[tuple[str, float]]]:
    import numpy as np

    f = features[["member_id", "product_id"]].assign(_s=np.asarray(scores, dtype=float))
    f = f.sort_values(["member_id", "_s", "product_id"], ascending=[True, False, True]).groupby("member_id").head(k)
    out: dict[str, list[tuple[str, float]]] = {}
    for m, p, s in zip(f["member_id"], f["product_id"], f["_s"], strict=True):
        out.setdefault(str(m), []).append((str(p), float(s)))
    return out


@dataclass(slots=True)
class Reranker:
    booster: Any
    params: RerankParams
    tifu_params: TifuParams
    cutoffs: list[datetime] = field(default_factory=list)

    def score_frame(self, features: pd.DataFrame, *, rounds: int | None = None) -> Any:
        import numpy as np

        return self.booster.predict(features[list(FEATURES)].to_numpy(np.float32), num_iteration=rounds)

    def rank(self, features: pd.DataFrame, k: int, *, rounds: int | None = None) -> dict[str, list[tuple[str, float]]]:
        return _rank(features, self.score_frame(features, rounds=rounds), k)

    def recommend(self, lines: pd.DataFrame, member_ids: Sequence[str] | None, k: int,
                  now: datetime) -> dict[str, list[tuple[str, float]]]:
        """The k best products per member at `now`, from the lines before it (members without a basket
        before `now` are left out, as in TifuModel.recommend)."""
        feats = candidate_features(lines, now=now, member_ids=member_ids, tifu_params=self.tifu_params,
                                   params=self.params)
        return self.rank(feats, k)

    def feature_importance(self) -> dict[str, float]:
        gains = self.booster.feature_importance(importance_type="gain")
        return dict(sorted(zip(FEATURES, (float(g) for g in gains), strict=True), key=lambda kv: -kv[1]))


def fit_reranker(lines: pd.DataFrame, *, cutoffs: Sequence[datetime], tifu_params: TifuParams,
                 until: datetime | None = None, params: RerankParams = RerankParams(),  # noqa: B008
                 frames: Sequence[TrainingFrame] | None = None) -> Reranker:
    """Stack one training frame per cutoff (features from the lines before it, label = in the member's first
    basket at or after it, and before `until` when given) and fit the ranker. `frames` reuses frames already
    built (then `lines` and `cutoffs` are not read)."""
    built = list(frames) if frames is not None else [
        training_frame(lines, cutoff=c, until=until, tifu_params=tifu_params, params=params) for c in cutoffs]
    return Reranker(_fit_booster(built, params), params, tifu_params, [f.cutoff for f in built])


def training_cutoffs(evaluation_cutoff: datetime, weeks: Sequence[int] = TRAINING_WEEKS) -> list[datetime]:
    return [evaluation_cutoff - timedelta(weeks=w) for w in weeks]


# --- evaluation helper (used by oao.insights.evaluation) --------------------------------------------

@dataclass(slots=True)
class RerankRun:
    recommendations: dict[str, list[str]]
    params: RerankParams
    rounds: int
    validation_recall: float
    validation_trace: list[tuple[str, float]]
    train_seconds: float
    predict_seconds: float
    importance: dict[str, float]


def tune_and_fit(lines: pd.DataFrame, *, cutoff: datetime, validation_cutoff: datetime, members: Sequence[str],
                 tifu_params: TifuParams, k: int = 10, weeks: Sequence[int] = TRAINING_WEEKS,
                 grid: Sequence[dict[str, Any]] = RERANK_GRID, base: RerankParams = RerankParams(),  # noqa: B008
                 progress: Progress | None = None) -> RerankRun:
    """Choose the ranker's settings on the validation split (training cutoffs `weeks` before the validation
    cutoff, targets strictly before it), then refit with the same settings on cutoffs `weeks` before the
    test cutoff (targets strictly before it) and rank the test members' candidates as of `cutoff`, once."""
    from oao.insights.evaluation import next_basket_split
    from oao.insights.metrics import score

    say = progress or (lambda _msg: None)
    t0 = time.perf_counter()
    val_frames = []
    for c in training_cutoffs(validation_cutoff, weeks):
        say(f"re-ranker: training frame as of {c:%Y-%m-%d} (targets before {validation_cutoff:%Y-%m-%d})")
        val_frames.append(training_frame(lines, cutoff=c, until=validation_cutoff, tifu_params=tifu_params,
                                         params=base))
    val_split = next_basket_split(lines, validation_cutoff, until=cutoff)
    say("re-ranker: validation candidates")
    val_feats = candidate_features(lines, now=validation_cutoff, member_ids=list(val_split.targets),
                                   tifu_params=tifu_params, params=base)
    trace: list[tuple[str, float]] = []
    best: tuple[float, RerankParams, int] | None = None
    for setting in grid:
        p = replace(base, **setting, rounds=max(ROUND_CHOICES))
        model = fit_reranker(lines, cutoffs=[], tifu_params=tifu_params, params=p, frames=val_frames)
        for rounds in ROUND_CHOICES:
            recs = model.rank(val_feats, k, rounds=rounds)
            r = score({m: [x for x, _ in v] for m, v in recs.items()}, val_split.targets, k).recall
            trace.append((f"{_describe(p)} rounds={rounds}", r))
            say(f"re-ranker validation recall@{k} {r:.4f} for {_describe(p)} rounds={rounds}")
            if best is None or r > best[0]:
                best = (r, p, rounds)
    assert best is not None
    val_recall, chosen, rounds = best
    chosen = replace(chosen, rounds=rounds)
    say(f"re-ranker chosen: {_describe(chosen)} rounds={rounds}")
    test_frames = []
    for c in training_cutoffs(cutoff, weeks):
        say(f"re-ranker: training frame as of {c:%Y-%m-%d} (targets before {cutoff:%Y-%m-%d})")
        test_frames.append(training_frame(lines, cutoff=c, until=cutoff, tifu_params=tifu_params, params=chosen))
    model = fit_reranker(lines, cutoffs=[], tifu_params=tifu_params, params=chosen, frames=test_frames)
    train_seconds = time.perf_counter() - t0
    t1 = time.perf_counter()
    recs = model.recommend(lines, list(members), k, cutoff)
    predict_seconds = time.perf_counter() - t1
    return RerankRun({m: [p for p, _ in v] for m, v in recs.items()}, chosen, rounds, val_recall, trace,
                     train_seconds, predict_seconds, model.feature_importance())


def _describe(p: RerankParams) -> str:
    return f"{p.objective} leaves={p.num_leaves} min_leaf={p.min_child_samples} lr={p.learning_rate}"


__all__ = ["FEATURES", "RERANK_GRID", "Reranker", "RerankParams", "RerankRun", "TrainingFrame",
           "candidate_features", "fit_reranker", "label", "training_cutoffs", "training_frame", "tune_and_fit"]
