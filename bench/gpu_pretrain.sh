#!/usr/bin/env bash
# One prepared GPU check (at most 8 minutes on one GPU): ViT-S/16 at 224 px on cars60 in bf16.
# Reports the LoDisc/MoCo step ratio (bench/train_step.py) and pretraining images/s with its loader.
# Usage: bash bench/gpu_pretrain.sh [DATA_DIR]   (default ../shared/data/cars60)
# The CPU path never depends on this script; CI never runs it.
set -euo pipefail
cd "$(dirname "$0")/.."
DATA=${1:-../shared/data/cars60}
# RUN_DIR, not OUT: the device tool sets OUT to its result folder, which this script must not delete
RUN_DIR=${RUN_DIR:-runs/gpu_pretrain}
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
rm -rf "$RUN_DIR"
BATCH=128
# 3 epochs of cars60 train (1,247 images): bf16 autocast, 8 decode workers, every step logged.
start=$(date +%s.%N)
timeout 300 $PY training/pretrain.py --data "$DATA" --out "$RUN_DIR" --arch vit_small_patch16_224 \
  --img-size 224 --epochs 3 --batch-size "$BATCH" --lr 1.5e-3 --device cuda --num-workers 8 --set log_every=1
# Throughput after the first epoch (model build, CUDA and worker start-up left out), checkpoint
# writes and epoch boundaries included; and the whole command's wall time.
$PY - "$RUN_DIR" "$start" "$BATCH" <<'PYEOF'
import json, sys, time
wall = time.time() - float(sys.argv[2])
rows = [json.loads(line) for line in open(f"{sys.argv[1]}/metrics.jsonl") if '"loss"' in line]
per_epoch = max(r["step"] for r in rows if r["epoch"] < 1)
later = [r for r in rows if r["step"] >= per_epoch]
batch = int(sys.argv[3])
rate = (later[-1]["step"] - later[0]["step"]) * batch / (later[-1]["wall_s"] - later[0]["wall_s"])
print(json.dumps({"pretrain_images_per_s": round(rate, 1), "steps": rows[-1]["step"],
                  "command_wall_s": round(wall, 1), "final_loss": rows[-1]["loss"]}))
PYEOF
timeout 60 $PY training/evaluate.py --checkpoint "$RUN_DIR/checkpoint.pt" --data "$DATA" --device cuda
