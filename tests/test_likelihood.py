"""Exact log-likelihood, conditionals and hidden states against plain references."""

import numpy as np
import pytest

from nadefast import NADE
from nadefast.backends import _compiled

from reference import (
    all_binary_vectors,
    conditionals,
    log_likelihood,
    masked_forward,
    random_params,
)

# docs/fixed_order.md §10: the worked example and its table of log p(x) (computed there at 40
# digits and rounded; three entries differ in the 15th decimal from ../shared/NADE.md)
EXAMPLE_W = [[0.5, -1.0, 0.25], [-0.75, 0.5, 1.5]]
EXAMPLE_b = [0.1, -0.2]
EXAMPLE_V = [[1.0, -0.5], [0.3, 0.8], [-1.2, 0.4]]
EXAMPLE_c = [0.2, -0.1, 0.05]
EXAMPLE_IDENTITY = [-2.410669624961899, -2.810578248861619, -2.140158948867011, -2.207242538992343,
                    -1.770977976359903, -2.384211615040002, -1.586066766705097, -1.861897268149843]
EXAMPLE_ORDER_201 = [-2.410669624961899, -1.770977976359903, -2.810578248861619, -2.384211615040002,
                     -2.140158948867011, -1.586066766705097, -2.207242538992343, -1.861897268149843]


@pytest.mark.parametrize("ordering, expected", [(None, EXAMPLE_IDENTITY), ([2, 0, 1], EXAMPLE_ORDER_201)])
def test_worked_example(ordering, expected, backend):
    model = NADE.from_params(EXAMPLE_W, EXAMPLE_b, EXAMPLE_V, EXAMPLE_c, ordering=ordering,
                             backend=backend)
    got = model.score_samples(all_binary_vectors(3))
    np.testing.assert_allclose(got, expected, rtol=1e-13, atol=0)


@pytest.mark.parametrize("n", [1, 2, 5, 9, 12])
@pytest.mark.parametrize("identity", [True, False])
def test_normalised_float64(rng, n, identity, backend):
    """sum over all 2^n vectors of p(x) is 1, for several parameter sets."""
    X = all_binary_vectors(n)
    for trial in range(3):
        d = int(rng.integers(1, 40))
        W, b, V, c = random_params(rng, n, d, scale=1.5)
        ordering = None if identity else rng.permutation(n)
        model = NADE.from_params(W, b, V, c, ordering=ordering, backend=backend)
        total = np.exp(model.score_samples(X)).sum()
        assert abs(total - 1.0) < 1e-10, (trial, d, total)


def test_normalised_float32(rng, backend):
    n = 10
    W, b, V, c = random_params(rng, n, 33)
    model = NADE.from_params(W, b, V, c, ordering=rng.permutation(n), dtype="float32",
                             backend=backend)
    total = np.exp(model.score_samples(all_binary_vectors(n))).sum()
    assert abs(total - 1.0) < 1e-5


@pytest.mark.parametrize("dtype, rtol", [("float64", 1e-12), ("float32", 2e-5)])
@pytest.mark.parametrize("n, d", [(1, 1), (7, 3), (40, 37), (67, 129)])
def test_recurrence_equals_masked_form(rng, dtype, rtol, n, d, backend):
    """The O(n d) kernels against sigmoid(b + W[:, :k] x_<k) recomputed per position."""
    W, b, V, c = random_params(rng, n, d, scale=0.7)
    ordering = rng.permutation(n)
    X = (rng.random((29, n)) < 0.4).astype(np.uint8)  # 29 rows: several blocks and a partial one
    model = NADE.from_params(W, b, V, c, ordering=ordering, dtype=dtype, backend=backend)
    # the reference uses the parameters as the model stores them
    Wm, bm, Vm, cm = (np.asarray(a, dtype=np.float64) for a in (model.W_, model.b_, model.V_, model.c_))

    ref_ll = log_likelihood(Wm, bm, Vm, cm, X, ordering)
    np.testing.assert_allclose(model.score_samples(X), ref_ll, rtol=rtol, atol=0)

    ref_cond = conditionals(Wm, bm, Vm, cm, X, ordering)
    np.testing.assert_allclose(model.conditionals(X), ref_cond, rtol=rtol * 10, atol=1e-6 if dtype == "float32" else 1e-14)

    H, _, _ = masked_forward(Wm, bm, Vm, cm, X, ordering)
    np.testing.assert_allclose(model.hidden_states(X), H, rtol=rtol * 10, atol=1e-7 if dtype == "float32" else 1e-15)


def test_ordering_is_a_column_permutation(rng, backend):
    """from_params(..., ordering=o).score_samples(X) == from_params(...).score_samples(X[:, o])."""
    n, d = 23, 11
    W, b, V, c = random_params(rng, n, d)
    o = rng.permutation(n)
    X = (rng.random((50, n)) < 0.5).astype(np.uint8)
    with_order = NADE.from_params(W, b, V, c, ordering=o, backend=backend)
    identity = NADE.from_params(W, b, V, c, backend=backend)
    np.testing.assert_array_equal(with_order.score_samples(X), identity.score_samples(X[:, o]))
    # conditionals come back in feature order
    np.testing.assert_array_equal(with_order.conditionals(X)[:, o], identity.conditionals(X[:, o]))


def test_conditionals_give_the_likelihood(rng, backend):
    n, d = 15, 8
    model = NADE.from_params(*random_params(rng, n, d), ordering=rng.permutation(n),
                             backend=backend)
    X = (rng.random((40, n)) < 0.3).astype(np.uint8)
    p = model.conditionals(X)
    manual = np.log(np.where(X == 1, p, 1.0 - p)).sum(axis=1)
    np.testing.assert_allclose(model.score_samples(X), manual, rtol=1e-12)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_rows_do_not_depend_on_batch_or_threads(rng, dtype):
    """A row's log-likelihood is bit-identical alone, in any batch, with any n_jobs.

    Compiled only: about the compiled core's row blocks and OpenMP threads."""
    n, d = 100, 70
    model = NADE.from_params(*random_params(rng, n, d, 0.3), dtype=dtype)
    X = (rng.random((45, n)) < 0.2).astype(np.uint8)
    model.n_jobs = 1
    full = model.score_samples(X)
    for i in (0, 13, 44):
        assert model.score_samples(X[i : i + 1])[0] == full[i]
    np.testing.assert_array_equal(model.score_samples(X[7:30]), full[7:30])
    for n_jobs in (2, 3, -1):
        model.n_jobs = n_jobs
        np.testing.assert_array_equal(model.score_samples(X), full)
        np.testing.assert_array_equal(model.conditionals(X)[5], model.conditionals(X[5:6])[0])


def test_float32_within_1e5_of_float64_libm_reference(rng):
    """MNIST-sized float32 model: log-likelihoods within 1e-5 relative of float64 libm arithmetic
    on the same (float32) parameters, trained-looking magnitudes included.

    Compiled only: about the float32 kernels' arithmetic (the NumPy backend computes in
    float64; tests/test_backends.py compares the two on float32 models)."""
    n, d = 784, 500
    W = rng.normal(0, 0.3, (d, n))
    b = rng.normal(0, 1.0, d)
    V = rng.normal(0, 0.3, (n, d))
    c = rng.normal(-2.0, 1.0, n)
    model = NADE.from_params(W, b, V, c, dtype="float32")
    X = (rng.random((6, n)) < 0.13).astype(np.uint8)
    ref = log_likelihood(*(np.asarray(a, np.float64) for a in (model.W_, model.b_, model.V_, model.c_)), X)
    np.testing.assert_allclose(model.score_samples(X), ref, rtol=1e-5)


# the NumPy backend once computed 0.5 * (1 + tanh(x / 2)), which cancels for x << 0
# (sigmoid(-30) 3.5e-4 relative off): this test caught it
@pytest.mark.parametrize("backend", ["compiled", "numpy"])
def test_sigmoid_accuracy_through_hidden_states(backend):
    """h_1 = sigmoid(b): a model with one hidden unit per grid point exposes the backend's
    sigmoid.  The compiled core's documented accuracy (csrc/nade_math.h), which the NumPy
    reference must match: float32 ~2e-7 relative on [-30, 30], float64 a few ulp."""
    grid = np.linspace(-30.0, 30.0, 60001)
    d = grid.size
    for dtype, tol in (("float32", 4e-7), ("float64", 2e-15)):
        model = NADE.from_params(np.zeros((d, 1)), grid, np.zeros((1, d)), np.zeros(1), dtype=dtype,
                                 backend=backend)
        h = model.hidden_states(np.zeros((1, 1), dtype=np.uint8))[0, 0].astype(np.float64)
        x = grid.astype(dtype).astype(np.float64)
        exact = 1.0 / (1.0 + np.exp(-x))
        rel = np.abs(h - exact) / exact
        assert rel.max() < tol, (dtype, rel.max(), x[rel.argmax()])


def test_extreme_logits_stay_finite(backend):
    """Saturated logits give finite (large negative) log-likelihoods, not -inf or NaN."""
    n, d = 4, 3
    for dtype in ("float32", "float64"):
        model = NADE.from_params(np.full((d, n), 50.0), np.zeros(d), np.full((n, d), 1e4),
                                 np.full(n, 1e4), dtype=dtype, backend=backend)
        ll = model.score_samples(all_binary_vectors(n))
        assert np.isfinite(ll).all(), ll
        assert ll.max() > -1e-3  # the all-ones vector has probability ~1
        assert ll.min() < -1e4


@pytest.mark.skipif(len([i for i in ("baseline", "avx2", "avx512") if _compiled.isa_supported(i)]) < 2,
                    reason="only one instruction set available on this CPU")
def test_instruction_sets_agree(rng):
    """Every kernel set this CPU runs gives the same answers (FMA may change the last bits)."""
    n, d = 60, 45
    W, b, V, c = random_params(rng, n, d, 0.5)
    X = (rng.random((30, n)) < 0.3).astype(np.uint8)
    results = {}
    original = _compiled.active_isa()
    try:
        for isa in ("baseline", "avx2", "avx512"):
            if not _compiled.isa_supported(isa):
                continue
            _compiled.select_isa(isa)
            for dtype in ("float32", "float64"):
                model = NADE.from_params(W, b, V, c, dtype=dtype)
                loss, grads = model.loss_and_gradient(X)
                results[isa, dtype] = (model.score_samples(X), model.sample(20, random_state=1),
                                       loss, grads["W"])
    finally:
        _compiled.select_isa(original)
    for (isa, dtype), (ll, samples, loss, gW) in results.items():
        ll0, samples0, loss0, gW0 = results["baseline", dtype]
        tol = 1e-5 if dtype == "float32" else 1e-12
        np.testing.assert_allclose(ll, ll0, rtol=tol)
        np.testing.assert_allclose(loss, loss0, rtol=tol)
        np.testing.assert_allclose(gW, gW0, rtol=tol * 100, atol=tol)
        # sampling can only differ where a uniform falls within rounding of p
        assert (samples != samples0).mean() < 1e-3
    if ("avx2", "float32") in results and ("avx512", "float32") in results:
        # both use FMA and the same per-row arithmetic: identical bits
        for dtype in ("float32", "float64"):
            for a, b_ in zip(results["avx2", dtype], results["avx512", dtype]):
                np.testing.assert_array_equal(a, b_)
