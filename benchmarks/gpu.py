"""Issue 19's GPU comparison: check the GPU results against the compiled core, then time
ours (fused Triton kernels and the torch backend's paths) beside gpu_floor.py's reference
points (PyTorch as users write it, an untuned fused kernel, the GEMM floor), in one run.

    python benchmarks/gpu.py [--out DIR] [--floor PATH]      # one CUDA GPU: < 5 min on an H200
    python benchmarks/gpu.py --dry-run --out /tmp/x          # CPU, Triton's interpreter, tiny sizes

tools/device_check.sh is the command a GPU session runs (build, this script, the kernels'
tests on the GPU).  Writes results_gpu.md and results_gpu.json to --out (default
benchmarks/).  Exit status 1 when a check fails (the timings still run and are written).

Targets (issue 19, one H200, fp32): fixed-order sampling >= 5M samples/s at batch 65 536
and >= 0.5M at 256; fixed-order scoring >= 6M rows/s; training epochs of 50 000 rows, batch
100: fixed order <= 0.5 s, order-agnostic 2-layer <= 0.6 s; order-agnostic 2-layer
16-ordering ensemble of 10 000 rows <= 2.0 s (fp32), <= 0.6 s (TF32 opted in).

Data: NADEFAST_DATA/binarized_mnist.npz when present, else synthetic MNIST-shaped binary
rows (28 x 28 strokes, ~14 % ones; the report says which).  Models: trained for the one
timed epoch on those rows (fixed order: the fused model is the one sampled and scored), or
fitted for one epoch on the CPU (the checks).
"""

import argparse
import datetime
import json
import os
import pathlib
import pickle
import platform
import re
import subprocess
import sys
import time

BENCH_DIR = pathlib.Path(__file__).resolve().parent
TARGETS = {"sample 65536": 5e6, "sample 256": 0.5e6, "score": 6e6, "fixed epoch": 0.5,
           "oa2 epoch": 0.6, "oa2 ensemble fp32": 2.0, "oa2 ensemble tf32": 0.6}


def parse():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default=str(BENCH_DIR), help="folder for results_gpu.md/.json")
    ap.add_argument("--floor", default=None, help="gpu_floor.py (default: NADEFAST_GPU_FLOOR, "
                    "benchmarks/floor/gpu_floor.py, ../shared/bench/gpu_floor.py)")
    ap.add_argument("--skip-floor", action="store_true", help="no reference points")
    ap.add_argument("--dry-run", action="store_true",
                    help="CPU tensors, Triton's interpreter, tiny sizes: proves the script runs")
    return ap.parse_args()


ARGS = parse()
if ARGS.dry_run:
    os.environ["TRITON_INTERPRET"] = "1"  # before triton is imported

import numpy as np  # noqa: E402
import torch  # noqa: E402

from nadefast import NADE, OrderAgnosticNADE  # noqa: E402
from nadefast._random import philox_key  # noqa: E402
from nadefast.backends import _torch  # noqa: E402

DEVICE = "cpu" if ARGS.dry_run else "cuda"
if ARGS.dry_run:
    # the first 40 pixels of each row: the interpreter runs a Python step per position
    SIZES = dict(n=40, d=8, train=100, batch=50, check=24, oa_rows=12, orderings=2,
                 sample=(64, 8), score=64, sweep=((4, 4), (16, 4)), reps=1)
else:
    SIZES = dict(n=784, d=500, train=50000, batch=100, check=1000, oa_rows=10000, orderings=16,
                 sample=(65536, 256), score=65536,
                 sweep=((4, 4), (8, 4), (8, 8), (16, 4), (16, 8), (32, 8)), reps=3)
T0 = time.perf_counter()
RESULTS = {"checks": {}, "ours": {}, "floor": {}, "ratios": {}, "notes": []}
FAILED = []


def log(msg):
    print(f"[{time.perf_counter() - T0:6.1f} s] {msg}", flush=True)


def sync():
    if DEVICE == "cuda":
        torch.cuda.synchronize()


def timed(f, reps=None, warm=1):
    """Best wall time of f() over reps runs after `warm` runs, the device synchronised."""
    for _ in range(warm):
        f()
    sync()
    best = float("inf")
    for _ in range(reps or SIZES["reps"]):
        t0 = time.perf_counter()
        f()
        sync()
        best = min(best, time.perf_counter() - t0)
    return best


class fused_mode:
    """Forces the torch backend's path (fixed-order kernels and the order-agnostic score's
    fused glue): "always" the fused kernels, "never" the torch code."""

    def __init__(self, mode):
        self.mode = mode

    def __enter__(self):
        self.saved, _torch.FUSED = _torch.FUSED, self.mode

    def __exit__(self, *exc):
        _torch.FUSED = self.saved


# ---------------------------------------------------------------------------- data

def mnist_like(rows, rng):
    """(rows, 784) uint8: binarized MNIST from NADEFAST_DATA when there, else synthetic
    digits-like rows (10 prototypes of three thick strokes on 28 x 28, shifted up to 2
    pixels, 1 % of pixels flipped)."""
    folder = os.environ.get("NADEFAST_DATA")
    path = pathlib.Path(folder) / "binarized_mnist.npz" if folder else None
    if path is not None and path.exists():
        from nadefast.datasets import load_packed_npz

        data = load_packed_npz(path)
        X = np.concatenate([data[k] for k in data])
        RESULTS["data"] = f"binarized MNIST ({path})"
        return X[rng.integers(0, len(X), size=rows)] if rows > len(X) else X[:rows]
    yy, xx = np.mgrid[0:28, 0:28]
    protos = np.zeros((10, 28, 28), dtype=bool)
    for p in range(10):
        for _ in range(3):
            (y0, x0), (y1, x1) = rng.uniform(5, 23, size=(2, 2))
            t = np.clip(((yy - y0) * (y1 - y0) + (xx - x0) * (x1 - x0))
                        / max((y1 - y0) ** 2 + (x1 - x0) ** 2, 1e-9), 0, 1)
            protos[p] |= np.hypot(yy - (y0 + t * (y1 - y0)), xx - (x0 + t * (x1 - x0))) < 1.6
    cls, dy, dx = rng.integers(10, size=rows), rng.integers(-2, 3, size=rows), \
        rng.integers(-2, 3, size=rows)
    X = np.empty((rows, 784), dtype=np.uint8)
    for c in range(10):
        for sy in range(-2, 3):
            for sx in range(-2, 3):
                idx = np.flatnonzero((cls == c) & (dy == sy) & (dx == sx))
                X[idx] = np.roll(protos[c], (sy, sx), axis=(0, 1)).reshape(-1)
    X ^= (rng.random(X.shape) < 0.01).astype(np.uint8)
    RESULTS["data"] = (f"synthetic MNIST-shaped rows ({X.mean():.1%} ones; "
                       f"binarized_mnist.npz not found: set NADEFAST_DATA to use it)")
    return X


# -------------------------------------------------------------------------- checks

def check(name, ok, detail):
    RESULTS["checks"][name] = {"ok": bool(ok), "detail": detail}
    log(f"check {name}: {'ok' if ok else 'FAILED'} ({detail})")
    if not ok:
        FAILED.append(name)


def rel_err(a, b):
    return float(np.abs(a - b).max() / max(np.abs(b).max(), 1e-300))


def run_checks(X):
    """The device's results against the compiled core (float64 1e-10 relative, float32
    1e-4; float64 samples identical, float32 at most 1 % of rows (near ties))."""
    d, rows = SIZES["d"], SIZES["check"]
    Y = X[:rows]
    n = X.shape[1]
    rng = np.random.default_rng(1)
    masks = (np.arange(n) < rng.integers(0, n + 1, size=rows)[:, None])
    for dtype in ("float64", "float32"):
        tol = 1e-10 if dtype == "float64" else 1e-4
        allowed = 0 if dtype == "float64" else max(1, rows // 100)
        cpu = NADE(d, dtype=dtype, random_state=0).fit(X[:2000], epochs=1, batch_size=100)
        ref_score, ref_sample = cpu.score_samples(Y), cpu.sample(rows, random_state=1)
        prefix = masks[:, np.argsort(cpu.ordering_)]
        ref_mode = cpu.impute(Y, prefix)
        ref_loss, ref_grads = cpu.loss_and_gradient(Y[:200])
        dev = pickle.loads(pickle.dumps(cpu)).set_params(backend="torch", device=DEVICE)
        for mode in ("always", "never"):
            path = "fused" if mode == "always" else "torch"
            with fused_mode(mode):
                err = rel_err(dev.score_samples(Y), ref_score)
                check(f"NADE {dtype} {path} score", err <= tol, f"relative error {err:.2e}")
                diff = int((dev.sample(rows, random_state=1) != ref_sample).any(axis=1).sum())
                check(f"NADE {dtype} {path} sample", diff <= allowed,
                      f"{diff} of {rows} rows differ (allowed {allowed})")
                diff = int((dev.impute(Y, prefix) != ref_mode).any(axis=1).sum())
                check(f"NADE {dtype} {path} greedy completion of a kept prefix", diff <= allowed,
                      f"{diff} of {rows} rows differ (allowed {allowed})")
                loss, grads = dev.loss_and_gradient(Y[:200])
                err = max([abs(loss - ref_loss) / abs(ref_loss)]
                          + [rel_err(grads[k], ref_grads[k]) for k in ref_grads])
                check(f"NADE {dtype} {path} loss and gradient", err <= tol,
                      f"largest relative error {err:.2e}")
    for dtype in ("float64", "float32"):
        tol = 1e-10 if dtype == "float64" else 1e-4
        oa = OrderAgnosticNADE(d, n_layers=2, dtype=dtype, random_state=0).fit(
            X[:500], epochs=1, batch_size=100)
        part = Y[:50]
        ref, ref_ens = oa.score_samples(part), oa.score_samples(part, n_orderings=3,
                                                                random_state=1)
        ref_marg = oa.log_marginal(part, masks[:50])
        ref_sample = oa.sample(len(part), random_state=1)
        allowed = 0 if dtype == "float64" else max(1, len(part) // 100)
        dev = pickle.loads(pickle.dumps(oa)).set_params(backend="torch", device=DEVICE)
        for mode in ("always", "never"):
            path = "fused" if mode == "always" else "torch"
            with fused_mode(mode):
                err = max(rel_err(dev.score_samples(part), ref),
                          rel_err(dev.score_samples(part, n_orderings=3, random_state=1),
                                  ref_ens),
                          rel_err(dev.log_marginal(part, masks[:50]), ref_marg))
                diff = int((dev.sample(len(part), random_state=1) != ref_sample).any(axis=1).sum())
            check(f"OA2 {dtype} {path} score, ensemble of 3, log_marginal", err <= tol,
                  f"largest relative error {err:.2e}")
            check(f"OA2 {dtype} {path} sample", diff <= allowed,
                  f"{diff} of {len(part)} rows differ (allowed {allowed})")


# ----------------------------------------------------------------------- our timings

def ours(name, seconds, count=None, unit=None):
    entry = {"seconds": seconds}
    if count is not None:
        entry.update(rate=count / seconds, unit=unit)
    RESULTS["ours"][name] = entry
    rate = f"  {count / seconds:14,.0f} {unit}" if count is not None else ""
    log(f"ours {name:44s} {seconds:9.4f} s{rate}")


def time_fixed(X):
    from nadefast.backends import _triton

    d, batch = SIZES["d"], SIZES["batch"]
    for mode, path in (("never", "torch"), ("always", "fused")):  # the fused model stays
        with fused_mode(mode):
            model = NADE(d, dtype="float32", random_state=0, backend="torch", device=DEVICE)
            model.fit(X[:1000], epochs=1, batch_size=batch)  # warm-up (kernels, cuBLAS)
            model = NADE(d, dtype="float32", random_state=0, backend="torch", device=DEVICE)
            t0 = time.perf_counter()
            model.fit(X[:SIZES["train"]], epochs=1, batch_size=batch)
            sync()
            ours(f"fixed epoch ({path})", time.perf_counter() - t0)

    for B in SIZES["sample"]:
        for mode, path in (("always", "fused"), ("never", "torch")):
            with fused_mode(mode):
                t = timed(lambda: model.sample(B, random_state=2))
            ours(f"sample {B} ({path}, end to end)", t, B, "samples/s")
        S = model.sample(B, random_state=2)
        RESULTS["ours"][f"sample {B} ones"] = float(S.mean())

    rows = SIZES["score"]
    Y = X[np.arange(rows) % len(X)]
    for mode, path in (("always", "fused"), ("never", "torch")):
        with fused_mode(mode):
            t = timed(lambda: model.score_samples(Y))
        ours(f"score {rows} ({path}, end to end)", t, rows, "rows/s")

    # the kernels alone (no host transfers): block sizes, the skip economy, the noise
    k = model._kernels
    with fused_mode("always"):
        params = k._fused()[1]
    order_t = k._layout(model.ordering_)[1]
    key = philox_key(2)
    B = SIZES["sample"][0]
    eps = _triton.noise(key, 0, B, X.shape[1], DEVICE)
    ours(f"noise kernel {B} x {X.shape[1]}",
         timed(lambda: _triton.noise(key, 0, B, X.shape[1], DEVICE)), B, "rows/s")
    ours(f"noise, torch limbs (philox_bits) {B} x {X.shape[1]}",
         timed(lambda: _torch._uniforms(key, 0, B, X.shape[1], 1, DEVICE), reps=1), B, "rows/s")
    xs = torch.empty((B, X.shape[1]), dtype=torch.int8, device=DEVICE)
    xb = k._by_position(Y[:rows], order_t)
    best = {}
    for br, nw in SIZES["sweep"]:
        for skip in (True, False) if (br, nw) == (_triton.BLOCK_ROWS, _triton.NUM_WARPS) \
                else (True,):
            tag = f"block {br}, {nw} warps{'' if skip else ', no skip'}"
            t = timed(lambda: _triton.sample(xs, eps, None, *params, block_rows=br,
                                             skip=skip, num_warps=nw))
            ours(f"sample kernel {B} ({tag})", t, B, "samples/s")
            t2 = timed(lambda: _triton.score(xb, *params, block_rows=br, skip=skip,
                                             num_warps=nw))
            ours(f"score kernel {rows} ({tag})", t2, rows, "rows/s")
            if skip:
                best["sample"] = min(best.get("sample", (np.inf,)), (t, tag))
                best["score"] = min(best.get("score", (np.inf,)), (t2, tag))
    RESULTS["ours"]["best blocks"] = {k_: v[1] for k_, v in best.items()}
    from nadefast.backends import _triton_grad

    xg = xb[:batch].contiguous()
    for br, nw in ((1, 2), (2, 2), (4, 4), (8, 4)):
        ours(f"gradient kernel {batch} rows (block {br}, {nw} warps)",
             timed(lambda: _triton_grad.loss_and_gradient(xg, *params, block_rows=br,
                                                          num_warps=nw)), batch, "rows/s")
    for B in SIZES["sample"][1:]:  # the small batch: its kernel alone
        e = _triton.noise(key, 0, B, X.shape[1], DEVICE)
        x = torch.empty((B, X.shape[1]), dtype=torch.int8, device=DEVICE)
        for br, nw in ((1, 1), (1, 2), (2, 2), (4, 4)):
            ours(f"sample kernel {B} (block {br}, {nw} warps)",
                 timed(lambda: _triton.sample(x, e, None, *params, block_rows=br,
                                              num_warps=nw)), B, "samples/s")


def time_orderless(X):
    d, batch = SIZES["d"], SIZES["batch"]
    model = OrderAgnosticNADE(d, n_layers=2, dtype="float32", random_state=0, backend="torch",
                              device=DEVICE)
    model.fit(X[:1000], epochs=1, batch_size=batch)  # warm-up
    model = OrderAgnosticNADE(d, n_layers=2, dtype="float32", random_state=0, backend="torch",
                              device=DEVICE)
    t0 = time.perf_counter()
    model.fit(X[:SIZES["train"]], epochs=1, batch_size=batch)
    sync()
    ours("oa2 epoch", time.perf_counter() - t0)
    B = SIZES["sample"][-1]  # the small batch: 256 rows, n positions of launches
    for mode, path in (("always", "fused"), ("never", "torch")):
        with fused_mode(mode):
            ours(f"oa2 sample {B} ({path}, end to end)",
                 timed(lambda: model.sample(B, random_state=2), reps=2), B, "samples/s")
    Y = X[:SIZES["oa_rows"]]
    K = SIZES["orderings"]
    # the sweep with its per-position glue fused (_triton_oa.py: a GEMM and one step kernel
    # a position) and the torch path's (~10 launches of glue a position)
    for mode, path in (("always", "fused"), ("never", "torch")):
        for tf32 in (False, True):
            torch.backends.cuda.matmul.allow_tf32 = tf32  # TF32: the user's documented opt-in
            try:
                with fused_mode(mode):
                    model.score_samples(Y[:100], n_orderings=2, random_state=0)  # warm-up
                    sync()
                    t0 = time.perf_counter()
                    model.score_samples(Y, n_orderings=K, random_state=0)
                    sync()
                    seconds = time.perf_counter() - t0
                ours(f"oa2 ensemble {'tf32' if tf32 else 'fp32'}"
                     + ("" if path == "fused" else " (torch)"), seconds, len(Y) * K,
                     "row-orderings/s")
            finally:
                torch.backends.cuda.matmul.allow_tf32 = False
    # the fused sweep's chunks are CHUNK_BYTES of temporaries (~22 000 pairs at 256 MiB, d =
    # 500): per position a GEMM and a step launch, whose host overhead a TF32 GEMM of that
    # size may not hide; 4x larger chunks show whether it matters
    saved = _torch.CHUNK_BYTES
    torch.backends.cuda.matmul.allow_tf32 = True
    try:
        _torch.CHUNK_BYTES = 4 * saved
        with fused_mode("always"):
            sync()
            t0 = time.perf_counter()
            model.score_samples(Y, n_orderings=K, random_state=0)
            sync()
            ours("oa2 ensemble tf32 (fused, 4x CHUNK_BYTES)", time.perf_counter() - t0,
                 len(Y) * K, "row-orderings/s")
    finally:
        _torch.CHUNK_BYTES = saved
        torch.backends.cuda.matmul.allow_tf32 = False


# ------------------------------------------------------------------ the reference points

_FLOOR_LINE = re.compile(r"^(.{28}) +([0-9]+) (\S+)\s*(.*)$")


def floor_path():
    for p in (ARGS.floor, os.environ.get("NADEFAST_GPU_FLOOR"),
              BENCH_DIR / "floor" / "gpu_floor.py",
              BENCH_DIR.parent.parent / "shared" / "bench" / "gpu_floor.py"):
        if p and pathlib.Path(p).exists():
            return pathlib.Path(p)
    return None


def run_floor():
    path = floor_path()
    # on the CPU (--dry-run) only a --floor named explicitly runs: gpu_floor.py needs CUDA
    if ARGS.skip_floor or path is None or (DEVICE != "cuda" and ARGS.floor is None):
        why = ("--skip-floor" if ARGS.skip_floor else
               "gpu_floor.py not found (copy it to benchmarks/floor/)" if path is None
               else "it needs CUDA")
        RESULTS["notes"].append(f"gpu_floor.py not run: {why}")
        log(RESULTS["notes"][-1])
        return
    log(f"running {path} --quick")
    proc = subprocess.run([sys.executable, str(path), "--quick"], capture_output=True,
                          text=True, timeout=240)
    for line in proc.stdout.splitlines():
        print("  floor | " + line, flush=True)
        m = _FLOOR_LINE.match(line)
        if m:
            entry = {"rate": float(m.group(2)), "unit": m.group(3), "extra": m.group(4)}
            seconds = re.search(r"([0-9.]+) s$", m.group(4))
            if seconds:
                entry["seconds"] = float(seconds.group(1))
            RESULTS["floor"][m.group(1).strip()] = entry
        elif line.startswith("#"):
            RESULTS["notes"].append("gpu_floor: " + line.lstrip("# "))
    if proc.returncode:
        RESULTS["notes"].append(f"gpu_floor.py exited {proc.returncode}: "
                                f"{proc.stderr.strip().splitlines()[-1:]}")


# ------------------------------------------------------------------------- the report

def ratios():
    o, f = RESULTS["ours"], RESULTS["floor"]
    out = RESULTS["ratios"]

    def rate(name, src):
        return src.get(name, {}).get("rate")

    def kernel_best(prefix):
        rates = [v["rate"] for k, v in o.items() if k.startswith(prefix) and "rate" in v
                 and "no skip" not in k]
        return max(rates) if rates else None

    big, small = SIZES["sample"]
    for label, ours_rate, target, refs in (
            (f"sample {big}", rate(f"sample {big} (fused, end to end)", o),
             TARGETS["sample 65536"], (f"torch-loop sample {big}", f"fused sample {big}")),
            (f"sample {big} kernel", kernel_best(f"sample kernel {big}"),
             TARGETS["sample 65536"], (f"torch-loop sample {big}", f"fused sample {big}")),
            (f"sample {small}", rate(f"sample {small} (fused, end to end)", o),
             TARGETS["sample 256"], (f"torch-loop sample {small}", f"fused sample {small}")),
            (f"sample {small} kernel", kernel_best(f"sample kernel {small}"),
             TARGETS["sample 256"], (f"torch-loop sample {small}", f"fused sample {small}")),
            ("score", rate(f"score {SIZES['score']} (fused, end to end)", o), TARGETS["score"],
             ("torch-cumsum score 4096", "fused score 65536")),
            ("score kernel", kernel_best(f"score kernel {SIZES['score']}"), TARGETS["score"],
             ("torch-cumsum score 4096", "fused score 65536"))):
        if ours_rate is None:
            continue
        out[label] = {"ours": ours_rate, "target": target, "vs target": ours_rate / target}
        for ref in refs:
            if rate(ref, f):
                out[label][f"vs {ref}"] = ours_rate / rate(ref, f)
    for label, key, refs in (("fixed epoch", "fixed epoch (fused)", ("torch-cumsum train 100",)),
                             ("fixed epoch torch path", "fixed epoch (torch)",
                              ("torch-cumsum train 100",)),
                             ("oa2 epoch", "oa2 epoch", ("torch-oa2 train 100",)),
                             ("oa2 ensemble fp32", "oa2 ensemble fp32",
                              ("torch-oa2 score 10000", "gemm-oa2 fp32")),
                             ("oa2 ensemble tf32", "oa2 ensemble tf32", ("gemm-oa2 tf32",)),
                             ("oa2 ensemble fp32 torch path", "oa2 ensemble fp32 (torch)",
                              ("torch-oa2 score 10000", "gemm-oa2 fp32")),
                             ("oa2 ensemble tf32 torch path", "oa2 ensemble tf32 (torch)",
                              ("gemm-oa2 tf32",))):
        if key not in o:
            continue
        s = o[key]["seconds"]
        target = TARGETS[label.replace(" torch path", "")]
        out[label] = {"ours s": s, "target s": target, "target / ours": target / s}
        for ref in refs:
            if "seconds" in f.get(ref, {}):  # the reference's time for the same work
                out[label][f"{ref} s / ours"] = f[ref]["seconds"] / s


def write_report():
    out = pathlib.Path(ARGS.out)
    out.mkdir(parents=True, exist_ok=True)
    RESULTS["failed checks"] = FAILED
    (out / "results_gpu.json").write_text(json.dumps(RESULTS, indent=1, default=str) + "\n")
    dry = " --dry-run (CPU, Triton interpreter: no speed figure means anything)"
    lines = [f"# GPU comparison (issue 19): {RESULTS['device']}", "",
             f"{RESULTS['date']}; {RESULTS['versions']}; data: {RESULTS['data']}; "
             f"run took {RESULTS['seconds']:.0f} s.  Written by `benchmarks/gpu.py`"
             f"{dry if ARGS.dry_run else ''}.",
             "", "## Checks against the compiled core", "", "| check | result |", "|---|---|"]
    lines += [f"| {k} | {'ok' if v['ok'] else '**FAILED**'}: {v['detail']} |"
              for k, v in RESULTS["checks"].items()]
    lines += ["", "## Ours", "", "| what | seconds | rate |", "|---|---:|---:|"]
    for k, v in RESULTS["ours"].items():
        if isinstance(v, dict) and "seconds" in v:
            rate = f"{v['rate']:,.0f} {v['unit']}" if "rate" in v else ""
            lines.append(f"| {k} | {v['seconds']:.4f} | {rate} |")
    lines += ["", f"Best blocks: {RESULTS['ours'].get('best blocks')}; ones in the samples: "
              + ", ".join(f"{k}: {v:.3f}" for k, v in RESULTS["ours"].items()
                          if k.endswith("ones")), "",
              "## Reference points (gpu_floor.py --quick, same run)", "",
              "| line | rate | |", "|---|---:|---|"]
    lines += [f"| {k} | {v['rate']:,.0f} {v['unit']} | {v['extra']} |"
              for k, v in RESULTS["floor"].items()]
    lines += ["", "## Ratios (> 1: ours faster, or within the target)", "",
              "| work | ratios |", "|---|---|"]
    for k, v in RESULTS["ratios"].items():
        lines.append(f"| {k} | " + "; ".join(
            f"{a} {b:,.3g}" if isinstance(b, float) else f"{a} {b}" for a, b in v.items()) + " |")
    if RESULTS["notes"]:
        lines += ["", "Notes:", ""] + [f"- {n}" for n in RESULTS["notes"]]
    (out / "results_gpu.md").write_text("\n".join(lines) + "\n")
    log(f"wrote {out / 'results_gpu.md'} and results_gpu.json")


def main():
    if DEVICE == "cuda" and not torch.cuda.is_available():
        sys.exit("benchmarks/gpu.py: PyTorch sees no CUDA GPU (use --dry-run on a CPU)")
    try:
        import triton
        triton_version = triton.__version__
    except ImportError:
        triton_version = "absent (no fused kernels)"
    RESULTS["device"] = (torch.cuda.get_device_name(0) if DEVICE == "cuda"
                         else f"CPU ({platform.processor() or platform.machine()}), dry run")
    RESULTS["date"] = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    RESULTS["versions"] = (f"torch {torch.__version__}, triton {triton_version}, "
                           f"numpy {np.__version__}, python {platform.python_version()}")
    try:
        RESULTS["commit"] = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=BENCH_DIR,
                                           capture_output=True, text=True).stdout.strip()
    except OSError:
        pass
    log(f"{RESULTS['device']}; {RESULTS['versions']}")
    X = np.ascontiguousarray(mnist_like(SIZES["train"], np.random.default_rng(0))[:, :SIZES["n"]])
    log(f"data: {RESULTS['data']}")
    stages = (("checks", run_checks), ("reference points", lambda X: run_floor()),
              ("fixed order", time_fixed), ("order-agnostic", time_orderless))
    for name, stage in stages:
        try:
            stage(X)
        except Exception as exc:  # one stage's failure must not lose the others' figures
            FAILED.append(f"{name}: {type(exc).__name__}: {exc}")
            log(f"stage {name} FAILED: {type(exc).__name__}: {exc}")
            import traceback

            traceback.print_exc()
    ratios()
    RESULTS["seconds"] = time.perf_counter() - T0
    write_report()
    for k, v in RESULTS["ratios"].items():
        print(f"{k:24s} " + "; ".join(f"{a} {b:,.3g}" if isinstance(b, float) else f"{a} {b}"
                                      for a, b in v.items()))
    if FAILED:
        print("FAILED:", *FAILED, sep="\n  ")
        sys.exit(1)


if __name__ == "__main__":
    main()
