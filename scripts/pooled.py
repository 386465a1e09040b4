#!/usr/bin/env python3
"""Pool recnet's paired differences over several splits (the README's "every ablation over the
six test splits" table).

    python3 scripts/pooled.py [--metric ndcg@10] EVAL.json...

Each EVAL.json is the output of `recnet eval ... --format json` on one split. For every baseline
that all files compare recnet with, the table gives the fixed-effect (inverse-variance) pooled
difference recnet - baseline with its 95% interval, each split's own difference, and on how many
splits recnet is above. A split's variance is read back from its 95% interval (half-width / 1.96),
so a split with more users (a narrower interval) weighs more.
"""
import json
import math
import sys


def main(argv):
    metric = "ndcg@10"
    if len(argv) >= 2 and argv[0] == "--metric":
        metric, argv = argv[1], argv[2:]
    if not argv:
        sys.exit(__doc__)
    splits = []
    for path in argv:
        with open(path) as f:
            report = json.load(f)
        splits.append({p["baseline"]: p for p in report["paired"] if p["metric"] == metric and p["model"] == "recnet"})
    baselines = [b for b in splits[0] if all(b in s for s in splits[1:])]
    n = len(splits)
    print("| recnet − model | pooled [95% CI] | " + " | ".join(f"split {i + 1}" for i in range(n)) + " | above in |")
    print("|---" * (n + 3) + "|")
    for b in baselines:
        num = den = 0.0
        above = 0
        cells = []
        for s in splits:
            p = s[b]
            se = (p["ci_high"] - p["ci_low"]) / (2 * 1.96)
            # A zero-width interval (identical models) carries no information about the variance.
            if se <= 0:
                cells.append("%+.4f" % p["mean_diff"])
                continue
            num += p["mean_diff"] / se**2
            den += 1 / se**2
            above += p["mean_diff"] > 0
            cells.append("%+.4f" % p["mean_diff"])
        if den == 0:
            continue
        mean, se = num / den, 1 / math.sqrt(den)
        low, high = mean - 1.96 * se, mean + 1.96 * se
        mark = " ✱" if low > 0 else (" ✗" if high < 0 else "")
        print(f"| {b} | {mean:+.4f} [{low:+.4f}, {high:+.4f}]{mark} | " + " | ".join(cells) + f" | {above}/{n} |")


if __name__ == "__main__":
    main(sys.argv[1:])
