"""Next-basket recommendation on real data: TIFU-KNN and ALS against global popularity and each shopper's
own most frequent items, all in the same run, on the same members.

    .venv/bin/python benchmarks/recommend_eval.py [--dataset completejourney|online_retail|all]
                                                  [--sample-households N] [--no-tune] [--no-rerank]

The LightGBM re-ranker row (oao.insights.rerank) is tuned on the validation split too and trained on
cutoffs 2-8 weeks before each evaluation cutoff, targets strictly before it (about 10 minutes on 2 cores).

Split (oao.insights.evaluation): train on every line before the cutoff, target = each member's first basket
at or after it. TIFU-KNN's parameters are tuned on a validation split 8 weeks earlier (targets before the
test cutoff), never on the test targets. The Complete Journey: test cutoff 2017-11-06 (after week 45).
UCI Online Retail: 8 weeks before the last invoice. Prints recall@10, NDCG@10, hit rate@10 and seconds,
with the published TIFU-KNN figure on Dunnhumby as context (other data and split: not comparable 1:1).

Figures only: nothing is asserted.
"""

from __future__ import annotations

import argparse
import time

from common import load_average, print_machine

from oao.insights.evaluation import ONLINE_RETAIL, Evaluation, evaluate, load_dataset


def print_evaluation(ev: Evaluation, description: str) -> None:
    print(f"\n== {ev.dataset}: {description}")
    print(f"   split: train before {ev.cutoff:%Y-%m-%d %H:%M}, target = next basket; {ev.members_trained} members "
          f"in training, {ev.results[0].scores.members} scored; validation cutoff {ev.validation_cutoff:%Y-%m-%d}")
    print(f"   {'model':<20} {'recall@10':>9} {'NDCG@10':>8} {'hit@10':>7} {'train s':>8} {'predict s':>9}  notes")
    for r in ev.results:
        s = r.scores
        print(f"   {r.name:<20} {s.recall:9.4f} {s.ndcg:8.4f} {s.hit_rate:7.4f} {r.train_seconds:8.1f} "
              f"{r.predict_seconds:9.1f}  {r.note}")
    own = ev.result("own most frequent").scores.recall
    tifu = ev.result("TIFU-KNN").scores.recall
    print(f"   TIFU-KNN vs own most frequent: {100 * (tifu / own - 1):+.1f}% recall@10 (goal: +10% on "
          f"The Complete Journey)")
    for r in ev.results:  # re-ranker section: every row against the baseline
        if r.name not in ("own most frequent", "TIFU-KNN"):
            print(f"   {r.name} vs own most frequent: {100 * (r.scores.recall / own - 1):+.1f}% recall@10, "
                  f"{100 * (r.scores.ndcg / ev.result('own most frequent').scores.ndcg - 1):+.1f}% NDCG@10")
    if ev.published:
        print(f"   context: {ev.published[0]}: recall@10 {ev.published[1]:.3f}; ours here {tifu:.4f}")
    if ev.tuning_trace:
        print(f"   tuning: {len(ev.tuning_trace)} settings on the validation split in {ev.tuning_seconds:.0f} s; "
              f"best validation recall@10 {max(r for _, r in ev.tuning_trace):.4f} (own most frequent there: "
              f"{ev.validation_own_recall:.4f})")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--dataset", default="all", choices=["all", "completejourney", "online_retail"])
    ap.add_argument("--sample-households", type=int, default=None)
    ap.add_argument("--no-tune", action="store_true")
    ap.add_argument("--no-rerank", action="store_true", help="skip the LightGBM re-ranker (rerank.py, slow)")
    args = ap.parse_args()
    print_machine()
    names = ["completejourney", "online_retail"] if args.dataset == "all" else [args.dataset]
    for name in names:
        if name == "online_retail" and not ONLINE_RETAIL.exists():
            print(f"\n== online_retail skipped: {ONLINE_RETAIL} is missing")
            continue
        t0 = time.perf_counter()
        ds = load_dataset(name, sample=args.sample_households)
        ev = evaluate(ds, tune=not args.no_tune, rerank=not args.no_rerank,
                      progress=lambda msg: print(f"   .. {msg}", flush=True))
        print_evaluation(ev, ds.description)
        print(f"   wall time {time.perf_counter() - t0:.0f} s, load average now {load_average()}")


if __name__ == "__main__":
    main()
