#!/usr/bin/env bash
# Full build of the ordinary-data corpus (issue 17 §3) -- a benchmark, not a test: it reads this
# machine's installed packages, runs a 10-minute Chromium session and takes ~20-40 min on 2 cores.
#
#   sudo bash scripts/install_corpus_deps.sh
#   bash benchmarks/ordinary_corpus.sh [OUT]        # OUT defaults to /work/data/ordinary
#
# Writes the corpus to OUT (not committed) and its counts to reports/ordinary-data/ (committed):
# summary.md (the tables of docs/ordinary-data.md) and manifest.json (counts, versions, times).
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${1:-/work/data/ordinary}
PY=${PYTHON:-.venv/bin/python}
[ -x "$PY" ] || PY=python3
export PYTHONPATH="$PWD/src${PYTHONPATH:+:$PYTHONPATH}"
start=$(date +%s)
nice -n 10 "$PY" -m secllm.data.ordinary build --out "$OUT" --rebrowse --browse-seconds 600
end=$(date +%s)
mkdir -p reports/ordinary-data
"$PY" -m secllm.data.ordinary summary "$OUT" > reports/ordinary-data/summary.md
echo "" >> reports/ordinary-data/summary.md
echo "Build wall time: $((end - start)) s (\`bash benchmarks/ordinary_corpus.sh $OUT\`)." >> reports/ordinary-data/summary.md
cp "$OUT/manifest.json" reports/ordinary-data/manifest.json
cat reports/ordinary-data/summary.md
