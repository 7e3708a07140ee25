"""Order-agnostic and deep NADE: objective, exact likelihoods, ensembles, any-mask inference."""

import numpy as np
import pytest

from nadefast import NADE, NotFittedError, OrderAgnosticNADE
from nadefast._random import philox_key
from nadefast._outputs import make_output
from nadefast.backends import _compiled, get_backend

BERNOULLI = make_output("bernoulli")

from reference import (
    all_binary_vectors,
    central_difference_gradient,
    oa_log_likelihood,
    oa_objective,
)

CHI2_999_15 = 37.70  # scipy.stats.chi2.ppf(0.999, 15)


def _random_oa_model(rng, n, d, layers, dtype="float64", scale=0.6, ordering=None,
                     backend="compiled"):
    """A fitted order-agnostic model with random parameters (no training)."""
    X = (rng.random((20, n)) < 0.5).astype(np.uint8)
    model = OrderAgnosticNADE(d, n_layers=layers, dtype=dtype, random_state=0,
                              ordering=ordering, backend=backend).fit(X, epochs=0)
    for name in ("W_", "M_", "V_"):
        getattr(model, name)[...] = rng.normal(0, scale, getattr(model, name).shape)
    model.b_[...] = rng.normal(0, scale, d)
    model.c_[...] = rng.normal(0, scale, n)
    if layers > 1:
        model.W_hidden_[...] = rng.normal(0, scale, model.W_hidden_.shape)
        model.b_hidden_[...] = rng.normal(0, 0.3, model.b_hidden_.shape)
    return model


def _public(model):
    return {k: np.array(getattr(model, k + "_")) for k in ("W", "M", "b", "W_hidden", "b_hidden", "V", "c")}


@pytest.mark.parametrize("layers", [1, 2, 3])
def test_objective_gradient_matches_central_differences(rng, layers, backend):
    n, d = 6, 5
    model = _random_oa_model(rng, n, d, layers)
    X = (rng.random((9, n)) < 0.5).astype(np.uint8)
    masks = get_backend(backend).training_masks(philox_key(rng), 9, n)
    kernels = get_backend(backend).orderless(_public(model), BERNOULLI)
    padded = kernels.zeros_like()
    loss = kernels.objective(X, masks, padded)
    grads = kernels.public(padded)
    params = _public(model)
    f = lambda: oa_objective(params, X, masks)  # noqa: E731
    assert loss == pytest.approx(f(), rel=1e-12)
    numeric = central_difference_gradient(f, params, eps=1e-6)
    for name, g in numeric.items():
        if g.size == 0:
            continue
        err = np.abs(grads[name] - g).max() / max(np.abs(g).max(), 1e-12)
        assert err < 1e-6, (name, err)
    if backend == "compiled":  # padding of the kernels' layout gets no gradient
        assert not padded["W"][:, d:].any() and not padded["V"][:, d:].any()


def test_public_loss_and_gradient(rng, backend):
    model = _random_oa_model(rng, 6, 4, 2, backend=backend)
    X = (rng.random((5, 6)) < 0.5).astype(np.uint8)
    loss, grads = model.loss_and_gradient(X, random_state=3)
    # the masks as the compiled core draws them (test_oa_training_kernels.py checks them)
    masks = get_backend("compiled").training_masks(philox_key(np.random.default_rng(3)), 5, 6)
    params = _public(model)
    f = lambda: oa_objective(params, X, masks)  # noqa: E731
    assert loss == pytest.approx(f(), rel=1e-12)
    assert set(grads) == {"W", "M", "b", "W_hidden", "b_hidden", "V", "c"}
    assert grads["W_hidden"].shape == (1, 4, 4)
    numeric = central_difference_gradient(f, params, eps=1e-6)
    for name, g in numeric.items():
        assert grads[name].shape == g.shape, name
        err = np.abs(grads[name] - g).max() / max(np.abs(g).max(), 1e-12)
        assert err < 1e-6, (name, err)


@pytest.mark.parametrize("layers", [1, 2])
@pytest.mark.parametrize("dtype, rtol", [("float64", 1e-12), ("float32", 2e-5)])
def test_exact_likelihood_along_orderings(rng, layers, dtype, rtol, backend):
    n, d = 8, 6
    ordering = rng.permutation(n)
    model = _random_oa_model(rng, n, d, layers, dtype, ordering=ordering, backend=backend)
    X = all_binary_vectors(n)
    ll = model.score_samples(X)
    ref = oa_log_likelihood(_public(model), X, ordering)
    np.testing.assert_allclose(ll, ref, rtol=rtol, atol=1e-6 if dtype == "float32" else 0)
    assert abs(np.exp(ll).sum() - 1) < (1e-10 if dtype == "float64" else 1e-5)
    # conditionals along the model's ordering
    p = model.conditionals(X[:10])
    np.testing.assert_allclose(np.log(np.where(X[:10] == 1, p, 1 - p)).sum(axis=1), ll[:10],
                               rtol=100 * rtol)
    # prefix marginals end at the likelihood
    np.testing.assert_allclose(model.prefix_log_marginals(X[:10])[:, -1], ll[:10], rtol=100 * rtol)


def test_ensembles_are_normalised_log_mean_exp(rng, backend):
    n = 7
    model = _random_oa_model(rng, n, 5, 2, backend=backend)
    X = all_binary_vectors(n)
    for k in (1, 2, 5):
        ens = model.score_samples(X, n_orderings=k, random_state=4)
        assert abs(np.exp(ens).sum() - 1) < 1e-10, k
    # the ensemble of K orderings is the log-mean-exp of the K single-ordering likelihoods
    rng2 = np.random.default_rng(4)
    orderings = [model.ordering_] + [rng2.permutation(n) for _ in range(3)]
    single = np.array([oa_log_likelihood(_public(model), X, o) for o in orderings])
    expected = np.log(np.mean(np.exp(single), axis=0))
    np.testing.assert_allclose(model.score_samples(X, n_orderings=4, random_state=4), expected,
                               rtol=1e-12)


def test_any_mask_log_marginal_and_conditional_sampling(rng, backend):
    n = 6
    model = _random_oa_model(rng, n, 5, 2, scale=0.8, backend=backend)
    x = np.array([1, 0, 1, 1, 0, 1], dtype=np.uint8)
    mask = np.array([False, True, False, True, False, False])  # not a prefix of anything special
    observed_first = np.concatenate([np.flatnonzero(mask), np.flatnonzero(~mask)])
    allx = all_binary_vectors(n)
    joint = np.exp(oa_log_likelihood(_public(model), allx, observed_first))
    match = (allx[:, mask] == x[mask]).all(axis=1)
    assert model.log_marginal(x[None], mask[None])[0] == pytest.approx(np.log(joint[match].sum()),
                                                                       rel=1e-12)
    draws = model.conditional_sample(x[None], mask[None], n_samples=60_000, random_state=8)[:, 0]
    assert (draws[:, mask] == x[mask]).all()
    p_cond = joint[match] / joint[match].sum()
    codes = draws @ (1 << np.arange(n - 1, -1, -1))
    index = {code: i for i, code in enumerate(np.flatnonzero(match))}
    counts = np.bincount([index[c] for c in codes], minlength=len(p_cond))
    chi2 = ((counts - p_cond * len(draws)) ** 2 / (p_cond * len(draws))).sum()
    assert chi2 < CHI2_999_15, chi2
    # mode imputation: each unobserved variable (in the model's ordering) takes its likelier value
    filled = model.impute(x[None], mask[None])[0]
    current = x.copy()
    for j in observed_first[mask.sum():]:
        known = np.zeros(n, bool)
        known[observed_first[: list(observed_first).index(j)]] = True
        probs = []
        for v in (0, 1):
            current[j] = v
            sel = (allx[:, known | (np.arange(n) == j)] == current[known | (np.arange(n) == j)]).all(axis=1)
            probs.append(joint[sel].sum())
        current[j] = int(probs[1] > probs[0])
    np.testing.assert_array_equal(filled, current)


def test_results_do_not_depend_on_threads_or_blocks(rng):
    """Compiled only: about the compiled core's row blocks and OpenMP threads."""
    model = _random_oa_model(rng, 30, 20, 2, "float32")
    X = (rng.random((41, 30)) < 0.4).astype(np.uint8)
    mask = rng.random((41, 30)) < 0.3
    model.n_jobs = 1
    ref = (model.score_samples(X), model.sample(23, random_state=2),
           model.log_marginal(X, mask), model.impute(X, mask))
    try:
        for rows in (1, 5, 13):
            _compiled.force_block_rows(rows)
            for n_jobs in (1, 3):
                model.n_jobs = n_jobs
                got = (model.score_samples(X), model.sample(23, random_state=2),
                       model.log_marginal(X, mask), model.impute(X, mask))
                for a, b in zip(got, ref):
                    np.testing.assert_array_equal(a, b)
    finally:
        _compiled.force_block_rows(0)


def test_training_lowers_the_objective_and_round_trips(rng, tmp_path, backend):
    prototypes = rng.integers(0, 2, size=(3, 12))
    X = (prototypes[rng.integers(3, size=600)] ^ (rng.random((600, 12)) < 0.05)).astype(np.uint8)
    model = OrderAgnosticNADE(32, n_layers=2, random_state=0, backend=backend)
    model.fit(X[:500], X[500:], epochs=40, learning_rate=3e-3)
    first, best = model.history_[0]["valid_nll"], min(h["valid_nll"] for h in model.history_)
    assert best < first - 1.0
    # exact NLL, single ordering and an ensemble, far below independent Bernoulli's
    exact = -model.score(X[500:])
    ens = -np.mean(model.score_samples(X[500:], n_orderings=4, random_state=1))
    assert exact < 6.0 and ens < 6.0, (exact, ens)
    path = tmp_path / "oa.npz"
    model.save(path)
    loaded = OrderAgnosticNADE.load(path).set_params(backend=backend)
    assert isinstance(loaded, OrderAgnosticNADE) and loaded.n_layers == 2
    for name in ("W_", "M_", "b_", "W_hidden_", "b_hidden_", "V_", "c_", "ordering_"):
        np.testing.assert_array_equal(getattr(loaded, name), getattr(model, name))
    np.testing.assert_array_equal(loaded.score_samples(X[:20]), model.score_samples(X[:20]))


def test_order_agnostic_resume_is_bit_identical(rng, tmp_path, backend):
    X = (rng.random((200, 10)) < 0.3).astype(np.uint8)
    fit = dict(epochs=4, batch_size=20, patience=None)
    kw = dict(n_layers=2, backend=backend)
    full = OrderAgnosticNADE(8, random_state=1, **kw).fit(X, X[:50], **fit)
    ckpt = tmp_path / "oa.ckpt"
    OrderAgnosticNADE(8, random_state=1, **kw).fit(X, X[:50], **{**fit, "epochs": 2},
                                                   checkpoint=ckpt)
    resumed = OrderAgnosticNADE(8, **kw).fit(X, X[:50], **fit, checkpoint=ckpt, resume=True)
    for name in ("W_", "M_", "b_", "W_hidden_", "b_hidden_", "V_", "c_"):
        np.testing.assert_array_equal(getattr(resumed, name), getattr(full, name), err_msg=name)
    assert [h["valid_nll"] for h in resumed.history_] == [h["valid_nll"] for h in full.history_]


def test_misuse_is_refused(rng, tmp_path):
    X = (rng.random((10, 5)) < 0.5).astype(np.uint8)
    # a fixed-order NADE has one hidden layer and one ordering: no such parameters or methods
    with pytest.raises(TypeError, match="n_layers"):
        NADE(4, n_layers=2)
    with pytest.raises(TypeError, match="order_agnostic"):
        NADE(4, order_agnostic=True)
    with pytest.raises(TypeError, match="n_layers must be an integer"):
        OrderAgnosticNADE(4, n_layers="2").fit(X)
    fixed = NADE(4, random_state=0).fit(X, epochs=1)
    with pytest.raises(TypeError, match="n_orderings"):
        fixed.score_samples(X, n_orderings=2)
    with pytest.raises(AttributeError, match="M_"):
        fixed.M_
    oa = OrderAgnosticNADE(4, random_state=0).fit(X, epochs=1)
    with pytest.raises(AttributeError, match="hidden_states"):
        oa.hidden_states(X)
    # each loads as what it is
    with pytest.raises(ValueError, match="holds a NADE, not a OrderAgnosticNADE"):
        path = tmp_path / "fixed.npz"
        fixed.save(path)
        OrderAgnosticNADE.load(path)


def test_shared_and_per_row_orderings_agree(rng, backend):
    """One mask for all rows takes the shared-ordering path; it must equal the per-row path."""
    model = _random_oa_model(rng, 12, 8, 2, backend=backend)
    X = (rng.random((9, 12)) < 0.5).astype(np.uint8)
    mask = np.tile(rng.random(12) < 0.4, (9, 1))
    o = model.ordering_
    observed_first = np.concatenate([o[mask[0, o]], o[~mask[0, o]]])
    per_row = np.ascontiguousarray(np.tile(observed_first, (9, 1)), dtype=np.intp)
    counts = np.full(9, mask[0].sum(), dtype=np.intp)
    shared = model.log_marginal(X, mask)
    loglik = get_backend(backend).orderless(_public(model), BERNOULLI).score(X, per_row, 1, stop=counts)
    np.testing.assert_array_equal(shared, loglik)


def test_with_ordering_follows_the_new_ordering_and_leaves_the_original(rng, backend):
    n, d = 8, 6
    model = _random_oa_model(rng, n, d, 2, backend=backend)
    X = (rng.random((40, n)) < 0.4).astype(np.uint8)
    perm = rng.permutation(n)
    other = model.with_ordering(perm)
    np.testing.assert_array_equal(other.ordering_, perm)
    assert other.backend == backend
    np.testing.assert_allclose(other.score_samples(X), oa_log_likelihood(_public(model), X, perm),
                               rtol=1e-12)
    total = np.exp(other.score_samples(all_binary_vectors(n))).sum()
    assert total == pytest.approx(1.0, abs=1e-10)
    # the original keeps its ordering; the copy owns its parameters
    np.testing.assert_array_equal(model.ordering_, np.arange(n))
    other.V_[...] = 0
    assert np.abs(model.V_).sum() > 0
    # "random" draws from random_state like every other random choice of the estimator
    drawn = model.with_ordering("random", random_state=5).ordering_
    np.testing.assert_array_equal(drawn, np.random.default_rng(5).permutation(n))


def test_with_ordering_is_refused_where_it_has_no_meaning(rng):
    X = (rng.random((20, 5)) < 0.5).astype(np.uint8)
    fixed = NADE(4, random_state=0).fit(X, epochs=1)
    with pytest.raises(AttributeError, match="with_ordering"):
        fixed.with_ordering([4, 3, 2, 1, 0])
    oa = OrderAgnosticNADE(4, random_state=0).fit(X, epochs=1)
    with pytest.raises(ValueError, match="permutation"):
        oa.with_ordering([0, 0, 1, 2, 3])
    with pytest.raises(ValueError, match="ordering must be"):
        oa.with_ordering("backwards")
    with pytest.raises(NotFittedError):
        OrderAgnosticNADE(4).with_ordering([0, 1, 2, 3, 4])
