#!/usr/bin/env bash
# Cross-validation folds as a SLURM job array: one fold per task, then one merge.
#
#   sbatch --array=0-9 scripts/slurm_cv.sh ENZYMES runs/cv-ENZYMES
#   # when all tasks are done:
#   diffpool cv report runs/cv-ENZYMES
#
# Every task runs the same command with its own --fold. The splits are a function of the data and
# --seed and written atomically, so tasks that start together write identical splits.json files.
#SBATCH --job-name=diffpool-cv
#SBATCH --cpus-per-task=2
#SBATCH --mem=8G
#SBATCH --time=04:00:00
#SBATCH --output=slurm-%A_%a.out
set -euo pipefail
dataset=${1:?usage: sbatch --array=0-9 scripts/slurm_cv.sh DATASET RUN_DIR [diffpool options]}
run_dir=${2:?usage: sbatch --array=0-9 scripts/slurm_cv.sh DATASET RUN_DIR [diffpool options]}
shift 2
fold=${SLURM_ARRAY_TASK_ID:?run this as a job array: sbatch --array=0-9 ...}
exec diffpool cv --dataset "$dataset" --folds 10 --out "$run_dir" --fold "$fold" --threads "${SLURM_CPUS_PER_TASK:-1}" "$@"
