#!/usr/bin/env bash
# Every GPU figure of issues #4 and #5 in one device run (under 10 minutes: each step has its own time limit).
#
# Prepare on the CPU machine (TensorFlow there tokenizes; the GPU machine has none):
#   bash ../shared/gpu/wheels.sh sacrebleu portalocker tabulate colorama regex lxml
#   grep -qx '/.gpu/' .git/info/exclude || echo '/.gpu/' >> .git/info/exclude
#   mkdir -p .gpu && .venv/bin/keras-attn prepare --data spa-eng --out .gpu/spa-eng.npz
#   .venv/bin/keras-attn prepare --data sst2 --out .gpu/sst2.npz
# Then one device call: carry [".whl", ".gpu"], command "bash bench/gpu_run.sh", timeout 600.
# Tables and logs land in $OUT; copy the tables into BENCHMARKS.md.
#
# QUICK=1 runs the same steps with tiny sizes (a dry run on the CPU:
# QUICK=1 OUT=/tmp/gpu-dry PYTHON=.venv/bin/python bash bench/gpu_run.sh).
set -uo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-/tmp/gpu-run}
mkdir -p "$OUT"
PYTHON=${PYTHON:-python3}
if [ -d .whl ]; then
  $PYTHON -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl || exit 1
  export PYTHONPATH=/tmp/site:$PWD
else
  export PYTHONPATH=$PWD
fi
export KERAS_BACKEND=jax
nvidia-smi --query-gpu=name,memory.total --format=csv,noheader > "$OUT/device.txt" 2>/dev/null || echo CPU > "$OUT/device.txt"

if [ "${QUICK:-0}" = 1 ]; then
  THROUGHPUT="--preset transformer --batch-size 4 --length 16 --steps 2 --set num_layers=1"
  SCALING="--preset transformer --batch-size 4 --length 16 --steps 2 --set num_layers=1 --lengths 16 32"
  TRAIN="--epochs 1 --batch-size 32 --eval-examples 20 --fused-attention --mixed-precision --set num_layers=1 --set hidden_dim=32 --set intermediate_dim=64"
  CLASSIFY="--epochs 1 --batch-size 32"
  SPA=.gpu/spa-eng-quick.npz; SST=.gpu/sst2-quick.npz
else
  THROUGHPUT="--preset transformer-base --batch-size 128 --length 64 --steps 30 --mixed-precision"
  SCALING="--preset transformer-base --batch-size 128 --length 64 --steps 10 --mixed-precision --lengths 32 64 128 256 512"
  TRAIN="--epochs 20 --batch-size 256 --learning-rate 1e-3 --mixed-precision --fused-attention --beam 4 --eval-examples 2000"
  CLASSIFY="--epochs 3 --batch-size 64 --mixed-precision --fused-attention"
  SPA=.gpu/spa-eng.npz; SST=.gpu/sst2.npz
fi

step() {  # name, seconds, command...: run with a time limit, keep its log, never stop the script
  local name=$1 limit=$2; shift 2
  echo "== $name" | tee -a "$OUT/summary.md"
  timeout "$limit" "$@" > "$OUT/$name.log" 2>&1
  echo "exit $? after ${SECONDS}s" | tee -a "$OUT/summary.md"
  grep -E '^\||^`' "$OUT/$name.log" | tail -20 | tee -a "$OUT/summary.md"
}

step throughput 110 $PYTHON bench/training.py $THROUGHPUT
step scaling 150 $PYTHON bench/training.py $SCALING
step transformer-spa 230 $PYTHON -m keras_attn.cli train transformer --task-file $SPA $TRAIN --out "$OUT/transformer-spa"
step classifier-sst2 90 $PYTHON -m keras_attn.cli train transformer-classifier --task-file $SST $CLASSIFY --out "$OUT/classifier-sst2"
grep -h '"test_' "$OUT"/*/report.json >> "$OUT/summary.md" 2>/dev/null
rm -f "$OUT"/*/model.keras  # too large to come back; the reports hold the figures
