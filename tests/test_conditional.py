"""Conditional inference of a fixed-order NADE against brute-force enumeration."""

import numpy as np
import pytest

from nadefast import NADE

from reference import all_binary_vectors, log_likelihood, random_params

# chi-square critical values at the 0.999 level (scipy.stats.chi2.ppf(0.999, df))
CHI2_999 = {7: 24.32, 15: 37.70}


@pytest.fixture
def setup(rng, backend):
    n, d = 7, 5
    W, b, V, c = random_params(rng, n, d, 1.2)
    ordering = np.array([4, 0, 6, 2, 1, 5, 3])
    model = NADE.from_params(W, b, V, c, ordering=ordering, dtype="float64", backend=backend)
    joint = np.exp(log_likelihood(W, b, V, c, all_binary_vectors(n), ordering))  # p of every vector
    return model, ordering, joint


def _prefix_mask(ordering, k, rows=1):
    mask = np.zeros(len(ordering), dtype=bool)
    mask[ordering[:k]] = True
    return np.tile(mask, (rows, 1))


def _brute_marginal(joint, x, mask):
    allx = all_binary_vectors(len(x))
    match = (allx[:, mask] == x[mask]).all(axis=1)
    return np.log(joint[match].sum())


def test_log_marginal_equals_the_sum_of_the_joint(setup, rng):
    model, ordering, joint = setup
    X = (rng.random((12, 7)) < 0.5).astype(np.uint8)
    for k in range(8):
        mask = _prefix_mask(ordering, k, len(X))
        got = model.log_marginal(X, mask)
        expected = [_brute_marginal(joint, x, m) for x, m in zip(X, mask)]
        np.testing.assert_allclose(got, expected, rtol=1e-12, atol=1e-13)
    # each row its own prefix length, and NaN where nothing is observed
    ks = rng.integers(0, 8, size=len(X))
    masks = np.array([_prefix_mask(ordering, k)[0] for k in ks])
    Xnan = np.where(masks, X, np.nan)
    np.testing.assert_allclose(model.log_marginal(Xnan),
                               [_brute_marginal(joint, x, m) for x, m in zip(X, masks)], rtol=1e-12,
                               atol=1e-13)


def test_prefix_log_marginals(setup, rng):
    model, ordering, joint = setup
    X = (rng.random((6, 7)) < 0.5).astype(np.uint8)
    P = model.prefix_log_marginals(X)
    assert P.shape == (6, 8)
    for k in range(8):
        expected = [_brute_marginal(joint, x, _prefix_mask(ordering, k)[0]) for x in X]
        np.testing.assert_allclose(P[:, k], expected, rtol=1e-12, atol=1e-13)
    np.testing.assert_allclose(P[:, -1], model.score_samples(X), rtol=1e-13)


def test_conditional_samples_pass_chi_square(setup):
    model, ordering, joint = setup
    k = 3
    x = np.array([1, 0, 1, 1, 0, 1, 0], dtype=np.uint8)
    mask = _prefix_mask(ordering, k)[0]
    allx = all_binary_vectors(7)
    match = (allx[:, mask] == x[mask]).all(axis=1)
    p_cond = joint[match] / joint[match].sum()  # p(x_unobserved | x_observed), 16 completions
    draws = model.conditional_sample(x[None], mask, n_samples=100_000, random_state=11)
    assert draws.shape == (100_000, 1, 7) and draws.dtype == np.uint8
    draws = draws[:, 0]
    assert (draws[:, mask] == x[mask]).all()  # observed values kept
    codes = draws @ (1 << np.arange(6, -1, -1))
    index = {code: i for i, code in enumerate(np.flatnonzero(match))}
    counts = np.bincount([index[c] for c in codes], minlength=len(p_cond))
    expected = p_cond * len(draws)
    chi2 = ((counts - expected) ** 2 / expected).sum()
    assert chi2 < CHI2_999[15], chi2


def test_conditional_samples_are_reproducible(setup, rng):
    model, ordering, _ = setup
    X = (rng.random((5, 7)) < 0.5).astype(np.uint8)
    mask = _prefix_mask(ordering, 2, 5)
    a = model.conditional_sample(X, mask, n_samples=4, random_state=3)
    model.n_jobs = 2
    np.testing.assert_array_equal(model.conditional_sample(X, mask, n_samples=4, random_state=3), a)
    # nothing observed: the same draws as unconditional sampling of n_samples * n_rows rows
    none = np.zeros((5, 7), dtype=bool)
    np.testing.assert_array_equal(model.conditional_sample(X, none, n_samples=4, random_state=3).reshape(20, 7),
                                  model.sample(20, random_state=3))


def test_impute_mode_is_sequential_argmax(setup, rng):
    model, ordering, joint = setup
    X = (rng.random((8, 7)) < 0.5).astype(np.uint8)
    mask = _prefix_mask(ordering, 2, 8)
    filled = model.impute(X, mask)
    assert filled.dtype == np.uint8
    allx = all_binary_vectors(7)
    for x, m, f in zip(X, mask, filled):
        assert (f[m] == x[m]).all()
        current = x.copy()
        for k in range(2, 7):  # choose each unobserved variable's more probable value in turn
            known = np.zeros(7, dtype=bool)
            known[ordering[:k]] = True
            p1 = []
            for v in (0, 1):
                current[ordering[k]] = v
                sel = (allx[:, known | (np.arange(7) == ordering[k])] ==
                       current[known | (np.arange(7) == ordering[k])]).all(axis=1)
                p1.append(joint[sel].sum())
            current[ordering[k]] = int(p1[1] > p1[0])
        np.testing.assert_array_equal(f, current)


def test_impute_mean_estimates_the_conditional_expectation(setup):
    model, ordering, joint = setup
    x = np.array([[0, 1, 1, 0, 1, 0, 1]], dtype=np.uint8)
    mask = _prefix_mask(ordering, 3)
    mean = model.impute(x, mask, method="mean", n_samples=40_000, random_state=5)[0]
    allx = all_binary_vectors(7)
    match = (allx[:, mask[0]] == x[0, mask[0]]).all(axis=1)
    exact = (joint[match, None] * allx[match]).sum(axis=0) / joint[match].sum()
    assert np.abs(mean - exact).max() < 5 * 0.5 / np.sqrt(40_000)
    np.testing.assert_array_equal(mean[mask[0]], x[0, mask[0]])


def test_masks_that_are_not_prefixes_are_refused(setup):
    model, ordering, _ = setup
    X = np.zeros((2, 7), dtype=np.uint8)
    mask = np.zeros((2, 7), dtype=bool)
    mask[1, ordering[1]] = True  # second variable of the ordering without the first
    for call in (model.log_marginal, model.conditional_sample, model.impute):
        with pytest.raises(ValueError, match="not a prefix of the model's ordering in row 1.*order-agnostic"):
            call(X, mask)
    with pytest.raises(ValueError, match="observed has shape"):
        model.log_marginal(X, mask[:, :3])
    with pytest.raises(TypeError, match="observed must be a boolean"):
        model.log_marginal(X, np.full((2, 7), 0.5))
    with pytest.raises(ValueError, match="needs a floating X"):
        model.log_marginal(X)
    with pytest.raises(ValueError, match="method must be"):
        model.impute(X, np.zeros((2, 7), bool), method="median")
    with pytest.raises(ValueError, match=r"contains 2"):  # observed entries must still be 0/1
        model.log_marginal(np.full((2, 7), 2), np.ones((2, 7), bool))
