"""Baselines every recommender must beat, and the basket table all of them start from.

- `popular(lines, k)`: the k products found in the most baskets of the window (global, or of a
  location / segment when the caller passes only its lines). Score = share of baskets holding it.
- `own_most_frequent(lines, k)`: each member's products by the number of her baskets holding them,
  ties broken by the most recent purchase; members with fewer than k distinct products get the
  global popular items after their own ones (otherwise the baseline would be handicapped simply
  for recommending fewer than k items). In grocery this is a strong baseline: people rebuy.

`lines` is the frame of `oao.insights.events.lines_frame` (member_id, basket_ref, occurred_at,
product_id, quantity, ...). pandas and numpy are imported inside the functions so that importing
this module costs nothing to the core install.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd


def basket_items(lines: pd.DataFrame) -> pd.DataFrame:
    """One row per (basket, product): columns member_id (str or None), basket (int64 code), at
    (the basket's time, its earliest line, naive UTC), product_id (str).

    A basket is (member, basket_ref); lines without a basket_ref are grouped by (member, occurred_at),
    i.e. one sale. Return lines (quantity <= 0) are dropped: a return is not a wish to buy again.
    """
    import pandas as pd

    df = lines
    if "quantity" in df.columns:
        df = df[df["quantity"] > 0]
    if "kind" in df.columns:
        df = df[df["kind"].isna() | (df["kind"] == "sale")]
    # Naive UTC datetime64: tz-aware columns turn into slow object arrays in numpy.
    at = pd.to_datetime(df["occurred_at"], utc=True).dt.tz_localize(None)
    ref = df["basket_ref"] if "basket_ref" in df.columns else pd.Series(None, index=df.index, dtype=object)
    key = ref.astype(object)
    missing = key.isna()
    if missing.any():
        key = key.copy()
        key[missing] = "t" + at[missing].astype("int64").astype(str)
    member = df["member_id"].astype(object).where(df["member_id"].notna(), None)
    frame = pd.DataFrame({
        "member_id": member.to_numpy(),
        "key": key.to_numpy(),
        "at": at.to_numpy(),
        "product_id": df["product_id"].astype(str).to_numpy(),
    })
    frame["basket"] = frame.groupby(["member_id", "key"], sort=False, dropna=False).ngroup().astype("int64")
    frame["at"] = frame.groupby("basket")["at"].transform("min")
    frame = frame.drop_duplicates(["basket", "product_id"])
    return frame[["member_id", "basket", "at", "product_id"]].reset_index(drop=True)


def _popular_from_items(items: pd.DataFrame, k: int) -> list[tuple[str, float]]:
    n_baskets = items["basket"].nunique()
    if n_baskets == 0 or k <= 0:
        return []
    counts = items.groupby("product_id", sort=False).agg(n=("basket", "size"), last=("at", "max"))
    # Ties (frequent in small windows) go to the product bought most recently, then by id, so the
    # answer is stable from run to run.
    counts = counts.reset_index().sort_values(["n", "last", "product_id"], ascending=[False, False, True])
    top = counts.head(k)
    return [(str(p), float(n) / n_baskets) for p, n in zip(top["product_id"], top["n"], strict=True)]


def popular(lines: pd.DataFrame, k: int) -> list[tuple[str, float]]:
    """The k products in the most baskets of `lines`, with the share of baskets that hold each."""
    return _popular_from_items(basket_items(lines), k)


def own_most_frequent(
    lines: pd.DataFrame, k: int, member_ids: list[str] | None = None, *, fill_with_popular: bool = True,
) -> dict[str, list[tuple[str, float]]]:
    """Each member's k products bought in most of her baskets (score = that number of baskets), ties by
    most recent purchase. Unknown members are left out of the answer."""
    items = basket_items(lines)
    return own_most_frequent_from_items(items, k, member_ids, fill_with_popular=fill_with_popular)


def own_most_frequent_from_items(
    items: pd.DataFrame, k: int, member_ids: list[str] | None = None, *, fill_with_popular: bool = True,
) -> dict[str, list[tuple[str, float]]]:
    """As `own_most_frequent`, from a `basket_items` table (so an evaluation prepares it once)."""
    mine = items[items["member_id"].notna()]
    if member_ids is not None:
        mine = mine[mine["member_id"].isin(set(member_ids))]
    counts = (mine.groupby(["member_id", "product_id"], sort=False)
              .agg(n=("basket", "size"), last=("at", "max")).reset_index()
              .sort_values(["member_id", "n", "last", "product_id"], ascending=[True, False, False, True]))
    counts = counts.groupby("member_id", sort=False).head(k)
    fill = _popular_from_items(items, 2 * k) if fill_with_popular else []
    out: dict[str, list[tuple[str, float]]] = {}
    for member, products, ns in zip(counts["member_id"], counts["product_id"], counts["n"], strict=True):
        out.setdefault(member, []).append((products, float(ns)))
    for member, recs in out.items():
        if len(recs) < k and fill:
            have = {p for p, _ in recs}
            # Popular fillers score below any own product (a share of baskets is < 1 <= a count).
            recs.extend([(p, s) for p, s in fill if p not in have][: k - len(recs)])
        out[member] = recs
    return out
