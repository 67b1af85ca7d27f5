#!/usr/bin/env bash
# Symbolic recovery (after `kanlab reproduce results/function_fitting`): print the fitted
# B-spline KAN edges of seed 0 as formulas for three functions with a known closed form and
# store them beside the true formula in results/function_fitting/symbolic/<function>.txt.
# Run from the repository root: bash results/function_fitting/symbolic.sh
# Needs the run directories (checkpoints, gitignored) of the reproduction on this machine.
set -euo pipefail
bench=results/function_fitting
mkdir -p "$bench/symbolic"
for fn in exp_sin_sq xy exp_sin_4d; do
    run_dir=$(python - "$bench/runs.jsonl" "$fn-b_spline_kan" <<'PY'
import json, sys
rows = [json.loads(line) for line in open(sys.argv[1]) if line.strip()]
rows = [r for r in rows if r.get("name") == sys.argv[2] and r.get("seed") == 0
        and r.get("status") == "completed"]
if not rows:
    sys.exit(f"no completed seed-0 run named {sys.argv[2]} in {sys.argv[1]}: reproduce first")
print(rows[-1]["run_dir"])
PY
)
    formula=$(python -c "from kanlab.data.synthetic import FUNCTIONS; print(FUNCTIONS['$fn'][2])")
    {
        echo "# $fn: true formula f = $formula (inputs uniform on [-1, 1])"
        echo "# fitted: B-spline KAN seed 0, results/$run_dir"
        echo "# command: kanlab symbolic results/$run_dir --x-range -1 1"
        kanlab symbolic "results/$run_dir" --x-range -1 1
    } > "$bench/symbolic/$fn.txt"
    echo "wrote $bench/symbolic/$fn.txt"
done
