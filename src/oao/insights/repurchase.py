"""Repurchase intervals: when is a member due to buy a product again ("due soon", S9).

Pure: plain pandas/numpy in, dataclasses out; no database. Serving stores `DueRow`s in
`insight_due` (SERVE) and reads them back.

The model, per member × product pair:

* Purchase days. A pair's purchases are its distinct (UTC) calendar days: two baskets on one
  day are one purchase, because a second trip on the same day says nothing about the cycle.
* Intervals. The gaps in days between consecutive purchase days, worked on in log space:
  repurchase intervals are skewed (a weekly buyer sometimes waits three weeks, never -2 days).
* The product's typical interval: the median, over the product's pairs with at least two
  purchases, of each pair's mean log interval (a median over pairs, so one heavy buyer does
  not set the product's cycle). A product with few such pairs is pulled towards the median over
  all pairs of all products.
* Shrinkage (empirical Bayes, normal-normal in log space). A pair with n intervals of mean
  log x̄ gets  mu = w·x̄ + (1-w)·mu_product  with  w = n / (n + k),  k = sigma²/tau²: sigma² is
  the product's within-pair variance of log intervals (how irregular one member is) and tau²
  the between-pair variance (how different members are), both estimated from the data. A pair
  with one purchase has n = 0 and gets the product's interval.
* The interval estimate is exp(mu) (the log-normal median); due_at = last purchase + estimate.
* A repeat probability pi: not every pair is a habit (one bottle of ketchup for a party). The
  product's share of pairs that were bought again, and per pair a Beta posterior that moves
  towards 1 with every observed repeat.
* "Buys within the next H days": a cure-rate log-normal. With t whole days since the last
  purchase day, the purchase falls in the window when the interval T lies in [t, t+H-1];
  intervals are whole days, so with F the log-normal CDF and a half-day continuity correction:

      P = pi · (F(t+H-0.5) - F(t-0.5)) / (pi · (1 - F(t-0.5)) + 1 - pi)

  i.e. P(T in window | T >= t), after updating pi on the fact that nothing was bought for t
  days: a pair long overdue is more likely to have stopped.
* Confidence (0..1, "how regular this member's cycle is"): pi times the probability that the
  next interval falls within a factor 1.5 of the estimate.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # the app never imports this module; pandas/numpy are the insights extra
    import numpy as np
    import pandas as pd

DAY_NS = 86_400 * 10**9
# Half-width (as a factor) of the window the confidence figure speaks about: "within ×/÷ 1.5".
CONFIDENCE_FACTOR = 1.5


@dataclass(frozen=True)
class RepurchaseParams:
    # Pseudo-pairs of the all-products median a product's typical interval is pulled towards:
    # a product seen with one regular buyer should not set its cycle from that buyer alone.
    product_prior_pairs: float = 3.0
    # Degrees of freedom of the product's within-pair variance in a pair's own variance.
    variance_prior_df: float = 3.0
    # Shrinkage strength k = sigma²/tau²; None estimates it from the data (method of moments).
    prior_strength: float | None = None
    # Pseudo-observations of the product's repeat share in a pair's repeat probability.
    repeat_prior_strength: float = 2.0
    # Use the repeat probability (cure-rate model); False = every pair is assumed to recur.
    use_repeat_probability: bool = True
    # due() drops pairs silent for longer than this many estimated intervals: they have lapsed.
    lapse_after_intervals: float = 2.0
    # due() lists pairs bought at least this often: from one purchase the cycle is the product's guess.
    due_min_purchases: int = 2


@dataclass(frozen=True)
class DueRow:
    """One member × product expectation; the fields of `insight_due` (DueItem) without merchant and run."""

    member_id: str
    product_id: str
    last_bought_at: datetime
    interval_days: float
    due_at: datetime
    confidence: float
    purchases: int


@dataclass(frozen=True)
class FittedPrior:
    """What the data said about all pairs (reported by evaluations, useful in run details)."""

    median_interval_days: float
    within_pair_log_sd: float
    between_pair_log_sd: float
    prior_strength: float
    repeat_share: float


class RepurchaseModel:
    """Fitted pairs, column-wise (numpy arrays aligned on the pair index)."""

    def __init__(self, *, fitted_at: datetime, members: Any, products: Any, pair_member: np.ndarray,
                 pair_product: np.ndarray, purchases: np.ndarray, intervals: np.ndarray, last_day: np.ndarray,
                 last_ns: np.ndarray, mu: np.ndarray, sigma: np.ndarray, repeat: np.ndarray,
                 known_cycle: np.ndarray, prior: FittedPrior, params: RepurchaseParams) -> None:
        self.fitted_at = fitted_at
        self.members = members  # index -> member id
        self.products = products  # index -> product id
        self.pair_member = pair_member
        self.pair_product = pair_product
        self.purchases = purchases  # distinct purchase days
        self.intervals = intervals  # = purchases - 1
        self.last_day = last_day  # days since the epoch (UTC) of the last purchase day
        self.last_ns = last_ns  # the last purchase's timestamp, ns since the epoch (UTC)
        self.mu = mu  # posterior mean log interval (days)
        self.sigma = sigma  # predictive log-sd of the next interval
        self.repeat = repeat  # probability that the pair recurs at all
        self.known_cycle = known_cycle  # the product has pairs with intervals (a real typical interval)
        self.prior = prior
        self.params = params

    def __len__(self) -> int:
        return len(self.mu)

    @property
    def interval_days(self) -> np.ndarray:
        import numpy as np

        return np.exp(self.mu)

    def confidence(self) -> np.ndarray:
        from scipy.special import ndtr

        within = 2.0 * ndtr(math.log(CONFIDENCE_FACTOR) / self.sigma) - 1.0
        return self.repeat * within if self.params.use_repeat_probability else within

    def probability_within(self, *, now: datetime, horizon_days: int) -> np.ndarray:
        """P(the pair is bought on one of the H calendar days starting with now's UTC day), per pair."""
        import numpy as np
        from scipy.special import ndtr

        if horizon_days < 1:
            raise ValueError("horizon_days must be at least 1")
        today = _day_number(now)
        t = (today - self.last_day).astype(float)
        # A purchase earlier today already happened; the next one is at least a day after it.
        lower = np.maximum(t - 0.5, 0.5)
        upper = t + horizon_days - 0.5
        f_low = ndtr((np.log(lower) - self.mu) / self.sigma)
        f_up = ndtr((np.log(upper) - self.mu) / self.sigma)
        survive = 1.0 - f_low
        if self.params.use_repeat_probability:
            pi = self.repeat
            return pi * (f_up - f_low) / (pi * survive + 1.0 - pi)
        return (f_up - f_low) / np.maximum(survive, 1e-12)

    def frame(self) -> pd.DataFrame:
        """The fitted pairs as a DataFrame (member_id, product_id, purchases, interval_days, ...)."""
        import pandas as pd

        return pd.DataFrame({
            "member_id": self.members[self.pair_member],
            "product_id": self.products[self.pair_product],
            "purchases": self.purchases,
            "last_day": self.last_day,
            "last_bought_at": pd.to_datetime(self.last_ns, utc=True),
            "interval_days": self.interval_days,
            "log_sd": self.sigma,
            "repeat": self.repeat,
            "known_cycle": self.known_cycle,
        })

    def due(self, *, now: datetime, within_days: int | None = None) -> list[DueRow]:
        """Pairs due by now + within_days (all pairs when None), soonest first per member.

        Left out: products nobody has bought twice (no cycle to speak of), pairs bought fewer than
        `due_min_purchases` times, and pairs silent for more than `lapse_after_intervals` estimated
        intervals (the member has moved on)."""
        import numpy as np

        interval = self.interval_days
        due_ns = self.last_ns + (interval * DAY_NS).astype(np.int64)
        now_ns = _ns(now)
        keep = self.known_cycle & (self.purchases >= self.params.due_min_purchases)
        keep &= (now_ns - self.last_ns <= self.params.lapse_after_intervals * interval * DAY_NS)
        if within_days is not None:
            keep &= due_ns <= now_ns + within_days * DAY_NS
        idx = np.flatnonzero(keep)
        idx = idx[np.lexsort((due_ns[idx], self.pair_member[idx]))]
        confidence = self.confidence()
        rows = []
        for i in idx:
            last = _from_ns(int(self.last_ns[i]))
            days = round(float(interval[i]), 2)  # due_at follows from the stored figures exactly
            rows.append(DueRow(member_id=str(self.members[self.pair_member[i]]),
                               product_id=str(self.products[self.pair_product[i]]), last_bought_at=last,
                               interval_days=days, due_at=last + timedelta(days=days),
                               confidence=round(float(confidence[i]), 4), purchases=int(self.purchases[i])))
        return rows


def fit_repurchase(lines: pd.DataFrame, *, now: datetime, params: RepurchaseParams | None = None) -> RepurchaseModel:
    """Fit the model on sale lines (the `lines_frame` columns) that happened before `now`.

    Lines without a member, returns/views and lines with a quantity <= 0 are ignored."""
    import numpy as np
    import pandas as pd

    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware (UTC)")
    params = params or RepurchaseParams()
    sales = lines
    if "kind" in sales.columns:
        sales = sales[sales["kind"] == "sale"]
    occurred = pd.to_datetime(sales["occurred_at"], utc=True)
    keep = sales["member_id"].notna().to_numpy() & (sales["quantity"].to_numpy() > 0)
    keep &= (occurred < pd.Timestamp(now).tz_convert("UTC")).to_numpy()
    member_codes, members = pd.factorize(sales["member_id"].to_numpy()[keep])
    product_codes, products = pd.factorize(sales["product_id"].astype(str).to_numpy()[keep])
    # Naive UTC datetime64 (a tz-aware Series would give an object array of Timestamps).
    ts = occurred.dt.tz_convert(None).to_numpy()[keep].astype("datetime64[ns]").astype(np.int64)
    members, products = np.asarray(members, dtype=object), np.asarray(products, dtype=object)

    # One purchase per pair and day, keeping the day's last timestamp.
    n_prod = max(len(products), 1)
    key = member_codes.astype(np.int64) * n_prod + product_codes
    order = np.lexsort((ts, key))
    key, ts = key[order], ts[order]
    day = ts // DAY_NS
    last_of_day = np.ones(len(key), dtype=bool)
    last_of_day[:-1] = (key[1:] != key[:-1]) | (day[1:] != day[:-1])
    key, ts, day = key[last_of_day], ts[last_of_day], day[last_of_day]

    new_pair = np.ones(len(key), dtype=bool)
    new_pair[1:] = key[1:] != key[:-1]
    last_of_pair = np.ones(len(key), dtype=bool)
    last_of_pair[:-1] = new_pair[1:]
    pair_of_row = np.cumsum(new_pair) - 1
    ends = np.flatnonzero(last_of_pair)
    n_pairs = len(ends)
    purchases = np.bincount(pair_of_row, minlength=n_pairs).astype(np.int64)
    pair_member, pair_product = key[ends] // n_prod, key[ends] % n_prod

    # Intervals (log days) and their per-pair sums.
    has_prev = ~new_pair
    gap = np.diff(day, prepend=day[:1])
    log_gap = np.log(np.maximum(gap[has_prev], 1).astype(float))
    gap_pair = pair_of_row[has_prev]
    n_int = purchases - 1
    s1 = np.bincount(gap_pair, weights=log_gap, minlength=n_pairs)
    s2 = np.bincount(gap_pair, weights=log_gap**2, minlength=n_pairs)
    with np.errstate(invalid="ignore", divide="ignore"):
        xbar = np.where(n_int > 0, s1 / np.maximum(n_int, 1), np.nan)
        ss = np.where(n_int > 1, np.maximum(s2 - n_int * xbar**2, 0.0), 0.0)  # sum of squared deviations

    prior, mu0, sigma0_sq, k, repeat_prod, known = _product_priors(
        pair_product, n_int, xbar, ss, len(products), params)

    # Shrink each pair towards its product (normal-normal in log space).
    pk = k[pair_product]
    w = n_int / (n_int + pk)
    mu = np.where(n_int > 0, w * np.nan_to_num(xbar) + (1 - w) * mu0[pair_product], mu0[pair_product])
    df = params.variance_prior_df
    pair_var = (df * sigma0_sq[pair_product] + ss) / (df + np.maximum(n_int - 1, 0))
    # Predictive spread of the next interval: the pair's own spread plus the uncertainty of mu.
    sigma = np.sqrt(pair_var * (1.0 + 1.0 / (n_int + pk)))
    a = params.repeat_prior_strength
    repeat = (n_int + a * repeat_prod[pair_product]) / (n_int + a)

    return RepurchaseModel(
        fitted_at=now, members=members, products=products, pair_member=pair_member, pair_product=pair_product,
        purchases=purchases, intervals=n_int, last_day=day[ends], last_ns=ts[ends], mu=mu, sigma=sigma,
        repeat=repeat, known_cycle=known[pair_product], prior=prior, params=params)


def _product_priors(pair_product: np.ndarray, n_int: np.ndarray, xbar: np.ndarray, ss: np.ndarray,
                    n_products: int, params: RepurchaseParams) -> tuple[FittedPrior, np.ndarray, np.ndarray,
                                                                        np.ndarray, np.ndarray, np.ndarray]:
    """Per product: typical log interval, within-pair variance, shrinkage strength, repeat share."""
    import numpy as np
    import pandas as pd

    cyc = n_int > 0
    if cyc.any():
        per_pair = pd.Series(xbar[cyc]).groupby(pair_product[cyc])
        medians = per_pair.median()
        counts = per_pair.size()
        global_mu = float(np.median(xbar[cyc]))
    else:  # nobody bought anything twice: a week is as good a guess as any and nothing is "known"
        medians = counts = pd.Series(dtype=float)
        global_mu = math.log(7.0)
    m0 = params.product_prior_pairs
    mu0 = np.full(n_products, global_mu)
    cnt = counts.to_numpy(dtype=float)
    mu0[medians.index.to_numpy()] = (cnt * medians.to_numpy() + m0 * global_mu) / (cnt + m0)
    known = np.zeros(n_products, dtype=bool)
    known[medians.index.to_numpy()] = True

    # Within-pair variance: pooled over the product's pairs, pulled towards the pooled global figure.
    df_pair = np.maximum(n_int - 1, 0).astype(float)
    global_df = df_pair.sum()
    global_var = float(ss.sum() / global_df) if global_df > 0 else 0.5
    global_var = max(global_var, 0.01)
    prod_ss = np.bincount(pair_product, weights=ss, minlength=n_products)
    prod_df = np.bincount(pair_product, weights=df_pair, minlength=n_products)
    nu = 5.0
    sigma0_sq = (nu * global_var + prod_ss) / (nu + prod_df)

    # Between-pair variance tau² (method of moments): the spread of pair means around their
    # product's typical interval, less what their own sampling noise explains.
    if params.prior_strength is not None:
        k_global = params.prior_strength
        tau_sq = global_var / k_global
    elif cyc.sum() >= 10:
        dev = xbar[cyc] - mu0[pair_product[cyc]]
        noise = sigma0_sq[pair_product[cyc]] / n_int[cyc]
        tau_sq = max(float(np.mean(dev**2) - np.mean(noise)), global_var / 50.0)
        k_global = min(max(global_var / tau_sq, 0.25), 50.0)
    else:
        k_global, tau_sq = 2.0, global_var / 2.0
    k = sigma0_sq / tau_sq if params.prior_strength is None else np.full(n_products, k_global)
    k = np.clip(k, 0.25, 50.0)

    # Share of the product's pairs bought again, pulled towards the all-products share.
    buyers = np.bincount(pair_product, minlength=n_products).astype(float)
    repeaters = np.bincount(pair_product, weights=cyc.astype(float), minlength=n_products)
    global_share = float(repeaters.sum() / buyers.sum()) if buyers.sum() else 0.0
    repeat_prod = (repeaters + 5.0 * global_share) / (buyers + 5.0)

    prior = FittedPrior(median_interval_days=math.exp(global_mu), within_pair_log_sd=math.sqrt(global_var),
                        between_pair_log_sd=math.sqrt(tau_sq), prior_strength=float(k_global),
                        repeat_share=global_share)
    return prior, mu0, sigma0_sq, k, repeat_prod, known


def _day_number(at: datetime) -> int:
    return _ns(at) // DAY_NS


def _ns(at: datetime) -> int:
    if at.tzinfo is None:
        raise ValueError("times must be timezone-aware (UTC)")
    delta = at.astimezone(UTC) - datetime(1970, 1, 1, tzinfo=UTC)
    return (delta.days * 86_400 + delta.seconds) * 10**9 + delta.microseconds * 1000


def _from_ns(ns: int) -> datetime:
    return datetime(1970, 1, 1, tzinfo=UTC) + timedelta(microseconds=ns // 1000)
