#!/usr/bin/env bash
# `make demo`: the built-in demo, end to end, on a machine with Python 3.11 and pip.
#   DATA=DIR     your own photos instead of the synthetic gallery (labels, optional, are parent
#                folder names): the photo encoder is adapted to them first (at most PHOTO_MINUTES,
#                default 30; cached by the folder's content, resumed if interrupted), then indexed
#   MODEL=CKPT   use your own checkpoint instead (skips the adaptation)
#   TRAIN=1      retrain the demo model on CPU first (bounded: at most 15 minutes on 2 cores)
#   API_PORT, UI_PORT (8000, 8501), LODISC_API_KEY (admin key; a random one by default)
# A second run reuses the data, the ONNX export and the index (incremental) and is up in seconds.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=.venv/bin/python
WORK=${WORK:-runs/demo}
API_PORT=${API_PORT:-8000}
UI_PORT=${UI_PORT:-8501}
SYNTH=data/demo-easy-v3  # renamed whenever the generator or its sizes change
mkdir -p "$WORK"
if [ -n "${DATA:-}" ] && [ -z "${MODEL:-}" ]; then
  if [ ! -d "$DATA" ]; then
    echo "error: DATA=$DATA is not a folder" >&2
    exit 2
  fi
  MODEL=$($PY training/adapt_photos.py --data "$DATA" --work "$WORK" \
    --minutes "${PHOTO_MINUTES:-30}" | tail -n 1) || exit 2
fi
MODEL=${MODEL:-models/demo/checkpoint.pt}

if [ ! -f "$SYNTH/meta.json" ] && { [ -z "${DATA:-}" ] || [ "${TRAIN:-0}" = "1" ]; }; then
  # 1,200 training images (for TRAIN=1); the gallery is the 180 test images
  $PY -m lodisc.data.synthetic --out "$SYNTH" --classes 12 --per-class 100 --test-per-class 15 \
    --size 64 --seed 0 --overwrite
fi
DATA=${DATA:-$SYNTH/test}

if [ "${TRAIN:-0}" = "1" ]; then
  resume=()
  [ -f "$WORK/train/checkpoint.pt" ] && resume=(--resume)
  timeout 900 $PY training/pretrain.py --data "$SYNTH" --out "$WORK/train" \
    --config training/configs/synthetic_easy_cpu.yaml "${resume[@]}"
  MODEL=$WORK/train/checkpoint.pt
fi
if [ ! -f "$MODEL" ]; then
  echo "error: model checkpoint not found: $MODEL (set MODEL=... or TRAIN=1)" >&2
  exit 2
fi

model_id=$(sha256sum "$MODEL" | cut -c1-12)
ONNX=$WORK/model-$model_id.onnx
if [ ! -f "$ONNX" ]; then
  $PY training/export_onnx.py --checkpoint "$MODEL" --out "$ONNX"
fi
gallery_id=$(printf '%s' "$(cd "$DATA" && pwd)" | sha256sum | cut -c1-12)
INDEX=$WORK/index-$gallery_id-$model_id
# sed, not head: head exits after one line and tail, still writing, dies of SIGPIPE (141), which
# pipefail turned into the demo's exit now and then
$PY indexer/build_index.py --model "$ONNX" --gallery "$DATA" --out "$INDEX" | tail -n 2 | sed -n 1p

export LODISC_MODEL_PATH=$ONNX LODISC_INDEX_DIR=$INDEX
export LODISC_API_KEY=${LODISC_API_KEY:-$($PY -c 'import secrets; print(secrets.token_urlsafe(16))')}
export LODISC_SERVICE_URL=http://localhost:$API_PORT
pids=()
cleanup() { kill "${pids[@]}" 2>/dev/null || true; }
# a signal ends the script at once (the EXIT trap stops the servers): a trap that only cleaned up
# let a Ctrl-C or SIGTERM that came during the wait for /readyz below stop the servers and then
# keep polling them for a minute
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
.venv/bin/uvicorn service.main:app --host 127.0.0.1 --port "$API_PORT" --log-level warning &
pids+=($!)
.venv/bin/streamlit run ui/app.py --server.port "$UI_PORT" --server.headless true \
  --browser.gatherUsageStats false >"$WORK/streamlit.log" 2>&1 &
pids+=($!)
ready=0
for _ in $(seq 1 120); do
  if $PY -c "import urllib.request; urllib.request.urlopen('$LODISC_SERVICE_URL/readyz', timeout=1)" 2>/dev/null; then
    ready=1
    break
  fi
  if ! kill -0 "${pids[0]}" 2>/dev/null; then
    echo "error: the API server exited during start-up (its messages are above)" >&2
    exit 1
  fi
  sleep 0.5
done
if [ "$ready" = 0 ]; then
  echo "warning: the API is not ready after 60 s; still waiting for it in the background" >&2
fi
echo
echo "API: http://localhost:$API_PORT  (docs: http://localhost:$API_PORT/docs)"
echo "UI:  http://localhost:$UI_PORT"
echo "admin key for /admin/reload: $LODISC_API_KEY"
example=$(find "$DATA" -type f \( -iname '*.png' -o -iname '*.jpg' -o -iname '*.jpeg' \) | sort | sed -n 1p)
if [ -n "$example" ]; then
  echo "try:  curl -F image=@$example 'http://localhost:$API_PORT/search?k=5'"
fi
echo "Ctrl-C stops both."
wait
