#!/usr/bin/env python3
"""Plots held-out gold reward per configuration from a benchmark's curves.csv: against wall-clock
(reward-vs-time.png) and, when the curves carry it, against compute, the generators' plus the
trainer's busy seconds (reward-vs-compute.png).

Usage: plot_benchmarks.py OUT_DIR
"""
import csv
import sys
from collections import defaultdict

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402


def plot(out, curves, targets, xlabel, name, title):
    fig, ax = plt.subplots(figsize=(9, 5.5))
    horizon = max(s for cfg in curves.values() for pts in cfg.values() for s, _ in pts)
    grid = np.linspace(0, horizon, 200)
    for i, (config, seeds) in enumerate(curves.items()):
        color = f"C{i % 10}"
        style = "--" if config == "full" else (":" if i >= 10 else "-")
        ys = []
        for pts in seeds.values():
            pts.sort()
            xs, rs = zip(*pts)
            ax.plot(xs, rs, color=color, alpha=0.2, linewidth=0.8)
            ys.append(np.interp(grid, xs, rs, right=np.nan))
        ax.plot(grid, np.nanmean(np.array(ys), axis=0), color=color, linewidth=2.2 if config == "full" else 1.6,
                label=f"{config} (mean of {len(seeds)} seed{'s' if len(seeds) > 1 else ''})", linestyle=style)
    if targets:
        ax.axhline(float(np.mean(targets)), color="grey", linestyle=":", linewidth=1, label="target (mean over seeds)")
    ax.set_xlabel(xlabel)
    ax.set_ylabel("held-out gold reward (greedy, 256 prompts)")
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, loc="lower right")
    fig.tight_layout()
    fig.savefig(f"{out}/{name}", dpi=120)
    print(f"wrote {out}/{name}")


def main(out):
    by_time = defaultdict(lambda: defaultdict(list))
    by_compute = defaultdict(lambda: defaultdict(list))
    with open(f"{out}/curves.csv") as f:
        for row in csv.DictReader(f):
            reward = float(row["held_out_reward"])
            by_time[row["config"]][row["seed"]].append((float(row["seconds"]), reward))
            if row.get("compute_s") not in (None, "", "NaN"):
                by_compute[row["config"]][row["seed"]].append((float(row["compute_s"]), reward))
    targets = []
    try:
        with open(f"{out}/runs.csv") as f:
            targets = [float(r["target"]) for r in csv.DictReader(f) if r["config"] == "full"]
    except FileNotFoundError:
        pass
    plot(out, by_time, targets, "wall-clock since the job started (s), 2-core CPU", "reward-vs-time.png",
         "OPTune vs full online DPO through the Flink topology")
    if by_compute:
        plot(out, by_compute, targets, "compute: generator + trainer busy seconds", "reward-vs-compute.png",
             "OPTune vs full online DPO: reward against compute (disaggregated cost)")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "bench-results")
