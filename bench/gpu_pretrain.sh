#!/usr/bin/env bash
# One prepared GPU check (at most 8 minutes on one GPU): ViT-S/16 at 224 px on cars60 in bf16.
# Reports the LoDisc/MoCo step ratio (bench/train_step.py) and end-to-end pretraining images/s.
# Usage: bash bench/gpu_pretrain.sh [DATA_DIR]   (default ../shared/data/cars60)
# The CPU path never depends on this script; CI never runs it.
set -euo pipefail
cd "$(dirname "$0")/.."
DATA=${1:-../shared/data/cars60}
OUT=${OUT:-runs/gpu_pretrain}
PY=${PYTHON:-python}
if ! $PY -c "import torch, sys; sys.exit(0 if torch.cuda.is_available() else 1)"; then
  echo "no CUDA GPU: nothing to measure" >&2
  exit 1
fi
$PY -c "import torch; print('gpu:', torch.cuda.get_device_name(0))"
for mode in pixel drop; do
  timeout 120 $PY bench/train_step.py --arch vit_small_patch16_224 --img-size 224 --patch-size 16 \
    --batch-size 128 --steps 20 --device cuda --local-mode "$mode"
done
rm -rf "$OUT"
# 2 epochs of cars60 train (1,247 images): bf16 autocast, 8 decode workers.
timeout 300 $PY training/pretrain.py --data "$DATA" --out "$OUT" --arch vit_small_patch16_224 \
  --img-size 224 --epochs 2 --batch-size 128 --lr 1.5e-3 --device cuda --num-workers 8
$PY - "$OUT" <<'PYEOF'
import json, statistics, sys
rows = [json.loads(line) for line in open(f"{sys.argv[1]}/metrics.jsonl") if '"loss"' in line]
rate = statistics.median(r["images_per_s"] for r in rows[1:]) if len(rows) > 1 else float("nan")
print(json.dumps({"pretrain_images_per_s": rate, "steps": rows[-1]["step"], "final_loss": rows[-1]["loss"]}))
PYEOF
timeout 60 $PY training/evaluate.py --checkpoint "$OUT/checkpoint.pt" --data "$DATA" --device cuda
