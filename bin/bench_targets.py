#!/usr/bin/env python3
"""Per-seed time and compute to target from a benchmark output directory (curves.csv with compute_s).

Usage: bench_targets.py OUT_DIR FRACTION... (e.g. 0.8 1.0): for each configuration and seed, the time (s) and
compute (generator + trainer busy s) at which its curve first reaches SFT + FRACTION x the final gain of full
online DPO on that seed (linear interpolation between evaluated versions), and the speedups over full."""
import csv, json, sys, statistics as st
from collections import defaultdict
out = sys.argv[1]
curves = defaultdict(list)
for r in csv.DictReader(open(f"{out}/curves.csv")):
    curves[(r['config'], int(r['seed']))].append((float(r['seconds']), float(r['held_out_reward']), float(r['compute_s'])))
runs = {(r['config'], int(r['seed'])): r for r in csv.DictReader(open(f"{out}/runs.csv"))}
def final(c): return sum(p[1] for p in c[-3:]) / len(c[-3:])
def cross(c, target):
    for i, (t, r, comp) in enumerate(c):
        if r >= target:
            if i == 0: return 0.0, 0.0
            t0, r0, c0 = c[i-1]
            f = (target - r0) / (r - r0)
            return t0 + f * (t - t0), c0 + f * (comp - c0)
    return None, None
configs = []
for (cfg, seed) in curves:
    if cfg not in configs: configs.append(cfg)
for frac in [float(x) for x in sys.argv[2:]]:
    print(f"\n== target = SFT + {frac:.0%} of full's final gain ==")
    print("config | per seed: time (s) / compute (s) [speedup time, compute] | mean speedup time | compute")
    for cfg in configs:
        cells = []; sps = []; spc = []
        for seed in (1, 2, 3):
            if (cfg, seed) not in curves: continue
            c = sorted(curves[(cfg, seed)]); full = sorted(curves[('full', seed)])
            sft = c[0][1]
            target = sft + frac * (final(full) - sft)
            t, comp = cross(c, target); tf, cf = cross(full, target)
            if t is None: cells.append(f"s{seed}: -"); continue
            s1 = tf / t if t > 0 else float('inf'); s2 = cf / comp if comp > 0 else float('inf')
            sps.append(s1); spc.append(s2)
            cells.append(f"s{seed}: {t:.0f}/{comp:.0f} [{s1:.2f}x, {s2:.2f}x]")
        m1 = st.mean(sps) if sps else float('nan'); m2 = st.mean(spc) if spc else float('nan')
        print(f"{cfg:24s} | {' ; '.join(cells)} | {m1:.2f}x | {m2:.2f}x")
print("\nfinal per seed:")
for cfg in configs:
    print(f"{cfg:24s}", ' '.join(f"s{s}:{final(sorted(curves[(cfg,s)])):.3f}" for s in (1,2,3) if (cfg,s) in curves),
          ' sft', ' '.join(f"{sorted(curves[(cfg,s)])[0][1]:.3f}" for s in (1,2,3) if (cfg,s) in curves))
