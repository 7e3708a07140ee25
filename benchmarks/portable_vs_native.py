#!/usr/bin/env python3
"""Portable (default) build against a -march=native build, in one run.

    python benchmarks/portable_vs_native.py           # two builds (~30 s) + timings (~1.5 min)
    python benchmarks/portable_vs_native.py --quick   # one short round
    python benchmarks/portable_vs_native.py --json    # one JSON line (used by compare.py)

Copies the package sources (setup.py, pyproject.toml, csrc/, nadefast/; no
built files) to a temporary directory and builds them twice with
`pip install --no-build-isolation --no-deps --target DIR .`: once as the
wheel would be built (NADEFAST_NATIVE unset) and once with NADEFAST_NATIVE=1
(-march=native).  Each build is timed in its own subprocess (`--worker`,
PYTHONPATH=DIR), with its kernels chosen by runtime dispatch and, for
comparison, forced to the x86-64 baseline (NADEFAST_ISA=baseline).  The
configurations run in turn, --rounds times, so that a change of load on a
shared machine hits all of them; each figure is the median over rounds of
per-round medians.  Workload: floor.c's model (n=784, d=500, p=0.11),
float32, 1 thread, score_samples and sample at batch 1 and 256.

Issue 3's target: the default build within 1.25x of the native build
(native samples/s / default samples/s <= 1.25).
"""

import argparse
import hashlib
import json
import os
import pathlib
import shutil
import statistics
import subprocess
import sys
import tempfile

HERE = pathlib.Path(__file__).resolve().parent
REPO = HERE.parent
SOURCES = ("setup.py", "pyproject.toml", "README.md", "LICENSE", "csrc", "nadefast")
CONFIGS = [  # (label, build, NADEFAST_ISA)
    ("default build, dispatched kernels", "default", None),
    ("native build, dispatched kernels", "native", None),
    ("default build, NADEFAST_ISA=baseline", "default", "baseline"),
    ("native build, NADEFAST_ISA=baseline (x86-64 kernels compiled -march=native)", "native", "baseline"),
]
WORK = [("score", 1), ("score", 256), ("sample", 1), ("sample", 256)]
LIMIT = 1.25


def log(msg):
    print(msg, file=sys.stderr, flush=True)


def build(tmp, kind):
    """Build the package sources into tmp/kind; returns the directory."""
    src = pathlib.Path(tmp) / "src"
    if not src.exists():
        src.mkdir(parents=True)
        ignore = shutil.ignore_patterns("*.so", "*.pyd", "_core.c", "__pycache__", "*.html")
        for name in SOURCES:
            p = REPO / name
            if p.is_dir():
                shutil.copytree(p, src / name, ignore=ignore)
            elif p.exists():
                shutil.copy2(p, src / name)
    target = pathlib.Path(tmp) / kind
    env = {k: v for k, v in os.environ.items()  # release builds, whatever the caller's shell says
           if k not in ("NADEFAST_NATIVE", "NADEFAST_DEBUG", "NADEFAST_SANITIZE", "NADEFAST_OPENMP")}
    if kind == "native":
        env["NADEFAST_NATIVE"] = "1"
    log(f"building the {kind} copy into {target}")
    cmd = [sys.executable, "-m", "pip", "install", "--no-build-isolation", "--no-deps", "--quiet",
           "--target", str(target), str(src)]
    out = subprocess.run(cmd, env=env, cwd=tmp, capture_output=True, text=True)
    if out.returncode:
        raise RuntimeError(f"building the {kind} copy failed:\n{out.stderr[-2000:]}")
    shutil.rmtree(src / "build", ignore_errors=True)
    return target


def worker(repeats, min_time):
    """Time WORK with the nadefast found on PYTHONPATH; print a JSON line."""
    import benchutil as bu
    import nadefast
    from nadefast import NADE
    from nadefast.backends import _compiled

    W, b, V, c = bu.floor_params(784, 500, 0.11)
    X = bu.floor_data(256, 784, 0.11)
    m = NADE.from_params(W, b, V, c, dtype="float32")
    m.n_jobs = 1
    res = {"file": nadefast.__file__, "isa": _compiled.active_isa(), "sps": {},
           "hash": hashlib.sha256(m.score_samples(X).tobytes()
                                  + m.sample(256, random_state=0).tobytes()).hexdigest()[:16]}
    for op, batch in WORK:
        fn = (lambda: m.score_samples(X[:batch])) if op == "score" else (lambda: m.sample(batch, random_state=0))
        med, _ = bu.measure(fn, repeats, min_time)
        res["sps"][f"{op} {batch}"] = batch / med
    print(json.dumps(res))


def run_worker(target, isa, repeats, min_time):
    env = {**os.environ, "PYTHONPATH": str(target)}
    env.pop("NADEFAST_ISA", None)
    if isa:
        env["NADEFAST_ISA"] = isa
    cmd = [sys.executable, str(HERE / "portable_vs_native.py"), "--worker", str(repeats), str(min_time)]
    out = subprocess.run(cmd, env=env, capture_output=True, text=True, check=True, cwd=HERE)
    res = json.loads(out.stdout.strip().splitlines()[-1])
    if not res["file"].startswith(str(target)):
        raise RuntimeError(f"worker imported {res['file']}, not the copy in {target}")
    return res


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="one round of short repeats")
    ap.add_argument("--rounds", type=int, default=None, help="rounds over the configurations (3; quick 1)")
    ap.add_argument("--json", action="store_true", help="print one JSON line (markdown inside)")
    ap.add_argument("--worker", nargs=2, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.worker:
        return worker(int(args.worker[0]), float(args.worker[1]))
    rounds = args.rounds or (1 if args.quick else 3)
    repeats, min_time = 5, (0.03 if args.quick else 0.15)
    with tempfile.TemporaryDirectory(prefix="nadefast-native-") as tmp:
        dirs = {kind: build(tmp, kind) for kind in ("default", "native")}
        runs = {label: [] for label, _, _ in CONFIGS}
        for r in range(rounds):
            for label, kind, isa in CONFIGS:
                log(f"round {r + 1}/{rounds}: {label}")
                runs[label].append(run_worker(dirs[kind], isa, repeats, min_time))
    sps = {label: {w: statistics.median(x["sps"][w] for x in rs) for w in rs[0]["sps"]}
           for label, rs in runs.items()}
    first = {label: rs[0] for label, rs in runs.items()}
    keys = list(sps[CONFIGS[0][0]])
    md = ["floor.c's model, float32, 1 thread; samples/s, median over "
          f"{rounds} round(s) of medians of {repeats} repeats; builds from the same sources, "
          "`pip install --no-build-isolation` with and without NADEFAST_NATIVE=1.", "",
          "| build / kernels | active ISA | " + " | ".join(keys) + " | results hash |",
          "|---|---|" + "---|" * len(keys) + "---|"]
    for label, _, _ in CONFIGS:
        md.append(f"| {label} | {first[label]['isa']} | " + " | ".join(f"{sps[label][k]:,.0f}" for k in keys)
                  + f" | `{first[label]['hash']}` |")
    default, native, base = (sps[CONFIGS[i][0]] for i in (0, 1, 2))
    md += ["", "| ratio | " + " | ".join(keys) + " |", "|---|" + "---|" * len(keys),
           "| native / default (target <= 1.25) | " + " | ".join(f"{native[k] / default[k]:.2f}" for k in keys) + " |",
           "| default dispatched / default baseline | "
           + " | ".join(f"{default[k] / base[k]:.2f}" for k in keys) + " |"]
    same = first[CONFIGS[0][0]]["hash"] == first[CONFIGS[1][0]]["hash"]
    md.append(f"\nDefault and native builds give {'identical' if same else 'DIFFERENT'} bits "
              "(log-likelihoods and samples of 256 rows).")
    worst = max(native[k] / default[k] for k in keys)
    targets = [["portable: default build within 1.25x of -march=native (worst of score/sample b1/b256)",
                f"native/default {worst:.2f}", "met" if worst <= LIMIT else "**NOT met**"]]
    if args.json:
        print(json.dumps({"sps": sps, "markdown": md, "targets": targets}))
    else:
        print("\n".join(md))
    return 0


if __name__ == "__main__":
    sys.exit(main())
