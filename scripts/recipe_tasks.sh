#!/usr/bin/env bash
# The recipe's step 7: every task other than web attack as a LoRA adapter (+ head) on ONE shared
# copy of a pretrained base, the lexical/text heads beside them, then (optionally) shipped.
#   bash scripts/recipe_tasks.sh BASE_DIR WORK_DIR [SHIP_TO]
# BASE_DIR: a base of kind mlm (`secllm pretrain` output, or one continued with `--init`).
# WORK_DIR is rebuilt from scratch. SHIP_TO (e.g. src/secllm/assets/tasks) gets the fp16 package copy;
# without it nothing in the package changes. About 1.5 h on a 2-core CPU.
set -euo pipefail
cd "$(dirname "$0")/.."
BASE=$1
WORK=$2
SHIP_TO=${3:-}
SECLLM=${SECLLM:-.venv/bin/secllm}
PY=${PY:-.venv/bin/python}
rm -rf "$WORK" && mkdir -p "$WORK"
cp "$BASE"/{secllm.json,config.json,model.safetensors,tokenizer.json} "$WORK/"
# a LoRA adapter per task on the shared base (<= 4 min each)
for t in script log-hdfs log-bgl cti-attack evtx-tactic; do
    $SECLLM finetune "$t" --base "$WORK" --adapter lora --out "$WORK" --epochs 3 --max-minutes 4
done
# URL (46,506 training rows) needs its 3 whole epochs (validation 0.73 after one, 0.91 after three; ~21 min)
$SECLLM finetune url --base "$WORK" --adapter lora --out "$WORK" --epochs 3 --max-minutes 28
# traffic needs many more epochs (validation macro-F1 0.74 after one, 0.91 after six; ~45 min here)
$SECLLM finetune traffic --base "$WORK" --adapter lora --out "$WORK" --epochs 8 --max-minutes 45
# 7b. a lexical head per task (token-bag logistic regression over the base tokenizer, C on validation),
#     served instead of the adapter only where its validation macro-F1 is higher (secllm.tasks.head_fit)
$SECLLM models lexical-heads "$WORK" --task all
# 7c. prose: a text head (char n-gram TF-IDF + all-MiniLM-L6-v2 sentence embeddings), served only where
#     validation prefers it beyond noise (secllm.tasks.head_fit): cti-attack yes, evtx-tactic no (~8 min)
$SECLLM models text-heads "$WORK" --task cti-attack
if [ -n "$SHIP_TO" ]; then
    $PY -m secllm.model.ship --tasks "$WORK" "$SHIP_TO"
fi
