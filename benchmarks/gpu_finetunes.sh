#!/bin/bash
# Longer fine-tunes on a CUDA GPU (they also run on CPU, roughly 50-100x slower).
#
#   bash benchmarks/gpu_finetunes.sh [BASE] [OUT]        # BASE default: the shipped base (src/secllm/assets/tasks)
#
# Every fine-tune picks the GPU itself (`--device auto`: CUDA when PyTorch sees one, bf16 autocast).
# The jobs run side by side on one GPU (each with 3 CPU threads for tokenising and the CPU-side
# baselines). On one H100 the web-attack pair took 1.5 min, the task benchmarks 2-5 min each.
# Needs the datasets (SECLLM_DATASETS or ../shared/datasets).
set -euo pipefail
BASE=${1:-src/secllm/assets/tasks}
OUT=${2:-runs/gpu}
mkdir -p "$OUT/logs"
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-3} TOKENIZERS_PARALLELISM=false PYTHONUNBUFFERED=1
date +%T
# web attack: the recipe with 6 epochs, pretrained and random init (the fair ablation)
secllm finetune web-attack --base "$BASE" --out "$OUT/web-pretrained-6ep" --epochs 6 > "$OUT/logs/web-pre.log" 2>&1 &
secllm finetune web-attack --random-init --tokenizer "$BASE" --out "$OUT/web-random-6ep" --epochs 6 > "$OUT/logs/web-rand.log" 2>&1 &
# traffic (USTC-TFC 20 classes, masked) with all labels and with 10% of them; TRAM techniques
python benchmarks/tasks.py --task traffic --base "$BASE" --out "$OUT/traffic-20ep" --epochs 20 > "$OUT/logs/traffic.log" 2>&1 &
python benchmarks/tasks.py --task traffic --base "$BASE" --out "$OUT/traffic-10pct-40ep" --train-fraction 0.1 --epochs 40 > "$OUT/logs/traffic10.log" 2>&1 &
python benchmarks/tasks.py --task cti-attack --base "$BASE" --out "$OUT/cti-40ep" --epochs 40 --lr 5e-4 > "$OUT/logs/cti.log" 2>&1 &
python benchmarks/tasks.py --task cti-attack --base "$BASE" --out "$OUT/cti-60ep-1e-3" --epochs 60 --lr 1e-3 > "$OUT/logs/cti2.log" 2>&1 &
wait
date +%T
python benchmarks/web_attack.py --pretrained "$OUT/web-pretrained-6ep" --random "$OUT/web-random-6ep" \
    --out "$OUT/web-attack" --threads "${OMP_NUM_THREADS}" --repeats 0
