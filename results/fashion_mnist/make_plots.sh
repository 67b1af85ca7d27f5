#!/bin/bash
# Figures of results/fashion_mnist/README section; run from the repo root after the runs.
# The seed-0 run of each named configuration is plotted; its run directory (gitignored) is
# retrained from its committed row's config when this machine lacks it (results/run_dir.py).
set -euo pipefail
P=results/fashion_mnist/plots
run() { python results/run_dir.py fashion_mnist "$1"; }
kanlab plot leaderboard results/fashion_mnist --output $P/leaderboard.png
kanlab plot activation --run "$(run crrelu_mlp)" --output $P/crrelu_learnt.png
kanlab plot activation --run "$(run eafo_mlp)" --output $P/eafo_learnt.png
kanlab plot edges "$(run b_spline_kan)" --fits --max-in 4 --max-out 3 --output $P/b_spline_edges.png
kanlab plot skan "$(run s_kan)" --output $P/s_kan_selection.png
kanlab plot topk "$(run topk_mlp)" --batches 4 --output $P/topk_hist.png
# the study's database is not committed (its export is): made by study_52k.yaml's search
if [ -f results/studies/fmnist_52k_v2.db ]; then
    kanlab plot study --storage sqlite:///results/studies/fmnist_52k_v2.db \
        --study fmnist_52k_v2 --output $P/study_history.png
else
    echo "kept $P/study_history.png: it needs results/studies/fmnist_52k_v2.db (study_52k.yaml)"
fi
