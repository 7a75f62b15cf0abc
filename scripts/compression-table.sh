#!/usr/bin/env bash
# The README's compression table for one trained model folder: every variant is made with the commands a user
# runs (seek quantize, seek prune experts), then measured the same way, one variant after the other in one run:
#   bytes    model.safetensors on disk
#   RSS      VmRSS of `seek serve` after one completion (the process, runtime included)
#   tok/s    `seek bench engine --model V --clients 1,8` (single stream and 8 clients, bf16 matmuls where not quantized)
#   ppl      `seek eval ppl` on the data folder's validation split
#   pass@1   `seek chat eval --task TASK` (EVAL_COUNT held-out problems, default 200, 8 samples at T 0.6), only when TASK is given
# Usage: scripts/compression-table.sh MODEL_DIR TOKENS_DIR OUT_DIR [TASK]
# VARIANTS="q8_0 q4_0" measures only those (the folders are made either way); EVAL_COUNT sets chat eval's --count.
# Needs bash, curl and jq. Writes OUT_DIR/<variant>/ (the model folders) and OUT_DIR/table.md.
set -euo pipefail
model=$1 data=$2 out=$3 task=${4:-}
root=$(cd "$(dirname "$0")/.." && pwd)
mkdir -p "$out"
out=$(cd "$out" && pwd)
dotnet build "$root/src/SeekSharp.Cli" -c Release -o "$out/bin" >/dev/null
seek="$out/bin/seek"
port=${PORT:-8391}

variants=(bf16)
[ -d "$out/bf16" ] || cp -r "$model" "$out/bf16"
for t in fp8 q8_0 q4_0; do
  [ -d "$out/$t" ] || "$seek" quantize --model "$out/bf16" --type "$t" --out "$out/$t" >/dev/null
  variants+=("$t")
done
if jq -e '(.n_routed_experts // 0) > 0' "$out/bf16/config.json" >/dev/null; then
  for f in 75 50; do
    [ -d "$out/pruned$f" ] || "$seek" prune experts --model "$out/bf16" --keep-fraction "0.$f" --calibration "$data" --out "$out/pruned$f" >/dev/null
    variants+=("pruned$f")
  done
fi

rss() { # VmRSS in MB of `seek serve` on $1 after one completion
  "$seek" serve --model "$1" --port "$port" >/dev/null 2>&1 &
  local pid=$!
  for _ in $(seq 1 120); do curl -sf "http://127.0.0.1:$port/health" >/dev/null 2>&1 && break; sleep 1; done
  curl -sf "http://127.0.0.1:$port/v1/completions" -H 'Content-Type: application/json' \
    -d '{"prompt": "The", "max_tokens": 16, "temperature": 0}' >/dev/null
  awk '/^VmRSS/ { printf "%.0f", $2 / 1024 }' "/proc/$pid/status"
  kill "$pid"; wait "$pid" 2>/dev/null || true
}

[ -f "$out/table.md" ] || {
  echo "| variant | bytes | serve RSS (MB) | tok/s 1 client | tok/s 8 clients | val ppl | pass@1 |"
  echo "|---|---|---|---|---|---|---|"
} > "$out/table.md"
for v in "${variants[@]}"; do
  [ -z "${VARIANTS:-}" ] || [[ " $VARIANTS " == *" $v "* ]] || continue
  dir="$out/$v"
  bytes=$(stat -c %s "$dir/model.safetensors")
  mb=$(rss "$dir")
  bench=$("$seek" bench engine --model "$dir" --clients 1,8 --tokens 64 --rounds 2 --json)
  tps1=$(jq -s '[.[] | select(.clients == 1) | .tokens_per_second] | add / length | floor' <<<"$bench")
  tps8=$(jq -s '[.[] | select(.clients == 8) | .tokens_per_second] | add / length | floor' <<<"$bench")
  ppl=$("$seek" eval ppl --model "$dir" --data "$data" --json | jq '.perplexity * 1000 | round / 1000')
  pass=-
  if [ -n "$task" ]; then
    "$seek" chat eval --model "$dir" --task "$task" --count "${EVAL_COUNT:-200}" --out "$dir/eval.json" >/dev/null
    pass=$(jq '.pass_at_1 * 1000 | round / 10' "$dir/eval.json")
  fi
  echo "| $v | $bytes | $mb | $tps1 | $tps8 | $ppl | $pass |" | tee -a "$out/table.md"
done
