#!/usr/bin/env python3
"""Counts the PyTorch ops of one weighted-DPO step: the engine's (Chrome traces written by the test class
io.optune.engine.train.OpProfile) beside the PyTorch peer's (bin/pytorch_peer_scale.py's step, recorded
here with torch.profiler).

On a GPU a step at 124M-0.5B is bound by kernel launches, so the number of ops dispatched is what decides
how close the engine can come to PyTorch there; the count does not depend on the width, so a small body
on a CPU gives it. Counted: top-level ops (an op called inside another, e.g. addmm inside linear, is part
of its caller), the same way for both, split into views (no kernel), host reads (a device sync) and the
rest ("computing": at least one kernel each on a GPU).
usage: op_profile.py OUT [SHAPE]   (OpProfile SHAPE OUT wrote OUT-*.json; SHAPE: gpt2-dry by default)
"""
import collections
import json
import sys

# Ops that only make a view or allocate: no kernel on a GPU.
VIEWS = {"aten::view", "aten::reshape", "aten::_reshape_alias", "aten::t", "aten::transpose", "aten::permute",
         "aten::as_strided", "aten::detach", "aten::expand", "aten::squeeze", "aten::unsqueeze", "aten::split",
         "aten::split_with_sizes", "aten::slice", "aten::select", "aten::alias", "aten::_unsafe_view", "aten::empty",
         "aten::empty_strided", "aten::narrow", "aten::chunk", "aten::unbind", "aten::lift_fresh", "aten::resolve_conj",
         "aten::resolve_neg", "aten::view_as", "aten::expand_as", "aten::contiguous", "aten::to", "aten::result_type",
         "aten::empty_like"}
# Ops that read a value on the host (a device sync).
SYNCS = {"aten::item", "aten::_local_scalar_dense"}


def top_level(path):
    """Ops not nested inside another op of the same thread."""
    with open(path) as f:
        data = json.load(f)
    events = data["traceEvents"] if isinstance(data, dict) else data
    by_thread = collections.defaultdict(list)
    for e in events:
        if e.get("ph") == "X" and str(e.get("name", "")).startswith("aten::"):
            by_thread[e.get("tid")].append(e)
    out = collections.Counter()
    for evs in by_thread.values():
        evs.sort(key=lambda e: (float(e["ts"]), -float(e["dur"])))
        end = -1.0
        for e in evs:
            ts, dur = float(e["ts"]), float(e["dur"])
            if ts >= end:
                out[e["name"]] += 1
                end = ts + dur
    return out


def split(c):
    total = sum(c.values())
    views = sum(v for k, v in c.items() if k in VIEWS)
    syncs = sum(v for k, v in c.items() if k in SYNCS)
    return total - views - syncs, views, syncs


def peer_traces(shape, out):
    """The peer's step in two traces: loss and gradients, then clipping and AdamW (plain and foreach)."""
    sys.argv = ["pytorch_peer_scale.py", shape, "1", "1", "cpu"]
    import pytorch_peer_scale as peer
    import torch
    import torch.nn.functional as F
    torch.manual_seed(1)
    torch.set_num_threads(1)
    model, reference = peer.LM(peer.CFG), peer.LM(peer.CFG)
    reference.load_state_dict(model.state_dict())
    for p in reference.parameters():
        p.requires_grad_(False)
    g = torch.Generator().manual_seed(2)
    V, n = peer.CFG["vocab"], peer.PAIRS
    prompts = torch.randint(3, V, (n, peer.PROMPT_TOKENS), generator=g)
    chosen = torch.randint(3, V, (n, peer.NEW_TOKENS), generator=g)
    rejected = torch.randint(3, V, (n, peer.NEW_TOKENS), generator=g)
    opts = {f: torch.optim.AdamW(model.parameters(), lr=1e-5, weight_decay=0.0, foreach=f) for f in (False, True)}

    def gradients():  # dpo_step's first half
        both_p, both_r = torch.cat([prompts, prompts]), torch.cat([chosen, rejected])
        with torch.no_grad():
            ref = peer.seq_logprobs(reference, both_p, both_r)
        pol = peer.seq_logprobs(model, both_p, both_r)
        margin = 0.1 * ((pol[:n] - ref[:n]) - (pol[n:] - ref[n:]))
        loss = -F.logsigmoid(margin).mean() - pol[:n].mean() / chosen.shape[1]
        model.zero_grad(set_to_none=True)
        loss.backward()

    def update(foreach):  # its second half
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opts[foreach].step()

    for f in (False, True):  # warm-up: the optimizers' state exists
        gradients()
        update(f)
    paths = {}
    for name, fn in (("model", gradients), ("adamw", lambda: update(False)), ("adamw-foreach", lambda: update(True))):
        if name != "model":
            gradients()
        with torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CPU]) as prof:
            fn()
        paths[name] = "%s-peer-%s.json" % (out, name)
        prof.export_chrome_trace(paths[name])
    return torch.__version__, paths


def main():
    out = sys.argv[1]
    shape = sys.argv[2] if len(sys.argv) > 2 else "gpt2-dry"
    version, peer = peer_traces(shape, out)
    parts = [
        ("loss and gradients", top_level(out + "-model.json"), top_level(peer["model"])),
        ("clip + AdamW, GPU form / foreach", top_level(out + "-adamw-gpu.json"), top_level(peer["adamw-foreach"])),
        ("clip + AdamW, CPU form / per tensor", top_level(out + "-adamw-cpu.json"), top_level(peer["adamw"])),
    ]
    print("ops in one DPO step, %s: engine (DJL 0.36) vs torch %s; computing / views / host reads" % (shape, version))
    print("| part | engine | torch |")
    print("|---|---|---|")
    for name, e, t in parts:
        print("| %s | %d / %d / %d | %d / %d / %d |" % ((name,) + split(e) + split(t)))
    e, t = parts[0][1], parts[0][2]
    print("\nloss and gradients, computing ops: engine, torch (largest differences first)")
    names = sorted((k for k in set(e) | set(t) if k not in VIEWS), key=lambda k: (-abs(e[k] - t[k]), k))
    for k in names[:40]:
        print("  %-40s %5d %5d" % (k, e[k], t[k]))


if __name__ == "__main__":
    main()
