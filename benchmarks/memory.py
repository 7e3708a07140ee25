#!/usr/bin/env python3
"""Peak-memory check: how much RSS an operation needs beyond its own output.

    python benchmarks/memory.py            # markdown table (~30 s)
    python benchmarks/memory.py --json     # one JSON line (used by compare.py)

Each measurement runs in a fresh subprocess (`--child`), so earlier work
cannot hide or inflate a peak.  The child builds a float32 n=784, d=500 model,
loads its input (10 000 binarized-MNIST test rows, or random rows if the
data folder is absent), then resets the kernel's peak-RSS counter (writes 5
to /proc/self/clear_refs), reads VmRSS, runs the operation once and reads
VmHWM.  growth = VmHWM after - VmRSS before; excess = growth - bytes of the
returned arrays.  Issue 3's target: excess <= 64 MB for scoring 10 000 rows
and sampling 100 000 (no batch x n x d temporaries, no allocation per
sample).  Sampling 10 000 rows as well shows whether the excess grows with
the number of rows.  Children run with MALLOC_MMAP_THRESHOLD_=65536 (glibc)
so that large temporaries always show in RSS.  tracemalloc's peak
(allocations made through Python and NumPy, e.g. input validation) minus the
output is shown beside it.
"""

import argparse
import json
import os
import subprocess
import sys
import tracemalloc

LIMIT_MB = 64
MB = 1e6
CASES = [  # (operation, rows, n_jobs, is a target)
    ("score", 10000, 1, True), ("score", 10000, 2, True),
    ("sample", 100000, 1, True), ("sample", 100000, 2, True),
    ("sample", 10000, 2, False), ("gradient", 10000, 2, False),
]
QUICK_CASES = [c for c in CASES if c[2] == 2]
# glibc: serve every allocation >= 64 KiB by mmap and give it back on free, so
# that freed heap pages cannot silently absorb a temporary: the peak counts
# every large temporary that was live at once.
CHILD_ENV = {**os.environ, "MALLOC_MMAP_THRESHOLD_": "65536", "MALLOC_TRIM_THRESHOLD_": "65536"}


def status_kb(field):
    """A /proc/self/status field in bytes (VmRSS, VmHWM)."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1]) * 1024
    raise RuntimeError(f"{field} not in /proc/self/status")


def reset_peak():
    """Reset VmHWM to the current RSS (Linux >= 4.0); False if not possible."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


def child(op, rows, n_jobs):
    """Measure one operation in this (fresh) process; print a JSON line."""
    import gc

    import benchutil as bu
    from nadefast import NADE

    W, b, V, c = bu.floor_params(784, 500, 0.13)
    model = NADE.from_params(W, b, V, c)
    model.n_jobs = n_jobs
    X, what = bu.load_mnist_split("test", rows=rows) if op != "sample" else (None, "-")
    if X is not None and X.shape[0] < rows:  # the test split has 10 000 rows
        X, what = bu.random_data(rows, 784, 0.13), "random rows"
    model.score_samples(X[:16] if X is not None else bu.random_data(16, 784))  # warm-up: code paths, pools
    gc.collect()
    reset = reset_peak()
    rss0 = status_kb("VmRSS") if reset else status_kb("VmHWM")
    tracemalloc.start()
    if op == "score":
        out = [model.score_samples(X)]
    elif op == "sample":
        out = [model.sample(rows, random_state=0)]
    else:
        loss, g = model.loss_and_gradient(X)
        out = list(g.values())
    traced = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    growth = status_kb("VmHWM") - rss0
    out_bytes = sum(a.nbytes for a in out)
    print(json.dumps({"op": op, "rows": rows, "n_jobs": n_jobs, "input": what, "growth": growth,
                      "output": out_bytes, "excess": growth - out_bytes, "traced": traced,
                      "peak_reset": reset}))


def run_case(op, rows, n_jobs):
    cmd = [sys.executable, __file__, "--child", op, str(rows), str(n_jobs)]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True, env=CHILD_ENV)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--json", action="store_true", help="print one JSON line (markdown inside)")
    ap.add_argument("--quick", action="store_true", help="only the 2-thread cases")
    ap.add_argument("--child", nargs=3, metavar=("OP", "ROWS", "N_JOBS"), help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.child:
        return child(args.child[0], int(args.child[1]), int(args.child[2]))
    results, md, targets = [], [], []
    for op, rows, n_jobs, is_target in QUICK_CASES if args.quick else CASES:
        print(f"memory: {op} {rows} rows, n_jobs={n_jobs}", file=sys.stderr, flush=True)
        r = run_case(op, rows, n_jobs)
        r["target"] = is_target
        results.append(r)
    md += ["float32 model, n=784, d=500; one fresh process per line; MB = 10^6 bytes. "
           f"Target (issue 3): excess <= {LIMIT_MB} MB for score 10 000 and sample 100 000.", "",
           "| operation | rows | threads | input | peak RSS growth (MB) | output (MB) | excess (MB) | "
           "tracemalloc peak - output (MB) |", "|---|---|---|---|---|---|---|---|"]
    for r in results:
        md.append(f"| {r['op']} | {r['rows']} | {r['n_jobs']} | {r['input']} | {r['growth'] / MB:.1f} | "
                  f"{r['output'] / MB:.1f} | **{r['excess'] / MB:.1f}** | {(r['traced'] - r['output']) / MB:.1f} |")
        if r["target"]:
            ok = r["excess"] <= LIMIT_MB * MB
            targets.append([f"memory: {r['op']} {r['rows']:,} rows (n_jobs={r['n_jobs']}): peak RSS growth "
                            f"<= output + {LIMIT_MB} MB", f"excess {r['excess'] / MB:.1f} MB",
                            "met" if ok else "**NOT met**"])
    if not all(r["peak_reset"] for r in results):
        md.append("\n(/proc/self/clear_refs not writable: growth measured from the earlier peak, "
                  "so it may be under-reported)")
    if args.json:
        print(json.dumps({"results": results, "markdown": md, "targets": targets}))
    else:
        print("\n".join(md))
    return 0


if __name__ == "__main__":
    sys.exit(main())
