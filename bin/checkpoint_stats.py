#!/usr/bin/env python3
"""Checkpoint timings of a running Flink job, per task, from its REST API (a benchmark helper, issue 13).

    bin/checkpoint_stats.py URL SECONDS OUT.csv     # e.g. http://127.0.0.1:8081 120 runs/x/checkpoints.csv

Polls every 2 s for SECONDS, records each completed checkpoint once: its end-to-end duration and, per
task, the largest start delay (barrier triggered -> reached the task's operator thread), sync and async
durations over its subtasks; then prints p50 / p99 per column.
"""
import csv
import json
import sys
import time
import urllib.request


def get(url):
    with urllib.request.urlopen(url, timeout=10) as r:
        return json.load(r)


def pct(values, q):
    v = sorted(values)
    if not v:
        return float("nan")
    k = (len(v) - 1) * q
    lo, hi = int(k), min(int(k) + 1, len(v) - 1)
    return v[lo] + (v[hi] - v[lo]) * (k - lo)


def main():
    url, seconds, out = sys.argv[1].rstrip("/"), float(sys.argv[2]), sys.argv[3]
    deadline = time.time() + seconds
    job, names, seen, rows = None, {}, set(), []
    while time.time() < deadline:
        try:
            if job is None:
                running = [j["id"] for j in get(url + "/jobs")["jobs"] if j["status"] == "RUNNING"]
                if running:
                    job = running[0]
                    names = {v["id"]: v["name"] for v in get(f"{url}/jobs/{job}")["vertices"]}
            if job is not None:
                for c in get(f"{url}/jobs/{job}/checkpoints").get("history", []):
                    if c["status"] != "COMPLETED" or c["id"] in seen or c.get("is_savepoint"):
                        continue
                    seen.add(c["id"])
                    row = {"id": c["id"], "end_to_end_ms": c["end_to_end_duration"]}
                    for vid in get(f"{url}/jobs/{job}/checkpoints/details/{c['id']}")["tasks"]:
                        d = get(f"{url}/jobs/{job}/checkpoints/details/{c['id']}/subtasks/{vid}")
                        subs = [s for s in d["subtasks"] if s.get("status") == "completed"]
                        short = names.get(vid, vid).split(" -> ")[0].replace("Source: ", "")[:24]
                        row[f"{short}:start_delay_ms"] = max((s["start_delay"] for s in subs), default=0)
                        row[f"{short}:sync_ms"] = max((s["checkpoint"]["sync"] for s in subs), default=0)
                        row[f"{short}:async_ms"] = max((s["checkpoint"]["async"] for s in subs), default=0)
                    rows.append(row)
        except Exception as e:  # the job may be starting or stopping
            print("checkpoint_stats:", e, file=sys.stderr)
        time.sleep(2)
    cols = sorted({k for r in rows for k in r}, key=lambda k: (k != "id", k != "end_to_end_ms", k))
    with open(out, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=cols)
        w.writeheader()
        w.writerows(rows)
    print(f"{len(rows)} checkpoints")
    for c in cols[1:]:
        vals = [r[c] for r in rows if c in r]
        print(f"{c:40s} p50 {pct(vals, 0.5):8.0f}  p99 {pct(vals, 0.99):8.0f}  max {max(vals, default=0):8.0f} ms")


if __name__ == "__main__":
    main()
