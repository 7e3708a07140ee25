#!/usr/bin/env python3
"""Order-agnostic NADE, ensembles and conditional inference beside the fixed-order figures (issue 6).

    python benchmarks/compare_orderless.py                 # ~2-3 min on 2 quiet cores
    python benchmarks/compare_orderless.py --quick         # smoke test, ~1 min (noisy figures)
    python benchmarks/compare_orderless.py --out benchmarks/results_orderless.md

One process times, at n=784, d=500, float32, with n_jobs 1 and 2, the samples/s
(rows per second) of:

* the fixed-order model of compare.py (floor.c's model and data, p = 0.11):
  score_samples and sample (the baseline rows), and conditional_sample, impute
  (mode) and log_marginal with the first half of the features (the top 14 pixel
  rows of a digit) observed, a prefix of its ordering;
* order-agnostic models with 1 and 2 hidden layers (the package's initialisation,
  untrained: speed does not depend on the weights): score_samples with
  n_orderings 1 and 4, sample, and conditional_sample, impute and log_marginal
  with a random mask (each entry observed with probability 1/2, every row its
  own mask, so every row follows its own ordering);

each beside the fixed-order figure of the same operation.  Batch 256, except 64
for the 2-layer model (16 with --quick): its exact inference recomputes the
second layer at every position, ~3 ms per row and ordering on one core.

Training: seconds per epoch (fit, batch 100, Adam, learning rate 1e-3) of the
fixed-order NADE vs OrderAgnosticNADE with 1 and 2 layers on 10 000 binarized-MNIST
training rows (2 000 with --quick; random rows without the data file), reported
per 10 000 rows; each in a fresh process whose BLAS pool has as many threads as
n_jobs (order-agnostic training is NumPy matrix algebra, which n_jobs does not
govern).

Before any timing every operation is checked against the plain float64
references of orderless_common.py on its first rows, and for bit-identical
results with 1 and 2 threads; a failed check stops the run with exit status 1.
Each throughput is the median of --repeats repeats of about --min-time seconds
after a warm-up (benchutil.measure).  Markdown on stdout (and --out); progress
on stderr.  Speed is reported, never asserted.
"""

import argparse
import json
import os
import pathlib
import subprocess
import sys
import tempfile

import benchutil as bu  # pins the implicit thread pools before NumPy loads

import numpy as np  # noqa: E402

import orderless_common as oc  # noqa: E402
from nadefast import NADE  # noqa: E402
from reference import log_likelihood  # noqa: E402  (tests/reference.py; orderless_common adds the path)

N, D, P_ONES = 784, 500, 0.11
THREADS = (1, 2)
KINDS = {"fixed": "fixed order", "oa1": "order-agnostic, 1 layer", "oa2": "order-agnostic, 2 layers"}
log = bu.log


def parse_args(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true",
                    help="smoke run: 0.05 s repeats, 2-layer batch 16, 1 epoch over 2 000 rows")
    ap.add_argument("--repeats", type=int, default=5, help="timed repeats per row (>= 5)")
    ap.add_argument("--min-time", type=float, default=None, help="seconds per repeat (0.2; quick 0.05)")
    ap.add_argument("--no-train", action="store_true", help="skip the training epochs")
    ap.add_argument("--out", help="also write the markdown report to this file")
    a = ap.parse_args(argv)
    a.repeats = max(5, a.repeats)
    a.min_time = a.min_time or (0.05 if a.quick else 0.2)
    a.budget = 10.0 if a.quick else 60.0
    a.oa2_batch = 16 if a.quick else 64
    a.train_rows = 2000 if a.quick else 10000
    a.epochs = 1 if a.quick else 3
    return a


# ------------------------------------------------------------------ models and queries

def build(args):
    """Models, and per kind the rows and mask its queries use."""
    X = bu.floor_data(256, N, P_ONES)
    models = {"fixed": NADE.from_params(*bu.floor_params(N, D, P_ONES), dtype="float32")}
    init = bu.floor_data(1024, N, P_ONES)
    for kind, layers in (("oa1", 1), ("oa2", 2)):
        models[kind] = oc.oa_model(init, D, layers, "float32")
    batch = {"fixed": 256, "oa1": 256, "oa2": args.oa2_batch}
    queries = {}
    for kind in models:
        b = batch[kind]
        mask = oc.top_half_mask(b, N) if kind == "fixed" else oc.random_mask(b, N)
        queries[kind] = (X[:b], mask)
    return models, queries


def operations(models, queries):
    """(kind, op name, batch, fn, reference (kind, op) or None)."""
    out = []
    for kind, m in models.items():
        X, obs = queries[kind]
        b = len(X)
        if kind == "fixed":
            out += [(kind, "score_samples", b, lambda m=m, X=X: m.score_samples(X), None),
                    (kind, "sample", b, lambda m=m, b=b: m.sample(b, random_state=oc.SEED), None)]
        else:
            out += [(kind, "score_samples", b, lambda m=m, X=X: m.score_samples(X), ("fixed", "score_samples")),
                    (kind, "score_samples, n_orderings=4", b,
                     lambda m=m, X=X: m.score_samples(X, 4, random_state=oc.SEED), ("fixed", "score_samples")),
                    (kind, "sample", b, lambda m=m, b=b: m.sample(b, random_state=oc.SEED), ("fixed", "sample"))]
        what = "first half observed" if kind == "fixed" else "random mask"
        out += [(kind, f"conditional_sample ({what})", b,
                 lambda m=m, X=X, o=obs: m.conditional_sample(X, o, 1, random_state=oc.SEED)[0],
                 ("fixed", "sample") if kind == "fixed" else ("fixed", "conditional_sample (first half observed)")),
                (kind, f"impute, mode ({what})", b, lambda m=m, X=X, o=obs: m.impute(X, o),
                 ("fixed", "sample") if kind == "fixed" else ("fixed", "impute, mode (first half observed)")),
                (kind, f"log_marginal ({what})", b, lambda m=m, X=X, o=obs: m.log_marginal(X, o),
                 ("fixed", "score_samples") if kind == "fixed" else ("fixed", "log_marginal (first half observed)"))]
    return out


# ------------------------------------------------------------------------- checks

def run_checks(models, queries, ops, rows=2):
    """Correctness before timing: list of (check, detail, ok)."""
    out = []
    tol = 2e-5  # float32 log-likelihoods, relative to max |log p| (as the pytest suite)

    def rel(a, b):
        return float(np.max(np.abs(np.asarray(a) - b)) / max(np.max(np.abs(b)), 1e-300))

    for kind, m in models.items():
        P = oc.public_params(m)
        X, obs = queries[kind]
        Xr, obr = X[:rows], obs[:rows]
        m.n_jobs = 1
        if kind == "fixed":
            e = rel(m.score_samples(Xr), log_likelihood(P["W"], P["b"], P["V"], P["c"], Xr, m.ordering_))
            out.append((f"{kind}: score_samples vs tests/reference.py log_likelihood ({rows} rows)",
                        f"max rel err {e:.1e} (tol {tol:g})", e <= tol))
        else:
            for k in (1, 4):
                e = rel(m.score_samples(Xr, k, random_state=oc.SEED), oc.ref_ensemble(m, P, Xr, k, oc.SEED))
                out.append((f"{kind}: score_samples n_orderings={k} vs oa_log_likelihood"
                            + (" (log-mean-exp)" if k > 1 else "") + f" ({rows} rows)",
                            f"max rel err {e:.1e} (tol {tol:g})", e <= tol))
        e = rel(m.log_marginal(Xr, obr), oc.ref_log_marginal(m, P, Xr, obr))
        out.append((f"{kind}: log_marginal vs the masked-form sum ({rows} rows)",
                    f"max rel err {e:.1e} (tol {tol:g})", e <= tol))
        none = np.zeros_like(obr)
        for name, got, X_, o_, greedy in (
                ("sample", m.sample(rows, random_state=oc.SEED), np.zeros_like(Xr), none, False),
                ("conditional_sample", m.conditional_sample(Xr, obr, 1, random_state=oc.SEED)[0], Xr, obr, False),
                ("impute (mode)", m.impute(Xr, obr), Xr, obr, True)):
            try:
                frac = oc.check_completions(m, P, X_, o_, got, greedy=greedy, rows=rows)
                out.append((f"{kind}: {name} vs the sequential reference, same Philox noise ({rows} rows)",
                            f"equal on {frac:.0%} of the free positions (the rest after a near tie)", True))
            except AssertionError as exc:
                out.append((f"{kind}: {name} vs the sequential reference ({rows} rows)", f"DIFFERENT: {exc}", False))
    for kind, op, b, fn, _ in ops:
        res = {}
        for t in THREADS:
            models[kind].n_jobs = t
            res[t] = fn()
        same = np.array_equal(res[1], res[2])
        out.append((f"{kind}: {op}, batch {b}: bit-identical for 1 and 2 threads",
                    "identical" if same else "DIFFERENT", same))
    return out


# ---------------------------------------------------------------------- training

CHILD = r"""
import json, sys
import numpy as np
from nadefast import NADE, OrderAgnosticNADE
a = json.loads(sys.argv[1])
X = np.load(a["data"])
if a["layers"] > 0:
    m = OrderAgnosticNADE(500, n_layers=a["layers"], random_state=0, n_jobs=a["threads"])
else:
    m = NADE(500, random_state=0, n_jobs=a["threads"])
m.fit(X, epochs=a["epochs"], batch_size=100, learning_rate=1e-3)
print(json.dumps({"seconds": [h["seconds"] for h in m.history_]}))
"""


def training(args, tmpdir):
    """{(kind, threads): {"seconds": [...], "median": s}} and the data description."""
    X, what = bu.load_mnist_split("train", rows=args.train_rows)
    path = pathlib.Path(tmpdir) / "train.npy"
    np.save(path, np.ascontiguousarray(X))
    out = {}
    for kind, layers in (("fixed", 0), ("oa1", 1), ("oa2", 2)):
        for t in THREADS:
            env = dict(os.environ, **{v: str(t) for v in bu.THREAD_VARS})
            arg = json.dumps({"data": str(path), "layers": layers, "threads": t, "epochs": args.epochs})
            log(f"training {kind}: {args.epochs} epoch(s) over {X.shape[0]} rows, n_jobs={t}, BLAS threads {t}")
            p = subprocess.run([sys.executable, "-c", CHILD, arg], env=env, capture_output=True, text=True)
            if p.returncode:
                out[kind, t] = {"error": p.stderr.strip()[-300:]}
                log(f"  failed: {out[kind, t]['error']}")
                continue
            secs = json.loads(p.stdout.strip().splitlines()[-1])["seconds"]
            out[kind, t] = {"seconds": secs, "median": float(np.median(secs))}
            log(f"  seconds per epoch {', '.join(f'{s:.2f}' for s in secs)}")
    return out, X.shape[0], what


# ------------------------------------------------------------------------ report

def fmt(x, digits=2):
    if x is None:
        return "-"
    if abs(x) >= 1000:
        return f"{x:,.0f}"
    if abs(x) >= 100:
        return f"{x:.0f}"
    return f"{x:.{digits}f}" if abs(x) >= 0.01 else f"{x:.2g}"


def fmt_ratio(x):
    if x is None:
        return "-"
    return f"{x:.2f}" if x >= 0.1 else f"{x:.2g}"


def blas_info():
    try:
        blas = np.show_config(mode="dicts")["Build Dependencies"]["blas"]
        return f"{blas.get('name', '?')} {blas.get('version', '')}".strip()
    except Exception:  # older NumPy: no dicts mode
        return "unknown"


def report(args, header, checks, rows, train, notes):
    L = ["# nadefast benchmark: compare_orderless.py", ""]
    L += [f"- command: `{' '.join(['python', 'benchmarks/compare_orderless.py', *sys.argv[1:]])}`"]
    L += header + [f"- note: {x}" for x in notes] + [""]
    L += ["## Correctness checks (before timing)", "", "| check | result | ok |", "|---|---|---|"]
    L += [f"| {c} | {r} | {'yes' if ok else '**FAILED**'} |" for c, r, ok in checks] + [""]
    if rows:
        L += [f"## Throughput (n={N}, d={D}, float32)", "",
              "samples/s = rows per call / median seconds per call (a conditional query's row is one "
              "completion or one marginal). \"÷ reference\" = this row's samples/s over the reference "
              "row's at the same thread count (for the fixed-order queries: its own sample or "
              "score_samples; for the order-agnostic models: the fixed-order model's same operation). "
              "spread = (max - min) / median of the repeats, 1 thread / 2 threads.", "",
              "| model | operation | batch | samples/s, 1 thread | samples/s, 2 threads | 2 threads / 1 | "
              "reference | ÷ reference, 1 thread | ÷ reference, 2 threads | spread |",
              "|---|---|---|---|---|---|---|---|---|---|"]
        index = {(r["kind"], r["op"]): r for r in rows}
        for r in rows:
            ref = index.get(r["ref"]) if r["ref"] else None
            s1, s2 = r["sps"].get(1), r["sps"].get(2)
            cells = [KINDS[r["kind"]], r["op"], str(r["batch"]), fmt(s1, 1), fmt(s2, 1),
                     fmt_ratio(s2 / s1 if s1 and s2 else None),
                     "baseline" if not r["ref"] else f"{r['ref'][0]}: {r['ref'][1]}",
                     fmt_ratio(ref and s1 / ref["sps"][1]), fmt_ratio(ref and s2 / ref["sps"][2]),
                     " / ".join(f"{100 * r['spread'][t]:.0f}%" for t in THREADS)]
            L.append("| " + " | ".join(cells) + " |")
        L.append("")
    if train:
        res, n_rows, what = train
        L += ["## Training epoch (seconds per 10 000 rows)", "",
              f"NADE(n_hidden=500, n_jobs=t) and OrderAgnosticNADE(n_hidden=500, n_layers=1|2, "
              f"n_jobs=t): fit(X, epochs={args.epochs}, batch_size=100, Adam, "
              f"learning_rate=1e-3) on {n_rows} rows of {what}, each fit in a fresh process with "
              f"OMP/OPENBLAS/MKL_NUM_THREADS=t; median epoch time"
              + ("" if n_rows == 10000 else f" x 10 000 / {n_rows}") + ". "
              "\"x fixed-order\" = this model's epoch time over the fixed-order model's.", "",
              "| model | s / 10 000 rows, 1 thread | s / 10 000 rows, 2 threads | 2 threads / 1 (speed-up) | "
              "x fixed-order, 1 thread | x fixed-order, 2 threads | epoch seconds (1 thread; 2 threads) |",
              "|---|---|---|---|---|---|---|"]
        scale = 10000 / n_rows

        def per10k(kind, t):
            r = res.get((kind, t), {})
            return r["median"] * scale if "median" in r else None

        for kind in KINDS:
            a, b = per10k(kind, 1), per10k(kind, 2)
            f1, f2 = per10k("fixed", 1), per10k("fixed", 2)
            raw = "; ".join(", ".join(f"{s:.2f}" for s in res.get((kind, t), {}).get("seconds", [])) or
                            res.get((kind, t), {}).get("error", "-") for t in THREADS)
            L.append(f"| {KINDS[kind]} | {fmt(a)} | {fmt(b)} | {fmt_ratio(a / b if a and b else None)} | "
                     f"{fmt_ratio(a / f1 if a and f1 else None)} | {fmt_ratio(b / f2 if b and f2 else None)} | {raw} |")
        L.append("")
    return "\n".join(L) + "\n"


# -------------------------------------------------------------------------- main

def main(argv=None):
    args = parse_args(argv)
    header = [h for h in bu.machine_header() if not h.startswith("- compiler")]
    header.append(f"- NumPy BLAS (order-agnostic training): {blas_info()}")
    header.append(f"- models: fixed order = compare.py's (floor.c's weights, N(0, 0.01^2)); order-agnostic = "
                  f"OrderAgnosticNADE(500, n_layers=1|2).fit(X, epochs=0) (He-scaled ReLU layers); "
                  f"scoring rows: floor.c's data, p = {P_ONES}")
    notes = ["--quick smoke run: short repeats; figures are noisy"] if args.quick else []
    start = bu.cpu_snapshot()
    models, queries = build(args)
    ops = operations(models, queries)
    log("checks")
    checks = run_checks(models, queries, ops)
    ok = all(c[2] for c in checks)
    rows = []
    if not ok:
        log("a correctness check failed: no timing")
    else:
        for kind, op, b, fn, ref in ops:
            r = {"kind": kind, "op": op, "batch": b, "ref": ref, "sps": {}, "spread": {}}
            for t in THREADS:
                models[kind].n_jobs = t
                med, reps = bu.measure(fn, args.repeats, args.min_time, budget=args.budget)
                r["sps"][t] = b / med
                r["spread"][t] = (max(reps) - min(reps)) / med
                log(f"  {kind:5s} {op:45s} b{b:<4d} t{t}: {b / med:12,.1f} samples/s")
            rows.append(r)
    train = None
    if ok and not args.no_train:
        with tempfile.TemporaryDirectory(prefix="nadefast-oa-bench-") as tmp:
            train = training(args, tmp)
    load, share = os.getloadavg(), bu.others_share(start, bu.cpu_snapshot())
    header.append(f"- load average at the end: {', '.join(f'{x:.2f}' for x in load)}; other processes "
                  f"used {share:.0%} of the machine's CPU time during the run"
                  + (" (**the machine was shared: 2-thread figures and ratios across the run are "
                     "unreliable**)" if share > 0.05 else " (quiet machine)"))
    text = report(args, header, checks, rows, train, notes)
    print(text)
    if args.out:
        pathlib.Path(args.out).write_text(text)
        log(f"wrote {args.out}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
