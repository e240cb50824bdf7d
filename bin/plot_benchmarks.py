#!/usr/bin/env python3
"""Plots held-out gold reward against wall-clock per configuration from a benchmark's curves.csv.

Usage: plot_benchmarks.py OUT_DIR   (writes OUT_DIR/reward-vs-time.png)
"""
import csv
import sys
from collections import defaultdict

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402


def main(out):
    curves = defaultdict(lambda: defaultdict(list))
    with open(f"{out}/curves.csv") as f:
        for row in csv.DictReader(f):
            curves[row["config"]][row["seed"]].append((float(row["seconds"]), float(row["held_out_reward"])))
    targets = []
    try:
        with open(f"{out}/runs.csv") as f:
            targets = [float(r["target"]) for r in csv.DictReader(f) if r["config"] == "full"]
    except FileNotFoundError:
        pass
    fig, ax = plt.subplots(figsize=(9, 5.5))
    horizon = max(s for cfg in curves.values() for pts in cfg.values() for s, _ in pts)
    grid = np.linspace(0, horizon, 200)
    for i, (config, seeds) in enumerate(curves.items()):
        color = f"C{i}"
        ys = []
        for pts in seeds.values():
            pts.sort()
            xs, rs = zip(*pts)
            ax.plot(xs, rs, color=color, alpha=0.2, linewidth=0.8)
            ys.append(np.interp(grid, xs, rs, right=np.nan))
        ax.plot(grid, np.nanmean(np.array(ys), axis=0), color=color, linewidth=2.2 if config == "full" else 1.6,
                label=f"{config} (mean of {len(seeds)} seeds)", linestyle="--" if config == "full" else "-")
    if targets:
        ax.axhline(float(np.mean(targets)), color="grey", linestyle=":", linewidth=1, label="target (mean over seeds)")
    ax.set_xlabel("wall-clock since the job started (s), 2-core CPU")
    ax.set_ylabel("held-out gold reward (greedy, 256 prompts)")
    ax.set_title("OPTune vs full online DPO through the Flink topology")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="lower right")
    fig.tight_layout()
    fig.savefig(f"{out}/reward-vs-time.png", dpi=120)
    print(f"wrote {out}/reward-vs-time.png")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "bench-results")
