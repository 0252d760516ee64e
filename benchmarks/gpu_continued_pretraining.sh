#!/bin/bash
# Does more pretraining make the base worth more than random weights? Continued masked-LM
# pretraining of the shipped base on a GPU, then the low-label test on it.
#
#   secllm corpus build --out runs/corpus                                   # the recipe's step 1 (CPU, ~1 min)
#   bash benchmarks/gpu_continued_pretraining.sh runs/corpus runs/continued [MINUTES]
#
# 1. `secllm pretrain --init src/secllm/assets/tasks`: the shipped base (1,587 CPU steps of 4,096
#    tokens) continued on the same training corpus (same tokenizer, same 128-token windows) for
#    MINUTES (default 3) with 32k-token batches, bf16, the learning rate decayed over the time budget.
# 2. USTC-TFC 20 classes at 10% of the labels, six label subsets (SEEDS, default --seed 0..5), 40 epochs each:
#    the shipped base, the continued base and random init, side by side on the one GPU; and TRAM
#    (by report) from both bases. Test sets are read only by the evaluation of each fine-tune.
#
# Needs the datasets (SECLLM_DATASETS or ../shared/datasets: traffic_ustc_tfc2016, tram_attack).
# LIMIT / EPOCHS / PRETRAIN_STEPS override sizes for a smoke run (CPU: LIMIT=300 EPOCHS=1 PRETRAIN_STEPS=5).
set -uo pipefail
CORPUS=$1
OUT=$2
MINUTES=${3:-3}
BASE=${BASE:-src/secllm/assets/tasks}
PY=${PY:-python3}
EPOCHS=${EPOCHS:-40}
STEPS=${PRETRAIN_STEPS:-1000000}
CAP=${CAP:-2.5}                       # minutes per fine-tune at most
LIMIT_ARG=${LIMIT:+--limit $LIMIT}
export TOKENIZERS_PARALLELISM=false PYTHONUNBUFFERED=1
mkdir -p "$OUT/logs"
date +%T
ACCELERATE_MIXED_PRECISION=${MIXED:-bf16} OMP_NUM_THREADS=${PRETRAIN_THREADS:-8} \
    $PY -m secllm.cli pretrain --corpus "$CORPUS" --out "$OUT/continued" --init "$BASE" \
    --steps "$STEPS" --max-minutes "$MINUTES" --decay-by-time --batch-tokens "${BATCH_TOKENS:-32768}" \
    --lr "${LR:-5e-4}" --warmup 200 > "$OUT/logs/pretrain.log" 2>&1 || { echo "pretraining failed"; tail -20 "$OUT/logs/pretrain.log"; exit 1; }
date +%T
V2="$OUT/continued/model"
export OMP_NUM_THREADS=2
for s in ${SEEDS:-0 1 2 3 4 5}; do
    $PY benchmarks/tasks.py --task traffic --base "$BASE" --out "$OUT/traffic10-shipped-s$s" --train-fraction 0.1 \
        --epochs "$EPOCHS" --max-minutes "$CAP" --seed "$s" $LIMIT_ARG > "$OUT/logs/traffic10-shipped-s$s.log" 2>&1 &
    $PY benchmarks/tasks.py --task traffic --base "$V2" --out "$OUT/traffic10-continued-s$s" --train-fraction 0.1 \
        --epochs "$EPOCHS" --max-minutes "$CAP" --seed "$s" --no-random $LIMIT_ARG > "$OUT/logs/traffic10-continued-s$s.log" 2>&1 &
done
for b in shipped continued; do
    B=$BASE; [ "$b" = continued ] && B=$V2
    $PY benchmarks/tasks.py --task cti-attack --base "$B" --out "$OUT/cti-$b" --epochs "$EPOCHS" --lr 5e-4 \
        --max-minutes "$CAP" --no-random $LIMIT_ARG > "$OUT/logs/cti-$b.log" 2>&1 &
done
wait
date +%T
for f in "$OUT"/logs/traffic10-*.log "$OUT"/logs/cti-*.log; do echo "== $f"; grep -E "macro-F1|Error|error" "$f" | head -12; done
grep -E '"step": 0|final' "$OUT/continued/metrics.jsonl"
