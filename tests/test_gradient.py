"""The hand-written backward pass against central finite differences."""

import numpy as np
import pytest

from nadefast import NADE

from reference import central_difference_gradient, mean_nll, random_params


@pytest.mark.parametrize("n, d, rows", [(1, 1, 3), (5, 3, 7), (9, 6, 30), (14, 17, 13)])
def test_gradient_matches_central_differences(rng, n, d, rows, backend):
    W, b, V, c = random_params(rng, n, d, scale=0.8)
    ordering = rng.permutation(n)
    X = (rng.random((rows, n)) < 0.45).astype(np.uint8)
    model = NADE.from_params(W, b, V, c, ordering=ordering, dtype="float64", backend=backend)
    loss, grads = model.loss_and_gradient(X)

    params = {"W": W.copy(), "b": b.copy(), "V": V.copy(), "c": c.copy()}
    f = lambda: mean_nll(params["W"], params["b"], params["V"], params["c"], X, ordering)  # noqa: E731
    assert loss == pytest.approx(f(), rel=1e-12)
    numeric = central_difference_gradient(f, params, eps=1e-6)
    for name in ("W", "b", "V", "c"):
        assert grads[name].shape == params[name].shape
        err = np.abs(grads[name] - numeric[name]).max() / max(np.abs(numeric[name]).max(), 1e-12)
        assert err < 1e-6, (name, err)


def test_last_position_input_weights_get_no_gradient(rng, backend):
    """W[:, n-1] never feeds a later position: its gradient is exactly zero."""
    n, d = 6, 4
    model = NADE.from_params(*random_params(rng, n, d), backend=backend)
    _, grads = model.loss_and_gradient(np.ones((5, n), dtype=np.uint8))
    assert np.all(grads["W"][:, -1] == 0)


def test_float32_matches_float64(rng, backend):
    n, d = 50, 40
    W, b, V, c = random_params(rng, n, d, scale=0.3)
    X = (rng.random((64, n)) < 0.3).astype(np.uint8)
    l64, g64 = NADE.from_params(W, b, V, c, dtype="float64", backend=backend).loss_and_gradient(X)
    m32 = NADE.from_params(W, b, V, c, dtype="float32", backend=backend)
    l32, g32 = m32.loss_and_gradient(X)
    assert l32 == pytest.approx(l64, rel=1e-6)
    for name in g64:
        assert g32[name].dtype == np.float32
        scale = np.abs(g64[name]).max()
        assert np.abs(g32[name] - g64[name]).max() <= 1e-5 * scale, name


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_gradient_bit_identical_for_any_thread_count(rng, dtype):
    """Compiled only: about the compiled core's OpenMP threads and row blocks."""
    n, d = 70, 50
    model = NADE.from_params(*random_params(rng, n, d, 0.4), dtype=dtype)
    X = (rng.random((150, n)) < 0.2).astype(np.uint8)  # 13 blocks
    model.n_jobs = 1
    loss1, g1 = model.loss_and_gradient(X)
    for n_jobs in (2, 3, 7):
        model.n_jobs = n_jobs
        for _ in range(3):  # the hand-off between blocks is timing-dependent: repeat
            loss, g = model.loss_and_gradient(X)
            assert loss == loss1
            for name in g1:
                np.testing.assert_array_equal(g[name], g1[name])


def test_gradient_is_mean_over_rows(rng, backend):
    """The gradient of a batch is the mean of the per-row gradients."""
    n, d = 12, 9
    model = NADE.from_params(*random_params(rng, n, d), dtype="float64", backend=backend)
    X = (rng.random((25, n)) < 0.5).astype(np.uint8)
    loss, g = model.loss_and_gradient(X)
    rows = [model.loss_and_gradient(X[i : i + 1]) for i in range(len(X))]
    assert loss == pytest.approx(np.mean([r[0] for r in rows]), rel=1e-13)
    for name in g:
        np.testing.assert_allclose(g[name], np.mean([r[1][name] for r in rows], axis=0),
                                   rtol=1e-11, atol=1e-14)
