"""Every Welch test the Fashion-MNIST README quotes, Holm-corrected per family and over all.

The leaderboard corrects each family of comparisons on its own: every row against the plain
MLP, every row against the top row (``leaderboard.md``) and, for the <= 52.6k-parameter
question, every row against FastKAN (``kanlab leaderboard results/fashion_mnist --baseline
fast_kan``). README also says which differences survive a Holm correction over all distinct
comparisons of the three families at once (a pair that two families share counts once). Run
from the repository root; the output is committed next to this file:

    python results/fashion_mnist/comparisons.py > results/fashion_mnist/comparisons.txt
"""

from __future__ import annotations

import statistics
import sys
from pathlib import Path

from kanlab.results.reading import read_runs
from kanlab.results.stats import holm, welch

HERE = Path(__file__).resolve().parent
PRIMARY = "test/acc"
REFERENCES = ("mlp", "top", "fast_kan")  # the three families, in README's order


def main() -> int:
    values: dict[str, list[float]] = {}
    for row in read_runs(HERE / "runs.jsonl"):
        if not row.get("trial"):
            values.setdefault(row["name"], []).append(100 * row["metrics"][PRIMARY])
    means = {name: statistics.fmean(v) for name, v in values.items()}
    top = max(means, key=lambda name: means[name])
    families: dict[str, list[tuple[str, str]]] = {}
    for ref in REFERENCES:
        name = top if ref == "top" else ref
        families[ref] = [(row, name) for row in sorted(values) if row != name]
    raw = {pair: welch(values[pair[0]], values[pair[1]]).p
           for pairs in families.values() for pair in pairs}
    distinct: dict[frozenset[str], tuple[str, str]] = {}
    for pair in raw:
        distinct.setdefault(frozenset(pair), pair)
    overall = dict(zip(distinct.values(), holm([raw[p] for p in distinct.values()]),
                       strict=True))
    print(f"# {PRIMARY} (%), {sum(len(v) for v in values.values())} runs, top row: {top}; "
          f"{len(distinct)} distinct comparisons over {len(families)} families")
    print(f"{'family':9} {'row':16} {'against':16} {'delta':>7} {'p raw':>7} "
          f"{'p Holm family':>13} {'p Holm all':>10}")
    for ref, pairs in families.items():
        adjusted = dict(zip(pairs, holm([raw[p] for p in pairs]), strict=True))
        for pair in sorted(pairs, key=lambda p: -means[p[0]]):
            same = distinct[frozenset(pair)]
            print(f"{ref:9} {pair[0]:16} {pair[1]:16} {means[pair[0]] - means[pair[1]]:+7.2f} "
                  f"{raw[pair]:7.3f} {adjusted[pair]:13.3f} {overall[same]:10.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
