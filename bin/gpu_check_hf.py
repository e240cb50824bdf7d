#!/usr/bin/env python3
"""The transformers half of bin/optune-gpu-check (runs where transformers is installed).

1. Loads each checkpoint the engine exported (OUT/export-*) with AutoModelForCausalLM and compares its
   logits with the engine's (engine_logits.json, same tokens): max |diff| per family.
2. For each shape, transformers' own model class (GPT2LMHeadModel, Qwen2ForCausalLM) with random weights:
   sampling 8 prompts x K 4 x 64 tokens (generate, KV cache, top-p 0.9) and one weighted-DPO step on 8 pairs
   of 32 + 64 tokens (policy + reference, AdamW), in float32, bfloat16 and float16 (autocast for the step;
   generation with the model cast to that dtype).
Prints JSON lines.  usage: gpu_check_hf.py OUT DEVICE SHAPES(comma) [REPS]
"""
import glob
import json
import os
import sys
import time

import torch
import torch.nn.functional as F

OUT, DEVICE = sys.argv[1], torch.device(sys.argv[2])
SHAPES = [s for s in sys.argv[3].split(",") if s] if len(sys.argv) > 3 else []
REPS = int(sys.argv[4]) if len(sys.argv) > 4 else 2
try:
    import transformers
except ImportError:
    print(json.dumps({"transformers": None, "note": "transformers is not installed: exports and peer table skipped"}))
    sys.exit(0)


def sync():
    if DEVICE.type == "cuda":
        torch.cuda.synchronize()


def compare_exports():
    for d in sorted(glob.glob(os.path.join(OUT, "export-*"))):
        try:
            ref = json.load(open(os.path.join(d, "engine_logits.json")))
            model = transformers.AutoModelForCausalLM.from_pretrained(d, torch_dtype=torch.float32).to(DEVICE).eval()
            b, t, v = ref["shape"]
            ids = torch.tensor(ref["tokens"], device=DEVICE).view(b, t)
            with torch.no_grad():
                logits = model(ids).logits.float().cpu()
            diff = (logits - torch.tensor(ref["logits"]).view(b, t, v)).abs().max().item()
            print(json.dumps({"export": os.path.basename(d), "max_abs_logit_diff": diff, "ok": diff < 1e-3}))
        except Exception as e:  # report and go on: one family must not hide the others
            print(json.dumps({"export": os.path.basename(d), "error": repr(e)}))


def build(shape):
    if shape.startswith("gpt2"):
        small = shape == "gpt2-dry"
        cfg = transformers.GPT2Config(vocab_size=50257, n_positions=1024, n_embd=64 if small else 768,
                                      n_layer=2 if small else 12, n_head=2 if small else 12)
        return transformers.GPT2LMHeadModel(cfg)
    cfg = transformers.Qwen2Config(vocab_size=151936, hidden_size=896, intermediate_size=4864, num_hidden_layers=24,
                                   num_attention_heads=14, num_key_value_heads=2, max_position_embeddings=32768,
                                   rope_theta=1e6, tie_word_embeddings=True, rms_norm_eps=1e-6)
    return transformers.Qwen2ForCausalLM(cfg)


def best(fn):
    fn()
    out = float("inf")
    for _ in range(REPS):
        sync()
        t0 = time.perf_counter()
        fn()
        sync()
        out = min(out, time.perf_counter() - t0)
    return out


def seq_logps(model, seq, n_resp):
    logits = model(seq[:, :-1], logits_to_keep=n_resp).logits.float()
    return logits.log_softmax(-1).gather(-1, seq[:, -n_resp:].unsqueeze(-1)).squeeze(-1).sum(-1)


def bench(shape, dtype):
    torch.manual_seed(1)
    policy = build(shape).to(DEVICE)
    V = policy.config.vocab_size
    prompts = torch.randint(3, V, (8, 32), device=DEVICE)
    chosen = torch.randint(3, V, (8, 64), device=DEVICE)
    rejected = torch.randint(3, V, (8, 64), device=DEVICE)
    gen_model = policy if dtype == torch.float32 else build(shape).to(DEVICE, dtype)
    gen_model.eval()

    def sample():
        with torch.no_grad():
            gen_model.generate(prompts, attention_mask=torch.ones_like(prompts), do_sample=True, top_p=0.9, top_k=0,
                               max_new_tokens=64, min_new_tokens=64, num_return_sequences=4, pad_token_id=0)

    sample_s = best(sample)

    def greedy():
        with torch.no_grad():
            rows = prompts.repeat_interleave(4, 0)  # greedy generate takes no num_return_sequences
            gen_model.generate(rows, attention_mask=torch.ones_like(rows), do_sample=False,
                               max_new_tokens=64, min_new_tokens=64, pad_token_id=0)

    greedy_s = best(greedy)
    if gen_model is not policy:
        del gen_model
    reference = build(shape).to(DEVICE).eval()
    reference.load_state_dict(policy.state_dict())
    reference.requires_grad_(False)
    policy.train()
    opt = torch.optim.AdamW(policy.parameters(), lr=1e-5, weight_decay=0.0)
    seqs = torch.cat([torch.cat([prompts, chosen], 1), torch.cat([prompts, rejected], 1)])

    def step():
        with torch.autocast(DEVICE.type, dtype=dtype, enabled=dtype != torch.float32):
            with torch.no_grad():
                ref = seq_logps(reference, seqs, 64)
            pol = seq_logps(policy, seqs, 64)
            margin = 0.1 * ((pol[:8] - ref[:8]) - (pol[8:] - ref[8:]))
            loss = -F.logsigmoid(margin).mean() - pol[:8].mean() / 64
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(policy.parameters(), 1.0)
        opt.step()

    dpo_s = best(step)
    print(json.dumps({"engine": f"transformers {transformers.__version__} (torch {torch.__version__})", "device": str(DEVICE),
                      "shape": shape, "dtype": str(dtype).replace("torch.", ""), "sample_s": round(sample_s, 3), "greedy_s": round(greedy_s, 3),
                      "sample_tokens_per_s": round(8 * 4 * 64 / sample_s, 1), "dpo_step_s": round(dpo_s, 3)}))
    del policy, reference, opt
    if DEVICE.type == "cuda":
        torch.cuda.empty_cache()


if __name__ == "__main__":
    print(json.dumps({"transformers": transformers.__version__, "torch": torch.__version__,
                      "card": torch.cuda.get_device_name(0) if DEVICE.type == "cuda" else "cpu"}))
    compare_exports()
    for shape in SHAPES:
        for dt in ([torch.float32, torch.bfloat16, torch.float16] if DEVICE.type == "cuda" else [torch.float32]):
            try:
                bench(shape, dt)
            except Exception as e:
                print(json.dumps({"shape": shape, "dtype": str(dt), "error": repr(e)}))
