#!/bin/bash
# The leaderboard figure of results/fashion_mnist_conv; run from the repo root after the reproduction.
set -euo pipefail
kanlab plot leaderboard results/fashion_mnist_conv --output results/fashion_mnist_conv/plots/leaderboard.png
