"""OrderAgnosticNADE.impute(method="mean" / "median") with n_samples=None: each missing cell
from its own exact conditional given the row's observed cells, in one pass.

The reference is the masked form of tests/reference.py along the ordering that lists a
row's observed features, then the cell: p(x_j | x_observed) = p(x_O, x_j) / p(x_O), by
enumeration of the discrete values and by quadrature over the real ones (means, and the
median as the point where the integrated density reaches 1/2).  Every backend with
kernels for the output; mixed tables on the NumPy backend."""

import math

import numpy as np
import pytest

from nadefast import NADE, OrderAgnosticNADE
from nadefast._mixture import _normal_cdf

from reference import mixed_log_density, mixed_oa_outputs, mixed_table, mixture_parts

ORDERLESS = ("W", "M", "b", "W_hidden", "b_hidden", "V", "c")
BACKENDS = ["compiled", "numpy", "torch"]
CASES = {  # output -> column types, backends
    "bernoulli": (["bernoulli"] * 5, BACKENDS),
    "gaussian_mixture": (["gaussian_mixture"] * 3, BACKENDS),
    "mixed": (["gaussian_mixture", "categorical", "bernoulli", "gaussian_mixture"], ["numpy"]),
}
PARAMS = [(name, backend, method) for name, (_, backends) in CASES.items()
          for backend in backends for method in ("mean", "median")
          if not (name == "bernoulli" and method == "median")]  # a binary model has no median


def _table(rng, types, rows=40):
    return mixed_table(rng, types, rows)


def _random_model(rng, name, backend, n_layers=2):
    """Fitted for zero epochs (categories, standardisation fixed), then random parameters."""
    if backend == "torch":
        pytest.importorskip("torch", reason="the torch backend needs PyTorch (the gpu extra)")
    types = CASES[name][0]
    output = name if name != "mixed" else list(types)
    model = OrderAgnosticNADE(5, n_layers=n_layers, output=output, n_components=2,
                              dtype="float64", random_state=0, backend=backend)
    model.fit(_table(rng, types), epochs=0)
    for p in ORDERLESS:
        value = getattr(model, p + "_")
        value[...] = rng.normal(0, 0.7, value.shape)
    return model, types


def _params(model):
    return {k: np.array(getattr(model, k + "_")) for k in ORDERLESS}


def _K(model, types):
    return getattr(model, "n_categories_", np.full(len(types), 2))


def m_all(model):
    return getattr(model, "means_", np.zeros(model.n_features_in_))


def s_all(model):
    return getattr(model, "scales_", np.ones(model.n_features_in_))


def _log_density(model, types, X, order, upto):
    return mixed_log_density("OrderAgnosticNADE", _params(model), X, types, _K(model, types),
                             getattr(model, "n_components", 1), m_all(model), s_all(model),
                             order, upto)


def _cell_conditional(model, types, x, observed, j, values):
    """p(x_j = v | x_observed) (discrete) or its density in the user's units (real) at each
    of `values`, along the ordering observed features, j, the rest."""
    O = list(np.flatnonzero(observed))
    order = O + [j] + [i for i in range(len(types)) if i not in O and i != j]
    rows = np.tile(np.where(observed, x, 0.0), (len(values), 1))
    rows[:, j] = values
    joint = _log_density(model, types, rows, order, len(O) + 1)
    return np.exp(joint - _log_density(model, types, rows[:1], order, len(O)))


def _expected(model, types, x, observed, j, method):
    """What impute should put in cell j, from the reference conditional."""
    t = types[j]
    if t == "categorical":
        K = model.n_categories_[j]
        return float(np.argmax(_cell_conditional(model, types, x, observed, j, np.arange(K))))
    if t == "bernoulli":
        p = _cell_conditional(model, types, x, observed, j, np.array([0.0, 1.0]))
        assert abs(p.sum() - 1.0) < 1e-12
        if model.output == "bernoulli":  # a binary model's mean is the probability of a 1
            return p[1]
        return float(np.argmax(p))
    # a real cell: its mixture's units from the masked form, its density on a grid wide
    # and fine enough for every component (checked by the total mass)
    m, s = model.means_[j], model.scales_[j]
    y = mixed_oa_outputs(_params(model), np.where(observed, (x - m_all(model)) / s_all(model),
                                                  0.0), observed.astype(np.float64), types,
                         _K(model, types), model.n_components)[j]
    w, mu, sd = mixture_parts(y, model.n_components)
    low, high = np.min(mu - 14 * sd), np.max(mu + 14 * sd)
    grid = np.linspace(low, high, 2_000_001)  # standardised units
    f = np.sum(w * np.exp(-0.5 * ((grid[:, None] - mu) / sd) ** 2) / (sd * np.sqrt(2 * np.pi)),
               axis=1) / s
    grid = m + s * grid  # the user's units, f the density there
    step = grid[1] - grid[0]
    mass = np.concatenate([[0.0], np.cumsum((f[1:] + f[:-1]) * step / 2)])
    assert abs(mass[-1] - 1.0) < 1e-8  # the grid holds the whole conditional
    if method == "mean":
        return float(np.sum((grid[1:] * f[1:] + grid[:-1] * f[:-1]) * step / 2))
    return grid, mass  # the median: where the distribution function is 1/2


def _masks(rng, rows, n):
    """Random observed sets, and the extremes: nothing observed, one cell missing, none."""
    observed = rng.random((rows, n)) < 0.5
    observed[0] = False
    observed[1] = True
    observed[1, 0] = False
    observed[2] = True
    return observed


@pytest.mark.parametrize("name, backend, method", PARAMS)
def test_each_cell_follows_its_own_exact_conditional(rng, name, backend, method):
    model, types = _random_model(rng, name, backend)
    X = _table(rng, types, rows=7)
    observed = _masks(rng, *X.shape)
    Xnan = np.where(observed, X, np.nan)
    filled = model.impute(Xnan, method=method)
    assert filled.dtype == np.float64
    np.testing.assert_array_equal(filled[observed], X[observed])  # bit for bit
    for r, c in zip(*np.nonzero(~observed)):
        expected = _expected(model, types, X[r], observed[r], c, method)
        if isinstance(expected, tuple):  # a median: checked in probability (1.2e-7 and
            grid, mass = expected  # the quadrature's 1e-8), as its docstring promises
            assert abs(np.interp(filled[r, c], grid, mass) - 0.5) < 3e-7, (r, c)
            continue
        scale = 1.0 if types[c] != "gaussian_mixture" else model.scales_[c]
        assert abs(filled[r, c] - expected) <= 2e-6 * scale, (r, c, filled[r, c], expected)


@pytest.mark.parametrize("name", CASES)
def test_the_exact_path_is_deterministic_and_not_a_draw(rng, name):
    """No random state enters: any random_state gives the same bits; an int n_samples
    is the Monte Carlo estimate from that many draws instead."""
    model, types = _random_model(rng, name, "numpy")
    method = "mean"
    X = np.where(_masks(rng, 6, len(types)), _table(rng, types, rows=6), np.nan)
    exact = model.impute(X, method=method, random_state=1)
    np.testing.assert_array_equal(exact, model.impute(X, method=method, random_state=2))
    drawn = model.impute(X, method=method, n_samples=3, random_state=1)
    expected = model._output.summarise(model.conditional_sample(X, n_samples=3, random_state=1),
                                       method)
    np.copyto(expected, X, where=~np.isnan(X))
    np.testing.assert_array_equal(drawn, expected)
    assert not np.array_equal(drawn, exact)


@pytest.mark.parametrize("backend", ["compiled", "torch"])
@pytest.mark.parametrize("name", ["bernoulli", "gaussian_mixture"])
def test_backends_agree_with_the_numpy_reference(rng, name, backend):
    model, types = _random_model(rng, name, backend)
    state = model.__getstate__()
    state["params"]["backend"] = "numpy"
    twin = OrderAgnosticNADE.__new__(OrderAgnosticNADE)
    twin.__setstate__(state)
    X = np.where(_masks(rng, 30, len(types)), _table(rng, types, rows=30), np.nan)
    for method in ("mean", "median"):
        if method in model._output.impute_methods:
            np.testing.assert_allclose(model.impute(X, method=method),
                                       twin.impute(X, method=method), rtol=1e-10, atol=1e-12)


def test_a_fixed_order_nade_still_draws(rng):
    """NADE has no one-pass conditional for any observed set: n_samples=None is 100 draws."""
    X = (rng.random((50, 6)) < 0.5).astype(np.float64)
    model = NADE(4, dtype="float64", random_state=0).fit(X, epochs=1)
    Xm = X[:4].copy()
    Xm[:, 3:] = np.nan
    np.testing.assert_array_equal(model.impute(Xm, method="mean", random_state=3),
                                  model.impute(Xm, method="mean", n_samples=100, random_state=3))


def test_chunks_do_not_change_the_result(rng, monkeypatch):
    model, types = _random_model(rng, "mixed", "numpy")
    X = np.where(_masks(rng, 23, len(types)), _table(rng, types, rows=23), np.nan)
    whole = model.impute(X, method="mean")
    monkeypatch.setattr(OrderAgnosticNADE, "CHUNK_ROWS", 4)
    np.testing.assert_array_equal(model.impute(X, method="mean"), whole)
    probabilities = model.category_probabilities(X)
    monkeypatch.setattr(OrderAgnosticNADE, "CHUNK_ROWS", 4096)
    for j, p in model.category_probabilities(X).items():
        np.testing.assert_array_equal(probabilities[j], p)


def test_normal_cdf_against_math_erf():
    t = np.concatenate([np.linspace(-8, 8, 3201), [-40.0, -12.5, 0.0, 12.5, 40.0]])
    got = _normal_cdf(t)
    exact = np.array([0.5 * math.erfc(-v / math.sqrt(2.0)) for v in t])
    tiny = exact < 1e-300
    assert np.all(got[tiny] < 1e-300)
    assert np.max(np.abs(got[~tiny] - exact[~tiny]) / exact[~tiny]) < 1.2e-7
    assert np.max(np.abs(got - exact)) < 6e-8  # in probability


def test_huge_scale_pre_activations_stay_finite(rng):
    """A scale pre-activation beyond exp's range is clamped as the compiled kernels clamp it
    (csrc/mix_math.h): densities, draws and the exact mean and median stay finite."""
    model, types = _random_model(rng, "gaussian_mixture", "numpy")
    model.c_[2 * 2:3 * 2] = 800.0  # feature 0's two scale biases: exp(800) overflows
    X = _table(rng, types, rows=5)
    X[:, 0] = np.nan
    for method in ("mean", "median"):
        assert np.isfinite(model.impute(X, method=method)).all()
    assert np.isfinite(model.conditional_sample(X, n_samples=3, random_state=0)).all()
    assert np.isfinite(model.log_marginal(np.where(np.isnan(X), 1.0, X))).all()
    Y = np.where(np.isnan(X), 1.0, X)
    reference = model.score_samples(Y)
    compiled = model.set_params(backend="compiled").score_samples(Y)
    np.testing.assert_allclose(compiled, reference, rtol=1e-10)
