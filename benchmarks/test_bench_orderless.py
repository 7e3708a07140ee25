"""Benchmark: conditional inference, ensembles and order-agnostic training (issue 6).

Models (float32), at (n, d) in {784x500, 64x100}, n_jobs 1 and 2:

* ``fixed``: the suite's fixed-order model (conftest: random weights, identity ordering),
  queried with the first half of the features observed (a prefix of its ordering);
* ``oa1``, ``oa2``: order-agnostic models with 1 and 2 hidden layers (the package's own
  initialisation, untrained: speed does not depend on the weights), queried with a random
  mask (each entry observed with probability 1/2, each row its own mask, so each row
  follows its own ordering).

Operations (the summary's "operation" is ``kind:op``): ``cond`` conditional_sample
(n_samples=1), ``impute`` (method="mode"), ``logmarg`` log_marginal, ``sample`` (oa only;
test_bench_sample has the fixed-order one), ``score`` / ``score4`` score_samples with
n_orderings 1 / 4 (oa only), ``train`` one fit epoch (oa only; batch 100, Adam, lr 1e-3,
over the 2000 rows of test_bench_train.py, whose test_train_epoch is the fixed-order
counterpart).  Rows per call: 256, except 16 for oa2 at 784x500, where exact inference
recomputes the second layer at every position (~3 ms per row and ordering on one core).

Every result is checked against the plain float64 references of orderless_common.py on
its first rows: log-likelihoods (tests/reference.py's oa_log_likelihood, the ensemble's
log-mean-exp, the masked-form marginal) to LL_TOL, completions and samples position by
position against a sequential reference with the same Philox noise (up to a near tie);
the n_jobs=2 result must equal the n_jobs=1 one bit for bit.  Order-agnostic training
runs with as many BLAS threads as n_jobs (see orderless_common.blas_threads); the check:
the objective on fixed masks falls below the initial model's, and the fitted model's exact
log-likelihoods match the reference.

    pytest benchmarks/test_bench_orderless.py --benchmark-only          # ~1 min on 2 quiet cores
"""

import functools

import numpy as np
import pytest
from conftest import BENCH, LL_TOL, N_JOBS, TRAIN_ROWS, label, max_rel_err, train_data

import orderless_common as oc
from nadefast import OrderAgnosticNADE

SIZES = [(784, 500), (64, 100)]
KINDS = ["fixed", "oa1", "oa2"]
OA_KINDS = ["oa1", "oa2"]
LAYERS = {"oa1": 1, "oa2": 2}
REF_ROWS = 2  # rows checked against the references
DTYPE = "float32"

size_ids = lambda s: f"{s[0]}x{s[1]}"  # noqa: E731
jobs_ids = lambda j: f"j{j}"  # noqa: E731


def rows_per_call(size, kind):
    return 16 if (size, kind) == ((784, 500), "oa2") else 256


class OrderlessContext:
    """Models, queries and references, built once per session."""

    def __init__(self, ctx):
        self.ctx = ctx
        self.first = {}  # (test, kind, size, ...) -> result of the first n_jobs run

    @functools.cache
    def _oa(self, kind, size):
        return oc.oa_model(self.ctx.pool(size[0]), size[1], LAYERS[kind], DTYPE)

    def model(self, kind, size, n_jobs):
        m = self.ctx.model(size, DTYPE, n_jobs) if kind == "fixed" else self._oa(kind, size)
        m.n_jobs = n_jobs
        return m

    @functools.cache
    def params(self, kind, size):
        return oc.public_params(self.model(kind, size, 1))

    @functools.cache
    def query(self, kind, size):
        """(X, observed) of one call: prefix mask for the fixed-order model, random otherwise."""
        rows, n = rows_per_call(size, kind), size[0]
        X = self.ctx.pool(n)[:rows]
        mask = oc.top_half_mask(rows, n) if kind == "fixed" else oc.random_mask(rows, n)
        return X, mask

    @functools.cache
    def ref_log_marginal(self, kind, size):
        X, obs = self.query(kind, size)
        return oc.ref_log_marginal(self.model(kind, size, 1), self.params(kind, size), X[:REF_ROWS],
                                   obs[:REF_ROWS])

    @functools.cache
    def ref_score(self, kind, size, k):
        X, _ = self.query(kind, size)
        return oc.ref_ensemble(self.model(kind, size, 1), self.params(kind, size), X[:REF_ROWS], k, oc.SEED)

    def same_for_any_n_jobs(self, key, result, check):
        """Run check(result) the first time; later runs (other n_jobs) must give the same bits."""
        if key in self.first:
            assert np.array_equal(result, self.first[key]), f"{key}: result depends on n_jobs"
        else:
            check(result)
            self.first[key] = np.array(result)


@pytest.fixture(scope="session")
def octx(ctx):
    return OrderlessContext(ctx)


def tag(benchmark, op, kind, size, rows, n_jobs):
    """Group by operation and size (the three models side by side); summary name kind:op."""
    label(benchmark, f"{kind}:{op}", size, rows, DTYPE, n_jobs)
    benchmark.group = f"{op} {size[0]}x{size[1]}"
    benchmark.extra_info["kind"] = kind


def grid(kinds):
    def wrap(func):
        func = pytest.mark.parametrize("n_jobs", N_JOBS, ids=jobs_ids)(func)
        func = pytest.mark.parametrize("kind", kinds)(func)
        func = pytest.mark.parametrize("size", SIZES, ids=size_ids)(func)
        return BENCH(func)
    return wrap


# ------------------------------------------------------------------ conditional inference

@grid(KINDS)
def test_conditional_sample(benchmark, octx, size, kind, n_jobs):
    model, (X, obs) = octx.model(kind, size, n_jobs), octx.query(kind, size)
    tag(benchmark, "cond", kind, size, len(X), n_jobs)
    out = benchmark(model.conditional_sample, X, obs, 1, random_state=oc.SEED)
    assert out.shape == (1,) + X.shape

    def check(S):
        oc.check_completions(model, octx.params(kind, size), X, obs, S, greedy=False, rows=REF_ROWS)

    octx.same_for_any_n_jobs(("cond", kind, size), out[0], check)


@grid(KINDS)
def test_impute(benchmark, octx, size, kind, n_jobs):
    model, (X, obs) = octx.model(kind, size, n_jobs), octx.query(kind, size)
    tag(benchmark, "impute", kind, size, len(X), n_jobs)
    out = benchmark(model.impute, X, obs)

    def check(S):
        oc.check_completions(model, octx.params(kind, size), X, obs, S, greedy=True, rows=REF_ROWS)

    octx.same_for_any_n_jobs(("impute", kind, size), out, check)


@grid(KINDS)
def test_log_marginal(benchmark, octx, size, kind, n_jobs):
    model, (X, obs) = octx.model(kind, size, n_jobs), octx.query(kind, size)
    tag(benchmark, "logmarg", kind, size, len(X), n_jobs)
    ll = benchmark(model.log_marginal, X, obs)
    assert ll.shape == (len(X),) and ll.dtype == np.float64 and np.all(ll <= 0)

    def check(v):
        assert max_rel_err(v[:REF_ROWS], octx.ref_log_marginal(kind, size)) <= LL_TOL[DTYPE]

    octx.same_for_any_n_jobs(("logmarg", kind, size), ll, check)


# --------------------------------------------------------- order-agnostic score and sample

@grid(OA_KINDS)
@pytest.mark.parametrize("n_orderings", [1, 4], ids=lambda k: f"K{k}")
def test_score_orderings(benchmark, octx, size, kind, n_jobs, n_orderings):
    model, (X, _) = octx.model(kind, size, n_jobs), octx.query(kind, size)
    tag(benchmark, "score" if n_orderings == 1 else f"score{n_orderings}", kind, size, len(X), n_jobs)
    ll = benchmark(model.score_samples, X, n_orderings, random_state=oc.SEED)
    assert ll.shape == (len(X),) and ll.dtype == np.float64

    def check(v):
        assert max_rel_err(v[:REF_ROWS], octx.ref_score(kind, size, n_orderings)) <= LL_TOL[DTYPE]

    octx.same_for_any_n_jobs(("score", kind, size, n_orderings), ll, check)


@grid(OA_KINDS)
def test_sample_oa(benchmark, octx, size, kind, n_jobs):
    model = octx.model(kind, size, n_jobs)
    rows = rows_per_call(size, kind)
    tag(benchmark, "sample", kind, size, rows, n_jobs)
    S = benchmark(model.sample, rows, random_state=oc.SEED)
    none = np.zeros((rows, size[0]), dtype=bool)

    def check(S):  # a sample is a completion of nothing observed
        oc.check_completions(model, octx.params(kind, size), np.zeros_like(S), none, S, greedy=False,
                             rows=REF_ROWS)

    octx.same_for_any_n_jobs(("sample", kind, size), S, check)


# ----------------------------------------------------------------- order-agnostic training

@functools.cache
def initial_objective(kind, size):
    X = train_data(size[0])
    model = OrderAgnosticNADE(size[1], n_layers=LAYERS[kind], dtype=DTYPE, random_state=0)
    return model.fit(X, epochs=0).loss_and_gradient(X[:500], random_state=0)[0]


@BENCH
@pytest.mark.parametrize("size", SIZES, ids=size_ids)
@pytest.mark.parametrize("kind", OA_KINDS)
@pytest.mark.parametrize("n_jobs", N_JOBS, ids=jobs_ids)
def test_train_epoch_oa(benchmark, size, kind, n_jobs):
    X = train_data(size[0])

    def one_epoch():
        return OrderAgnosticNADE(size[1], n_layers=LAYERS[kind], dtype=DTYPE, random_state=0,
                                 n_jobs=n_jobs).fit(X, epochs=1, batch_size=100, learning_rate=1e-3)

    tag(benchmark, "train", kind, size, TRAIN_ROWS, n_jobs)
    with oc.blas_threads(n_jobs) as ok:
        if not ok:
            pytest.skip(f"cannot set the BLAS pool to {n_jobs} threads (pip install threadpoolctl)")
        benchmark.extra_info["blas_threads"] = n_jobs
        model = benchmark.pedantic(one_epoch, rounds=3, warmup_rounds=1)
    assert np.isfinite(model.history_[0]["train_nll"])
    assert model.loss_and_gradient(X[:500], random_state=0)[0] < initial_objective(kind, size)
    ll = model.score_samples(X[:REF_ROWS])
    ref = oc.oa_log_likelihood(oc.public_params(model), X[:REF_ROWS], model.ordering_)
    assert max_rel_err(ll, ref) <= LL_TOL[DTYPE]


# The first layer's observed inputs, (x * m) @ W_in and its gradient (x * m).T @ dA, as
# the sparse kernels (adding the weight rows of the ones) or as BLAS products, on one
# training batch (100 rows x 784 features x 512 padded units, float32, one thread) at
# several densities of x * m: where the lines cross sets SPARSE_INPUT_FRACTION in
# nadefast/backends/_compiled.py (binarized MNIST's x * m has ~7 % ones).  This benchmarks the
# compiled kernels themselves, so it calls nadefast._core directly (elsewhere only
# nadefast/backends/_compiled.py imports it), with the weights in the layout
# OrderlessKernels.objective hands them: W (n, dp), row j = the input weights of feature j.
@BENCH
@pytest.mark.parametrize("how", ["sparse", "dense"])
@pytest.mark.parametrize("density", [0.05, 0.1, 0.15, 0.2, 0.3])
def test_first_layer_inputs(benchmark, how, density):
    from nadefast import _core  # the raw kernels: see the comment above

    rng = np.random.default_rng(0)
    rows, n, dp = 100, 784, 512
    X = (rng.random((rows, n)) < density).astype(np.uint8)
    M = np.ones_like(X)
    XM = X.astype(np.float32)
    Win = rng.normal(size=(n, dp)).astype(np.float32)
    dA = rng.normal(size=(rows, dp)).astype(np.float32)
    A, g = np.zeros((rows, dp), np.float32), np.empty((n, dp), np.float32)

    def sparse():
        A[...] = 0
        _core.oa_input_add(Win, X, M, A, 1)
        _core.oa_input_grad(dA, X, M, g, 1)

    def dense():
        np.matmul(XM, Win, out=A)
        np.matmul(XM.T, dA, out=g)

    label(benchmark, f"inputs:{how}", (n, dp), rows, DTYPE, 1)
    benchmark.group = f"first-layer inputs, density {density}"
    with oc.blas_threads(1):
        benchmark(sparse if how == "sparse" else dense)
    np.testing.assert_allclose(A, XM @ Win, rtol=1e-4, atol=1e-3)
    np.testing.assert_allclose(g, XM.T @ dA, rtol=1e-4, atol=1e-3)
