#!/usr/bin/env bash
# The real-CT detector's 45-minute CPU recipe (docs/training.md, Run 64), from a fresh checkout to a model file:
# the training set (tools/rebuild_real_ct_data.sh --training-only: two phantom sets, the pyradiomics hosts, synthetic
# lesions drawn into seven real hosts), run 64a from random weights (resources/configs/real_small_cpu45.toml), run 64b
# at the low rate (real_small_cpu45_tail.toml), and the export with test-time flipping. It prints its wall time.
#
#   . .venv/bin/activate && tools/train_cpu45.sh [SHARED_DATA_DIR] [OUT_FILE]
#
# SHARED_DATA_DIR defaults to ../shared/data (give an absolute path when running from elsewhere); OUT_FILE to
# runs/real_small_cpu45_tail/model.safetensors. This is not the recipe of the shipped file (that is a chain of runs:
# tools/reproduce_default_model.sh); what it measures is in docs/training.md, Run 64.
set -euo pipefail
cd "$(dirname "$0")/.."
S=${1:-../shared/data}
OUT=${2:-runs/real_small_cpu45_tail/model.safetensors}
start=$(date +%s)
tools/rebuild_real_ct_data.sh --training-only "$S"
echo "train_cpu45: data ready after $(( $(date +%s) - start )) s"
lesionviewer-train train --config resources/configs/real_small_cpu45.toml --run-dir runs/real_small_cpu45
echo "train_cpu45: run 64a done after $(( $(date +%s) - start )) s"
lesionviewer-train train --config resources/configs/real_small_cpu45_tail.toml --run-dir runs/real_small_cpu45_tail
lesionviewer-train export --run-dir runs/real_small_cpu45_tail --out "$OUT" --test-time-flip
echo "train_cpu45: $(( $(date +%s) - start )) s from a fresh checkout to $OUT"
