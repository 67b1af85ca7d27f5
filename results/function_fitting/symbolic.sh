#!/usr/bin/env bash
# Symbolic recovery (after `kanlab reproduce results/function_fitting`): print the fitted
# B-spline KAN edges of seed 0 as formulas for three functions with a known closed form and
# store them beside the true formula in results/function_fitting/symbolic/<function>.txt.
# Run from the repository root: bash results/function_fitting/symbolic.sh
# Needs the seed-0 checkpoints (gitignored): on a fresh clone results/run_dir.py retrains
# each from the config its committed row records (a few seconds each; runs.jsonl untouched).
set -euo pipefail
bench=results/function_fitting
mkdir -p "$bench/symbolic"
for fn in exp_sin_sq xy exp_sin_4d; do
    fit_dir=$(python results/run_dir.py function_fitting "$fn-b_spline_kan")
    run_dir=$(python results/run_dir.py --recorded function_fitting "$fn-b_spline_kan")
    formula=$(python -c "from kanlab.data.synthetic import FUNCTIONS; print(FUNCTIONS['$fn'][2])")
    {
        echo "# $fn: true formula f = $formula (inputs uniform on [-1, 1])"
        echo "# fitted: B-spline KAN seed 0, $run_dir"
        echo "# command: kanlab symbolic $run_dir --x-range -1 1"
        kanlab symbolic "$fit_dir" --x-range -1 1
    } > "$bench/symbolic/$fn.txt"
    echo "wrote $bench/symbolic/$fn.txt"
done
