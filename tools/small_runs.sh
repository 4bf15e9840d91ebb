#!/usr/bin/env bash
# The `--scale small` reference runs behind reports/, in one sitting on one GPU (about 9 minutes
# on an H100/H200). chargpt runs alone because its wall time is a target; the rest share the GPU
# in three streams (their compile and tokenizing overlap the others' GPU work). Every run is
# bounded by a common deadline: a run still going at the deadline gets SIGTERM, saves, and its
# report says how far it got. Output: runs/ (configs, metrics, samples; no checkpoints).
#   usage: bash tools/small_runs.sh [DEADLINE_SECONDS]     (default 540)
set -uo pipefail
cd "$(dirname "$0")/.."
deadline=${1:-540}
left() { echo $(( deadline - SECONDS > 5 ? deadline - SECONDS : 5 )); }
run() { timeout "$(left)" python -m repro "$@" --scale small --no-progress; }

python -m repro bench --rows attn --out reports 2>&1 | tail -n 20
( run chargpt; run chargpt --seed 1 ) 2>&1 | tail -n 8

( run gpt2; run gpt3; run words ) > stream-a.log 2>&1 &
( run gpt1; run igpt; run imagegpt ) > stream-b.log 2>&1 &
( run adder; run adder --set task.ndigit=3 --steps 8000 ) > stream-c.log 2>&1 &
wait
tail -n 6 stream-*.log
