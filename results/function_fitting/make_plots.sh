#!/bin/bash
# The leaderboard figure of results/function_fitting (test RMSE, every function x model);
# run from the repo root after the reproduction.
set -euo pipefail
kanlab plot leaderboard results/function_fitting --top 42 \
    --output results/function_fitting/plots/leaderboard.png
