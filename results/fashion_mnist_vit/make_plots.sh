#!/bin/bash
# The leaderboard figure of results/fashion_mnist_vit; run from the repo root after the reproduction.
set -euo pipefail
kanlab plot leaderboard results/fashion_mnist_vit --output results/fashion_mnist_vit/plots/leaderboard.png
