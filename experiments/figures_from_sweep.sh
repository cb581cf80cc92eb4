#!/usr/bin/env bash
# A tiny sweep on the embedded synthetic data set, then every figure of it with al-bench-figures.
#
# Two one-at-a-time sweeps of the paper's strategy into one MLflow experiment:
#   strategy.selection_ratio 0.2, 0.5 (at index.n_trees 50) and index.n_trees 5, 50 (at ratio 0.2),
# each over seeds 0 and 1 (the shared point is one run: the loop finds it again by its run_key), plus
# the random baseline. Sized for a smoke test (60-image pool, 2 rounds, a few optimizer steps): the numbers
# say nothing about the method, the pipeline is the real one. 8 runs; 21 minutes on the shared
# 2-core development machine (2026-11-26), of which the figures take about 1 minute.
#
# Usage: experiments/figures_from_sweep.sh [output dir]   (default outputs/figures_demo)
set -euo pipefail

OUT_DIR=${1:-outputs/figures_demo}
EXPERIMENT=figures_demo
export AL_BENCH_OUTPUT="$OUT_DIR"
export MLFLOW_TRACKING_URI="sqlite:///$OUT_DIR/mlflow.db"

TINY=(
  tracking.experiment_name=$EXPERIMENT
  data.n_pool=60 data.n_val=16
  al.initial=16 al.budget=8 al.rounds=2
  train.steps=10 train.warm_start_steps=5 train.min_steps=5
)

al-bench experiment=ratio_sweep strategy=heatmap_annoy strategy.selection_ratio=0.2,0.5 seed=0,1 "${TINY[@]}"
al-bench experiment=trees_sweep strategy=heatmap_annoy index.n_trees=5,50 seed=0,1 "${TINY[@]}"
al-bench experiment=quick strategy=random seed=0,1 "${TINY[@]}"

al-bench-figures --experiment "$EXPERIMENT" --tracking-uri "$MLFLOW_TRACKING_URI" --out "$OUT_DIR/figures"
