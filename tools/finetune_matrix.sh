#!/usr/bin/env bash
# GPT-1 fine-tuning at the small scale on one GPU (issue 15): the five GLUE tasks x {pre-trained
# lambda=0.5, pre-trained lambda=0, random init lambda=0.5} x seeds 0 1 2 = 45 runs, STREAMS at a
# time sharing the GPU, under one deadline; then the fine-tuning report.
#
#   usage: bash tools/finetune_matrix.sh RUN_DIR [DEADLINE_SECONDS] [STREAMS]   (default 540, 10)
#
# RUN_DIR: a `python -m repro gpt1 --scale small` run with a checkpoint. The jobs start longest
# first (SST-2: 6,312 updates; the others 231-801), each stream taking the next job when one ends.
# A run still going at the deadline gets SIGTERM: it stops at its next update, its summary says
# where, and the report lists it as stopped and averages it nowhere; a job not started by then
# is listed in runs/finetune-matrix/jobs.tsv as not started.
# The GPU machine has no spaCy: the GLUE token ids come from the token cache. Where
# .cache/glue-gpt1-tokens.tar.xz exists (`python tools/glue_tokens.py pack`, run where spaCy is)
# it is unpacked into $REPRO_CACHE first; the run stops here if any task's ids are missing.
# Writes: runs/gpt1-finetune-small/<task>-<time>-s<seed>-<hash>/ (no checkpoints),
# reports/local/gpt1-finetune-small.{md,json}, runs/finetune-matrix/{jobs.tsv,<job>.log}.
# TASKS="sst2" SEEDS="1 2" bash tools/finetune_matrix.sh ... runs a part of the matrix (e.g. what a
# deadline cut off; the report takes the newest finished run of each task, arm and seed).
# To commit them as the reference: python -m repro report gpt1 --finetune --scale small \
#   --add runs/gpt1-finetune-small/*/ --reference
set -uo pipefail
cd "$(dirname "$0")/.."
init=${1:?usage: bash tools/finetune_matrix.sh RUN_DIR [DEADLINE_SECONDS] [STREAMS]}
deadline=${2:-540}
streams=${3:-10}
logs=runs/finetune-matrix
mkdir -p "$logs"
: > "$logs/jobs.tsv"
[ -f .cache/glue-gpt1-tokens.tar.xz ] && python tools/glue_tokens.py unpack .cache/glue-gpt1-tokens.tar.xz
python tools/glue_tokens.py check || exit 1
start=$(date +%s)
export init deadline logs start OMP_NUM_THREADS=1

job() {   # one run: TASK SEED ARM, ARM one of pre, pre-lm0, random
    local task=$1 seed=$2 arm=$3 name="$1-s$2-$3"
    local left=$(( start + deadline - $(date +%s) ))
    if (( left < 30 )); then
        printf '%s\tnot started: deadline\n' "$name" >> "$logs/jobs.tsv"
        return 0
    fi
    local source=(--init "$init")
    case $arm in
        pre-lm0) source+=(--set lm_coef=0) ;;
        random) source=(--init random) ;;
    esac
    timeout --signal=TERM --kill-after=60 "$left" python -m repro gpt1 finetune --task "$task" \
        --scale small --seed "$seed" "${source[@]}" --no-progress --no-report --json \
        > "$logs/$name.log" 2>&1
    local rc=$? state=finished
    (( rc == 124 )) && state="stopped at the deadline"
    (( rc != 0 && rc != 124 )) && state="failed (exit $rc; see $logs/$name.log)"
    printf '%s\t%s\t%ss\n' "$name" "$state" "$(( $(date +%s) - start ))" >> "$logs/jobs.tsv"
}
export -f job

for task in ${TASKS:-sst2 cola stsb mrpc rte}; do
    for seed in ${SEEDS:-0 1 2}; do
        for arm in pre pre-lm0 random; do echo "$task $seed $arm"; done
    done
done | xargs -P "$streams" -L 1 bash -c 'job "$@"' _

echo "== jobs ($(( $(date +%s) - start )) s)"
sort "$logs/jobs.tsv"
python -m repro report gpt1 --finetune --scale small
