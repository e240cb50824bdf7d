#!/usr/bin/env python3
"""PyTorch eager peer of the DJL engine benchmarks (io.optune.engine.bench.EngineBenchmark).

Same model and shapes: GPT-2 style decoder (pre-norm, learned positions, tied head, GELU), width 128,
2 layers, 4 heads, context 64, the char vocabulary; 16 prompts of 10 tokens, K=4 samples of 12 new
tokens with a KV cache; 64 sequence log-probs; a 16-pair DPO step (policy + frozen reference,
sigmoid loss with beta 0.1, chosen-NLL weight 1, AdamW). Prints one JSON object of ms per call.
"""
import json
import math
import sys
import time

import torch
import torch.nn.functional as F

VOCAB, WIDTH, LAYERS, HEADS, CONTEXT = 98, 128, 2, 4, 64  # 98: three specials + printable ASCII
PROMPTS, PROMPT_TOKENS, SAMPLES, NEW_TOKENS, PAIRS = 16, 10, 4, 12, 16
THREADS = int(sys.argv[1]) if len(sys.argv) > 1 else 2


class Block(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.ln_1 = torch.nn.LayerNorm(WIDTH)
        self.c_attn = torch.nn.Linear(WIDTH, 3 * WIDTH)
        self.c_proj = torch.nn.Linear(WIDTH, WIDTH)
        self.ln_2 = torch.nn.LayerNorm(WIDTH)
        self.c_fc = torch.nn.Linear(WIDTH, 4 * WIDTH)
        self.mlp_proj = torch.nn.Linear(4 * WIDTH, WIDTH)

    def forward(self, x, bias, cache=None):
        b, t, d = x.shape
        hw = d // HEADS
        q, k, v = self.c_attn(self.ln_1(x)).split(d, dim=-1)
        q, k, v = (z.view(b, t, HEADS, hw).transpose(1, 2) for z in (q, k, v))
        if cache is not None:
            if cache[0] is not None:
                k = torch.cat([cache[0], k], dim=2)
                v = torch.cat([cache[1], v], dim=2)
            cache[0], cache[1] = k, v
        att = (q @ k.transpose(-1, -2)) * (1.0 / math.sqrt(hw)) + bias
        y = (att.softmax(-1) @ v).transpose(1, 2).reshape(b, t, d)
        x = x + self.c_proj(y)
        return x + self.mlp_proj(F.gelu(self.c_fc(self.ln_2(x))))


class GPT(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.wte = torch.nn.Embedding(VOCAB, WIDTH)
        self.wpe = torch.nn.Embedding(CONTEXT, WIDTH)
        self.h = torch.nn.ModuleList(Block() for _ in range(LAYERS))
        self.ln_f = torch.nn.LayerNorm(WIDTH)

    def forward(self, tokens, positions, bias, caches=None):
        x = self.wte(tokens) + self.wpe(positions)
        for i, blk in enumerate(self.h):
            x = blk(x, bias, None if caches is None else caches[i])
        return self.ln_f(x) @ self.wte.weight.t()


def causal_bias(t):
    return torch.triu(torch.full((t, t), -1e9), diagonal=1).view(1, 1, t, t)


def sample_kv(model, prompts):
    with torch.no_grad():
        rows = prompts.repeat_interleave(SAMPLES, dim=0)
        n, p = rows.shape
        caches = [[None, None] for _ in range(LAYERS)]
        logits = model(rows, torch.arange(p).expand(n, p), causal_bias(p), caches)[:, -1, :]
        out = []
        for step in range(NEW_TOKENS):
            tok = torch.multinomial(logits.softmax(-1), 1)
            out.append(tok)
            logits = model(tok, torch.full((n, 1), p + step), torch.zeros(1, 1, 1, 1), caches)[:, -1, :]
        return torch.cat(out, dim=1)


def seq_logprobs(model, prompts, responses):
    seq = torch.cat([prompts, responses], dim=1)
    n, t = seq.shape
    logits = model(seq[:, :-1], torch.arange(t - 1).expand(n, t - 1), causal_bias(t - 1))
    logp = logits.log_softmax(-1).gather(-1, seq[:, 1:].unsqueeze(-1)).squeeze(-1)
    return logp[:, prompts.shape[1] - 1:].sum(-1)


def dpo_step(policy, reference, opt, prompts, chosen, rejected, beta=0.1, nll=1.0):
    both_p = torch.cat([prompts, prompts])
    both_r = torch.cat([chosen, rejected])
    with torch.no_grad():
        ref = seq_logprobs(reference, both_p, both_r)
    pol = seq_logprobs(policy, both_p, both_r)
    margin = beta * ((pol[:PAIRS] - ref[:PAIRS]) - (pol[PAIRS:] - ref[PAIRS:]))
    loss = -F.logsigmoid(margin).mean() - nll * pol[:PAIRS].mean() / chosen.shape[1]
    opt.zero_grad(set_to_none=True)
    loss.backward()
    torch.nn.utils.clip_grad_norm_(policy.parameters(), 1.0)
    opt.step()
    return loss.item()


def timed(fn, warmup_s=4.0, measure_s=8.0):
    end = time.perf_counter() + warmup_s
    while time.perf_counter() < end:
        fn()
    n, t0 = 0, time.perf_counter()
    while time.perf_counter() - t0 < measure_s:
        fn()
        n += 1
    return 1000.0 * (time.perf_counter() - t0) / n


def main():
    torch.manual_seed(1)
    torch.set_num_threads(THREADS)
    gen = torch.Generator().manual_seed(2)
    model = GPT().eval()
    policy = GPT().train()
    reference = GPT().eval()
    reference.load_state_dict(policy.state_dict())
    for p_ in reference.parameters():
        p_.requires_grad_(False)
    opt = torch.optim.AdamW(policy.parameters(), lr=1e-4, weight_decay=0.01)
    prompts = torch.randint(3, VOCAB, (PROMPTS, PROMPT_TOKENS), generator=gen)
    rows = prompts.repeat_interleave(SAMPLES, dim=0)
    responses = torch.randint(3, VOCAB, (PROMPTS * SAMPLES, NEW_TOKENS), generator=gen)
    chosen = torch.randint(3, VOCAB, (PAIRS, NEW_TOKENS), generator=gen)
    rejected = torch.randint(3, VOCAB, (PAIRS, NEW_TOKENS), generator=gen)

    def logprobs():
        with torch.no_grad():
            seq_logprobs(model, rows, responses)

    result = {
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        "sampleKvCached_ms": timed(lambda: sample_kv(model, prompts)),
        "sequenceLogProbs_ms": timed(logprobs),
        "dpoStep_ms": timed(lambda: dpo_step(policy, reference, opt, prompts, chosen, rejected)),
        "tokens_per_sample_call": PROMPTS * SAMPLES * NEW_TOKENS,
    }
    result["sampleKvCached_tokens_per_s"] = result["tokens_per_sample_call"] / result["sampleKvCached_ms"] * 1000
    print(json.dumps(result))


if __name__ == "__main__":
    main()
