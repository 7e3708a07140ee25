"""Real-valued outputs (output="gaussian_mixture", RNADE): densities against the masked
form and quadrature, gradients against central differences, samples against the
model's own distribution (KS, chi-square), conditional inference and bad input -- on
every backend with kernels for them (docs/mixture.md; nadefast/_mixture.py)."""

import pickle

import numpy as np
import pytest

from nadefast import NADE, OrderAgnosticNADE, load
from nadefast.backends import get_backend

from reference import (
    central_difference_gradient,
    mixture_cdf,
    oa_rnade_log_density,
    oa_rnade_position_outputs,
    rnade_log_density,
    rnade_position_outputs,
)

FIXED = ("W", "b", "V", "c", "rho")
ORDERLESS = ("W", "M", "b", "W_hidden", "b_hidden", "V", "c")
KS_999 = 1.949  # sqrt(-log(0.0005) / 2): the KS statistic's 0.999 quantile times sqrt(n)
CHI2_999 = {35: 66.62, 24: 51.18}  # scipy.stats.chi2.ppf(0.999, dof)


@pytest.fixture(params=["compiled", "numpy"])
def backend(request):
    if "gaussian_mixture" not in get_backend(request.param).fixed_kernels:
        pytest.skip(f"the {request.param} backend has no gaussian_mixture kernels yet")
    return request.param


def _data(rng, n, rows=80):
    """Real rows on unequal scales and offsets, correlated."""
    Z = rng.normal(size=(rows, n))
    Z[:, 1:] += 0.8 * Z[:, :-1]
    return Z * (0.5 + np.arange(n)) + 10.0 * np.arange(n) - 3.0


def _random_model(rng, Model, n, backend, C=3, d=5, scale=0.6, **kw):
    """A model fitted for zero epochs (standardisation fixed), then random parameters."""
    model = Model(d, output="gaussian_mixture", n_components=C, dtype="float64", random_state=0,
                  backend=backend, **kw).fit(_data(rng, n), epochs=0)
    names = FIXED if Model is NADE else ORDERLESS
    for name in names:
        value = getattr(model, name + "_")
        value[...] = rng.normal(0, scale, value.shape)
    return model


def _params(model):
    names = FIXED if isinstance(model, NADE) else ORDERLESS
    return {k: np.array(getattr(model, k + "_")) for k in names}


def _reference(model, X, order=None, upto=None):
    order = model.ordering_ if order is None else order
    args = (_params(model), X, model.means_, model.scales_, model.n_components, order, upto)
    if isinstance(model, NADE):
        return rnade_log_density(*args, activation=model.activation)
    return oa_rnade_log_density(*args)


def _first_position_outputs(model):
    """The 3C output units of the first variable of the ordering (it sees no data)."""
    P, C = _params(model), model.n_components
    blank = np.zeros(model.n_features_in_)
    if isinstance(model, NADE):
        return rnade_position_outputs(P, blank, model.ordering_, 0, C, model.activation)
    return oa_rnade_position_outputs(P, blank, blank, model.ordering_[0], C)


# (MODELS[::2] keeps one of each kind: sigmoid and ReLU fixed-order, order-agnostic)
MODELS = [(NADE, {}), (NADE, {"ordering": "random"}), (OrderAgnosticNADE, {"n_layers": 1}),
          (OrderAgnosticNADE, {"n_layers": 2}), (NADE, {"activation": "relu", "ordering": "random"})]


@pytest.mark.parametrize("Model, kw", MODELS)
def test_log_density_matches_the_masked_form(rng, backend, Model, kw):
    model = _random_model(rng, Model, 4, backend, **kw)
    X = _data(rng, 4, rows=25)
    np.testing.assert_allclose(model.score_samples(X), _reference(model, X), rtol=1e-10,
                               atol=1e-10)


@pytest.mark.parametrize("Model, kw", MODELS)
def test_density_integrates_to_one_in_one_and_two_dimensions(rng, backend, Model, kw):
    """Trapezoidal quadrature over a grid wide enough for every component, in the user's
    units: the standardisation's Jacobian included."""
    for n in (1, 2):
        model = _random_model(rng, Model, n, backend, scale=0.4, **kw)
        axes = [np.linspace(m - 14 * s, m + 14 * s, 1601 if n == 1 else 401)
                for m, s in zip(model.means_, model.scales_)]
        grid = np.stack(np.meshgrid(*axes, indexing="ij"), axis=-1).reshape(-1, n)
        p = np.exp(model.score_samples(grid)).reshape([len(a) for a in axes])
        for axis in reversed(axes):
            p = np.trapezoid(p, axis, axis=-1)
        assert abs(p - 1.0) < 2e-3, (n, p)


@pytest.mark.parametrize("Model, kw", MODELS[::2])
def test_nested_three_dimensional_quadrature(rng, backend, Model, kw):
    """Integrating out the last variable of the chain leaves the prefix marginal, twice."""
    model = _random_model(rng, Model, 3, backend, scale=0.4, **kw)
    o = model.ordering_
    x = _data(rng, 3, rows=1)[0]
    m, s = model.means_[o[2]], model.scales_[o[2]]
    t = np.linspace(m - 14 * s, m + 14 * s, 4001)
    rows = np.tile(x, (len(t), 1))
    rows[:, o[2]] = t
    integral = np.trapezoid(np.exp(model.score_samples(rows)), t)
    observed = np.ones(3, dtype=bool)
    observed[o[2]] = False
    marginal = model.log_marginal(x[None], observed)[0]
    assert abs(np.log(integral) - marginal) < 1e-3
    np.testing.assert_allclose(marginal, _reference(model, x[None], upto=2)[0], rtol=1e-10)


@pytest.mark.parametrize("Model, kw", MODELS[::2])
def test_gradient_matches_central_differences(rng, backend, Model, kw):
    model = _random_model(rng, Model, 3, backend, **kw)
    X = _data(rng, 3, rows=12)
    names = FIXED if Model is NADE else ORDERLESS
    params = _params(model)

    def loss():
        for k, v in params.items():
            getattr(model, k + "_")[...] = v
        return model.loss_and_gradient(X, random_state=3)[0]

    expected = central_difference_gradient(loss, params)
    for k, v in params.items():
        getattr(model, k + "_")[...] = v
    _, grads = model.loss_and_gradient(X, random_state=3)
    assert sorted(grads) == sorted(names)
    for k in names:
        np.testing.assert_allclose(grads[k], expected[k], rtol=1e-5, atol=1e-7, err_msg=k)


@pytest.mark.parametrize("Model, kw", MODELS[::2])
def test_first_variable_samples_follow_its_mixture(rng, backend, Model, kw):
    """Kolmogorov-Smirnov: the first variable of the ordering is a fixed mixture."""
    model = _random_model(rng, Model, 3, backend, **kw)
    S = model.sample(4000, random_state=5)
    j = model.ordering_[0]
    z = np.sort((S[:, j] - model.means_[j]) / model.scales_[j])
    cdf = np.array([mixture_cdf(_first_position_outputs(model), model.n_components, v) for v in z])
    i = np.arange(1, len(z) + 1)
    D = max((i / len(z) - cdf).max(), (cdf - (i - 1) / len(z)).max())
    assert D * np.sqrt(len(z)) < KS_999, D


@pytest.mark.parametrize("Model, kw", MODELS[::2])
def test_two_dimensional_samples_fill_cells_as_the_density_says(rng, backend, Model, kw):
    """Chi-square over 6 x 6 cells (open at the edges) of the model's quadrature mass."""
    model = _random_model(rng, Model, 2, backend, scale=0.4, **kw)
    S = (model.sample(6000, random_state=2) - model.means_) / model.scales_
    cuts = [np.quantile(S[:, j], np.linspace(0, 1, 7)[1:-1]) for j in range(2)]
    axes = [np.linspace(-14, 14, 1401) for _ in range(2)]
    grid = np.stack(np.meshgrid(*axes, indexing="ij"), axis=-1).reshape(-1, 2)
    density = np.exp(model.score_samples(grid * model.scales_ + model.means_))
    mass = density * np.prod(model.scales_) * (axes[0][1] - axes[0][0]) ** 2
    cell = [np.searchsorted(cuts[j], grid[:, j]) for j in range(2)]
    expected = np.bincount(cell[0] * 6 + cell[1], weights=mass, minlength=36) * len(S)
    observed = np.bincount(np.searchsorted(cuts[0], S[:, 0]) * 6
                           + np.searchsorted(cuts[1], S[:, 1]), minlength=36)
    chi2 = ((observed - expected) ** 2 / expected).sum()
    assert chi2 < CHI2_999[35], chi2


def test_samples_are_reproducible_and_in_the_users_units(rng, backend):
    model = _random_model(rng, NADE, 3, backend)
    a = model.sample(200, random_state=7)
    assert a.dtype == np.float64 and a.shape == (200, 3)
    np.testing.assert_array_equal(a, model.sample(200, random_state=7))
    # the columns sit near the data's offsets (-3, 7, 17), not near 0
    assert np.all(np.abs(np.median(a, axis=0) - model.means_) < 6 * model.scales_)


@pytest.mark.parametrize("Model, kw", MODELS[::2])
def test_conditional_inference_keeps_observed_values_exactly(rng, backend, Model, kw):
    model = _random_model(rng, Model, 3, backend, **kw)
    X = _data(rng, 3, rows=10) + 1e-9 * rng.normal(size=(10, 3))  # values rounding would move
    observed = np.zeros((10, 3), dtype=bool)
    observed[:, model.ordering_[0]] = True
    draws = model.conditional_sample(X, observed, n_samples=3, random_state=1)
    assert draws.shape == (3, 10, 3)
    for d in draws:
        np.testing.assert_array_equal(d[observed], X[observed])
    for method in ("mode", "mean"):
        filled = model.impute(X, observed, method=method, n_samples=20)
        np.testing.assert_array_equal(filled[observed], X[observed])
        assert np.isfinite(filled).all()
    np.testing.assert_allclose(model.log_marginal(X, observed),
                               _reference(model, X, upto=1), rtol=1e-10)


def test_order_agnostic_log_marginal_follows_the_observed_first_ordering(rng, backend):
    model = _random_model(rng, OrderAgnosticNADE, 4, backend)
    X = _data(rng, 4, rows=6)
    observed = np.array([True, False, True, False])
    got = model.log_marginal(X, observed)
    # observed features first in the model's ordering's relative order
    order = [j for j in model.ordering_ if observed[j]] + [j for j in model.ordering_
                                                           if not observed[j]]
    np.testing.assert_allclose(got, _reference(model, X, order=order, upto=2), rtol=1e-10)


def test_mode_imputation_finds_the_highest_point_of_a_one_dimensional_mixture(rng, backend):
    for seed in range(4):
        model = _random_model(np.random.default_rng(seed), NADE, 1, backend, C=4, scale=1.0)
        t = np.linspace(model.means_[0] - 12 * model.scales_[0],
                        model.means_[0] + 12 * model.scales_[0], 200001)
        best = t[np.argmax(model.score_samples(t[:, None]))]
        mode = model.impute(np.array([[np.nan]]))[0, 0]
        assert model.score_samples([[mode]])[0] >= model.score_samples([[best]])[0] - 1e-9
        assert abs(mode - best) < 1e-3 * model.scales_[0]


def test_mean_imputation_estimates_the_conditional_mean(rng, backend):
    """impute(method="mean") vs the mixture mean sum_c w_c m_c of a 1-D model, within
    four standard errors."""
    model = _random_model(rng, NADE, 1, backend, C=3, scale=1.0)
    z = _first_position_outputs(model)
    C = 3
    e = np.exp(z[:C] - z[:C].max())
    w, m, s = e / e.sum(), z[C:2 * C], np.exp(z[2 * C:]) + 1e-3
    mean = (w * m).sum()
    sd = np.sqrt((w * (s**2 + m**2)).sum() - mean**2)
    got = model.impute(np.array([[np.nan]]), method="mean", n_samples=20000, random_state=3)
    got = (got[0, 0] - model.means_[0]) / model.scales_[0]
    assert abs(got - mean) < 4 * sd / np.sqrt(20000)


def test_conditionals_report_weights_means_and_scales_in_the_users_units(rng, backend):
    model = _random_model(rng, NADE, 2, backend, C=3)
    X = _data(rng, 2, rows=4)
    cond = model.conditionals(X)
    assert cond.shape == (4, 2 * 9)
    j = model.ordering_[0]
    block = cond[:, 9 * j:9 * (j + 1)]
    z = _first_position_outputs(model)
    e = np.exp(z[:3] - z[:3].max())
    np.testing.assert_allclose(block[:, :3], np.tile(e / e.sum(), (4, 1)), rtol=1e-10)
    np.testing.assert_allclose(block[:, 3:6], np.tile(z[3:6] * model.scales_[j] + model.means_[j],
                                                      (4, 1)), rtol=1e-10)
    np.testing.assert_allclose(block[:, 6:], np.tile((np.exp(z[6:]) + 1e-3) * model.scales_[j],
                                                     (4, 1)), rtol=1e-10)


def test_an_affine_change_of_units_shifts_the_log_density_by_the_jacobian(backend):
    """Standardisation makes a fit blind to units: on 3 X + 5, the same fit, and log
    densities lower by n log 3."""
    rng = np.random.default_rng(0)
    X = _data(rng, 3, rows=200)
    fit = dict(epochs=3, batch_size=50)
    a = NADE(8, output="gaussian_mixture", n_components=2, dtype="float64", random_state=0,
             backend=backend).fit(X, **fit)
    b = NADE(8, output="gaussian_mixture", n_components=2, dtype="float64", random_state=0,
             backend=backend).fit(3 * X + 5, **fit)
    np.testing.assert_allclose(b.score_samples(3 * X + 5), a.score_samples(X) - 3 * np.log(3),
                               rtol=1e-8)


@pytest.mark.parametrize("Model", [NADE, OrderAgnosticNADE])
def test_fit_learns_a_bimodal_distribution(backend, Model):
    """Two well separated modes: the fit's held-out log-density comes close to the true one
    (an independent column beside it, so the model has a chain to learn)."""
    rng = np.random.default_rng(1)

    def draw(rows):
        modes = rng.choice([-4.0, 4.0], rows)
        return np.c_[modes + rng.normal(size=rows), 2.0 * rng.normal(size=rows) + 1.0]

    def true_log_density(X):
        p0 = 0.5 * (np.exp(-0.5 * (X[:, 0] + 4) ** 2) + np.exp(-0.5 * (X[:, 0] - 4) ** 2))
        p1 = np.exp(-0.5 * ((X[:, 1] - 1) / 2) ** 2) / 2
        return np.log(p0 * p1) - np.log(2 * np.pi)

    X, test = draw(3000), draw(3000)
    model = Model(16, output="gaussian_mixture", n_components=4, random_state=0,
                  backend=backend).fit(X, epochs=40)
    gap = true_log_density(test).mean() - model.score(test)
    assert gap < 0.05, gap


def test_constant_and_duplicated_columns_keep_densities_finite(backend):
    rng = np.random.default_rng(0)
    X = np.c_[np.full(100, 2.5), rng.integers(0, 3, 100).astype(float), rng.normal(size=100)]
    model = NADE(6, output="gaussian_mixture", n_components=2, random_state=0,
                 backend=backend).fit(X, epochs=5)
    assert model.scales_[0] == 1.0
    ll = model.score_samples(X)
    assert np.isfinite(ll).all()
    assert np.isfinite(model.sample(50, random_state=0)).all()


@pytest.mark.parametrize("Model", [NADE, OrderAgnosticNADE])
def test_save_load_and_pickle_keep_the_density(tmp_path, rng, backend, Model):
    model = _random_model(rng, Model, 3, backend)
    X = _data(rng, 3, rows=7)
    path = tmp_path / "rnade.npz"
    model.save(path)
    for again in (load(path, backend=backend), pickle.loads(pickle.dumps(model))):
        assert again.n_components == model.n_components
        np.testing.assert_array_equal(again.means_, model.means_)
        np.testing.assert_array_equal(again.scales_, model.scales_)
        np.testing.assert_array_equal(again.score_samples(X), model.score_samples(X))
        np.testing.assert_array_equal(again.sample(5, random_state=1),
                                      model.sample(5, random_state=1))


@pytest.mark.parametrize("bad, error, words", [
    (np.array([[0.5, np.nan]]), ValueError, "NaN at [0, 1]"),
    (np.array([[0.5, np.inf]]), ValueError, "infinity"),
    (np.array([["a", "b"]]), TypeError, "real numbers"),
    (np.array([[1 + 1j, 2]]), TypeError, "real numbers"),
    (np.zeros(3), ValueError, "2-D"),
])
def test_bad_data_is_refused_before_any_kernel_runs(backend, bad, error, words):
    model = NADE(4, output="gaussian_mixture", n_components=2, backend=backend)
    with pytest.raises(error, match=words.replace("[", r"\[").replace("]", r"\]")):
        model.fit(bad, epochs=1)
    fitted = NADE(4, output="gaussian_mixture", n_components=2, random_state=0,
                  backend=backend).fit(np.random.default_rng(0).normal(size=(20, 2)), epochs=0)
    if bad.ndim == 2:
        with pytest.raises(error):
            fitted.score_samples(bad)


@pytest.mark.parametrize("value, error", [(0, ValueError), (-2, ValueError), (2.5, TypeError),
                                          (True, TypeError), ("3", TypeError)])
def test_bad_n_components_is_refused(value, error):
    with pytest.raises(error, match="n_components"):
        NADE(4, output="gaussian_mixture", n_components=value).fit(np.zeros((5, 2)), epochs=0)


def test_n_categories_does_not_apply_to_real_values():
    with pytest.raises(ValueError, match="n_categories applies to output='categorical'"):
        NADE(4, output="gaussian_mixture", n_categories=[2, 2]).fit(np.zeros((5, 2)), epochs=0)


def test_rho_belongs_to_the_mixture_only(rng):
    binary = NADE(4, random_state=0, backend="numpy").fit(rng.integers(0, 2, (20, 3)), epochs=0)
    with pytest.raises(AttributeError, match="no rho_"):
        binary.rho_


# ---------------------------------------------------------------- ReLU hidden units


def test_relu_units_are_what_the_model_computes(rng, backend):
    """The ReLU model's density is the ReLU reference's and not the sigmoid one's (the
    masked-form tests above would pass for either if the choice were ignored)."""
    model = _random_model(rng, NADE, 4, backend, activation="relu", ordering="random")
    X = _data(rng, 4, rows=20)
    got = model.score_samples(X)
    np.testing.assert_allclose(got, _reference(model, X), rtol=1e-10)
    args = (_params(model), X, model.means_, model.scales_, model.n_components, model.ordering_)
    assert np.abs(got - rnade_log_density(*args, activation="sigmoid")).max() > 1e-2
    # h = max(rho_k a_k, 0): some units off, the others linear in the state
    H = model.hidden_states(X)
    assert (H == 0).mean() > 0.1 and (H > 0).mean() > 0.1


def test_relu_models_save_load_and_pickle(tmp_path, rng, backend):
    model = _random_model(rng, NADE, 3, backend, activation="relu")
    X = _data(rng, 3, rows=7)
    path = tmp_path / "relu.npz"
    model.save(path)
    with np.load(path) as f:
        assert str(f["activation"]) == "relu"
    for again in (load(path, backend=backend), pickle.loads(pickle.dumps(model))):
        assert again.activation == "relu"
        np.testing.assert_array_equal(again.score_samples(X), model.score_samples(X))
    sigmoid = _random_model(rng, NADE, 3, backend)
    sigmoid.save(path)
    with np.load(path) as f:
        assert "activation" not in f.files  # sigmoid files are as before
    assert load(path, backend=backend).activation == "sigmoid"


def test_relu_fit_learns_a_bimodal_distribution(backend):
    rng = np.random.default_rng(1)
    modes = rng.choice([-4.0, 4.0], 6000)
    X = np.c_[modes + rng.normal(size=6000), modes + 2.0 * rng.normal(size=6000)]
    model = NADE(16, output="gaussian_mixture", n_components=4, activation="relu", random_state=0,
                 backend=backend).fit(X[:3000], epochs=40)
    test = X[3000:]
    m = np.stack([test[:, 0] + 4, test[:, 0] - 4])
    p0 = 0.5 * np.exp(-0.5 * m**2) / np.sqrt(2 * np.pi)  # each mode's share of x0 ...
    p1 = np.exp(-0.5 * ((test[:, 1] - np.array([[-4.0], [4.0]])) / 2) ** 2) / (2 * np.sqrt(2 * np.pi))
    truth = np.log((p0 * p1).sum(axis=0))  # ... and x1 given that mode
    gap = truth.mean() - model.score(test)
    assert gap < 0.05, gap


@pytest.mark.parametrize("kw, error, words", [
    ({"activation": "tanh"}, ValueError, "activation must be one of"),
    ({"activation": 1}, TypeError, "activation must be one of"),
    ({"activation": "relu", "output": "bernoulli"}, ValueError, "applies to output='gaussian_mixture'"),
    ({"activation": "relu", "output": "categorical"}, ValueError, "applies to output='gaussian_mixture'"),
])
def test_bad_activations_are_refused(kw, error, words):
    X = np.random.default_rng(0).integers(0, 2, size=(20, 3))
    model = NADE(4, **{"output": "gaussian_mixture", **kw})
    with pytest.raises(error, match=words):
        model.fit(X, epochs=1)
    assert not hasattr(model, "ordering_")  # nothing fitted


def test_warm_start_keeps_the_activation(rng):
    X = _data(rng, 3, rows=40)
    model = NADE(4, output="gaussian_mixture", activation="relu", warm_start=True,
                 random_state=0).fit(X, epochs=1)
    model.set_params(activation="sigmoid")
    with pytest.raises(ValueError, match="activation='relu'"):
        model.fit(X, epochs=1)


def test_relu_gradient_at_the_start_takes_the_kinks_zero_derivative(rng):
    """Fitting starts from b = 0, so every unit of the first position sits on ReLU's kink:
    its derivative there is 0 on every backend (the compiled one must not rebuild a_0 =
    b with rounding left in it)."""
    X = _data(rng, 5, rows=60)
    model = NADE(6, output="gaussian_mixture", activation="relu", dtype="float64",
                 random_state=0).fit(X, epochs=0)
    assert not model.b_.any()
    reference = pickle.loads(pickle.dumps(model)).set_params(backend="numpy")
    loss, grads = model.loss_and_gradient(X)
    loss_ref, grads_ref = reference.loss_and_gradient(X)
    assert loss == pytest.approx(loss_ref, rel=1e-12)
    for name, g in grads_ref.items():
        np.testing.assert_allclose(grads[name], g, rtol=1e-9, atol=1e-15, err_msg=name)
