#!/usr/bin/env python3
"""Samples a running embedded job every INTERVAL seconds until its JVM exits (bin/optune-soak).

Usage: soak_sample.py PID RUN_DIR REST_URL OUT_CSV [INTERVAL]

Per sample: JVM resident memory (RSS, from /proc), heap used and committed (Flink's TaskManager metrics; RSS
minus committed heap is native memory: PyTorch, RocksDB, metaspace, thread stacks), prompts ingested, the newest
completed checkpoint (size, duration, count; Flink's REST API), the select operator's share of it, the
files and bytes under each output folder of the run directory, and the weight log's publish latency
(newest announcement's file time minus the time its version was created).
"""
import csv
import json
import os
import re
import sys
import time
import urllib.request

FOLDERS = ["weights", "feedback", "ledger", "dead-letters", "checkpoints"]


def rest(base, path):
    try:
        with urllib.request.urlopen(base + path, timeout=5) as r:
            return json.load(r)
    except Exception:
        return None


def rss_mb(pid):
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        return None


def tree(path):
    files, size = 0, 0
    for root, _, names in os.walk(path):
        for n in names:
            try:
                size += os.path.getsize(os.path.join(root, n))
                files += 1
            except OSError:
                pass  # removed while walking (retention at work)
    return files, size


def publish_latency_ms(weights):
    ann = os.path.join(weights, "announcements")
    try:
        newest = max((n for n in os.listdir(ann) if n.endswith(".json")), default=None)
        if newest is None:
            return None
        p = os.path.join(ann, newest)
        with open(p) as f:
            published_at = json.load(f)["publishedAt"]
        return os.path.getmtime(p) * 1000 - published_at
    except (OSError, ValueError, KeyError):
        return None


ROCKSDB = {"estimate-num-keys": ("select_keys", 1), "estimate-live-data-size": ("select_live_mb", 2**20),
           "total-sst-files-size": ("select_sst_mb", 2**20)}


def rocksdb(base, jid, vid):
    listed = rest(base, f"/jobs/{jid}/vertices/{vid}/metrics") or []
    ids = [m["id"] for m in listed if any(m["id"].endswith(k) for k in ROCKSDB)]
    if not ids:
        return {}
    values = rest(base, f"/jobs/{jid}/vertices/{vid}/metrics?get=" + ",".join(ids)) or []
    out = {}
    for m in values:
        for k, (col, unit) in ROCKSDB.items():
            if m["id"].endswith(k):
                try:
                    out[col] = out.get(col, 0) + float(m["value"]) / unit
                except (TypeError, ValueError):
                    pass
    return out


def sst_files(rocksdb_dir):
    """SST files per keyed operator's RocksDB, by operator id (Flink names each working directory
    job_<job>_op_<class>_<operator id>__<subtask>_<parallelism>__uuid_<uuid>)."""
    per_op = {}
    for root, _, files in os.walk(rocksdb_dir):
        n = sum(1 for f in files if f.endswith(".sst"))
        m = re.search(r"_op_[A-Za-z]+_([0-9a-f]{32})__", root)
        if n and m:
            per_op[m[1]] = per_op.get(m[1], 0) + n
    return per_op


def main(pid, run_dir, base, out_csv, interval=10.0):
    t0 = time.time()
    cols = ["seconds", "rss_mb", "heap_used_mb", "heap_committed_mb", "native_mb", "prompts_ingested", "checkpoints_completed", "checkpoint_size_mb", "checkpoint_duration_s",
            "select_state_mb", "trainer_state_mb", "other_state_kb", "metadata_kb", "select_keys", "select_live_mb", "select_sst_mb", "rocksdb_sst_files", "rocksdb_sst_files_max", "sst_files_by_task", "publish_latency_ms", "versions_announced"]
    cols += [f"{d}_files" for d in FOLDERS] + [f"{d}_mb" for d in FOLDERS]
    with open(out_csv, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=cols)
        w.writeheader()
        vertex_names = {}
        while os.path.exists(f"/proc/{pid}"):
            row = {"seconds": round(time.time() - t0, 1), "rss_mb": rss_mb(pid)}
            jobs = rest(base, "/jobs") or {}
            running = [j["id"] for j in jobs.get("jobs", []) if j.get("status") == "RUNNING"]
            if running:
                jid = running[0]
                cp = rest(base, f"/jobs/{jid}/checkpoints") or {}
                done = (cp.get("latest") or {}).get("completed")
                row["checkpoints_completed"] = (cp.get("counts") or {}).get("completed")
                if done:
                    row["checkpoint_size_mb"] = done.get("checkpointed_size", done.get("state_size", 0)) / 2**20
                    row["checkpoint_duration_s"] = done.get("end_to_end_duration", 0) / 1000
                    detail = rest(base, f"/jobs/{jid}/checkpoints/details/{done['id']}") or {}
                    vertices = rest(base, f"/jobs/{jid}") or {}
                    names = {v["id"]: v["name"] for v in vertices.get("vertices", [])}
                    vertex_names.update({k: v.split(" -> ")[0] for k, v in names.items()})
                    for v in vertices.get("vertices", []):
                        if "prompt-source" in v["name"]:
                            row["prompts_ingested"] = (v.get("metrics") or {}).get("write-records")
                    for vid, task in (detail.get("tasks") or {}).items():
                        if "select" in names.get(vid, ""):
                            row["select_state_mb"] = task.get("state_size", 0) / 2**20
                        if "train" in names.get(vid, ""):
                            row["trainer_state_mb"] = task.get("state_size", 0) / 2**20
                    # Everything but select and the trainer, and the checkpoint's own _metadata: what else a
                    # checkpoint holds (feedback enumerators, sinks' committables, small inlined state, timers).
                    others = sum(t.get("state_size", 0) for v, t in (detail.get("tasks") or {}).items()
                                 if "select" not in names.get(v, "") and "train" not in names.get(v, ""))
                    row["other_state_kb"] = others / 1024
                    external = (done.get("external_path") or "").replace("file:", "")
                    if external and os.path.exists(os.path.join(external, "_metadata")):
                        row["metadata_kb"] = os.path.getsize(os.path.join(external, "_metadata")) / 1024
                    # RocksDB's own view of the select state (when its native metrics are on): keys, live data
                    # and the SST files on disk, summed over column families. A rising file size with flat keys and
                    # live data means expired entries waiting for a compaction, not a growing memory.
                    for vid, name in names.items():
                        if "select" in name:
                            row.update(rocksdb(base, jid, vid))
            tms = rest(base, "/taskmanagers") or {}
            for tm in tms.get("taskmanagers", [])[:1]:
                m = rest(base, f"/taskmanagers/{tm['id']}/metrics?get=Status.JVM.Memory.Heap.Used,"
                                 "Status.JVM.Memory.Heap.Committed") or []
                values = {x["id"]: float(x["value"]) / 2**20 for x in m}
                row["heap_used_mb"] = values.get("Status.JVM.Memory.Heap.Used")
                row["heap_committed_mb"] = values.get("Status.JVM.Memory.Heap.Committed")
                if row["heap_committed_mb"] is not None and row["rss_mb"] is not None:
                    row["native_mb"] = row["rss_mb"] - row["heap_committed_mb"]
            weights = os.path.join(run_dir, "weights")
            row["publish_latency_ms"] = publish_latency_ms(weights)
            try:
                row["versions_announced"] = len(os.listdir(os.path.join(weights, "announcements")))
            except OSError:
                pass
            # bin/optune-soak puts RocksDB's working directories beside the run directory.
            per_op = sst_files(os.path.join(os.path.dirname(run_dir), "rocksdb"))
            row["rocksdb_sst_files"], row["rocksdb_sst_files_max"] = sum(per_op.values()), max(per_op.values(), default=0)
            # A keyed operator heads its task, so its id is the task's vertex id.
            row["sst_files_by_task"] = ";".join(f"{vertex_names.get(op, op)}={n}" for op, n in sorted(per_op.items()))
            for d in FOLDERS:
                n, size = tree(os.path.join(run_dir, d))
                row[f"{d}_files"], row[f"{d}_mb"] = n, size / 2**20
            w.writerow(row)
            f.flush()
            time.sleep(interval)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4], float(sys.argv[5]) if len(sys.argv) > 5 else 10.0)
