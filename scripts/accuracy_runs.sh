#!/usr/bin/env bash
# The cross-validation runs behind docs/RESULTS.md. Each run's results.json and splits.json are
# copied to docs/results/NAME/ (checkpoints stay in the run folder). Runs one after another with
# one thread each; re-running resumes finished folds. Usage: scripts/accuracy_runs.sh [RUN_ROOT [NAME...]]
# (with NAMEs, only those runs, in this file's order: two queues can share the cores, never a run).
set -uo pipefail
cd "$(dirname "$0")/.."
root=${1:-runs/accuracy}
only=" ${*:2} "
tu=${DIFFPOOL_TU_ROOT:-../shared/datasets/tu}
diffpool=${DIFFPOOL:-.venv/bin/diffpool}
export OMP_NUM_THREADS=1
wanted() { [[ "$only" == "  " || "$only" == *" $1 "* ]]; }
# NAME, the command line to record, then the command to run (its --out is $root/NAME).
publish() {
  local name=$1 shown=$2; shift 2
  echo "== $name: $shown"
  if "$@" > "$root/$name.json.log" 2> "$root/$name.err"; then
    # A row only with its results: a run that exited 0 without them must not leave a command behind.
    mkdir -p "docs/results/$name" &&
      cp "$root/$name/results.json" "$root/$name/splits.json" "docs/results/$name/" &&
      echo "$shown" > "docs/results/$name/command.txt" &&
      tail -c 300 "$root/$name/results.json" | grep -o '"markdown".*' || echo "$name: no results to copy"
  else
    echo "$name failed: $(tail -3 "$root/$name.err")"
  fi
}
run() {  # NAME then diffpool cv options
  local name=$1; shift
  wanted "$name" || return 0
  publish "$name" "diffpool cv --out RUN_DIR --data-dir $tu $*" \
    "$diffpool" cv --out "$root/$name" --data-dir "$tu" --json "$@"
}
select_run() {  # NAME then the candidate runs' NAMEs: per fold, the candidate best on inner validation
  local name=$1; shift
  wanted "$name" || return 0
  local candidates=() shown=() candidate
  for candidate in "$@"; do candidates+=("$root/$candidate"); shown+=("runs/accuracy/$candidate"); done
  publish "$name" "diffpool cv select ${shown[*]} --out runs/accuracy/$name" \
    "$diffpool" cv select "${candidates[@]}" --out "$root/$name" --json
}
mkdir -p "$root"
common=(--folds 10 --protocol fair --epochs 150 --patience 50)
# Per-graph cluster counts (k_g = ceil(ratio · n_g)) with size-bucketed batches, against
# the paper preset's fixed k = ceil(ratio · largest graph) with random batches.
pergraph=(--per-graph-clusters --batching size)
run ENZYMES-diffpool-fair --dataset ENZYMES --preset paper "${common[@]}"
run ENZYMES-baseline-fair --dataset ENZYMES --variant baseline "${common[@]}"
run PROTEINS-diffpool-fair --dataset PROTEINS --preset paper "${common[@]}"
run PROTEINS-diffpool-pergraph-fair --dataset PROTEINS --preset paper "${pergraph[@]}" "${common[@]}"
run PROTEINS-diffpool-pergraph-random-fair --dataset PROTEINS --preset paper --per-graph-clusters "${common[@]}"
run ENZYMES-diffpool-pergraph-random-fair --dataset ENZYMES --preset paper --per-graph-clusters "${common[@]}"
# Per-graph k with a floor of 8 clusters (--min-clusters), an option: a 33-node ENZYMES graph gets 8
# clusters instead of 4 (docs/RESULTS.md).
run ENZYMES-diffpool-pergraph-min8-fair --dataset ENZYMES --preset paper --per-graph-clusters --min-clusters 8 "${common[@]}"
run PROTEINS-diffpool-pergraph-min8-fair --dataset PROTEINS --preset paper --per-graph-clusters --min-clusters 8 "${common[@]}"
run PROTEINS-baseline-fair --dataset PROTEINS --variant baseline "${common[@]}"
run MUTAG-diffpool-fair --dataset MUTAG --preset paper "${common[@]}"
run MUTAG-baseline-fair --dataset MUTAG --variant baseline "${common[@]}"
run IMDB-BINARY-diffpool-fair --dataset IMDB-BINARY --preset paper "${common[@]}"
run IMDB-BINARY-baseline-fair --dataset IMDB-BINARY --variant baseline "${common[@]}"
run ENZYMES-diffpool-paper --dataset ENZYMES --preset paper --folds 10 --protocol paper --epochs 100
run ENZYMES-graphsage-fair --dataset ENZYMES --preset paper --variant graphsage "${common[@]}"
run ENZYMES-nolp-fair --dataset ENZYMES --preset paper --variant nolp "${common[@]}"
run ENZYMES-det-fair --dataset ENZYMES --preset paper --variant det "${common[@]}"
run PROTEINS-graphsage-fair --dataset PROTEINS --preset paper --variant graphsage "${common[@]}"
run PROTEINS-nolp-fair --dataset PROTEINS --preset paper --variant nolp "${common[@]}"
run PROTEINS-det-fair --dataset PROTEINS --preset paper --variant det "${common[@]}"
run IMDB-MULTI-diffpool-fair --dataset IMDB-MULTI --preset paper "${common[@]}"
run IMDB-MULTI-baseline-fair --dataset IMDB-MULTI --variant baseline "${common[@]}"
run PROTEINS-diffpool-paper --dataset PROTEINS --preset paper --folds 10 --protocol paper --epochs 100
run NCI1-baseline-fair --dataset NCI1 --variant baseline "${common[@]}"
run NCI1-diffpool-fair --dataset NCI1 --preset paper "${common[@]}"
# REDDIT-BINARY: DiffPool's fixed-k epoch takes 8 minutes here (docs/PERFORMANCE.md), so its 10 folds
# are out of reach on this machine; DiffPool with per-graph k is the row at the end of this file.
run REDDIT-BINARY-baseline-fair --dataset REDDIT-BINARY --variant baseline "${common[@]}"
# The paper's other pooling setting on each set (Sec. 4.1: one level at 10% does as well on small
# sets; two at 25% otherwise), as the second candidate of a per-fold choice on inner validation
# (`diffpool cv select`, below).
run PROTEINS-diffpool-1level-fair --dataset PROTEINS --preset paper --levels 1 --ratio 0.1 "${common[@]}"
run ENZYMES-diffpool-2level-fair --dataset ENZYMES --preset paper --levels 2 --ratio 0.25 "${common[@]}"
run MUTAG-diffpool-1level-fair --dataset MUTAG --preset paper --levels 1 --ratio 0.1 "${common[@]}"
run IMDB-BINARY-diffpool-1level-fair --dataset IMDB-BINARY --preset paper --levels 1 --ratio 0.1 "${common[@]}"
run IMDB-MULTI-diffpool-1level-fair --dataset IMDB-MULTI --preset paper --levels 1 --ratio 0.1 "${common[@]}"
run NCI1-diffpool-1level-fair --dataset NCI1 --preset paper --levels 1 --ratio 0.1 "${common[@]}"
# The authors' code's default pooling (one level; their example commands use 10%) under their protocol.
run PROTEINS-diffpool-1level-paper --dataset PROTEINS --preset paper --levels 1 --ratio 0.1 --folds 10 --protocol paper --epochs 100
select_run PROTEINS-diffpool-selected-fair PROTEINS-diffpool-fair PROTEINS-diffpool-1level-fair
select_run ENZYMES-diffpool-selected-fair ENZYMES-diffpool-fair ENZYMES-diffpool-2level-fair
select_run MUTAG-diffpool-selected-fair MUTAG-diffpool-fair MUTAG-diffpool-1level-fair
select_run IMDB-BINARY-diffpool-selected-fair IMDB-BINARY-diffpool-fair IMDB-BINARY-diffpool-1level-fair
select_run IMDB-MULTI-diffpool-selected-fair IMDB-MULTI-diffpool-fair IMDB-MULTI-diffpool-1level-fair
select_run NCI1-diffpool-selected-fair NCI1-diffpool-fair NCI1-diffpool-1level-fair
# Batch norm of the raw node features (--input-norm) on the two sets with node attributes, whose
# scales are far from the one-hot labels' (ENZYMES: std up to 45; PROTEINS: 12.5, tail to ±800).
# Decided before these runs: the preset and the preset with --input-norm are the two candidates of a
# per-fold choice on inner validation (ties go to the preset), and every row is published.
run ENZYMES-inputnorm-fair --dataset ENZYMES --preset paper --input-norm "${common[@]}"
run PROTEINS-inputnorm-fair --dataset PROTEINS --preset paper --input-norm "${common[@]}"
# What the hierarchy adds on normalised inputs: the baseline and flat GraphSAGE with them too.
run ENZYMES-baseline-inputnorm-fair --dataset ENZYMES --variant baseline --input-norm "${common[@]}"
run PROTEINS-baseline-inputnorm-fair --dataset PROTEINS --variant baseline --input-norm "${common[@]}"
run ENZYMES-graphsage-inputnorm-fair --dataset ENZYMES --preset paper --variant graphsage --input-norm "${common[@]}"
run PROTEINS-inputnorm-paper --dataset PROTEINS --preset paper --input-norm --folds 10 --protocol paper --epochs 100
run ENZYMES-inputnorm-paper --dataset ENZYMES --preset paper --input-norm --folds 10 --protocol paper --epochs 100
select_run ENZYMES-inputnorm-selected-fair ENZYMES-diffpool-fair ENZYMES-inputnorm-fair
select_run PROTEINS-inputnorm-selected-fair PROTEINS-diffpool-fair PROTEINS-inputnorm-fair

# Errica et al.'s final runs: every fold trains 3 models (seeds differ, same splits) and scores the
# mean of their test accuracies (--repeats 3). Fixed before any of these ran: PROTEINS' preset and
# its baseline first (with one model per fold the preset was 0.1 short of its goal), then ENZYMES'.
run PROTEINS-repeats3-fair --dataset PROTEINS --preset paper --repeats 3 "${common[@]}"
run PROTEINS-baseline-repeats3-fair --dataset PROTEINS --variant baseline --repeats 3 "${common[@]}"
run ENZYMES-repeats3-fair --dataset ENZYMES --preset paper --repeats 3 "${common[@]}"
run ENZYMES-baseline-repeats3-fair --dataset ENZYMES --variant baseline --repeats 3 "${common[@]}"
# Added after the four rows above had run: ENZYMES' best setting (--input-norm) with 3 models per fold.
run ENZYMES-inputnorm-repeats3-fair --dataset ENZYMES --preset paper --input-norm --repeats 3 "${common[@]}"
# Per-graph cluster counts (k_g = ceil(ratio · n_g), random batches) with 3 models per fold: the
# evidence needed before per-graph k becomes the product's default. Fixed before these
# ran: per-graph k becomes the default (without --preset; the paper preset keeps its fixed k) only
# if each row's mean is within 1 point of the fixed-k row with 3 models per fold (PROTEINS 74.3,
# so >= 73.3; ENZYMES 64.6, so >= 63.6); otherwise the default stays fixed k. Both are published.
run PROTEINS-pergraph-repeats3-fair --dataset PROTEINS --preset paper --per-graph-clusters --repeats 3 "${common[@]}"
run ENZYMES-pergraph-repeats3-fair --dataset ENZYMES --preset paper --per-graph-clusters --repeats 3 "${common[@]}"
# Readout: the sum over nodes (the signal the structure-agnostic baseline sums, graph size included,
# which the preset's max readout discards) as a second candidate of a per-fold choice on inner
# validation against the max readout. Fixed before these ran: per-graph k with 3 models per fold, and
# the preset's fixed k with one model per fold (its max-readout candidate is PROTEINS-diffpool-fair).
run PROTEINS-pergraph-sum-repeats3-fair --dataset PROTEINS --preset paper --per-graph-clusters --readout sum --repeats 3 "${common[@]}"
run PROTEINS-sum-fair --dataset PROTEINS --preset paper --readout sum "${common[@]}"
select_run PROTEINS-pergraph-readout-selected-fair PROTEINS-pergraph-repeats3-fair PROTEINS-pergraph-sum-repeats3-fair
select_run PROTEINS-readout-selected-fair PROTEINS-diffpool-fair PROTEINS-sum-fair
# Regularisation. Every PROTEINS fold's best inner-validation epoch of the preset is 1-24
# while its training accuracy climbs past 0.9 by epoch ~35: the model memorises the training folds.
# Fixed before these ran: dropout 0.5 in the classifier MLP with weight decay 5e-4 as the second
# candidate of a per-fold choice on inner validation against the preset (PROTEINS-diffpool-fair; ties
# go to the preset); both new rows are published whatever they score.
run PROTEINS-regularised-fair --dataset PROTEINS --preset paper --dropout 0.5 --weight-decay 5e-4 "${common[@]}"
select_run PROTEINS-regularised-selected-fair PROTEINS-diffpool-fair PROTEINS-regularised-fair
# REDDIT-BINARY DiffPool, made affordable by per-graph cluster counts (the preset's fixed k takes
# 8 minutes an epoch here) at one level of 10% (the paper's setting for COLLAB, its other set of
# large social graphs). Fixed before it ran; one thread, the same budget as every row. Its 10 folds
# are ~3.5 core-hours (~20 minutes a fold); re-running this line resumes unfinished folds.
run REDDIT-BINARY-pergraph-1level-fair --dataset REDDIT-BINARY --preset paper --per-graph-clusters --levels 1 --ratio 0.1 "${common[@]}"
# Learning-rate schedule, a lever no PROTEINS row had tried.
# The preset's best inner-validation epochs are 1-24, so a cosine schedule over 150 epochs would have
# barely decayed before early stopping ends a run; this one anneals from 1e-3 towards 0 over 50
# epochs, all run, the best inner-validation epoch kept. Fixed before it ran: the second candidate
# of a per-fold choice against the preset (ties go to the preset); both rows are published whatever
# they score.
run PROTEINS-cosine-fair --dataset PROTEINS --preset paper --lr-schedule cosine --folds 10 --protocol fair --epochs 50 --patience 50
select_run PROTEINS-cosine-selected-fair PROTEINS-diffpool-fair PROTEINS-cosine-fair
# Per-graph k with a floor of 8 clusters as the product default. Per-graph k alone failed
# the rule above on ENZYMES (at 10 % a 33-node graph gets 4 clusters); a floor of 8 gave ENZYMES 63.7
# and the synthetic set its colours back with one model. Fixed before these ran, the same rule: the
# default (without --preset) becomes per-graph k with --min-clusters 8 only if, with 3 models per
# fold, PROTEINS >= 73.3 and ENZYMES >= 63.6, and the synthetic main job at its default settings
# (seeds 0-5, docs/results/synthetic/seeds) averages >= 83.7, 5 points below fixed k's 88.7.
run PROTEINS-pergraph-min8-repeats3-fair --dataset PROTEINS --preset paper --per-graph-clusters --min-clusters 8 --repeats 3 "${common[@]}"
run ENZYMES-pergraph-min8-repeats3-fair --dataset ENZYMES --preset paper --per-graph-clusters --min-clusters 8 --repeats 3 "${common[@]}"
# Result: PROTEINS 74.7 ± 3.8, ENZYMES 64.2 ± 4.5, the synthetic set 86.7: the rule passed, and
# per-graph k with a floor of 8 is the default since (--preset paper keeps the paper's fixed k).
# Loss weights, a lever no PROTEINS row had tried. In the
# preset's first epoch on PROTEINS the entropy term (6.25, summed over the two levels of 155 and 39
# clusters) is ten times the cross-entropy (0.59); by the third epoch it is 0.37: the assignments
# are pushed to one-hot before the classifier has learned anything, while the link term grows
# (0.74 -> 1.42). On the synthetic set the same early freezing was what the weight 0.1 undid. Fixed
# before these ran: the preset with --entropy-weight 0.1 (the synthetic set's default, not tuned
# on PROTEINS) as the second candidate of a per-fold choice on inner validation against the preset,
# re-run here on the same splits because the first preset run's folds kept no validation scores
# (ties go to the preset); all three rows are published whatever they score.
run PROTEINS-diffpool-rerun-fair --dataset PROTEINS --preset paper "${common[@]}"
run PROTEINS-entropy0.1-fair --dataset PROTEINS --preset paper --entropy-weight 0.1 "${common[@]}"
select_run PROTEINS-entropy-selected-fair PROTEINS-diffpool-rerun-fair PROTEINS-entropy0.1-fair
# Result: the preset re-run 74.6 ± 4.8 (the first run of the same command scored 75.7 ± 3.9), entropy
# weight 0.1 74.6 ± 6.3, chosen per fold 74.7 ± 4.6 (the preset in 7 folds): PROTEINS' goal stays unmet.
# Batch norm, a lever no PROTEINS row had tried. The preset
# normalises every GNN layer but the last over the batch's real nodes; PROTEINS' batches of 20 graphs
# mix 4-node and 600-node graphs, so a batch's statistics are dominated by its largest graph and
# differ from the running statistics used at test time. Fixed before it ran: the preset with
# --no-batch-norm as the second candidate of a per-fold choice on inner validation against the
# preset's re-run above (ties go to the preset); both new rows are published whatever they score.
run PROTEINS-nobatchnorm-fair --dataset PROTEINS --preset paper --no-batch-norm "${common[@]}"
select_run PROTEINS-batchnorm-selected-fair PROTEINS-diffpool-rerun-fair PROTEINS-nobatchnorm-fair
# Link-loss normalisation, another lever. The product divides each
# graph's ‖A − SSᵀ‖_F by its node count; the paper's raw norm (--link-normalization none) weighs the
# link term by graph size, so PROTEINS' large graphs (up to 620 nodes) pull S towards their adjacency.
# Fixed before it ran, alongside the batch-norm row and by the same rule: a per-fold choice on inner
# validation against the preset's re-run (ties go to the preset); both rows are published.
run PROTEINS-linkraw-fair --dataset PROTEINS --preset paper --link-normalization none "${common[@]}"
select_run PROTEINS-linknorm-selected-fair PROTEINS-diffpool-rerun-fair PROTEINS-linkraw-fair
# Result: without batch norm 75.5 ± 4.7 (best epochs median 39.5), chosen per fold 73.8 ± 5.2; the raw
# link norm 76.0 ± 4.6 (best epochs median 4), chosen per fold 74.7 ± 4.7 (the preset in 8 folds each).
# By the rule above PROTEINS' goal stays unmet. Confirmation of the raw norm (fixed before
# it runs; prompted by the 76.0 above, so it tests that one setting, not a choice among settings): the
# same command with three models per fold (Errica et al.'s final protocol; the preset scored 74.3 ± 4.2
# so). PROTEINS' fair goal counts as met only if this row is >= 75.8; it is published either way.
run PROTEINS-linkraw-repeats3-fair --dataset PROTEINS --preset paper --link-normalization none --repeats 3 "${common[@]}"
# Result: 74.7 ± 3.5 (models alone 74.1, 74.8, 75.3), below 75.8: the goal is not met.
# Pooled batching: a lever for the default's epoch time: random pools of
# 4 batches' worth of graphs, each sorted by size and cut into batches (epochs 0.89x on PROTEINS,
# 0.93x on ENZYMES against random batches, measured in one process). Size-sorted batches cost
# PROTEINS accuracy before (72.6), so fixed before these ran: --batching pooled becomes the default
# (without --preset) only if, with 3 models per fold, PROTEINS >= 73.7 and ENZYMES >= 63.2 (1 point
# below the random batches' 74.7 and 64.2 above, the margin per-graph k was allowed), and the
# synthetic main job at its default settings (seeds 0-5) still averages >= 85.7 (1 point below 86.7).
run PROTEINS-pooled-repeats3-fair --dataset PROTEINS --preset paper --per-graph-clusters --min-clusters 8 --batching pooled --repeats 3 "${common[@]}"
run ENZYMES-pooled-repeats3-fair --dataset ENZYMES --preset paper --per-graph-clusters --min-clusters 8 --batching pooled --repeats 3 "${common[@]}"
# Result: PROTEINS 74.7 ± 4.2 (models alone 73.8, 76.0, 74.1; random batches 74.7 ± 3.8),
# ENZYMES 62.2 ± 3.5 (60.8, 62.0, 63.8; random batches 64.2 ± 4.5), the synthetic set 91.5: ENZYMES
# is below 63.2, so the rule fails and random batches stay the default; --batching pooled is an option.
