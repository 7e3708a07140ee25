#!/usr/bin/env python3
"""nadefast against the one-core floor (floor.c), plain NumPy and PyTorch, in one run.

    python benchmarks/compare.py                          # ~2.5 min on 2 cores
    python benchmarks/compare.py --quick                  # smoke test, ~1 min
    python benchmarks/compare.py --native-check --out benchmarks/results.md   # everything, ~3.5 min

One process times, on the same model and rows (floor.c's: n=784, d=500,
N(0, 0.01^2) weights, c_k = logit(p) + noise, data with a fraction p = 0.11 of
ones), the samples/s of score_samples, sample and loss_and_gradient for:

* nadefast: batch 1 and 256 (gradient also 100), 1 and 2 threads (n_jobs),
  float32 and float64;
* the NumPy and PyTorch NADEs of reference_impls.py (float32; NumPy with its
  BLAS pinned to 1 thread; PyTorch with torch.set_num_threads(1) and (2));
* floor.c (../shared/bench/floor.c or $NADEFAST_FLOOR_C), built with
  `cc -O3 -march=native -fno-math-errno` in a temporary directory and run in
  score and `-m sample` mode with the same n, d, p and batch, before and after
  the other timings (the faster of the passes is used: floor.c's own rule);

plus a training epoch (binarized MNIST, 2 threads), the memory check of
memory.py and, with --native-check, portable_vs_native.py.  Before any timing
it checks that every implementation gives the same log-likelihoods and
gradients as nadefast, that samples have the same mean log-likelihood, and
that nadefast's results are bit-identical for 1 and 2 threads.

Each throughput is the median of --repeats (>= 5) repeats after a warm-up call;
a repeat calls the operation enough times to last --min-time seconds (a row
that has taken --row-budget seconds starts no further repeat, and says so:
this only happens when another process makes calls far slower).  The
markdown report goes to stdout (and --out); progress goes to stderr.  Speed is
reported, never asserted; the exit status is 1 only if a correctness check failed.
"""

import argparse
import json
import os
import pathlib
import re
import shutil
import subprocess
import sys
import tempfile

import benchutil as bu  # pins the implicit thread pools before NumPy loads

import numpy as np  # noqa: E402

from nadefast import NADE  # noqa: E402
from reference_impls import NumpyNADE, torch_available, torch_nade  # noqa: E402

BATCHES = {"score": (1, 256), "sample": (1, 256), "gradient": (1, 100, 256)}
FLOOR_MODE = {"score": "score", "sample": "sample", "gradient": "score"}
TARGET_SIZE = (784, 500)


log = bu.log


def parse_args(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true",
                    help="short smoke run: 0.05 s repeats, one short floor pass, small epoch")
    ap.add_argument("--sizes", default="784x500", help="comma-separated NxD (default 784x500)")
    ap.add_argument("-p", type=float, default=0.11, help="fraction of ones (default 0.11)")
    ap.add_argument("--repeats", type=int, default=5, help="timed repeats per row (>= 5)")
    ap.add_argument("--min-time", type=float, default=None, help="seconds per repeat (0.2; quick 0.05)")
    ap.add_argument("--floor-seconds", type=float, default=None, help="floor.c -s (1.0; quick 0.25)")
    ap.add_argument("--floor-passes", type=int, default=None, help="floor.c passes (2; quick 1)")
    ap.add_argument("--epochs", type=int, default=None, help="training epochs timed (3; quick 1)")
    ap.add_argument("--row-budget", type=float, default=None,
                    help="seconds after which a row starts no further repeat (60; quick 10)")
    ap.add_argument("--out", help="also write the markdown report to this file")
    ap.add_argument("--native-check", action="store_true",
                    help="also build a -march=native copy and compare (portable_vs_native.py)")
    for part in ("torch", "floor", "train", "memory"):
        ap.add_argument(f"--no-{part}", action="store_true", help=f"skip the {part} part")
    a = ap.parse_args(argv)
    a.repeats = max(5, a.repeats)
    quick = a.quick
    a.min_time = a.min_time or (0.05 if quick else 0.2)
    a.floor_seconds = a.floor_seconds or (0.25 if quick else 1.0)
    a.floor_passes = a.floor_passes or (1 if quick else 2)
    a.epochs = a.epochs or (1 if quick else 3)
    a.row_budget = a.row_budget or (10.0 if quick else 60.0)
    a.sizes = [tuple(int(v) for v in s.lower().split("x")) for s in a.sizes.split(",")]
    return a


# ------------------------------------------------------------------ floor.c

def build_floor(workdir):
    """Compile floor.c; returns (path or None, command or reason)."""
    src = pathlib.Path(os.environ.get("NADEFAST_FLOOR_C",
                                      bu.REPO_ROOT.parent / "shared" / "bench" / "floor.c"))
    cc = os.environ.get("CC", "cc")
    if not src.is_file():
        return None, f"floor.c not found at {src} (set NADEFAST_FLOOR_C)"
    if shutil.which(cc) is None:
        return None, f"no C compiler ({cc})"
    exe = pathlib.Path(workdir) / "floor"
    cmd = [cc, "-O3", "-march=native", "-fno-math-errno", str(src), "-o", str(exe), "-lm"]
    out = subprocess.run(cmd, capture_output=True, text=True)
    if out.returncode:
        return None, f"floor.c build failed: {out.stderr.strip()[-400:]}"
    return exe, " ".join(cmd)


def run_floor(exe, n, d, p, batch, mode, secs):
    """One floor.c run: {variant: {ns, sps, checksum}}, plus its '#' lines and reference."""
    cmd = [str(exe), "-n", str(n), "-d", str(d), "-p", str(p), "-b", str(batch), "-s", str(secs),
           "-m", mode]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True, timeout=600).stdout
    variants, comments = {}, []
    for line in out.splitlines():
        if line.startswith("#"):
            comments.append(line)
        elif line.strip():
            f = line.split()
            variants[f[0]] = {"ns": float(f[1]), "sps": float(f[2]), "checksum": float(f[3])}
    m = re.search(r"reference mean log-lik \(double\) (\S+)", out)
    return {"variants": variants, "comments": comments, "reference": float(m.group(1)) if m else None}


def floor_configs(size):
    return sorted({(FLOOR_MODE[op], b) for op, bs in BATCHES.items() for b in bs})


def floor_best(floor, size, mode, batch, variant):
    """Fastest (lowest ns) over the passes, and every pass's ns."""
    runs = floor.get((size, mode, batch), [])
    ns = [r["variants"][variant]["ns"] for r in runs if variant in r["variants"]]
    if not ns:
        return None, []
    best = min(range(len(ns)), key=ns.__getitem__)
    return runs[best]["variants"][variant], ns


# ------------------------------------------------------------ implementations

def call(impl, op, X, batch):
    if op == "score":
        return lambda: impl.score_samples(X)
    if op == "sample":
        return lambda: impl.sample(batch, random_state=0)
    return lambda: impl.loss_and_gradient(X)


def time_impl(rows, name, impl, size, dtype, threads, X, args):
    """Time every (op, batch) of one implementation; appends dicts to rows."""
    n, d = size
    for op, batches in BATCHES.items():
        for batch in batches:
            med, reps = bu.measure(call(impl, op, X[:batch], batch), args.repeats, args.min_time,
                                   budget=args.row_budget)
            rows.append({"impl": name, "op": op, "dtype": dtype, "batch": batch, "threads": threads,
                         "size": size, "sec": med, "sps": batch / med, "ns": med * 1e9 / (batch * n * d),
                         "spread": (max(reps) - min(reps)) / med, "repeats": len(reps)})
            log(f"  {name:9s} {op:8s} {dtype} b{batch:<4d} t{threads}: {batch / med:12,.1f} samples/s")


def find(rows, **kw):
    for r in rows:
        if all(r.get(k) == v for k, v in kw.items()):
            return r
    return None


# ------------------------------------------------------------------- checks

def rel_err(x, ref):
    x, ref = np.asarray(x, dtype=np.float64), np.asarray(ref, dtype=np.float64)
    return float(np.max(np.abs(x - ref)) / max(np.max(np.abs(ref)), 1e-300))


def grad_err(g, ref):
    return max(rel_err(g[k], ref[k]) for k in ("W", "b", "V", "c"))


def run_checks(size, impls, floor, p):
    """Correctness before timing: list of (check, detail, ok)."""
    n, _ = size
    out = []
    ref64 = impls["nadefast float64"]
    X = bu.floor_data(64, n, p)
    ll_ref = ref64.score_samples(X)
    Xg = X[:32]
    loss_ref, g_ref = ref64.loss_and_gradient(Xg)
    for name, impl in impls.items():
        if name == "nadefast float64":
            continue
        tol = 1e-10 if "float64" in name else 2e-5
        e = rel_err(impl.score_samples(X), ll_ref)
        out.append((f"log p(x) of {name} vs nadefast float64 (64 rows)", f"max rel err {e:.1e} (tol {tol:g})",
                    e <= tol))
        loss, g = impl.loss_and_gradient(Xg)
        gtol = 1e-9 if "float64" in name else 1e-3
        e, el = grad_err(g, g_ref), abs(loss - loss_ref) / abs(loss_ref)
        out.append((f"gradient of {name} vs nadefast float64 (32 rows)",
                    f"max rel err {e:.1e}, loss {el:.1e} (tol {gtol:g})", e <= gtol and el <= tol))
    for (sz, mode, batch), runs in floor.items():
        if sz != size or mode != "score":
            continue
        Xf = bu.floor_data(batch, n, p)
        m64, m32 = ref64.score_samples(Xf).mean(), impls["nadefast float32"].score_samples(Xf).mean()
        r = runs[0]
        if r["reference"] is not None:
            e = abs(m64 - r["reference"]) / abs(r["reference"])
            out.append((f"floor.c double reference vs nadefast float64 (b{batch})",
                        f"{r['reference']:.6f} vs {m64:.6f}, rel {e:.1e}", e <= 1e-6))
        for v in ("full", "skip", "blocked"):
            chk = r["variants"][v]["checksum"]
            e = abs(chk - m32) / abs(m32)
            out.append((f"floor.c {v} checksum vs nadefast float32 (b{batch})",
                        f"{chk:.6f} vs {m32:.6f}, rel {e:.1e}", e <= 1e-5))
    # sampling: same distribution (mean log p of 512 draws, scored by nadefast float64)
    stats = {}
    for name, impl in impls.items():
        S = impl.sample(512, random_state=1)
        ll = ref64.score_samples(S)
        stats[name] = (ll.mean(), ll.var(ddof=1) / len(ll), S.mean())
    m0, v0, _ = stats["nadefast float32"]
    for name, (m, v, ones) in stats.items():
        ok = abs(m - m0) <= 5 * np.sqrt(v + v0) and abs(ones - p) < 0.02 + 0.5 * p
        out.append((f"samples of {name}: mean log p (512 draws)",
                    f"{m:.2f} (nadefast float32 {m0:.2f}, 5 se {5 * np.sqrt(v + v0):.2f}); ones {ones:.4f}",
                    ok))
    for (sz, mode, batch), runs in floor.items():
        if sz == size and mode == "sample" and batch >= 64:
            chk = runs[0]["variants"]["skip"]["checksum"]
            tol = 5 * np.sqrt(v0 * 512 / batch + v0)
            out.append((f"floor.c sample-mode checksum (b{batch}) vs nadefast samples",
                        f"{chk:.2f} vs {m0:.2f} (5 se {tol:.2f})", abs(chk - m0) <= tol))
    # nadefast: results independent of the thread count
    Xt = bu.floor_data(256, n, p)
    for dt in ("float32", "float64"):
        m = impls[f"nadefast {dt}"]
        res = {}
        for t in (1, 2):
            m.n_jobs = t
            loss, g = m.loss_and_gradient(Xt)
            res[t] = [m.score_samples(Xt), m.sample(256, random_state=3), np.float64(loss)] + [g[k] for k in "WbVc"]
        same = all(np.array_equal(a, b) for a, b in zip(res[1], res[2]))
        out.append((f"nadefast {dt}: score, sample, gradient bit-identical for 1 and 2 threads (256 rows)",
                    "identical" if same else "DIFFERENT", same))
    return out


# ------------------------------------------------------- training and others

def training_epoch(args):
    """Seconds per epoch with 2 threads (the target) and, for reference, one epoch on 1 thread."""
    rows = 5000 if args.quick else 50000
    X, what = bu.load_mnist_split("train", rows=rows)
    out = {"rows": X.shape[0], "data": what}
    for n_jobs, epochs in ((2, args.epochs), (1, 1)):
        log(f"training: {epochs} epoch(s) over {X.shape[0]} rows of {what}, n_jobs={n_jobs}")
        model = NADE(n_hidden=500, random_state=0, n_jobs=n_jobs)
        model.fit(X, epochs=epochs, batch_size=100, learning_rate=1e-3)
        secs = [h["seconds"] for h in model.history_]
        out[n_jobs] = {"epoch_seconds": secs, "median": float(np.median(secs)),
                       "train_nll": [h["train_nll"] for h in model.history_]}
    out.update(out[2])
    return out


def run_json_script(script, extra):
    """Run a sibling script with --json; returns its parsed last stdout line or an error note."""
    cmd = [sys.executable, str(bu.BENCH_DIR / script), "--json", *extra]
    log(f"running {' '.join(cmd[1:])}")
    out = subprocess.run(cmd, capture_output=True, text=True)
    sys.stderr.write(out.stderr[-3000:])
    if out.returncode:
        return {"error": f"{script} exited with {out.returncode}: {out.stderr.strip()[-300:]}"}
    return json.loads(out.stdout.strip().splitlines()[-1])


# ------------------------------------------------------------------ report

def fmt(x, digits=2):
    if x is None:
        return "-"
    if abs(x) >= 1000:
        return f"{x:,.0f}"
    if abs(x) >= 100:
        return f"{x:.0f}"
    return f"{x:.{digits}f}" if abs(x) >= 0.01 else f"{x:.2g}"


def ratio(a, b):
    return None if a is None or b is None else a["sps"] / b["sps"]


def report(args, header, checks, rows, floor, floor_cmd, train, memory, native, notes):
    L = ["# nadefast benchmark: compare.py", ""]
    L += [f"- command: `python benchmarks/compare.py {' '.join(sys.argv[1:])}`".replace("  ", " ")]
    L += header + [f"- floor.c: {floor_cmd}"] + [f"- note: {x}" for x in notes] + [""]
    L += ["## Correctness checks (before timing)", "", "| check | result | ok |", "|---|---|---|"]
    L += [f"| {c} | {r} | {'yes' if ok else '**FAILED**'} |" for c, r, ok in checks] + [""]
    L += ["## Throughput", "",
          "Median of repeats; ns = seconds per call / (batch x n x d) x 1e9; spread = (max - min) / median "
          "of the repeats; for floor.c the last column lists the ns of each pass (the fastest is used).", "",
          "| n x d | implementation | operation | dtype | batch | threads | samples/s | ns/(sample·pos·hidden) | spread (floor.c: passes) |",
          "|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        L.append(f"| {r['size'][0]}x{r['size'][1]} | {r['impl']} | {r['op']} | {r['dtype']} | {r['batch']} | "
                 f"{r['threads']} | {fmt(r['sps'], 1)} | {r['ns']:.4f} | {100 * r['spread']:.0f}%"
                 + ("" if r["repeats"] >= args.repeats else f" (only {r['repeats']} repeats: slow calls)")
                 + " |")
    for (size, mode, batch) in sorted(floor):
        for v in ("full", "skip", "blocked", "fma-peak"):
            best, ns = floor_best(floor, size, mode, batch, v)
            if best:
                L.append(f"| {size[0]}x{size[1]} | floor.c `{v}` | {mode} | float32 | {batch} | 1 | "
                         f"{fmt(best['sps'], 1)} | {best['ns']:.4f} | {' / '.join(f'{x:.4f}' for x in ns)} |")
    L.append("")
    targets = []
    for size in args.sizes:
        L += floor_table(size, rows, floor) + ratio_table(size, rows)
        if size == TARGET_SIZE:
            targets = target_rows(rows, floor, checks, train, memory, native)
    if train:
        L += ["## Training epoch", "",
              f"NADE(n_hidden=500, n_jobs=2).fit(X, epochs={len(train['epoch_seconds'])}, batch_size=100, "
              f"Adam, learning_rate=1e-3) on {train['rows']} rows of {train['data']}: seconds per epoch "
              f"{', '.join(f'{s:.2f}' for s in train['epoch_seconds'])} (median **{train['median']:.2f} s**"
              + (f", i.e. {train['median'] * 50000 / train['rows']:.1f} s per 50 000 rows"
                 if train["rows"] != 50000 else "")
              + f"); train NLL per epoch {', '.join(f'{x:.2f}' for x in train['train_nll'])}. "
              f"For reference, one epoch with n_jobs=1: {train[1]['median']:.2f} s "
              f"(2 threads / 1: {train[1]['median'] / train['median']:.2f}x).", ""]
    if memory:
        L += ["## Memory (memory.py)", ""] + (memory.get("markdown") or [f"error: {memory.get('error')}"]) + [""]
    if native:
        L += ["## Portable vs native build (portable_vs_native.py)", ""]
        L += native.get("markdown") or [f"error: {native.get('error')}"]
        L.append("")
    if targets:
        L += ["## Issue 3 targets (n=784, d=500, float32, p=%g)" % args.p, "",
              "| target | measured | status |", "|---|---|---|"]
        L += [f"| {t} | {m} | {s} |" for t, m, s in targets] + [""]
    return "\n".join(L) + "\n"


def floor_table(size, rows, floor):
    n, d = size
    L = [f"## nadefast vs floor.c, float32, 1 thread ({n}x{d})", "",
         "Rule (bench/README.md): batch-1 kernels against `skip`, batched kernels against `blocked` "
         "(ns ratio: 1.0 = at the floor, 2.0 = twice its time); `throughput / skip` is the issue's "
         "target ratio (samples/s over `skip`'s samples/s); fma-peak shows the headroom.", "",
         "| operation | batch | nadefast ns | floor variant | floor ns | ns ratio (ours/floor) | "
         "throughput / skip | ns / fma-peak |", "|---|---|---|---|---|---|---|---|"]
    for op, batches in BATCHES.items():
        for b in batches:
            r = find(rows, impl="nadefast", op=op, dtype="float32", batch=b, threads=1, size=size)
            mode = FLOOR_MODE[op]
            v = "skip" if b == 1 else "blocked"
            fv, _ = floor_best(floor, size, mode, b, v)
            sk, _ = floor_best(floor, size, mode, b, "skip")
            pk, _ = floor_best(floor, size, mode, b, "fma-peak")
            if r is None:
                continue
            L.append(f"| {op} | {b} | {r['ns']:.4f} | `{v}` ({mode} mode) | {fmt(fv and fv['ns'], 4)} | "
                     f"{fmt(fv and r['ns'] / fv['ns'])} | {fmt(sk and r['sps'] / sk['sps'])} | "
                     f"{fmt(pk and r['ns'] / pk['ns'], 1)} |")
    return L + [""]


def ratio_table(size, rows):
    n, d = size
    L = [f"## Ratios ({n}x{d}; samples/s over samples/s, same operation and batch)", "",
         "| operation | batch | 2 threads / 1, float32 | 2 threads / 1, float64 | float64 / float32, 1 thread | "
         "float64 / float32, 2 threads | nadefast / NumPy, 1 thread | nadefast / PyTorch, 1 thread | "
         "nadefast / PyTorch, 2 threads |", "|---|---|---|---|---|---|---|---|---|"]
    for op, batches in BATCHES.items():
        for b in batches:
            def g(impl="nadefast", dtype="float32", t=1):
                return find(rows, impl=impl, op=op, dtype=dtype, batch=b, threads=t, size=size)
            cells = [ratio(g(t=2), g()), ratio(g(dtype="float64", t=2), g(dtype="float64")),
                     ratio(g(dtype="float64"), g()), ratio(g(dtype="float64", t=2), g(t=2)),
                     ratio(g(), g("numpy")), ratio(g(), g("pytorch")), ratio(g(t=2), g("pytorch", t=2))]
            L.append(f"| {op} | {b} | " + " | ".join(fmt(c) for c in cells) + " |")
    return L + [""]


def target_rows(rows, floor, checks, train, memory, native):
    """(target, measured, status) for each target of issue 3 that this run measured."""
    size, out = TARGET_SIZE, []

    def ours(op, b, t=1, dtype="float32"):
        return find(rows, impl="nadefast", op=op, dtype=dtype, batch=b, threads=t, size=size)

    def status(value, ok):
        return "n/a (not measured)" if value is None else ("met" if ok else "**NOT met**")

    for op, b, goal in (("sample", 256, 0.7), ("score", 256, 0.7), ("sample", 1, 0.5), ("score", 1, 0.5),
                        ("gradient", 100, 0.2)):
        sk, _ = floor_best(floor, size, FLOOR_MODE[op], b, "skip")
        r = ours(op, b)
        v = r and sk and r["sps"] / sk["sps"]
        out.append((f"{op}, 1 thread, batch {b}: >= {goal:.0%} of floor.c `skip`",
                    fmt(v and 100 * v, 0) + "%" if v else "-", status(v, v is not None and v >= goal)))
    v = ratio(ours("gradient", 100), find(rows, impl="numpy", op="gradient", batch=100, size=size))
    out.append(("gradient, batch 100: >= 10x the NumPy backward pass", fmt(v) + "x" if v else "-",
                status(v, v is not None and v >= 10)))
    for op in ("sample", "score", "gradient"):
        v = ratio(ours(op, 256, 2), ours(op, 256))
        out.append((f"{op}, batch 256: 2 threads >= 1.7x 1 thread", fmt(v) + "x" if v else "-",
                    status(v, v is not None and v >= 1.7)))
    same = [ok for c, _, ok in checks if "bit-identical" in c]
    out.append(("results bit-identical for 1 and 2 threads", "yes" if same and all(same) else "no",
                status(same or None, bool(same) and all(same))))
    worst = None
    for r in rows:
        if r["impl"] == "nadefast" and r["dtype"] == "float64" and r["size"] == size:
            v = ratio(r, ours(r["op"], r["batch"], r["threads"]))
            if v is not None and (worst is None or v < worst[0]):
                worst = (v, f"{r['op']} b{r['batch']} {r['threads']}t")
    out.append(("float64 >= 0.5x float32 speed (worst op/batch/threads)",
                f"{worst[0]:.2f}x ({worst[1]})" if worst else "-", status(worst, worst and worst[0] >= 0.5)))
    v256 = {op: ratio(ours(op, 256, dtype="float64"), ours(op, 256)) for op in BATCHES}
    if all(v is not None for v in v256.values()):
        out.append(("float64 >= 0.5x float32 speed, batch 256, 1 thread",
                    ", ".join(f"{op} {v:.2f}x" for op, v in v256.items()), status(1, min(v256.values()) >= 0.5)))
    if train:
        v = train["median"] * 50000 / train["rows"]
        out.append(("training epoch, 50 000 MNIST rows, d=500, batch 100, Adam, 2 threads: aim < 10 s",
                    f"{v:.1f} s" + ("" if train["rows"] == 50000 else " (extrapolated)")
                    + ("" if "binarized MNIST" in train["data"] else " (random data)"), status(v, v < 10)))
    for t in (memory or {}).get("targets", []) + (native or {}).get("targets", []):
        out.append(tuple(t))
    return out


# -------------------------------------------------------------------- main

def main(argv=None):
    args = parse_args(argv)
    header, notes = bu.machine_header(), []
    if args.quick:
        notes.append("--quick smoke run: short repeats; figures are noisy")
    start = bu.cpu_snapshot()
    tmp = tempfile.TemporaryDirectory(prefix="nadefast-bench-")
    exe, floor_cmd = (None, "skipped (--no-floor)") if args.no_floor else build_floor(tmp.name)
    if exe is None and not args.no_floor:
        notes.append(f"floor.c not run: {floor_cmd}")
    use_torch = not args.no_torch and torch_available()
    if not args.no_torch and not use_torch:
        notes.append("PyTorch not installed: its rows are skipped (pip install torch for the CPU build)")
    if use_torch:
        import torch
        header.append(f"- PyTorch {torch.__version__} (float32; torch.set_num_threads(1) / (2))")
    floor, rows, checks = {}, [], []

    def floor_pass(size):
        for mode, b in floor_configs(size):
            log(f"floor.c -n {size[0]} -d {size[1]} -p {args.p} -b {b} -m {mode} -s {args.floor_seconds}")
            floor.setdefault((size, mode, b), []).append(
                run_floor(exe, size[0], size[1], args.p, b, mode, args.floor_seconds))

    for size in args.sizes:
        n, d = size
        W, b, V, c = bu.floor_params(n, d, args.p)
        X = bu.floor_data(max(max(v) for v in BATCHES.values()), n, args.p)
        impls = {f"nadefast {dt}": NADE.from_params(W, b, V, c, dtype=dt) for dt in ("float32", "float64")}
        impls["numpy float32"] = NumpyNADE(W, b, V, c, "float32")
        impls["numpy float64"] = NumpyNADE(W, b, V, c, "float64")
        if use_torch:
            torch.set_num_threads(1)
            impls["pytorch float32"] = torch_nade(W, b, V, c, "float32")
        if exe is not None:
            floor_pass(size)
        log(f"checks ({n}x{d})")
        checks += [(f"{n}x{d}: {c_}", r, ok) for c_, r, ok in run_checks(size, impls, floor, args.p)]
        if not all(ok for _, _, ok in checks):
            log("a correctness check failed: no timing")
            break
        for dt in ("float32", "float64"):
            for t in (1, 2):
                impls[f"nadefast {dt}"].n_jobs = t
                time_impl(rows, "nadefast", impls[f"nadefast {dt}"], size, dt, t, X, args)
        time_impl(rows, "numpy", impls["numpy float32"], size, "float32", 1, X, args)
        if use_torch:
            for t in (1, 2):
                torch.set_num_threads(t)
                time_impl(rows, "pytorch", impls["pytorch float32"], size, "float32", t, X, args)
        if exe is not None:
            for _ in range(args.floor_passes - 1):
                floor_pass(size)
    ok = all(ok for _, _, ok in checks)
    quick = ["--quick"] if args.quick else []
    train = training_epoch(args) if ok and not args.no_train else None
    memory = run_json_script("memory.py", quick) if ok and not args.no_memory else None
    native = run_json_script("portable_vs_native.py", quick) if ok and args.native_check else None
    load, share = os.getloadavg(), bu.others_share(start, bu.cpu_snapshot())
    header.append(f"- load average at the end: {', '.join(f'{x:.2f}' for x in load)}; other processes "
                  f"used {share:.0%} of the machine's CPU time during the run"
                  + (" (**the machine was shared: 2-thread figures and ratios across the run are "
                     "unreliable**)" if share > 0.05 else " (quiet machine)"))
    text = report(args, header, checks, rows, floor, floor_cmd, train, memory, native, notes)
    print(text)
    if args.out:
        pathlib.Path(args.out).write_text(text)
        log(f"wrote {args.out}")
    tmp.cleanup()
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
