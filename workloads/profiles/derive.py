#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
# Derives Hare's throughput profile table (models.csv, throughput.csv) from
# published measurements (Gavel, Pollux, TensorFlow benchmarks). Run by hand:
#   python3 workloads/profiles/derive.py DATA_DIR [OUT_DIR]
# DATA_DIR holds gavel/, pollux/ and tf-cnn-benchmarks-2017/ laid out as
# described in PROVENANCE.md; OUT_DIR defaults to this script's directory.
# Python 3 standard library only. Every rule applied here is written up in
# PROVENANCE.md; keep the two in step.
"""Derive workloads/profiles/{models,throughput}.csv from measured data."""

import csv
import math
import os
import statistics
import sys

GPU_TYPES = ["K80", "P100", "T4", "V100"]
GAVEL_TYPES = ["K80", "P100", "V100"]
REFERENCE = "V100"
WORKERS = [1, 2, 4, 8, 16, 32, 64, 128]
PLACEMENTS = ["consolidated", "spread"]
NODE_GPUS = 8           # no node holds more GPUs than this: k > 8 is multi-node
SYNC_FLOOR_S = 0.001    # smallest sync time kept for k >= 2 (see PROVENANCE)

# Restart cost: fixed process/CUDA/NCCL/data-loader start-up plus writing and
# reading a checkpoint of weights + two optimizer-state tensors in fp32.
RESTART_FIXED_S = 10.0
CKPT_BYTES_PER_PARAM = 12.0
CKPT_BANDWIDTH_BPS = 200e6

# model: (family, per-task batch, parameters in millions, aliases, note)
MODELS = {
    "resnet18": ("resnet", 128, 11.17, "ResNet-18;cifar10",
                 "ResNet-18 on CIFAR-10; Gavel and Pollux (cifar10)"),
    "resnet50": ("resnet", 64, 25.56, "ResNet-50;imagenet",
                 "ResNet-50 on ImageNet; Gavel and Pollux (imagenet)"),
    "transformer": ("transformer", 64, 47.2, "Transformer",
                    "Transformer 6+6 layers d512 on Multi30k; Gavel"),
    "lm": ("lstm", 20, 13.99, "LM",
           "2-layer LSTM 200 units on WikiText-2; Gavel"),
    "recommendation": ("recommendation", 2048, 8.06, "Recommendation",
                       "autoencoder 200 hidden on ML-20M; Gavel"),
    "bert": ("transformer", 12, 110.0, "",
             "BERT-base SQuAD fine-tune; Pollux"),
    "deepspeech2": ("lstm", 20, 41.2, "",
                    "DeepSpeech2 5x800 bi-GRU on CMU-ARCTIC; Pollux"),
    "yolov3": ("resnet", 8, 61.6, "",
               "YOLOv3 on PASCAL VOC; Pollux"),
    "ncf": ("recommendation", 256, 1.60, "",
            "NeuMF on MovieLens-1M; Pollux"),
}

# Gavel job-type name; Pollux profile directory (batches are in MODELS).
GAVEL = {"resnet18": "ResNet-18", "resnet50": "ResNet-50",
         "transformer": "Transformer", "lm": "LM",
         "recommendation": "Recommendation"}
POLLUX = {"resnet18": "cifar10", "resnet50": "imagenet", "bert": "bert",
          "deepspeech2": "deepspeech2", "yolov3": "yolov3", "ncf": "ncf"}
# Models measured by both Gavel and Pollux: the T4 <-> V100 compute bridge.
COMMON = ["resnet18", "resnet50"]
# Gavel models whose multi-GPU runs give a sync time.
GAVEL_SYNC = ["resnet18", "resnet50", "transformer", "lm"]
# Pollux-only models borrow K80/P100 speed ratios from the nearest Gavel model.
NEAREST = {"bert": "transformer", "deepspeech2": "lm", "yolov3": "resnet50",
           "ncf": "recommendation"}


def fail(msg):
    sys.stderr.write("derive.py: %s\n" % msg)
    sys.exit(1)


def geomean(values):
    return math.exp(sum(math.log(v) for v in values) / len(values))


def interp(points, x, optional=False):
    """Linear interpolation of {batch: value} at batch x (no extrapolation).

    Outside the measured range: None when optional, else an error."""
    if x in points:
        return points[x]
    lo = [b for b in points if b < x]
    hi = [b for b in points if b > x]
    if not lo or not hi:
        if optional:
            return None
        fail("batch %d outside the measured range %s" % (x, sorted(points)))
    b0, b1 = max(lo), min(hi)
    return points[b0] + (points[b1] - points[b0]) * (x - b0) / (b1 - b0)


# ---------------------------------------------------------------- Gavel --

def load_gavel(data_dir):
    """{(gpu, placement, model, batch, sf): steps/s} from the physical table."""
    path = os.path.join(data_dir, "gavel", "isolated_throughputs_flat.csv")
    table = {}
    with open(path, newline="") as f:
        for r in csv.DictReader(f):
            if r["source"] != "physical_cluster" or not r["batch_size"]:
                continue
            thr = float(r["isolated_steps_per_sec"])
            if thr <= 0:
                continue        # 0.0 marks a configuration Gavel could not run
            key = (r["gpu_type"].upper(), r["placement"], r["model"],
                   int(r["batch_size"]), int(r["scale_factor"]))
            table[key] = thr
    return table


def gavel_compute(gavel, model, gpu):
    key = (gpu, "consolidated", GAVEL[model], MODELS[model][1], 1)
    if key not in gavel:
        fail("Gavel has no 1-GPU row for %s on %s" % (model, gpu))
    return 1.0 / gavel[key]


def gavel_sync(gavel, model, gpu):
    """Raw sync {(k, placement): s}: median over batch sizes of k/thr(k) - 1/thr(1)."""
    name = GAVEL[model]
    batches = sorted({k[3] for k in gavel if k[2] == name})
    out = {}
    for pl, gpl in (("consolidated", "consolidated"), ("spread", "unconsolidated")):
        for k in (2, 4, 8):
            vals = []
            for b in batches:
                t1 = gavel.get((gpu, "consolidated", name, b, 1))
                tk = gavel.get((gpu, gpl, name, b, k))
                if t1 and tk:
                    vals.append(k / tk - 1.0 / t1)
            if not vals:
                fail("Gavel has no %d-GPU %s rows for %s on %s" % (k, gpl, model, gpu))
            out[(k, pl)] = statistics.median(vals)
    return out


# --------------------------------------------------------------- Pollux --

def read_rows(path):
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def median_by_batch(rows, keep, field):
    """{batch: median of field over the rows kept}."""
    groups = {}
    for r in rows:
        if keep(r):
            groups.setdefault(int(r["local_bsz"]), []).append(float(r[field]))
    return {b: statistics.median(v) for b, v in groups.items()}


def pollux_load(data_dir, model):
    base = os.path.join(data_dir, "pollux", "profiles_t4", POLLUX[model])
    return (read_rows(os.path.join(base, "placements.csv")),
            read_rows(os.path.join(base, "scalability.csv")))


def pollux_compute(place, model):
    pts = median_by_batch(place, lambda r: r["placement"] == "1", "step_time")
    return interp(pts, MODELS[model][1])


def pollux_sync(place, scal, model):
    """Raw T4 sync {(k, placement): s} at the model's batch."""
    b = MODELS[model][1]
    out = {}

    def digits(r):
        return [int(c) for c in r["placement"]]

    for k in (2, 4):
        pts = median_by_batch(place, lambda r, k=k: r["placement"] == str(k), "sync_time")
        out[(k, "consolidated")] = interp(pts, b)
    for k in (2, 4, 8, 16):
        pts = median_by_batch(
            place, lambda r, k=k: len(r["placement"]) > 1 and sum(digits(r)) == k,
            "sync_time")
        if k == 16:
            extra = median_by_batch(scal, lambda r: int(r["num_replicas"]) == 16, "sync_time")
            for bb, v in extra.items():
                pts[bb] = statistics.median([v, pts[bb]]) if bb in pts else v
        out[(k, "spread")] = interp(pts, b)
    for k in (32, 64):
        # Some large runs were made only at small batches: leave those
        # points out (the clean-up extrapolates them like 128).
        pts = median_by_batch(scal, lambda r, k=k: int(r["num_replicas"]) == k, "sync_time")
        v = interp(pts, b, optional=True)
        if v is not None:
            out[(k, "spread")] = v
    return out


# ------------------------------------------------- growth past 8 GPUs --

def tf_doublings(data_dir):
    """Sync growth per doubling of multi-node K80 runs (TF benchmarks 2017)."""
    path = os.path.join(data_dir, "tf-cnn-benchmarks-2017", "tf_cnn_benchmarks_k80_p100.csv")
    runs = {}
    for r in read_rows(path):
        if r["setting"] != "distributed" or r["data"] != "synthetic" or not r["images_per_sec"]:
            continue
        key = (r["model"], int(r["batch_size_per_gpu"]))
        runs.setdefault(key, {})[int(r["num_gpus"])] = float(r["images_per_sec"])
    ratios = []
    step = runs[("ResNet-50", 64)][1]
    ratios_note = "TF-2017 K80 ResNet-50 batch 64, 1 GPU: %.4f s/step" % (64 / step)
    for (model, bs), pts in sorted(runs.items()):
        step1 = bs / pts[1]
        sync = {k: k * bs / v - step1 for k, v in pts.items() if k > 1}
        for k in (16, 32):
            if k in sync and 2 * k in sync and sync[k] > 0:
                ratios.append(sync[2 * k] / sync[k])
    return ratios, ratios_note


def pollux_doublings(raw):
    ratios = []
    for k in (8, 16, 32):
        a, b = raw.get((k, "spread")), raw.get((2 * k, "spread"))
        if a and b and a > 0:
            ratios.append(b / a)
    return ratios


# --------------------------------------------------------- clean-up --

def clean(raw, growth, src):
    """Apply the floor, monotone and fill rules of PROVENANCE.md.

    raw: {(k, placement): s} for the measured points; src: "gavel" or
    "pollux". Returns ({(k, pl): s} for every k in WORKERS, {(k, pl): tag})
    with tag <src>-measured, <src>-adj (raised by a rule) or <src>-extrap.
    """
    val, tag = {}, {}
    for pl in PLACEMENTS:
        val[(1, pl)], tag[(1, pl)] = 0.0, "none"
    for key, v in raw.items():
        val[key] = max(v, SYNC_FLOOR_S)
        tag[key] = src + ("-adj" if v < SYNC_FLOOR_S else "-measured")
    monotone(val, tag)
    for k in WORKERS[1:]:
        c, s = (k, "consolidated"), (k, "spread")
        if c not in val and k <= NODE_GPUS:
            # One more doubling inside a node: the same growth as the last one.
            h, q = val[(k // 2, "consolidated")], val.get((k // 4, "consolidated"))
            guess = h * h / q if q else h
            val[c], tag[c] = max(h, min(guess, val.get(s, guess))), src + "-extrap"
        if s not in val:
            val[s], tag[s] = val[(k // 2, "spread")] * growth, src + "-extrap"
        if c not in val:
            val[c], tag[c] = val[s], src + "-extrap"   # more than a node: never consolidated
    monotone(val, tag)
    return val, tag


def monotone(val, tag):
    """Sync never shrinks with more workers; spread is never below consolidated."""
    for pl in PLACEMENTS:
        best = 0.0
        for k in WORKERS:
            if (k, pl) not in val:
                continue
            if val[(k, pl)] < best:
                val[(k, pl)], tag[(k, pl)] = best, adjusted(tag[(k, pl)])
            best = val[(k, pl)]
    for k in WORKERS:
        c, s = (k, "consolidated"), (k, "spread")
        if c in val and s in val and val[s] < val[c]:
            val[s], tag[s] = val[c], adjusted(tag[s])


def adjusted(tag):
    """The tag of a value raised by a clean-up rule: <source>-adj."""
    return tag.split("-")[0] + "-adj"


# --------------------------------------------------------- the table --

class Table:
    def __init__(self):
        self.compute = {}   # (model, gpu) -> (s, tag)
        self.sync = {}      # (model, gpu) -> ({(k, pl): s}, {(k, pl): tag})


def derive(data_dir):
    gavel = load_gavel(data_dir)
    pollux = {m: pollux_load(data_dir, m) for m in POLLUX}
    t = Table()
    notes = []

    raw_t4 = {m: pollux_sync(*pollux[m], m) for m in POLLUX}
    tf_r, tf_note = tf_doublings(data_dir)
    notes.append(tf_note + " (sanity check of the K80 compute below)")
    px_r = [r for m in POLLUX for r in pollux_doublings(raw_t4[m])]
    growth = max(1.0, statistics.median(tf_r + px_r))
    notes.append("growth per doubling past the measured points: %.4f "
                 "(median of %d TF-K80 and %d Pollux-T4 doublings)"
                 % (growth, len(tf_r), len(px_r)))

    # Measured compute and sync.
    for m in GAVEL:
        for g in GAVEL_TYPES:
            t.compute[(m, g)] = (gavel_compute(gavel, m, g), "gavel")
            if m in GAVEL_SYNC:
                t.sync[(m, g)] = clean(gavel_sync(gavel, m, g), growth, "gavel")
    for m in POLLUX:
        t.compute[(m, "T4")] = (pollux_compute(pollux[m][0], m), "pollux")
        t.sync[(m, "T4")] = clean(raw_t4[m], growth, "pollux")

    # Compute bridges.
    r_t4 = {m: t.compute[(m, "T4")][0] / t.compute[(m, REFERENCE)][0] for m in COMMON}
    r = geomean(list(r_t4.values()))
    notes.append("T4/V100 compute ratio: %s -> geometric mean %.4f"
                 % (", ".join("%s %.4f" % kv for kv in r_t4.items()), r))
    for m in GAVEL:
        if (m, "T4") not in t.compute:
            t.compute[(m, "T4")] = (t.compute[(m, REFERENCE)][0] * r, "bridge-t4")
    for m in POLLUX:
        if (m, REFERENCE) in t.compute:
            continue
        v100 = t.compute[(m, "T4")][0] / r
        t.compute[(m, REFERENCE)] = (v100, "bridge-v100")
        near = NEAREST[m]
        for g in ("K80", "P100"):
            ratio = t.compute[(near, g)][0] / t.compute[(near, REFERENCE)][0]
            t.compute[(m, g)] = (v100 * ratio, "bridge-" + near)

    # Sync where the model has no multi-GPU run on that type: the type's
    # per-parameter sync cost (median over the models measured on it, per
    # worker count and placement) times the model's parameter count.
    for g in GPU_TYPES:
        refs = [m for m in MODELS if (m, g) in t.sync]
        for m in MODELS:
            if (m, g) in t.sync or m in refs:
                continue
            val, tag = {}, {}
            for key in t.sync[(refs[0], g)][0]:
                if key[0] == 1:
                    val[key], tag[key] = 0.0, "none"
                    continue
                per_m = statistics.median(t.sync[(r, g)][0][key] / MODELS[r][2] for r in refs)
                val[key], tag[key] = max(per_m * MODELS[m][2], SYNC_FLOOR_S), "param"
            monotone(val, tag)
            t.sync[(m, g)] = (val, tag)
    return t, notes


def write_models(out_dir):
    path = os.path.join(out_dir, "models.csv")
    with open(path, "w") as f:
        f.write("model,family,per_task_batch,params_millions,restart_s,aliases,source\n")
        for m, (fam, batch, params, aliases, note) in MODELS.items():
            restart = RESTART_FIXED_S + 2 * params * 1e6 * CKPT_BYTES_PER_PARAM / CKPT_BANDWIDTH_BPS
            f.write("%s,%s,%d,%.2f,%.1f,%s,%s\n" % (m, fam, batch, params, restart, aliases, note))


def write_throughput(out_dir, t):
    path = os.path.join(out_dir, "throughput.csv")
    with open(path, "w") as f:
        f.write("model,gpu_type,workers,placement,compute_s,sync_s,source\n")
        for m in MODELS:
            for g in GPU_TYPES:
                comp, ctag = t.compute[(m, g)]
                sv, st = t.sync[(m, g)]
                for k in WORKERS:
                    for pl in PLACEMENTS:
                        f.write("%s,%s,%d,%s,%.6g,%.6g,%s/%s\n"
                                % (m, g, k, pl, comp, sv[(k, pl)], ctag, st[(k, pl)]))


def report(t, notes):
    for n in notes:
        print(n)
    print("compute_s per task (ratio to V100):")
    for m in MODELS:
        ref = t.compute[(m, REFERENCE)][0]
        print("  %-15s %s" % (m, "  ".join(
            "%s %.4g (%.2f)" % (g, t.compute[(m, g)][0], t.compute[(m, g)][0] / ref)
            for g in GPU_TYPES)))


def main(argv):
    if len(argv) not in (2, 3):
        sys.stderr.write("usage: derive.py DATA_DIR [OUT_DIR]\n")
        return 2
    out_dir = argv[2] if len(argv) == 3 else os.path.dirname(os.path.abspath(__file__))
    t, notes = derive(argv[1])
    write_models(out_dir)
    write_throughput(out_dir, t)
    report(t, notes)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
