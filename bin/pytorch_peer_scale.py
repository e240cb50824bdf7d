#!/usr/bin/env python3
"""PyTorch eager peer of io.optune.engine.bench.ScaleBench: same shapes, same work, one JSON line.

GPT-2-small (12 x 768, 12 heads, vocab 50257, tied head, gelu_new) or a Qwen2-0.5B shape (24 x 896,
14 heads / 2 KV heads, SwiGLU, RMSNorm, RoPE, vocab 151936), random weights. Sampling: 8 prompts of
32 tokens x K 4 x 64 new tokens with a KV cache, temperature 1, top-p 0.9, a multinomial draw.
DPO: 8 pairs of 32 + 64 tokens, policy forward + backward, frozen reference forward, sigmoid loss
(beta 0.1) + chosen NLL, clip to norm 1, AdamW. usage: pytorch_peer_scale.py SHAPE [reps] [threads] [device]
"""
import json
import math
import sys
import time

import torch
import torch.nn.functional as F

SHAPE = sys.argv[1] if len(sys.argv) > 1 else "gpt2-124m"
REPS = int(sys.argv[2]) if len(sys.argv) > 2 else 2
THREADS = int(sys.argv[3]) if len(sys.argv) > 3 else 2
DEVICE = torch.device(sys.argv[4] if len(sys.argv) > 4 else "cpu")
PROMPTS, SAMPLES, PROMPT_TOKENS, NEW_TOKENS, PAIRS = 8, 4, 32, 64, 8

if SHAPE == "gpt2-124m":
    CFG = dict(gpt2=True, vocab=50257, width=768, layers=12, heads=12, kv=12, hd=64, inner=3072, eps=1e-5)
elif SHAPE == "gpt2-dry":  # dry runs: the real vocabulary, a small body
    CFG = dict(gpt2=True, vocab=50257, width=64, layers=2, heads=2, kv=2, hd=32, inner=256, eps=1e-5)
elif SHAPE == "gpt2-124m-ops":  # GPT-2-small's depth and heads, narrow, small vocabulary: op counts (bin/op_profile.py)
    CFG = dict(gpt2=True, vocab=1024, width=96, layers=12, heads=12, kv=12, hd=8, inner=384, eps=1e-5)
elif SHAPE == "qwen2-0.5b":
    CFG = dict(gpt2=False, vocab=151936, width=896, layers=24, heads=14, kv=2, hd=64, inner=4864, eps=1e-6, theta=1e6)
else:
    raise SystemExit("unknown shape " + SHAPE)


def rss_mb():
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) // 1024
    return -1


class RMSNorm(torch.nn.Module):
    def __init__(self, d, eps):
        super().__init__()
        self.weight = torch.nn.Parameter(torch.ones(d))
        self.eps = eps

    def forward(self, x):
        return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.eps) * self.weight


def rotate_half(x):
    a, b = x.chunk(2, dim=-1)
    return torch.cat([-b, a], dim=-1)


class Block(torch.nn.Module):
    def __init__(self, c):
        super().__init__()
        self.c = c
        d, q, kv = c["width"], c["heads"] * c["hd"], c["kv"] * c["hd"]
        if c["gpt2"]:
            self.n1, self.n2 = torch.nn.LayerNorm(d, eps=c["eps"]), torch.nn.LayerNorm(d, eps=c["eps"])
            self.qkv = torch.nn.Linear(d, 3 * d)
            self.fc, self.proj = torch.nn.Linear(d, c["inner"]), torch.nn.Linear(c["inner"], d)
        else:
            self.n1, self.n2 = RMSNorm(d, c["eps"]), RMSNorm(d, c["eps"])
            self.qkv = torch.nn.Linear(d, q + 2 * kv)  # q, k, v with Qwen2's biases
            self.gate_up = torch.nn.Linear(d, 2 * c["inner"], bias=False)
            self.proj = torch.nn.Linear(c["inner"], d, bias=False)
        self.o = torch.nn.Linear(q, d, bias=c["gpt2"])

    def forward(self, x, mask, rope, cache):
        c = self.c
        b, t, _ = x.shape
        h, kvh, hd = c["heads"], c["kv"], c["hd"]
        q, k, v = self.qkv(self.n1(x)).split([h * hd, kvh * hd, kvh * hd], dim=-1)
        q = q.view(b, t, h, hd).transpose(1, 2)
        k = k.view(b, t, kvh, hd).transpose(1, 2)
        v = v.view(b, t, kvh, hd).transpose(1, 2)
        if rope is not None:
            cos, sin = rope
            q, k = q * cos + rotate_half(q) * sin, k * cos + rotate_half(k) * sin
        if cache is not None:
            if cache[0] is not None:
                k, v = torch.cat([cache[0], k], 2), torch.cat([cache[1], v], 2)
            cache[0], cache[1] = k, v
        if kvh != h:
            k = k.repeat_interleave(h // kvh, dim=1)
            v = v.repeat_interleave(h // kvh, dim=1)
        att = (q @ k.transpose(-1, -2)) * (1.0 / math.sqrt(hd)) + mask
        y = (att.softmax(-1) @ v).transpose(1, 2).reshape(b, t, h * hd)
        x = x + self.o(y)
        f = self.n2(x)
        if c["gpt2"]:
            f = self.proj(F.gelu(self.fc(f), approximate="tanh"))
        else:
            g, u = self.gate_up(f).chunk(2, dim=-1)
            f = self.proj(F.silu(g) * u)
        return x + f


class LM(torch.nn.Module):
    def __init__(self, c):
        super().__init__()
        self.c = c
        self.wte = torch.nn.Embedding(c["vocab"], c["width"])
        self.wpe = torch.nn.Embedding(1024, c["width"]) if c["gpt2"] else None
        self.h = torch.nn.ModuleList(Block(c) for _ in range(c["layers"]))
        self.nf = torch.nn.LayerNorm(c["width"], eps=c["eps"]) if c["gpt2"] else RMSNorm(c["width"], c["eps"])
        if not c["gpt2"]:
            half = c["hd"] // 2
            self.register_buffer("inv", 1.0 / (c["theta"] ** (torch.arange(half, dtype=torch.float32) * 2 / c["hd"])))

    def forward(self, tokens, positions, mask, caches=None, last_only=False, first=0):
        x = self.wte(tokens)
        rope = None
        if self.wpe is not None:
            x = x + self.wpe(positions)
        else:
            ang = positions.float().unsqueeze(-1) * self.inv
            emb = torch.cat([ang, ang], -1).unsqueeze(1)
            rope = (emb.cos(), emb.sin())
        for i, blk in enumerate(self.h):
            x = blk(x, mask, rope, None if caches is None else caches[i])
        x = self.nf(x)
        if last_only:
            x = x[:, -1:, :]
        elif first:
            x = x[:, first:, :]
        return x @ self.wte.weight.t()


def causal(t):
    return torch.triu(torch.full((t, t), -1e9, device=DEVICE), diagonal=1).view(1, 1, t, t)


def sample(model, prompts, top_p=0.9, new_tokens=NEW_TOKENS):
    with torch.no_grad():
        rows = prompts.repeat_interleave(SAMPLES, dim=0)
        n, p = rows.shape
        caches = [[None, None] for _ in model.h]
        logits = model(rows, torch.arange(p, device=DEVICE).expand(n, p), causal(p), caches, True)[:, -1, :]
        out = []
        zero = torch.zeros(1, 1, 1, 1, device=DEVICE)
        for step in range(new_tokens):
            probs = logits.softmax(-1)
            sp, idx = probs.sort(-1, descending=True)
            keep = (sp.cumsum(-1) - sp) < top_p
            sp = sp * keep
            tok = idx.gather(-1, torch.multinomial(sp, 1))
            out.append(tok)
            if step == new_tokens - 1:
                break
            logits = model(tok, torch.full((n, 1), p + step, device=DEVICE), zero, caches, True)[:, -1, :]
        return torch.cat(out, 1).cpu()


def seq_logprobs(model, prompts, responses):
    seq = torch.cat([prompts, responses], 1)
    n, t = seq.shape
    first = prompts.shape[1] - 1  # as the engine: the LM head only where a response token is predicted
    logits = model(seq[:, :-1], torch.arange(t - 1, device=DEVICE).expand(n, t - 1), causal(t - 1), first=first)
    logp = logits.log_softmax(-1).gather(-1, seq[:, first + 1:].unsqueeze(-1)).squeeze(-1)
    return logp.sum(-1)


def dpo_step(policy, reference, opt, prompts, chosen, rejected, beta=0.1):
    both_p, both_r = torch.cat([prompts, prompts]), torch.cat([chosen, rejected])
    with torch.no_grad():
        ref = seq_logprobs(reference, both_p, both_r)
    pol = seq_logprobs(policy, both_p, both_r)
    margin = beta * ((pol[:PAIRS] - ref[:PAIRS]) - (pol[PAIRS:] - ref[PAIRS:]))
    loss = -F.logsigmoid(margin).mean() - pol[:PAIRS].mean() / chosen.shape[1]
    opt.zero_grad(set_to_none=True)
    loss.backward()
    torch.nn.utils.clip_grad_norm_(policy.parameters(), 1.0)
    opt.step()
    return loss.item()


def best_of(fn, warmup=None):
    """Best wall time and best process CPU time (all threads) over REPS calls, after a warm-up."""
    (warmup or fn)()
    best, best_cpu = float("inf"), float("inf")
    for _ in range(REPS):
        if DEVICE.type == "cuda":
            torch.cuda.synchronize()
        t0, c0 = time.perf_counter(), time.process_time()
        fn()
        if DEVICE.type == "cuda":
            torch.cuda.synchronize()
        best = min(best, time.perf_counter() - t0)
        best_cpu = min(best_cpu, time.process_time() - c0)
    return best, best_cpu


def main():
    torch.manual_seed(1)
    torch.set_num_threads(THREADS)
    rss_start = rss_mb()
    model = LM(CFG).to(DEVICE)
    for mod in model.modules():  # GPT-2 init scale, as the engine
        if isinstance(mod, (torch.nn.Linear, torch.nn.Embedding)):
            torch.nn.init.normal_(mod.weight, std=0.02)
    rss_model = rss_mb()
    gen = torch.Generator().manual_seed(2)
    V = CFG["vocab"]
    prompts = torch.randint(3, V, (PROMPTS, PROMPT_TOKENS), generator=gen).to(DEVICE)
    chosen = torch.randint(3, V, (PAIRS, NEW_TOKENS), generator=gen).to(DEVICE)
    rejected = torch.randint(3, V, (PAIRS, NEW_TOKENS), generator=gen).to(DEVICE)
    model.eval()
    sample_s, sample_cpu = best_of(lambda: sample(model, prompts), lambda: sample(model, prompts, new_tokens=8))
    rss_sample = rss_mb()
    reference = LM(CFG).to(DEVICE).eval()
    reference.load_state_dict(model.state_dict())
    for p_ in reference.parameters():
        p_.requires_grad_(False)
    model.train()
    opt = torch.optim.AdamW(model.parameters(), lr=1e-5, weight_decay=0.0)
    step = lambda: dpo_step(model, reference, opt, prompts, chosen, rejected)
    # with one repetition the first step is timed, as ScaleBench does
    dpo_s, dpo_cpu = best_of(step, step if REPS > 1 else (lambda: None))
    tokens = PROMPTS * SAMPLES * NEW_TOKENS
    print(json.dumps({
        "engine": "torch " + torch.__version__, "device": str(DEVICE), "shape": SHAPE,
        "params": sum(p.numel() for p in model.parameters()), "threads": torch.get_num_threads(),
        "sample_s": round(sample_s, 3), "sample_cpu_s": round(sample_cpu, 3), "sample_tokens_per_s": round(tokens / sample_s, 1),
        "dpo_step_s": round(dpo_s, 3), "dpo_cpu_s": round(dpo_cpu, 3),
        "rss_start_mb": rss_start, "rss_model_mb": rss_model, "rss_after_sampling_mb": rss_sample, "rss_after_dpo_mb": rss_mb(),
    }))


if __name__ == "__main__":
    main()
