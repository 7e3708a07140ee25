"""Tests for nadefast.baselines, checked against plain per-row float64 loops."""

import itertools
import math

import numpy as np
import pytest

from nadefast.baselines import BernoulliMixture, IndependentBernoulli, NotFittedError


def random_binary(n, d, p=0.3, seed=0):
    rng = np.random.default_rng(seed)
    return (rng.random((n, d)) < p).astype(np.uint8)


def all_binary_vectors(d):
    return np.array(list(itertools.product([0, 1], repeat=d)), dtype=np.uint8)


def brute_log_bernoulli(x, mu):
    """log prod_d mu_d^x_d (1 - mu_d)^(1 - x_d), one feature at a time."""
    total = 0.0
    for xd, md in zip(x, mu, strict=True):
        total += math.log(md) if xd == 1 else math.log(1.0 - md)
    return total


def brute_mixture_log_prob(x, weights, means):
    """log sum_k w_k p(x | k), with the max subtracted by hand."""
    terms = [math.log(w) + brute_log_bernoulli(x, mu) for w, mu in zip(weights, means, strict=True)]
    top = max(terms)
    return top + math.log(sum(math.exp(t - top) for t in terms))


# ---------------------------------------------------------------- IndependentBernoulli

def test_independent_hand_example():
    X = np.array([[1, 0], [1, 1], [0, 0]])
    model = IndependentBernoulli(alpha=1.0).fit(X)
    # (column sum + 1) / (3 + 2)
    np.testing.assert_allclose(model.means_, [3 / 5, 2 / 5], rtol=0, atol=1e-15)
    # log p([1, 0]) = log(3/5) + log(3/5)
    assert model.score_samples([[1, 0]])[0] == pytest.approx(2 * math.log(3 / 5), abs=1e-14)


@pytest.mark.parametrize("alpha", [1e-3, 0.5, 1.0, 3.0])
def test_independent_means_are_smoothed_column_means(alpha):
    X = random_binary(50, 12, seed=1)
    X[:, 0] = 0  # a constant column: smoothing keeps its mean off 0
    model = IndependentBernoulli(alpha=alpha).fit(X)
    n = X.shape[0]
    expected = [(sum(int(v) for v in X[:, j]) + alpha) / (n + 2 * alpha) for j in range(X.shape[1])]
    np.testing.assert_allclose(model.means_, expected, rtol=1e-14)
    assert 0 < model.means_[0] < 1


def test_independent_score_samples_matches_loop():
    X = random_binary(40, 30, seed=2)
    model = IndependentBernoulli(alpha=0.7).fit(X)
    X_test = random_binary(25, 30, p=0.5, seed=3)
    got = model.score_samples(X_test)
    assert got.shape == (25,) and got.dtype == np.float64
    expected = [brute_log_bernoulli(row, model.means_) for row in X_test]
    np.testing.assert_allclose(got, expected, rtol=1e-12)
    assert model.score(X_test) == pytest.approx(np.mean(expected), rel=1e-12)


@pytest.mark.parametrize("d", [1, 4, 9])
def test_independent_normalised_over_all_vectors(d):
    model = IndependentBernoulli(alpha=0.3).fit(random_binary(20, d, seed=d))
    total = np.exp(model.score_samples(all_binary_vectors(d))).sum()
    assert total == pytest.approx(1.0, abs=1e-12)


# ---------------------------------------------------------------- BernoulliMixture

def test_mixture_score_samples_matches_loop():
    X = random_binary(60, 15, seed=4)
    model = BernoulliMixture(4, random_state=0).fit(X)
    X_test = random_binary(30, 15, p=0.4, seed=5)
    got = model.score_samples(X_test)
    assert got.shape == (30,) and got.dtype == np.float64
    expected = [brute_mixture_log_prob(row, model.weights_, model.means_) for row in X_test]
    np.testing.assert_allclose(got, expected, rtol=1e-12)
    assert model.score(X_test) == pytest.approx(np.mean(expected), rel=1e-12)


def test_mixture_high_dimensional_no_underflow():
    # 784 features with sharp means (about 0.02 / 0.98): rows unlike every
    # component have log p(x | k) near -2000, far below log of the smallest
    # float64 (about -745), so exp() of it underflows to 0 unless the
    # log-sum-exp subtracts the row maximum first.
    rng = np.random.default_rng(6)
    prototypes = rng.random((3, 784)) < 0.5
    X = prototypes[rng.integers(0, 3, 300)].astype(np.uint8)
    model = BernoulliMixture(3, random_state=1, max_iter=20).fit(X)
    X_far = 1 - X[:4]
    got = model.score_samples(X_far)
    expected = [brute_mixture_log_prob(row, model.weights_, model.means_) for row in X_far]
    assert max(expected) < -800
    assert np.all(np.isfinite(got))
    np.testing.assert_allclose(got, expected, rtol=1e-12)


@pytest.mark.parametrize("d", [1, 5, 10])
def test_mixture_normalised_over_all_vectors(d):
    model = BernoulliMixture(3, random_state=2).fit(random_binary(40, d, seed=10 + d))
    total = np.exp(model.score_samples(all_binary_vectors(d))).sum()
    assert total == pytest.approx(1.0, abs=1e-12)


def test_mixture_parameters_are_valid():
    model = BernoulliMixture(6, random_state=3).fit(random_binary(80, 20, seed=7))
    assert model.weights_.shape == (6,)
    assert model.means_.shape == (6, 20)
    assert model.weights_.sum() == pytest.approx(1.0, abs=1e-12)
    assert np.all(model.weights_ >= 0)
    assert np.all((model.means_ > 0) & (model.means_ < 1))
    assert model.n_features_in_ == 20


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_mixture_lower_bound_non_decreasing(seed):
    model = BernoulliMixture(8, random_state=seed, max_iter=200, tol=0).fit(random_binary(150, 25, seed=seed))
    history = model.lower_bound_history_
    assert len(history) == model.n_iter_ + 1
    assert model.n_iter_ > 5
    steps = np.diff(history)
    # EM cannot decrease the penalised log-likelihood; allow rounding only.
    assert steps.min() >= -1e-10 * abs(history[-1]), steps.min()


def test_mixture_lower_bound_is_penalised_log_likelihood():
    X = random_binary(70, 12, seed=8)
    alpha = 0.05
    model = BernoulliMixture(3, alpha=alpha, random_state=4).fit(X)
    log_lik = sum(brute_mixture_log_prob(row, model.weights_, model.means_) for row in X)
    prior = alpha * sum(math.log(m) + math.log(1 - m) for m in model.means_.ravel())
    assert model.lower_bound_history_[-1] == pytest.approx((log_lik + prior) / len(X), rel=1e-12)


def test_mixture_one_component_equals_independent():
    # With K = 1 all responsibilities are 1, so one M-step gives the
    # smoothed column means: the IndependentBernoulli fit with the same alpha.
    X = random_binary(90, 16, seed=9)
    mix = BernoulliMixture(1, alpha=0.5, random_state=0).fit(X)
    ind = IndependentBernoulli(alpha=0.5).fit(X)
    np.testing.assert_allclose(mix.means_[0], ind.means_, rtol=1e-13)
    np.testing.assert_allclose(mix.score_samples(X), ind.score_samples(X), rtol=1e-12)
    assert mix.converged_ and mix.n_iter_ == 2  # the second step changes nothing


def test_mixture_recovers_separated_components():
    # Two clusters with disjoint "on" blocks, weights 0.7 / 0.3.
    rng = np.random.default_rng(11)
    n, d = 2000, 20
    true_means = np.full((2, d), 0.05)
    true_means[0, :10] = 0.9
    true_means[1, 10:] = 0.9
    z = (rng.random(n) < 0.3).astype(int)
    X = (rng.random((n, d)) < true_means[z]).astype(np.uint8)
    model = BernoulliMixture(2, random_state=0).fit(X)
    order = np.argsort(-model.weights_)  # largest first, to compare without label switching
    np.testing.assert_allclose(model.weights_[order], [0.7, 0.3], atol=0.03)
    np.testing.assert_allclose(model.means_[order], true_means, atol=0.05)


def test_mixture_is_reproducible_with_random_state():
    X = random_binary(100, 10, seed=12)
    a = BernoulliMixture(4, random_state=5).fit(X)
    b = BernoulliMixture(4, random_state=np.random.default_rng(5)).fit(X)
    np.testing.assert_array_equal(a.means_, b.means_)
    np.testing.assert_array_equal(a.lower_bound_history_, b.lower_bound_history_)


def test_mixture_validation_selects_best_iterate():
    # Few rows and many components overfit, so the validation score peaks and then falls.
    rng = np.random.default_rng(13)
    proto = rng.random((3, 30)) < 0.5
    def sample(n):
        z = rng.integers(0, 3, n)
        flip = rng.random((n, 30)) < 0.2
        return (proto[z] ^ flip).astype(np.uint8)
    X, X_valid = sample(40), sample(500)
    model = BernoulliMixture(12, alpha=1e-3, random_state=0, max_iter=300, tol=0).fit(X, X_valid)
    hist = model.valid_score_history_
    assert hist.shape == model.lower_bound_history_.shape == (model.n_iter_ + 1,)
    assert model.best_iter_ == int(np.argmax(hist))
    assert model.score(X_valid) == pytest.approx(hist.max(), rel=1e-12)
    assert model.best_iter_ < model.n_iter_, "setup should overfit; validation should peak early"
    # A fit without X_valid runs the same EM path to its end, with a worse validation score.
    plain = BernoulliMixture(12, alpha=1e-3, random_state=0, max_iter=300, tol=0).fit(X)
    assert plain.best_iter_ == plain.n_iter_ == model.n_iter_
    assert plain.valid_score_history_ is None
    np.testing.assert_array_equal(plain.lower_bound_history_, model.lower_bound_history_)
    assert plain.score(X_valid) < model.score(X_valid)


def test_mixture_on_demo_data_beats_independent():
    from nadefast.datasets import load_demo

    d = load_demo()
    mix = BernoulliMixture(20, random_state=0).fit(d["train"])
    ind = IndependentBernoulli().fit(d["train"])
    nll_mix, nll_ind = -mix.score(d["test"]), -ind.score(d["test"])
    # Measured: about 155 and 205 nats.
    assert 140 < nll_mix < 170
    assert 195 < nll_ind < 215
    assert nll_mix < nll_ind - 30


# ---------------------------------------------------------------- input validation

MODELS = [lambda: IndependentBernoulli(), lambda: BernoulliMixture(2, random_state=0)]


@pytest.mark.parametrize("make", MODELS)
@pytest.mark.parametrize(
    "X, error, match",
    [
        (np.array([0, 1, 1]), ValueError, "2-D"),
        (np.zeros((2, 3, 1)), ValueError, "2-D"),
        (np.zeros((0, 3)), ValueError, "0 samples"),
        (np.array([[0, 2], [1, 0]]), ValueError, r"contains 2 at \[0, 1\]"),
        (np.array([[0.0, 0.5], [1.0, 0.0]]), ValueError, "0.5"),
        (np.array([[0.0, np.nan], [1.0, 0.0]]), ValueError, "NaN"),
        (np.array([[0.0, np.inf], [1.0, 0.0]]), ValueError, "infinity"),
        (np.array([["0", "1"], ["1", "0"]]), TypeError, "dtype"),
        (np.array([[0, 1j], [1, 0]]), ValueError, "Complex data not supported"),
    ],
)
def test_fit_rejects_bad_X(make, X, error, match):
    with pytest.raises(error, match=match):
        make().fit(X)


@pytest.mark.parametrize("make", MODELS)
def test_scoring_checks_features_and_fit_state(make):
    with pytest.raises(NotFittedError, match="fit"):
        make().score_samples([[0, 1]])
    model = make().fit(random_binary(10, 4, seed=14))
    with pytest.raises(ValueError, match="5 features, but the model has 4"):
        model.score_samples(np.zeros((3, 5)))
    with pytest.raises(ValueError, match="must be 0 or 1"):
        model.score(np.full((1, 4), 3))
    # bool and float 0/1 are fine and give the same result as uint8
    X = random_binary(5, 4, seed=15)
    np.testing.assert_array_equal(model.score_samples(X.astype(bool)), model.score_samples(X.astype(np.float32)))


def test_mixture_checks_X_valid():
    X = random_binary(10, 4, seed=16)
    with pytest.raises(ValueError, match="X_valid has 3 features"):
        BernoulliMixture(2).fit(X, np.zeros((2, 3)))
    with pytest.raises(ValueError, match="X_valid contains 0.5"):
        BernoulliMixture(2).fit(X, np.full((2, 4), 0.5))


def test_mixture_needs_enough_samples():
    with pytest.raises(ValueError, match="n_components"):
        BernoulliMixture(5).fit(random_binary(3, 4))


@pytest.mark.parametrize(
    "kwargs, error",
    [
        ({"n_components": 0}, ValueError),
        ({"n_components": 2.0}, TypeError),
        ({"n_components": True}, TypeError),
        ({"max_iter": 0}, ValueError),
        ({"tol": -1e-3}, ValueError),
        ({"tol": float("nan")}, ValueError),
        ({"alpha": 0.0}, ValueError),
        ({"alpha": -1.0}, ValueError),
        ({"alpha": float("inf")}, ValueError),
        ({"alpha": "1"}, TypeError),
        ({"random_state": "seed"}, TypeError),
        ({"random_state": 1.5}, TypeError),
    ],
)
def test_mixture_rejects_bad_parameters(kwargs, error):
    with pytest.raises(error):
        BernoulliMixture(**kwargs)


@pytest.mark.parametrize("alpha, error", [(0, ValueError), (-0.5, ValueError), (None, TypeError)])
def test_independent_rejects_bad_alpha(alpha, error):
    with pytest.raises(error, match="alpha"):
        IndependentBernoulli(alpha=alpha)
