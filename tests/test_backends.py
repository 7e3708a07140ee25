"""The backends against each other: every output of the compiled core equals the NumPy reference's.

nadefast/backends/_numpy.py is an independent float64 implementation of everything the
compiled core computes (no padding, no blocks, no incremental tricks), so on the same
parameters the two must agree: float64 models to 1e-10 relative, float32 compiled models
(float32 arithmetic) with the NumPy backend's float64 arithmetic on the same float32
parameters to float32 precision.  Samples use the same Philox streams, so they agree draw for
draw except where a probability and its uniform are within rounding of each other; such
near-ties are found from the documented random stream (docs/sampling.md §2) and excused, and
only they.  Then: short fits agree, a model's backend can be switched after fitting, and
pickles, model files and checkpoints hold the backend-independent public layout.
"""

import pickle

import numpy as np
import pytest

import nadefast
from nadefast import NADE, OrderAgnosticNADE
from nadefast._random import philox_key

from reference import philox_uniforms, random_params

BACKENDS = ("compiled", "numpy")
OA_NAMES = ("W", "M", "b", "W_hidden", "b_hidden", "V", "c")
FIXED_NAMES = ("W", "b", "V", "c")

# (n_features, n_hidden); (n_features, n_hidden, n_layers)
FIXED_SIZES = [(1, 1), (5, 3), (13, 7), (30, 20)]
OA_SIZES = [(1, 1, 1), (6, 4, 1), (9, 5, 2), (14, 8, 3)]

# tolerances of compiled against numpy: log-likelihoods (relative), probabilities and hidden
# states (relative, plus absolute for float32), gradients (relative to the array's largest
# entry), and |p - u| below which a draw counts as a near-tie
TOL = {
    "float64": dict(loglik=1e-10, prob_rtol=1e-10, prob_atol=0.0, grad=1e-10, tie=1e-9),
    "float32": dict(loglik=3e-5, prob_rtol=1e-4, prob_atol=2e-6, grad=2e-5, tie=1e-5),
}


def _binary(rng, rows, n, p=0.4):
    X = (rng.random((rows, n)) < p).astype(np.uint8)
    X[0] = 0
    X[-1] = 1
    return X


def _oa_params(rng, n, d, layers, scale=0.6):
    return {"W": rng.normal(0, scale, (d, n)), "M": rng.normal(0, scale, (d, n)),
            "b": rng.normal(0, scale, d),
            "W_hidden": rng.normal(0, scale, (layers - 1, d, d)),
            "b_hidden": rng.normal(0, 0.3, (layers - 1, d)),
            "V": rng.normal(0, scale, (n, d)), "c": rng.normal(0, scale, n)}


def _oa_model(params, ordering, dtype, backend):
    """An OrderAgnosticNADE of `backend` holding `params` (public layout), built on its own."""
    d, n = params["W"].shape
    model = OrderAgnosticNADE(d, n_layers=params["W_hidden"].shape[0] + 1, ordering=ordering,
                              dtype=dtype, random_state=0, backend=backend)
    model.fit(np.zeros((2, n), dtype=np.uint8), epochs=0)
    for name, value in params.items():
        setattr(model, name + "_", value)
    return model


def _fixed_pair(rng, n, d, dtype, scale=0.8):
    W, b, V, c = random_params(rng, n, d, scale)
    order = rng.permutation(n)
    return {be: NADE.from_params(W, b, V, c, ordering=order, dtype=dtype, backend=be)
            for be in BACKENDS}


def _oa_pair(rng, n, d, layers, dtype):
    params = _oa_params(rng, n, d, layers)
    order = rng.permutation(n)
    return {be: _oa_model(params, order, dtype, be) for be in BACKENDS}


def _public(model):
    names = OA_NAMES if isinstance(model, OrderAgnosticNADE) else FIXED_NAMES
    return {k: np.array(getattr(model, k + "_")) for k in names}


def _assert_loglik(a, b, tol, what):
    np.testing.assert_allclose(a, b, rtol=tol["loglik"], atol=0, err_msg=what)


def _assert_prob(a, b, tol, what):
    np.testing.assert_allclose(a, b, rtol=tol["prob_rtol"], atol=tol["prob_atol"], err_msg=what)


def _assert_grads(a, b, tol):
    assert set(a) == set(b)
    for name in b:
        assert a[name].shape == b[name].shape and a[name].dtype == b[name].dtype, name
        if b[name].size:
            scale = np.abs(b[name]).max()
            assert np.abs(a[name] - b[name]).max() <= tol["grad"] * max(scale, 1e-12), name


# ------------------------------------------------------------------------- inference


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("n, d", FIXED_SIZES)
def test_fixed_order_inference_agrees(rng, n, d, dtype):
    models = _fixed_pair(rng, n, d, dtype)
    c, p = models["compiled"], models["numpy"]
    tol = TOL[dtype]
    X = _binary(rng, 37, n)
    _assert_loglik(c.score_samples(X), p.score_samples(X), tol, "score_samples")
    _assert_prob(c.conditionals(X), p.conditionals(X), tol, "conditionals")
    _assert_prob(c.hidden_states(X), p.hidden_states(X), tol, "hidden_states")
    prefix_c, prefix_p = c.prefix_log_marginals(X), p.prefix_log_marginals(X)
    assert prefix_c.shape == prefix_p.shape == (37, n + 1)
    _assert_loglik(prefix_c, prefix_p, tol, "prefix_log_marginals")
    # log_marginal: a random prefix of the ordering per row (a fixed-order NADE takes prefixes)
    given = rng.integers(0, n + 1, size=len(X))
    mask = np.zeros(X.shape, dtype=bool)
    for r, k in enumerate(given):
        mask[r, c.ordering_[:k]] = True
    _assert_loglik(c.log_marginal(X, mask), p.log_marginal(X, mask), tol, "log_marginal")
    Xnan = np.where(mask, X, np.nan)
    _assert_loglik(c.log_marginal(Xnan), p.log_marginal(Xnan), tol, "log_marginal(NaN)")
    loss_c, grads_c = c.loss_and_gradient(X)
    loss_p, grads_p = p.loss_and_gradient(X)
    assert loss_c == pytest.approx(loss_p, rel=tol["loglik"])
    _assert_grads(grads_c, grads_p, tol)


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("n, d, layers", OA_SIZES)
def test_order_agnostic_inference_agrees(rng, n, d, layers, dtype):
    models = _oa_pair(rng, n, d, layers, dtype)
    c, p = models["compiled"], models["numpy"]
    tol = TOL[dtype]
    X = _binary(rng, 23, n)
    _assert_loglik(c.score_samples(X), p.score_samples(X), tol, "score_samples")
    _assert_loglik(c.score_samples(X, n_orderings=3, random_state=5),
                   p.score_samples(X, n_orderings=3, random_state=5), tol, "ensemble")
    _assert_prob(c.conditionals(X), p.conditionals(X), tol, "conditionals")
    _assert_loglik(c.prefix_log_marginals(X), p.prefix_log_marginals(X), tol,
                   "prefix_log_marginals")
    # any masks: one per row (per-row orderings), and one shared by every row
    mask = rng.random(X.shape) < 0.5
    _assert_loglik(c.log_marginal(X, mask), p.log_marginal(X, mask), tol, "log_marginal")
    shared = np.tile(rng.random(n) < 0.5, (len(X), 1))
    _assert_loglik(c.log_marginal(X, shared), p.log_marginal(X, shared), tol,
                   "log_marginal(shared)")
    loss_c, grads_c = c.loss_and_gradient(X, random_state=3)
    loss_p, grads_p = p.loss_and_gradient(X, random_state=3)
    assert loss_c == pytest.approx(loss_p, rel=tol["loglik"])
    _assert_grads(grads_c, grads_p, tol)


@pytest.mark.parametrize("Model", [NADE, OrderAgnosticNADE])
def test_conditionals_of_improbable_values_agree(Model):
    """Output biases from -35 to 35 and nothing else: the conditionals are sigmoid(c), values
    down to 6e-16, and agree to 1e-10 relative like every other float64 output."""
    n = 71
    c = np.linspace(-35.0, 35.0, n)
    if Model is NADE:
        models = [NADE.from_params(np.zeros((1, n)), np.zeros(1), np.zeros((n, 1)), c,
                                   dtype="float64", backend=be) for be in BACKENDS]
    else:
        params = {"W": np.zeros((1, n)), "M": np.zeros((1, n)), "b": np.zeros(1),
                  "W_hidden": np.zeros((0, 1, 1)), "b_hidden": np.zeros((0, 1)),
                  "V": np.zeros((n, 1)), "c": c}
        models = [_oa_model(params, None, "float64", be) for be in BACKENDS]
    X = np.zeros((1, n), dtype=np.uint8)
    exact = 1.0 / (1.0 + np.exp(-c))
    compiled, numpy_ = (m.conditionals(X)[0] for m in models)
    np.testing.assert_allclose(compiled, exact, rtol=1e-14)  # the compiled core: a few ulp
    np.testing.assert_allclose(numpy_, compiled, rtol=1e-10)


# --------------------------------------------------------------------------- samples


def _uniforms(key, rows, n):
    """The documented uniforms of rows 0..rows-1 (tests/reference.py, docs/sampling.md §2)."""
    return np.array([philox_uniforms(key, r, n) for r in range(rows)]).reshape(rows, n)


def _assert_same_draws(a, b, chains, uniforms, probability, tie):
    """Draws a (compiled) and b (numpy), (rows, n): equal, except rows whose first difference
    in chain order is a near-tie, |p - u| < tie, p the probability of a 1 there given the common
    prefix (probability(row, position) on the NumPy model) and u the uniform it was compared
    with (x = [p > u]; greedy draws: u = 1/2).  Near-ties must be rare."""
    assert a.shape == b.shape and a.dtype == b.dtype == np.uint8
    differ = np.flatnonzero((a != b).any(axis=1))
    for r in differ:
        k = int(np.flatnonzero(a[r, chains[r]] != b[r, chains[r]])[0])
        p = probability(r, k)
        margin = abs(p - uniforms[r, k])
        assert margin < tie, (f"row {r} differs at chain position {k} (feature {chains[r][k]}): "
                              f"p={p!r}, u={uniforms[r, k]!r}, not a near-tie")
    assert len(differ) <= max(1, len(a) // 100), f"{len(differ)} of {len(a)} rows are near-ties?"


def _chain_probability(model, rows, chains):
    """probability(r, k): p(x at chain position k = 1 | rows[r] before it) along chains[r]."""

    def probability(r, k):
        if isinstance(model, OrderAgnosticNADE):
            m = model.with_ordering(chains[r])
        else:
            assert np.array_equal(chains[r], model.ordering_)
            m = model
        return float(m.conditionals(rows[r : r + 1])[0, chains[r][k]])

    return probability


def _observed_first(ordering, mask):
    """Per row the ordering that lists the observed features first, in the model's order."""
    return np.array([np.concatenate([ordering[m[ordering]], ordering[~m[ordering]]])
                     for m in mask])


def _check_sampling(models, rng, dtype, masks):
    """sample, conditional_sample and impute(mode) of both backends draw for draw."""
    c, p = models["compiled"], models["numpy"]
    n = c.n_features_in_
    tie = TOL[dtype]["tie"]
    rows = 300
    a, b = c.sample(rows, random_state=7), p.sample(rows, random_state=7)
    chains = np.tile(c.ordering_, (rows, 1))
    _assert_same_draws(a, b, chains, _uniforms(philox_key(7), rows, n),
                       _chain_probability(p, b, chains), tie)
    X = _binary(rng, 20, n)
    n_samples = 4
    a = c.conditional_sample(X, masks, n_samples=n_samples, random_state=9)
    b = p.conditional_sample(X, masks, n_samples=n_samples, random_state=9)
    assert a.shape == b.shape == (n_samples, len(X), n)
    chains = np.tile(_observed_first(c.ordering_, masks), (n_samples, 1))
    flat_b = b.reshape(-1, n)
    _assert_same_draws(a.reshape(-1, n), flat_b, chains,
                       _uniforms(philox_key(9), n_samples * len(X), n),
                       _chain_probability(p, flat_b, chains), tie)
    a, b = c.impute(X, masks), p.impute(X, masks)
    chains = _observed_first(c.ordering_, masks)
    _assert_same_draws(a, b, chains, np.full(b.shape, 0.5), _chain_probability(p, b, chains), tie)
    # impute(mean) averages conditional samples: equal wherever the samples are
    mean_c = c.impute(X, masks, method="mean", n_samples=50, random_state=2)
    mean_p = p.impute(X, masks, method="mean", n_samples=50, random_state=2)
    assert np.abs(mean_c - mean_p).max() <= 1 / 50  # one near-tie draw at most per entry


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("n, d", [(1, 1), (8, 5), (25, 12)])
def test_fixed_order_samples_agree(rng, n, d, dtype):
    models = _fixed_pair(rng, n, d, dtype, scale=1.0)
    given = rng.integers(0, n + 1, size=20)
    masks = np.zeros((20, n), dtype=bool)
    for r, k in enumerate(given):
        masks[r, models["compiled"].ordering_[:k]] = True
    _check_sampling(models, rng, dtype, masks)


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("n, d, layers", [(1, 1, 1), (7, 5, 2), (12, 6, 3)])
def test_order_agnostic_samples_agree(rng, n, d, layers, dtype):
    models = _oa_pair(rng, n, d, layers, dtype)
    _check_sampling(models, rng, dtype, rng.random((20, n)) < 0.4)


def test_near_tie_check_can_fail(rng):
    """The draw comparison accepts only near-ties: a flipped draw that is not one is caught
    (and excused only when the tolerance is widened to take it in)."""
    models = _fixed_pair(rng, 8, 5, "float64", scale=1.0)
    b = models["numpy"].sample(50, random_state=7)
    a = b.copy()
    chains = np.tile(models["numpy"].ordering_, (50, 1))
    u = _uniforms(philox_key(7), 50, 8)
    probability = _chain_probability(models["numpy"], b, chains)
    margins = [abs(probability(0, k) - u[0, k]) for k in range(8)]
    k = int(np.argmax(margins))  # the draw least likely to be a tie
    a[0, chains[0][k]] ^= 1
    with pytest.raises(AssertionError, match="not a near-tie"):
        _assert_same_draws(a, b, chains, u, probability, 1e-9)
    _assert_same_draws(a, b, chains, u, probability, margins[k] * 1.01)
    a[1, chains[1][0]] ^= 1  # a second excused row is one too many in 50
    with pytest.raises(AssertionError, match="rows are near-ties"):
        _assert_same_draws(a, b, chains, u, probability, 1.0)


# ----------------------------------------------------------------------------- fits


def _fit_data(seed, rows=120, n=10):
    rng = np.random.default_rng(seed)
    prototypes = rng.integers(0, 2, size=(3, n))
    X = prototypes[rng.integers(3, size=rows)] ^ (rng.random((rows, n)) < 0.1)
    return X[:90].astype(np.uint8), X[90:].astype(np.uint8)


def _assert_params_close(a, b, rtol, what=""):
    assert set(a) == set(b)
    for name, value in b.items():
        assert a[name].shape == value.shape, (what, name)
        if value.size:
            assert np.abs(a[name] - value).max() <= rtol * np.abs(value).max(), (what, name)


FIT_MODELS = [pytest.param(NADE, {}, id="NADE"),
              pytest.param(OrderAgnosticNADE, {"n_layers": 2}, id="OrderAgnosticNADE")]


@pytest.mark.parametrize("optimizer", ["adam", "sgd"])
@pytest.mark.parametrize("Model, extra", FIT_MODELS)
def test_short_fits_agree(Model, extra, optimizer):
    train, valid = _fit_data(0)
    fit = dict(epochs=4, batch_size=15, optimizer=optimizer, patience=None,
               learning_rate=1e-2 if optimizer == "adam" else 0.5, weight_decay=0.01)
    kw = dict(ordering="random", dtype="float64", random_state=3, **extra)
    start = Model(8, **kw).fit(train, **{**fit, "epochs": 0})
    # without validation rows a fit keeps its last parameters: the whole trajectory agrees
    fitted = {be: Model(8, backend=be, **kw).fit(train, **fit) for be in BACKENDS}
    c, p = fitted["compiled"], fitted["numpy"]
    np.testing.assert_array_equal(c.ordering_, p.ordering_)
    assert np.abs(_public(c)["V"] - _public(start)["V"]).max() > 1e-2  # the fit moved ...
    _assert_params_close(_public(c), _public(p), 1e-9)  # ... and moved alike
    np.testing.assert_allclose([h["train_nll"] for h in c.history_],
                               [h["train_nll"] for h in p.history_], rtol=1e-9)
    # with validation rows: the same validation losses, best epoch and kept parameters
    fitted = {be: Model(8, backend=be, **kw).fit(train, valid, **fit) for be in BACKENDS}
    c, p = fitted["compiled"], fitted["numpy"]
    np.testing.assert_allclose([h["valid_nll"] for h in c.history_],
                               [h["valid_nll"] for h in p.history_], rtol=1e-9)
    assert c.best_epoch_ == p.best_epoch_
    _assert_params_close(_public(c), _public(p), 1e-9)


@pytest.mark.parametrize("Model, extra", FIT_MODELS)
def test_a_checkpoint_resumes_on_the_other_backend(Model, extra, tmp_path):
    """Checkpoints hold the public layout: a fit checkpointed on one backend continues on the
    other, as a fit on that backend would have."""
    train, valid = _fit_data(1)
    fit = dict(epochs=4, batch_size=15, learning_rate=1e-2, patience=None)
    kw = dict(dtype="float64", random_state=4, **extra)
    for first, second in (("compiled", "numpy"), ("numpy", "compiled")):
        ckpt = tmp_path / f"{first}.ckpt"
        Model(8, backend=first, **kw).fit(train, valid, **{**fit, "epochs": 2}, checkpoint=ckpt)
        resumed = Model(8, backend=second, **kw).fit(train, valid, **fit, checkpoint=ckpt,
                                                     resume=True)
        full = Model(8, backend=second, **kw).fit(train, valid, **fit)
        assert resumed.backend == second and len(resumed.history_) == 4
        _assert_params_close(_public(resumed), _public(full), 1e-9, (first, second))


# ------------------------------------------------ switching, pickles and model files


def _fitted_pair_from(model):
    """The same fitted parameters in a NADE / OrderAgnosticNADE built on each backend."""
    params = _public(model)
    if isinstance(model, NADE):
        return {be: NADE.from_params(*(params[k] for k in FIXED_NAMES), ordering=model.ordering_,
                                     backend=be) for be in BACKENDS}
    return {be: _oa_model(params, model.ordering_, params["W"].dtype.name, be) for be in BACKENDS}


def _outputs(model, X):
    out = [model.score_samples(X), model.conditionals(X), model.sample(40, random_state=1)]
    if isinstance(model, OrderAgnosticNADE):
        out.append(model.score_samples(X, n_orderings=2, random_state=3))
    return out


def _assert_same_outputs(a, b):
    for x, y in zip(a, b, strict=True):
        np.testing.assert_array_equal(x, y)


@pytest.mark.parametrize("Model, extra", FIT_MODELS)
@pytest.mark.parametrize("first", BACKENDS)
def test_backend_can_be_switched_after_fitting(Model, extra, first):
    train, valid = _fit_data(2)
    model = Model(6, dtype="float64", random_state=0, backend=first, **extra).fit(
        train, valid, epochs=2, batch_size=15, patience=None)
    reference = _fitted_pair_from(model)  # the fitted parameters, on each backend from scratch
    before = _public(model)
    second = "numpy" if first == "compiled" else "compiled"
    _assert_same_outputs(_outputs(model, valid), _outputs(reference[first], valid))
    model.set_params(backend=second)
    assert model.backend == second
    # computed by the other backend now: its bits, and the same scores to 1e-10
    _assert_same_outputs(_outputs(model, valid), _outputs(reference[second], valid))
    np.testing.assert_allclose(model.score_samples(valid), reference[first].score_samples(valid),
                               rtol=1e-10)
    for name, value in _public(model).items():  # the public parameters are unchanged
        np.testing.assert_array_equal(value, before[name], err_msg=name)
    model.set_params(backend=first)
    _assert_same_outputs(_outputs(model, valid), _outputs(reference[first], valid))


@pytest.mark.parametrize("Model, extra", FIT_MODELS)
def test_pickles_and_files_hold_the_public_layout(Model, extra, tmp_path):
    train, valid = _fit_data(3)
    model = Model(6, dtype="float64", random_state=0, **extra).fit(train, epochs=1)
    models = _fitted_pair_from(model)
    files = {}
    for be, m in models.items():
        other = "numpy" if be == "compiled" else "compiled"
        # a pickle keeps the backend and the parameters, bit for bit
        copy = pickle.loads(pickle.dumps(m))
        assert copy.backend == be
        for name, value in _public(m).items():
            np.testing.assert_array_equal(_public(copy)[name], value, err_msg=name)
        _assert_same_outputs(_outputs(copy, valid), _outputs(m, valid))
        # ... and the other backend computes from it what it computes from the parameters
        copy.set_params(backend=other)
        _assert_same_outputs(_outputs(copy, valid), _outputs(models[other], valid))
        # a model file holds no backend: it loads on the default and scores as that backend does
        files[be] = tmp_path / f"{be}.npz"
        m.save(files[be])
        loaded = nadefast.load(files[be])
        assert type(loaded) is Model and loaded.backend == "compiled"
        _assert_same_outputs(_outputs(loaded, valid), _outputs(models["compiled"], valid))
        loaded.set_params(backend="numpy")
        _assert_same_outputs(_outputs(loaded, valid), _outputs(models["numpy"], valid))
    # the files of the two backends hold the same arrays
    with np.load(files["compiled"]) as a, np.load(files["numpy"]) as b:
        assert set(a.files) == set(b.files)
        for key in a.files:
            assert a[key].dtype == b[key].dtype, key
            np.testing.assert_array_equal(a[key], b[key], err_msg=key)
