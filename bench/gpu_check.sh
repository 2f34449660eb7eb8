#!/usr/bin/env bash
# One prepared check for a GPU machine (no network, no weights to download): builds a randomly
# initialised model of the Qwen2-0.5B shape (24 layers, hidden 896, 14 heads, 2 KV heads, MLP 4864;
# the vocabulary is the embedded char tokenizer's, so the embedding matrix is small), then runs a few
# RL steps under torchrun once per mode in MODES, with the chosen rollout backend and dtype:
#   ddp   replicated data parallel (reasonrl.dist), full fine-tuning
#   fsdp  FSDP2: weights, gradients and AdamW state sharded over the processes (train.fsdp=true)
#   lora  LoRA adapters through peft (model.lora_r=16), replicated data parallel
# and prints, per mode, rollout tokens/s, training tokens/s and MFU from the run's metrics.jsonl.
#
#   GPU:  NPROC=1 DTYPE=bfloat16 bash bench/gpu_check.sh            (H200: PEAK_TFLOPS=989 per GPU)
#   CPU:  SHAPE=tiny NPROC=2 DTYPE=float32 DEVICE=cpu BACKEND=hf STEPS=2 bash bench/gpu_check.sh
#         (tests/test_bench_gpu_check.py runs this CPU form with a tiny workload)
#
# Random weights: rewards are ~0 (so algo.skip_zero_variance=false keeps every group in the update), the
# point is throughput. MFU = (flops/generate + flops/logprobs + flops/update) / step time / (peak * NPROC),
# with the 2N / 6N FLOPs-per-token estimates of reasonrl.report.cost (attention FLOPs not counted; under LoRA the
# 6N update estimate overstates the work, as no base-weight gradients are computed).
set -euo pipefail
SHAPE=${SHAPE:-qwen2-0.5b}; NPROC=${NPROC:-1}; STEPS=${STEPS:-3}; DTYPE=${DTYPE:-bfloat16}
DEVICE=${DEVICE:-auto}; BACKEND=${BACKEND:-fast}; B=${B:-16}; G=${G:-8}; T=${T:-128}
PEAK_TFLOPS=${PEAK_TFLOPS:-989}; OUT=${OUT:-/tmp/reasonrl-gpu-check}; MODES=${MODES:-ddp fsdp lora}
PY=${PY:-$( [ -x .venv/bin/python ] && echo .venv/bin/python || echo python )}
rm -rf "$OUT"; mkdir -p "$OUT"

SHAPE=$SHAPE OUT=$OUT $PY - <<'EOF'
import os
from transformers import Qwen2Config, Qwen2ForCausalLM
from reasonrl.models import load_tokenizer
tok = load_tokenizer("embedded")
big = os.environ["SHAPE"] == "qwen2-0.5b"
dims = dict(hidden_size=896, num_hidden_layers=24, num_attention_heads=14, num_key_value_heads=2,
            intermediate_size=4864) if big else dict(hidden_size=64, num_hidden_layers=2,
            num_attention_heads=4, num_key_value_heads=2, intermediate_size=128)
cfg = Qwen2Config(vocab_size=len(tok), max_position_embeddings=1024, tie_word_embeddings=True,
                  pad_token_id=tok.pad_token_id, bos_token_id=tok.bos_token_id, eos_token_id=tok.eos_token_id, **dims)
model = Qwen2ForCausalLM(cfg)
model.save_pretrained(os.environ["OUT"] + "/model"); tok.save_pretrained(os.environ["OUT"] + "/model")
print(f"model: {os.environ['SHAPE']} shape, {sum(p.numel() for p in model.parameters()):,} params (random init)")
EOF

for MODE in $MODES; do
  case "$MODE" in
    ddp)  EXTRA=() ;;
    fsdp) EXTRA=(train.fsdp=true) ;;
    lora) EXTRA=(model.lora_r=16 model.lora_alpha=32) ;;
    *) echo "unknown mode '$MODE' in MODES (ddp, fsdp, lora)"; exit 2 ;;
  esac
  OMP_NUM_THREADS=${OMP_NUM_THREADS:-1} $PY -m torch.distributed.run --standalone --nproc_per_node="$NPROC" \
    -m reasonrl.cli train out="$OUT/$MODE" model.path="$OUT/model" model.dtype="$DTYPE" model.device="$DEVICE" \
    model.attn_implementation=sdpa rollout.backend="$BACKEND" train.steps="$STEPS" \
    train.prompts_per_step="$B" rollout.num_generations="$G" rollout.max_new_tokens="$T" \
    algo.skip_zero_variance=false train.micro_batch_size=32 eval.every=0 eval.size=8 eval.sampled=false \
    train.checkpoint_every=1000 "${EXTRA[@]}" > "$OUT/$MODE.log" 2>&1 || { tail -30 "$OUT/$MODE.log"; exit 1; }

  MODE=$MODE NPROC=$NPROC PEAK_TFLOPS=$PEAK_TFLOPS OUT=$OUT DTYPE=$DTYPE BACKEND=$BACKEND $PY - <<'EOF'
import json, os, torch
rows = [r for r in map(json.loads, open(os.environ["OUT"] + "/" + os.environ["MODE"] + "/metrics.jsonl")) if r["step"] > 0]
rows = rows[1:] or rows                       # the first step includes warm-up (compilation, allocator)
s = lambda k: sum(r.get(k) or 0 for r in rows)  # noqa: E731
gen_tok = s("tokens/prompt") + s("tokens/generated")
flops = s("flops/generate") + s("flops/logprobs") + s("flops/update")
dev = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "cpu"
n, peak = int(os.environ["NPROC"]), float(os.environ["PEAK_TFLOPS"]) * 1e12
print(f"== mode {os.environ['MODE']} | device: {dev} x{n} | dtype {os.environ['DTYPE']} | "
      f"backend {os.environ['BACKEND']} | steps measured {len(rows)}")
print(f"rollout tokens/s (generated):  {s('tokens/generated') / s('time/generate_s'):,.0f}")
print(f"rollout tokens/s (prompt+gen): {gen_tok / s('time/generate_s'):,.0f}")
print(f"training tokens/s (trained):   {s('tokens/trained') / s('time/update_s'):,.0f}")
mfu = flops / s("time/step_s") / (peak * n)
print(f"MFU: {mfu:.2%} of {n} x {peak / 1e12:.0f} TFLOP/s" + ("" if dev != "cpu" else "  (CPU: peak is the GPU's, meaningless here)"))
EOF
done
