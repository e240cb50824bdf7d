#!/usr/bin/env python3
"""Plots a soak run's samples (bin/soak_sample.py) and says, per series, whether it stayed flat.

Usage: plot_soak.py SOAK_CSV OUT_DIR   (writes OUT_DIR/soak.png and OUT_DIR/soak.md)

Flat means: after the warm-up (the first quarter of the run), the least-squares slope over the rest, projected
over that span, moves the series by less than 10% of its mean (or by less than an absolute floor for series
that sit near zero).
"""
import csv
import sys

SERIES = [
    ("rss_mb", "JVM resident memory (MB)", 50),
    ("heap_used_mb", "heap used (MB)", 50),
    ("native_mb", "RSS minus committed heap (MB)", 50),
    ("prompts_per_s", "prompts ingested per second", 50),
    ("checkpoint_size_mb", "checkpoint size (MB)", 1),
    ("checkpoint_duration_s", "checkpoint duration (s)", 1),
    ("select_state_mb", "select state (MB)", 1),
    ("other_state_kb", "state of the other tasks (KB)", 50),
    ("metadata_kb", "checkpoint _metadata (KB)", 50),
    ("select_keys", "select state: RocksDB keys", 500),
    ("select_live_mb", "select state: RocksDB live data (MB)", 1),
    ("select_sst_mb", "select state: RocksDB SST files (MB)", 1),
    ("rocksdb_sst_files", "SST files, all keyed operators", 20),
    ("publish_latency_ms", "publish latency (ms)", 50),
    ("versions_announced", "announced versions in the log", 2),
    ("weights_files", "weight-log files", 20),
    ("weights_mb", "weight-log MB", 5),
    ("feedback_files", "feedback files", 20),
    ("ledger_files", "ledger files", 20),
    ("ledger_mb", "ledger MB", 5),
    ("checkpoints_mb", "checkpoint folder MB", 5),
]


def read(path):
    with open(path) as f:
        rows = list(csv.DictReader(f))
    # The ingest rate, from the cumulative count between samples.
    prev = None
    for r in rows:
        n = r.get("prompts_ingested")
        if n not in (None, "", "None"):
            t, n = float(r["seconds"]), float(n)
            if prev and t > prev[0]:
                r["prompts_per_s"] = (n - prev[1]) / (t - prev[0])
            prev = (t, n)
    out = {}
    for key, _, _ in SERIES:
        pts = [(float(r["seconds"]) / 60, float(r[key])) for r in rows if r.get(key) not in (None, "", "None")]
        out[key] = pts
    return out


def slope(pts):
    n = len(pts)
    mx = sum(x for x, _ in pts) / n
    my = sum(y for _, y in pts) / n
    var = sum((x - mx) ** 2 for x, _ in pts)
    return (sum((x - mx) * (y - my) for x, y in pts) / var if var else 0.0), my


def verdicts(data):
    lines = ["| series | mean after warm-up | change over the rest of the run (fitted) | flat? |", "|---|---|---|---|"]
    for key, title, floor in SERIES:
        pts = data[key]
        if len(pts) < 8:
            lines.append(f"| {title} | - | too few samples | - |")
            continue
        start = pts[0][0] + (pts[-1][0] - pts[0][0]) / 4
        rest = [p for p in pts if p[0] >= start]
        s, mean = slope(rest)
        change = s * (rest[-1][0] - rest[0][0])
        flat = abs(change) <= max(0.1 * abs(mean), floor)
        lines.append(f"| {title} | {mean:.1f} | {change:+.1f} | {'yes' if flat else '**no**'} |")
    return "\n".join(lines)


def main(path, out):
    data = read(path)
    table = verdicts(data)
    minutes = max((p[-1][0] for p in data.values() if p), default=0)
    with open(f"{out}/soak.md", "w") as f:
        f.write(f"# Soak run: {minutes:.0f} minutes\n\nFrom {path}; warm-up: the first quarter.\n\n{table}\n")
    print(table)
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("matplotlib is missing: no plot (python3-matplotlib)")
        return
    fig, axes = plt.subplots(7, 3, figsize=(14, 21))
    for ax, (key, title, _) in zip(axes.flat, SERIES):
        pts = data[key]
        if pts:
            ax.plot([x for x, _ in pts], [y for _, y in pts], lw=1.2)
        ax.set_title(title, fontsize=10)
        ax.set_xlabel("minutes")
        ax.set_ylim(bottom=0)
        ax.grid(alpha=0.3)
    fig.suptitle("optune-flink soak run: every series should be flat after warm-up")
    fig.tight_layout(rect=(0, 0, 1, 0.98))  # room for the title above the top row
    fig.savefig(f"{out}/soak.png", dpi=90)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
