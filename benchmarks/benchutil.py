"""Shared helpers of the benchmark scripts: models, data, timing, machine facts.

`floor_params` and `floor_data` reproduce, bit for bit up to libm rounding,
the model and the data that ../shared/bench/floor.c builds (splitmix64 +
Box-Muller, N(0, 0.01^2) weights, c_k = logit(p) + noise), so that nadefast
and floor.c time the very same model on the very same rows and their
log-likelihoods can be compared before any timing.
"""

import datetime
import os
import pathlib
import platform
import statistics
import subprocess
import time

# Every thread count in the benchmarks is set explicitly (nadefast's n_jobs,
# torch.set_num_threads); the implicit pools (BLAS under NumPy, OpenMP's
# default) are pinned to one thread before NumPy loads.  Importing this
# module does it, so import it before numpy.
THREAD_VARS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "BLIS_NUM_THREADS",
               "VECLIB_MAXIMUM_THREADS", "NUMEXPR_NUM_THREADS")
for _var in THREAD_VARS:
    os.environ[_var] = "1"

import numpy as np  # noqa: E402

BENCH_DIR = pathlib.Path(__file__).resolve().parent
REPO_ROOT = BENCH_DIR.parent

_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
T0 = time.perf_counter()


def log(msg):
    """A progress line on stderr, stamped with the seconds since the run started."""
    import sys

    print(f"[{time.perf_counter() - T0:6.1f} s] {msg}", file=sys.stderr, flush=True)


def _splitmix(seed, count):
    """The first `count` outputs of floor.c's splitmix64 started at state `seed`."""
    with np.errstate(over="ignore"):
        z = np.uint64(seed) + np.arange(1, count + 1, dtype=np.uint64) * _GOLDEN
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return z ^ (z >> np.uint64(31))


def _unif(bits):
    return ((bits >> np.uint64(11)).astype(np.float64) + 0.5) * (1.0 / 9007199254740992.0)


def floor_params(n=784, d=500, p=0.11):
    """floor.c's model as public-layout float32 (W (d, n), b (d,), V (n, d), c (n,))."""
    u = _unif(_splitmix(0x9E3779B97F4A7C15, 2 * (2 * n * d + d + n)))
    g = np.sqrt(-2.0 * np.log(u[0::2])) * np.cos(6.283185307179586 * u[1::2])
    g = 0.01 * g
    lp = np.log(p / (1 - p)) if 0 < p < 1 else (30.0 if p > 0 else -30.0)
    Wt = g[: n * d].reshape(n, d).astype(np.float32)
    V = g[n * d : 2 * n * d].reshape(n, d).astype(np.float32)
    b = g[2 * n * d : 2 * n * d + d].astype(np.float32)
    c = (lp + g[2 * n * d + d :]).astype(np.float32)
    return np.ascontiguousarray(Wt.T), b, V, c


def floor_data(rows, n=784, p=0.11):
    """floor.c's scoring data: (rows, n) uint8 with a fraction ~p of ones."""
    return (_unif(_splitmix(12345, rows * n)) < p).astype(np.uint8).reshape(rows, n)


def random_params(n, d, scale=0.05, p=0.11, seed=0):
    """A random model (float64 public layout) with c at logit(p): non-trivial weights."""
    rng = np.random.default_rng(seed)
    W = rng.normal(0.0, scale, size=(d, n))
    V = rng.normal(0.0, scale, size=(n, d))
    b = rng.normal(0.0, scale, size=d)
    c = np.log(p / (1 - p)) + rng.normal(0.0, scale, size=n)
    return W, b, V, c


def random_data(rows, n, p=0.11, seed=1):
    """(rows, n) uint8 Bernoulli(p)."""
    return (np.random.default_rng(seed).random((rows, n)) < p).astype(np.uint8)


def log_mean_exp(logp):
    """log of the mean of exp(logp) over axis 0, without overflow: the
    ensemble log-density from per-ordering log-densities (K, rows) -> (rows,)."""
    top = logp.max(axis=0)
    return top + np.log(np.mean(np.exp(logp - top), axis=0))


def data_dir():
    """$NADEFAST_DATA, else ../shared/data beside the repository (may not exist)."""
    env = os.environ.get("NADEFAST_DATA")
    return pathlib.Path(env) if env else REPO_ROOT.parent / "shared" / "data"


def load_mnist_split(split="train", rows=None, fallback_p=0.13):
    """Binarized MNIST rows from the shared data folder, else random Bernoulli(fallback_p).

    Returns (X uint8 (rows, 784), description).  Nothing is copied into the repo.
    """
    from nadefast.datasets import load_dataset

    try:
        X = load_dataset("binarized_mnist", data_dir())[split]
        what = f"binarized MNIST {split} ({data_dir()})"
    except (FileNotFoundError, KeyError, ValueError) as exc:
        X = random_data(rows or 50000, 784, p=fallback_p, seed=7)
        what = f"RANDOM Bernoulli({fallback_p}) data, binarized_mnist.npz not available ({exc})"
    return (X if rows is None else X[:rows]), what


def measure(fn, repeats=5, min_time=0.2, budget=60.0):
    """Time fn(): one warm-up call, then `repeats` timed repeats of about min_time seconds.

    Each repeat runs fn a number of times calibrated on the warm-up (cut
    short, after at least one call, once it has taken 10 x min_time: a
    busy machine can make calls far slower than calibrated).  Once the whole
    measurement has taken `budget` seconds no further repeat starts, so
    fewer than `repeats` may be returned.  Returns (median seconds per call,
    list of per-repeat seconds per call).
    """
    start = t0 = time.perf_counter()
    fn()  # warm-up (faults in buffers, lazy initialisation)
    first = time.perf_counter() - t0
    t0 = time.perf_counter()
    fn()
    once = min(first, time.perf_counter() - t0)
    calls = max(1, int(np.ceil(min_time / max(once, 1e-9))))
    per_call = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        if per_call and t0 - start > budget:
            break
        done, elapsed = 0, 0.0
        while done < calls and (done == 0 or elapsed < 10 * min_time):
            fn()
            done += 1
            elapsed = time.perf_counter() - t0
        per_call.append(elapsed / done)
    return statistics.median(per_call), per_call


def cpu_snapshot():
    """(wall, CPU-seconds all processes used, CPU-seconds this process and its children used)."""
    busy = float("nan")
    try:
        with open("/proc/stat") as f:
            v = [int(x) for x in f.readline().split()[1:]]
        busy = (sum(v[:8]) - v[3] - v[4]) / os.sysconf("SC_CLK_TCK")  # all but idle and iowait
    except (OSError, ValueError, IndexError):
        pass
    t = os.times()
    return time.perf_counter(), busy, t.user + t.system + t.children_user + t.children_system


def others_share(start, end):
    """Fraction of the machine's CPUs that other processes used between two cpu_snapshot()s."""
    wall = end[0] - start[0]
    return ((end[1] - start[1]) - (end[2] - start[2])) / (wall * (os.cpu_count() or 1))


def cpu_model():
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def compiler_version(cc="cc"):
    try:
        out = subprocess.run([cc, "--version"], capture_output=True, text=True, timeout=30)
        return out.stdout.splitlines()[0].strip()
    except (OSError, IndexError, subprocess.SubprocessError):
        return f"{cc}: not found"


def machine_header():
    """Markdown lines: date, CPU, cores, load, Python/NumPy, nadefast, kernels."""
    import nadefast
    from nadefast.backends import _compiled

    load = os.getloadavg() if hasattr(os, "getloadavg") else ("?",)
    return [
        f"- date: {datetime.datetime.now().astimezone().isoformat(timespec='seconds')}",
        f"- CPU: {cpu_model()}; {os.cpu_count()} logical CPUs; load average at start "
        f"{', '.join(f'{x:.2f}' for x in load)}",
        f"- compiler (floor.c): {compiler_version(os.environ.get('CC', 'cc'))}",
        f"- Python {platform.python_version()}, NumPy {np.__version__}; "
        f"nadefast {nadefast.__version__} from {pathlib.Path(nadefast.__file__).parent}",
        f"- nadefast kernels: active ISA `{_compiled.active_isa()}`, OpenMP "
        f"{'on' if _compiled.openmp_enabled() else 'off'}; "
        + ", ".join(f"{v}={os.environ.get(v, '(unset)')}" for v in THREAD_VARS[:3]),
    ]
