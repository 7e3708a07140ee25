"""The compiled parts of order-agnostic training: masks, output layer, sparse inputs.

Each kernel is checked against a plain reference written here (NumPy's own
Philox generator and a Python Fisher-Yates shuffle for the masks; the dense
NumPy formulas for the rest), and for results that do not depend on threads.
"""

import math

import numpy as np
import pytest

from nadefast import _core
from nadefast._random import philox_key
from nadefast._outputs import make_output
from nadefast.backends import _compiled, get_backend

BERNOULLI = make_output("bernoulli")

from reference import oa_objective


# ----------------------------------------------------------------------- masks


def _row_draws(key, row):
    """The 32-bit draws of a row's stream, in order: NumPy's Philox with counter
    (0, row, 0, 0), low half of each 64-bit word first (nade.h)."""
    bitgen = np.random.Philox(key=key, counter=[0, row, 0, 0])
    while True:
        for word in bitgen.random_raw(64):
            word = int(word)
            yield word & 0xFFFFFFFF
            yield word >> 32


def _below(draws, bound):
    """Uniform in [0, bound) by Lemire's multiply-and-reject."""
    m = next(draws) * bound
    if m % 2**32 < bound:
        threshold = (2**32 - bound) % bound
        while m % 2**32 < threshold:
            m = next(draws) * bound
    return m >> 32


def reference_masks(key, row0, rows, n):
    """What nade_oa_masks draws, written plainly: a split, then a partial
    Fisher-Yates shuffle whose first s entries are observed."""
    out = np.zeros((rows, n), dtype=np.uint8)
    for r in range(rows):
        draws = _row_draws(key, row0 + r)
        s = _below(draws, n)
        perm = list(range(n))
        for i in range(s):
            k = i + _below(draws, n - i)
            perm[i], perm[k] = perm[k], perm[i]
            out[r, perm[i]] = 1
    return out


@pytest.mark.parametrize("n", [1, 2, 7, 100, 784])
def test_masks_are_the_documented_draws(n):
    key = np.array([0x0123456789ABCDEF, 2**64 - 5], dtype=np.uint64)
    got = _core.oa_masks(key, 11, 40, n, 1)
    np.testing.assert_array_equal(got, reference_masks(key, 11, 40, n))


def test_masks_depend_on_key_and_row_only():
    key = np.array([7, 9], dtype=np.uint64)
    whole = _core.oa_masks(key, 0, 500, 50, 1)
    np.testing.assert_array_equal(_core.oa_masks(key, 0, 500, 50, 2), whole)
    np.testing.assert_array_equal(_core.oa_masks(key, 123, 77, 50, 2), whole[123:200])
    other = _core.oa_masks(np.array([7, 10], dtype=np.uint64), 0, 500, 50, 1)
    assert (other != whole).any()


def test_masks_follow_the_objectives_distribution():
    """s uniform in {0..n-1}; given s, every set of s observed variables equally
    likely: chi-square over the 2^n - 1 possible masks (all-observed excluded)."""
    n, rows = 4, 150_000
    masks = _core.oa_masks(np.array([3, 4], dtype=np.uint64), 0, rows, n, 2)
    codes = masks.astype(np.int64) @ (1 << np.arange(n))
    counts = np.bincount(codes, minlength=2**n)
    assert counts[2**n - 1] == 0  # never every variable observed
    sizes = np.array([bin(c).count("1") for c in range(2**n - 1)])
    expected = rows / n / np.array([math.comb(n, s) for s in sizes])
    chi2 = ((counts[: 2**n - 1] - expected) ** 2 / expected).sum()
    assert chi2 < 36.12, chi2  # scipy.stats.chi2.ppf(0.999, 14)


@pytest.mark.parametrize("backend", ["compiled", "numpy"])
def test_training_masks_take_their_key_from_the_generator(backend):
    masks = get_backend(backend).training_masks
    a = masks(philox_key(np.random.default_rng(5)), 30, 20)
    b = masks(philox_key(np.random.default_rng(5)), 30, 20, n_threads=2)
    assert a.dtype == bool and a.shape == (30, 20)
    np.testing.assert_array_equal(a, b)
    assert (masks(philox_key(np.random.default_rng(6)), 30, 20) != a).any()
    # the same documented draws on both backends
    np.testing.assert_array_equal(a, reference_masks(philox_key(np.random.default_rng(5)), 0, 30, 20))


def test_masks_refuse_bad_sizes():
    key = np.zeros(2, dtype=np.uint64)
    with pytest.raises(ValueError, match="n"):
        _core.oa_masks(key, 0, 3, 0, 1)
    with pytest.raises(ValueError, match="key"):
        _core.oa_masks(np.zeros(3, dtype=np.uint64), 0, 3, 5, 1)


# ---------------------------------------------------------------- output layer


def _batch(rng, rows, n):
    X = (rng.random((rows, n)) < 0.3).astype(np.uint8)
    masks = _core.oa_masks(rng.integers(0, 2**63, size=2, dtype=np.uint64), 0, rows, n, 1)
    return X, masks


@pytest.mark.parametrize("dtype, rtol", [(np.float64, 1e-13), (np.float32, 2e-6)])
@pytest.mark.parametrize("n", [3, 8, 300])  # below, at and beyond one pass of 256 terms
def test_output_layer_matches_numpy(rng, dtype, rtol, n):
    rows = 37
    X, masks = _batch(rng, rows, n)
    Z = rng.normal(0, 4, (rows, n)).astype(dtype)
    Z[0, 0] = 120.0  # beyond exp's range in float32: clamped, still finite
    z, x, free = Z.astype(np.float64), X.astype(np.float64), 1.0 - masks
    weight = n / free.sum(axis=1)
    ref_loss = weight * (free * np.logaddexp(0.0, -(2 * x - 1) * z)).sum(axis=1)
    ref_dz = free * (0.25 * weight)[:, None] * (1 / (1 + np.exp(-z)) - x)

    loss = np.empty(rows)
    _core.oa_output(Z, X, masks, 0.25, loss, 1)
    np.testing.assert_allclose(loss, ref_loss, rtol=rtol)
    # sigmoid(z) - x cancels when p is near x: absolute error ~ eps * scale * weight
    atol = 8 * np.finfo(dtype).eps * 0.25 * weight.max()
    np.testing.assert_allclose(Z, ref_dz, rtol=rtol, atol=atol)
    assert not Z[masks.astype(bool)].any()  # observed features get no gradient


def test_output_layer_refuses_a_fully_observed_row(rng):
    X, masks = _batch(rng, 4, 6)
    masks[2] = 1
    with pytest.raises(ValueError, match="every feature"):
        _core.oa_output(np.zeros((4, 6)), X, masks, 1.0, np.empty(4), 1)


# ----------------------------------------------------------------- sparse inputs


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_sparse_inputs_match_dense_products(rng, dtype):
    rows, n, dp = 45, 70, 32
    X, masks = _batch(rng, rows, n)
    XM = (X & masks).astype(np.float64)
    Win = rng.normal(size=(n, dp)).astype(dtype)
    A0 = rng.normal(size=(rows, dp)).astype(dtype)
    A = A0.copy()
    _core.oa_input_add(Win, X, masks, A, 1)
    np.testing.assert_allclose(A, A0 + XM @ Win.astype(np.float64), rtol=1e-5, atol=1e-5)

    dA = rng.normal(size=(rows, dp)).astype(dtype)
    g1 = np.full((n, dp), np.nan, dtype=dtype)  # every entry is written
    _core.oa_input_grad(dA, X, masks, g1, 1)
    np.testing.assert_allclose(g1, XM.T @ dA.astype(np.float64), rtol=1e-5, atol=1e-5)
    g2 = np.empty_like(g1)
    _core.oa_input_grad(dA, X, masks, g2, 2)
    np.testing.assert_array_equal(g1, g2)  # each feature summed in row order, any threads
    A2 = A0.copy()
    _core.oa_input_add(Win, X, masks, A2, 2)
    np.testing.assert_array_equal(A2, A)


def _random_params(rng, n, d, layers, dtype, scale=0.5):
    """Public-layout order-agnostic parameters."""
    shapes = {"W": (d, n), "M": (d, n), "b": (d,), "W_hidden": (layers - 1, d, d),
              "b_hidden": (layers - 1, d), "V": (n, d), "c": (n,)}
    return {k: rng.normal(0, scale, s).astype(dtype) for k, s in shapes.items()}


def _objective(kernels, X, masks, **kwargs):
    grads = kernels.zeros_like()
    loss = kernels.objective(X, masks.view(bool), grads, **kwargs)
    return loss, {k: np.array(v) for k, v in kernels.public(grads).items()}


@pytest.mark.parametrize("layers", [1, 2])
def test_sparse_and_dense_first_layer_give_the_same_objective(rng, monkeypatch, layers):
    n, d, rows = 30, 12, 25
    X, masks = _batch(rng, rows, n)
    params = _random_params(rng, n, d, layers, np.float64)  # some units off, some on
    kernels = get_backend("compiled").orderless(params, BERNOULLI)
    results = {}
    for fraction in (0.0, 1.0):  # 0: always dense products, 1: always the sparse kernels
        monkeypatch.setattr(_compiled, "SPARSE_INPUT_FRACTION", fraction)
        results[fraction] = _objective(kernels, X, masks)
    (l_dense, g_dense), (l_sparse, g_sparse) = results[0.0], results[1.0]
    assert l_sparse == pytest.approx(l_dense, rel=1e-13)
    for name in g_dense:
        np.testing.assert_allclose(g_sparse[name], g_dense[name], rtol=1e-12, atol=1e-14)
    assert l_sparse == pytest.approx(oa_objective(params, X, masks), rel=1e-12)
    # padding of the kernels' layout gets no gradient
    grads = kernels.zeros_like()
    kernels.objective(X, masks.view(bool), grads)
    assert not grads["W"][:, d:].any() and not grads["V"][:, d:].any()


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_objective_kernels_do_not_depend_on_their_thread_count(rng, dtype):
    """The compiled steps between the BLAS products: 1 or 2 threads, the same bits
    (BLAS's own thread count is pinned to 1 here: it does change the products' bits)."""
    threadpoolctl = pytest.importorskip("threadpoolctl")
    n, d, rows = 40, 16, 50
    X, masks = _batch(rng, rows, n)
    kernels = get_backend("compiled").orderless(_random_params(rng, n, d, 2, dtype), BERNOULLI)
    with threadpoolctl.threadpool_limits(1, user_api="blas"):
        l1, g1 = _objective(kernels, X, masks, n_threads=1)
        l2, g2 = _objective(kernels, X, masks, n_threads=2)
    assert l1 == l2
    for name in g1:
        np.testing.assert_array_equal(g1[name], g2[name])
