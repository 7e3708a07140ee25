#!/usr/bin/env python3
"""Scoring a memmap larger than a chunk through Dask: rows/s and peak memory.

    python benchmarks/dask_memmap.py                    # 1 000 000 rows x 784 (784 MB), minutes
    python benchmarks/dask_memmap.py --rows 100000      # a quick look
    python benchmarks/dask_memmap.py --json             # one JSON line at the end

Writes a .npy file of random 0/1 uint8 rows (784 features, P(1) = 33/256 =
12.9 %, about binarized MNIST's density) to a temporary folder, then scores
every row with the float32 n=784 model in results/models/binarized_mnist.npz
(d = 500; random weights of the same size if that file is absent -- speed
depends on the data's density, not on the weights) in these ways, each in a
fresh subprocess:

  numpy        the in-memory call: the whole file read into RAM, then
               model.score_samples(X) with n_jobs=2 (the reference; rows/s
               counts the scoring only, the read is shown apart)
  threads      nadefast.dask.score_samples(model, nadefast.dask.from_npy(path,
               chunks=CHUNK)) on Dask's local threaded scheduler (2 threads,
               n_jobs=1 per task): each block maps only its own rows of the
               file and drops them when scored
  cluster      the same on a dask.distributed.LocalCluster on 127.0.0.1 (2
               worker processes x 1 thread): the blocks are opened in the
               workers
  from_array   the threaded scheduler with what one might write instead,
               da.from_array(np.load(path, mmap_mode="r")): since Dask 2024.12
               from_array copies its input, i.e. reads the whole file into
               memory (dask/dask#11850)

and checks that every Dask result equals the in-memory one bit for bit.

Memory: a poller thread reads /proc/PID/status of the driver (and of the
workers) every 5 ms after resetting the kernel's peak counter (clear_refs);
"peak RSS" is the larger of the kernel's VmHWM and the polled VmRSS, "peak
anon" the polled peak of anonymous memory (heap, arrays), "+" the growth
over the value before.  The Dask measurements cover building the array and
computing it; the numpy one covers the scoring call only (the data already in
RAM is the "before").  RSS also counts the mapped page-cache pages of the
file blocks being scored (clean pages, reclaimable), which is why a Dask
run's RSS grows by about (threads x block bytes) while its anonymous memory
grows by about the output only.
"""

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time

import numpy as np

N_FEATURES = 784
ONES_BELOW = 33  # uint8 draws below this are ones: 33/256 = 12.9 %
MB = 1e6
REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MODEL_FILE = os.path.join(REPO, "results", "models", "binarized_mnist.npz")
MODES = ("numpy", "threads", "cluster", "from_array")


# ---------------------------------------------------------------- memory

def _status(pid):
    """VmRSS, VmHWM, RssAnon, RssFile of a process, in bytes."""
    out = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            key, _, value = line.partition(":")
            if key in ("VmRSS", "VmHWM", "RssAnon", "RssFile"):
                out[key] = int(value.split()[0]) * 1024
    return out


class Monitor:
    """Peak memory of some processes while a block of code runs."""

    def __init__(self, pids, interval=0.005):
        self.pids = list(pids)
        self.interval = interval
        self.peak_anon = dict.fromkeys(self.pids, 0)
        self.peak_rss = dict.fromkeys(self.pids, 0)
        self._stop = threading.Event()

    def __enter__(self):
        for pid in self.pids:
            try:
                with open(f"/proc/{pid}/clear_refs", "w") as f:
                    f.write("5")  # reset VmHWM to the current RSS
            except OSError:
                pass
        self.before = {pid: _status(pid) for pid in self.pids}
        self._thread = threading.Thread(target=self._poll, daemon=True)
        self._thread.start()
        return self

    def _poll(self):
        while not self._stop.is_set():
            self._sample()
            time.sleep(self.interval)

    def _sample(self):
        for pid in self.pids:
            try:
                s = _status(pid)
            except OSError:
                continue
            self.peak_anon[pid] = max(self.peak_anon[pid], s.get("RssAnon", 0))
            self.peak_rss[pid] = max(self.peak_rss[pid], s.get("VmRSS", 0))

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()
        self._sample()
        self.after = {pid: _status(pid) for pid in self.pids}
        return False

    def report(self, pid):
        b, a = self.before[pid], self.after[pid]
        hwm = max(a["VmHWM"], self.peak_rss[pid])
        return {"rss_before_mb": b["VmRSS"] / MB, "peak_rss_mb": hwm / MB,
                "rss_growth_mb": (hwm - b["VmRSS"]) / MB,
                "peak_anon_mb": self.peak_anon[pid] / MB,
                "anon_growth_mb": (self.peak_anon[pid] - b["RssAnon"]) / MB}


# ------------------------------------------------------------------ data

def write_data(path, rows, seed=0, block=50_000):
    from numpy.lib.format import open_memmap

    rng = np.random.default_rng(seed)
    out = open_memmap(path, mode="w+", dtype=np.uint8, shape=(rows, N_FEATURES))
    for start in range(0, rows, block):
        stop = min(rows, start + block)
        np.less(rng.integers(0, 256, (stop - start, N_FEATURES), dtype=np.uint8), ONES_BELOW,
                out=out[start:stop].view(bool))
    out.flush()
    del out


def load_model(path):
    import nadefast
    from nadefast import NADE

    if path and os.path.exists(path):
        model = nadefast.load(path)  # a NADE or an OrderAgnosticNADE, whichever the file holds
        if model.n_features_in_ == N_FEATURES:
            return model, os.path.relpath(path, REPO)
    rng = np.random.default_rng(0)
    d = 500
    model = NADE.from_params(rng.normal(0, 0.05, (d, N_FEATURES)).astype(np.float32),
                             np.zeros(d, np.float32),
                             rng.normal(0, 0.05, (N_FEATURES, d)).astype(np.float32),
                             np.full(N_FEATURES, -1.9, np.float32))
    return model, "random weights, d=500"


# ----------------------------------------------------------------- child

def warm_up(model, path):
    """Score a few rows first: the first compute imports ~250 modules (~50 MB),
    which is not what the measurement is about."""
    import nadefast.dask as nd

    nd.score_samples(model, nd.from_npy(path, chunks=5)[:20]).compute()


def child(args):
    from nadefast.backends import _compiled

    model, model_name = load_model(args.model)
    rows = np.load(args.data, mmap_mode="r").shape[0]
    result = {"mode": args.child, "rows": rows, "chunk_rows": args.chunk_rows,
              "chunk_mb": args.chunk_rows * N_FEATURES / MB, "model": model_name,
              "isa": _compiled.active_isa()}
    me = os.getpid()
    if args.child == "numpy":
        t0 = time.perf_counter()
        X = np.fromfile(args.data, dtype=np.uint8, offset=np.load(args.data, mmap_mode="r").offset)
        X = X.reshape(rows, N_FEATURES)
        result["read_seconds"] = time.perf_counter() - t0
        model.n_jobs = 2
        with Monitor([me]) as mon:
            t0 = time.perf_counter()
            logp = model.score_samples(X)
            seconds = time.perf_counter() - t0
        result["driver"] = mon.report(me)
    elif args.child in ("threads", "from_array"):
        import dask
        import dask.array as da

        import nadefast.dask as nd

        with dask.config.set(scheduler="threads", num_workers=2):
            warm_up(model, args.data)
        with dask.config.set(scheduler="threads", num_workers=2), Monitor([me]) as mon:
            if args.child == "threads":
                X = nd.from_npy(args.data, chunks=args.chunk_rows)
            else:  # what one might write; Dask >= 2024.12 copies the memmap into memory
                X = da.from_array(np.load(args.data, mmap_mode="r"), chunks=(args.chunk_rows, -1))
            t0 = time.perf_counter()
            logp = nd.score_samples(model, X).compute()
            seconds = time.perf_counter() - t0
        result["driver"] = mon.report(me)
    elif args.child == "cluster":
        import logging

        from distributed import Client, LocalCluster

        import nadefast.dask as nd

        t0 = time.perf_counter()
        with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
                          dashboard_address=None, worker_dashboard_address=None,
                          silence_logs=logging.ERROR) as cluster, Client(cluster) as client:
            warm_up(model, args.data)
            result["cluster_start_seconds"] = time.perf_counter() - t0
            workers = client.run(os.getpid)
            with Monitor([me, *workers.values()]) as mon:
                X = nd.from_npy(args.data, chunks=args.chunk_rows)
                t0 = time.perf_counter()
                logp = nd.score_samples(model, X).compute()
                seconds = time.perf_counter() - t0
            result["driver"] = mon.report(me)
            result["workers"] = [mon.report(pid) for pid in workers.values()]
    else:
        raise SystemExit(f"unknown mode {args.child}")
    result["seconds"] = seconds
    result["rows_per_s"] = rows / seconds
    np.save(args.out, logp)
    print(json.dumps(result))


# ---------------------------------------------------------------- parent

def run_child(mode, args, data, out):
    cmd = [sys.executable, os.path.abspath(__file__), "--child", mode, "--data", data, "--out", out,
           "--chunk-rows", str(args.chunk_rows), "--model", args.model]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        sys.stderr.write(proc.stderr)
        raise SystemExit(f"{mode} failed")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def fmt_mem(r):
    return (f"peak RSS {r['peak_rss_mb']:.0f} MB (+{r['rss_growth_mb']:.0f}), "
            f"peak anon {r['peak_anon_mb']:.0f} MB (+{r['anon_growth_mb']:.0f})")


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--rows", type=int, default=1_000_000)
    p.add_argument("--chunk-rows", type=int, default=50_000)
    p.add_argument("--modes", default=",".join(MODES), help=f"comma-separated, from {MODES}")
    p.add_argument("--model", default=MODEL_FILE)
    p.add_argument("--dir", help="folder for the data file (default: a new temporary folder)")
    p.add_argument("--json", action="store_true")
    p.add_argument("--child", help=argparse.SUPPRESS)
    p.add_argument("--data", help=argparse.SUPPRESS)
    p.add_argument("--out", help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.child:
        return child(args)

    folder = args.dir or tempfile.mkdtemp(prefix="nadefast-dask-")
    data = os.path.join(folder, f"binary_{args.rows}x{N_FEATURES}.npy")
    try:
        if not os.path.exists(data):
            t0 = time.perf_counter()
            write_data(data, args.rows)
            print(f"wrote {data}: {os.path.getsize(data) / MB:.0f} MB in "
                  f"{time.perf_counter() - t0:.1f} s", flush=True)
        results, reference = [], None
        for mode in args.modes.split(","):
            out = os.path.join(folder, f"logp_{mode}.npy")
            r = run_child(mode, args, data, out)
            logp = np.load(out)
            if reference is None:
                reference = logp
                r["identical_to_first"] = True
            else:
                r["identical_to_first"] = bool(logp.tobytes() == reference.tobytes())
            results.append(r)
            line = (f"{mode:10s} {r['rows_per_s']:9.0f} rows/s  ({r['seconds']:.1f} s)  "
                    f"driver: {fmt_mem(r['driver'])}")
            if "read_seconds" in r:
                line += f"  [file read into RAM: {r['read_seconds']:.1f} s, not counted]"
            if "workers" in r:
                line += "".join(f"\n{'':12s}worker {i}: {fmt_mem(w)}"
                                for i, w in enumerate(r["workers"]))
                line += f"\n{'':12s}(cluster start {r['cluster_start_seconds']:.1f} s, not counted)"
            print(line, flush=True)
        print(f"{args.rows} rows x {N_FEATURES}, chunks of {args.chunk_rows} rows "
              f"({args.chunk_rows * N_FEATURES / MB:.1f} MB of input); "
              f"model: {results[0]['model']}; "
              f"kernels: {results[0]['isa']}; all results identical to the first: "
              f"{all(r['identical_to_first'] for r in results)}")
        if args.json:
            print(json.dumps(results))
    finally:
        if not args.dir:
            shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
