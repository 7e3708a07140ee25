"""pytest-benchmark suite of nadefast: shared grid, cached models, data and references.

Run from the repository root (the package's own `pytest` collects tests/ only):

    pytest benchmarks/ --benchmark-only                 # ~3 min on 2 cores
    pytest benchmarks/test_bench_score.py --benchmark-only -k "784x500"

Grid: (n, d) in {784x500, 123x500, 64x100}, batch in {1, 16, 256, 1024},
dtype float32/float64, n_jobs 1/2.  Models are random (weights N(0, 0.05^2),
c at logit(0.11)), data Bernoulli(0.11) rows; every benchmark checks its
result against the plain NumPy reference of reference_impls.py (float64).
Rounds: at least 3 (after one warm-up call), else as many as fit in
NADEFAST_BENCH_MAX_TIME seconds (default 0.1).  A summary of samples/s and
ns per (sample * position * hidden) is printed at the end.
"""

import functools
import os
import pathlib
import sys

BENCH_DIR = pathlib.Path(__file__).resolve().parent
if str(BENCH_DIR) not in sys.path:  # --import-mode=importlib does not add it
    sys.path.insert(0, str(BENCH_DIR))

import benchutil as bu  # noqa: E402  (pins the implicit thread pools)
import numpy as np  # noqa: E402
import pytest  # noqa: E402

from nadefast import NADE  # noqa: E402
from reference_impls import NumpyNADE  # noqa: E402

SIZES = [(784, 500), (123, 500), (64, 100)]
BATCHES = [1, 16, 256, 1024]
DTYPES = ["float32", "float64"]
N_JOBS = [1, 2]
P_ONES = 0.11
REF_ROWS = 4  # rows the score check runs through the NumPy reference
LL_TOL = {"float32": 2e-5, "float64": 1e-10}  # relative to max |log p|
GRAD_TOL = {"float32": 1e-4, "float64": 1e-9}  # relative to max |gradient| per array

BENCH = pytest.mark.benchmark(min_rounds=3, warmup=True, warmup_iterations=1,
                              max_time=float(os.environ.get("NADEFAST_BENCH_MAX_TIME", "0.1")))


def grid(func):
    """Parametrise a benchmark over SIZES x BATCHES x DTYPES x N_JOBS."""
    for name, values, ids in (("size", SIZES, lambda s: f"{s[0]}x{s[1]}"),
                              ("batch", BATCHES, lambda b: f"b{b}"), ("dtype", DTYPES, None),
                              ("n_jobs", N_JOBS, lambda j: f"j{j}")):
        func = pytest.mark.parametrize(name, values, ids=ids)(func)
    return BENCH(func)


def label(benchmark, op, size, batch, dtype, n_jobs):
    """Group by operation and size; record what the summary needs."""
    benchmark.group = f"{op} {size[0]}x{size[1]}"
    benchmark.extra_info.update(op=op, n=size[0], d=size[1], rows=batch, dtype=dtype, n_jobs=n_jobs)


class Context:
    """Models, data and reference results, built once per session."""

    @functools.cache
    def params(self, size):
        return bu.random_params(*size, scale=0.05, p=P_ONES)

    @functools.cache
    def _model(self, size, dtype):
        return NADE.from_params(*self.params(size), dtype=dtype)

    def model(self, size, dtype, n_jobs):
        m = self._model(size, dtype)
        m.n_jobs = n_jobs
        return m

    @functools.cache
    def pool(self, n):
        return bu.random_data(max(BATCHES), n, P_ONES, seed=11)

    def data(self, size, batch):
        return self.pool(size[0])[:batch]

    @functools.cache
    def ref(self, size):
        return NumpyNADE(*self.params(size), dtype="float64")

    @functools.cache
    def ref_loglik(self, size):
        return self.ref(size).score_samples(self.data(size, REF_ROWS))

    @functools.cache
    def ref_grad(self, size, batch):
        return self.ref(size).loss_and_gradient(self.data(size, batch))

    @functools.cache
    def ref_sample_loglik(self, size, rows=256):
        """log p of `rows` draws of the NumPy reference sampler: mean and variance (entropy estimate)."""
        ll = self.ref(size).score_samples(self.ref(size).sample(rows, random_state=5))
        return float(ll.mean()), float(ll.var(ddof=1)), rows


@pytest.fixture(scope="session")
def ctx():
    return Context()


def max_rel_err(x, ref):
    x, ref = np.asarray(x, dtype=np.float64), np.asarray(ref, dtype=np.float64)
    return float(np.max(np.abs(x - ref)) / max(np.max(np.abs(ref)), 1e-300))


def pytest_report_header(config):
    import nadefast
    from nadefast.backends import _compiled

    return (f"nadefast {nadefast.__version__} from {pathlib.Path(nadefast.__file__).parent}; kernels "
            f"{_compiled.active_isa()}; OpenMP {_compiled.openmp_enabled()}; CPU {bu.cpu_model()}, "
            f"{os.cpu_count()} logical CPUs, load average {os.getloadavg()[0]:.2f}")


@pytest.hookimpl(hookwrapper=True)
def pytest_terminal_summary(terminalreporter, config):
    """After pytest-benchmark's tables: samples/s and ns per (sample * position * hidden), median round."""
    yield
    session = getattr(config, "_benchmarksession", None)
    benches = [b for b in getattr(session, "benchmarks", []) if b and "op" in b.extra_info]
    if not benches:
        return
    tr = terminalreporter
    tr.write_sep("-", "nadefast benchmarks: samples/s (median round)")
    tr.write_line(f"{'operation':9s} {'n x d':8s} {'dtype':7s} {'batch':>5s} {'jobs':>4s} "
                  f"{'median ms':>10s} {'samples/s':>12s} {'ns/(s*p*h)':>11s}")
    key = lambda b: (b.extra_info["op"], -b.extra_info["n"], b.extra_info["dtype"], b.extra_info["rows"],
                     b.extra_info["n_jobs"])
    for b in sorted(benches, key=key):
        e, med = b.extra_info, b.stats.median
        tr.write_line(f"{e['op']:9s} {e['n']}x{e['d']:<4d} {e['dtype']:7s} {e['rows']:5d} {e['n_jobs']:4d} "
                      f"{med * 1e3:10.3f} {e['rows'] / med:12,.0f} {med * 1e9 / (e['rows'] * e['n'] * e['d']):11.4f}")


TRAIN_ROWS = 2000


@functools.cache
def train_data(n, rows=TRAIN_ROWS, seed=5):
    """The training benchmarks' rows: 10 random binary prototypes (~11 % ones), 3 % of bits flipped."""
    rng = np.random.default_rng(seed)
    protos = rng.random((10, n)) < 0.11
    flips = rng.random((rows, n)) < 0.03
    return (protos[rng.integers(0, 10, rows)] ^ flips).astype(np.uint8)
