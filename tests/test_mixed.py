"""Mixed tables (output=[...], one type per column; docs/mixed.md) on the NumPy backend:
densities against the masked form written from the docs, normalisation by enumeration of
the discrete columns times quadrature over the real ones, gradients against central
differences, conditionals against enumeration and quadrature, observed cells kept bit for
bit, files, and bad input."""

import itertools
import pickle

import numpy as np
import pytest

from nadefast import NADE, OrderAgnosticNADE, load
from nadefast._missing import masks_among, row_weights

from reference import central_difference_gradient, mixed_log_density, mixed_table

TYPES = ["bernoulli", "categorical", "gaussian_mixture"]
FIXED = ("W", "b", "V", "c", "rho")
ORDERLESS = ("W", "M", "b", "W_hidden", "b_hidden", "V", "c")
KS_999 = 1.949  # the KS statistic's 0.999 quantile times sqrt(n)
CHI2_999 = {5: 20.52, 2: 13.82}  # scipy.stats.chi2.ppf(0.999, dof)


def _table(rng, types=TYPES, rows=60, K=3):
    return mixed_table(rng, types, rows, K)


def _random_model(rng, Model, types=TYPES, d=5, C=2, scale=0.6, **kw):
    """Fitted for zero epochs (categories and standardisation fixed), then random parameters."""
    model = Model(d, output=list(types), n_components=C, dtype="float64", random_state=0,
                  backend="numpy", **kw).fit(_table(rng, types), epochs=0)
    for name in _names(model):
        value = getattr(model, name + "_")
        value[...] = rng.normal(0, scale, value.shape)
    return model


def _names(model):
    if isinstance(model, NADE):
        return FIXED if "gaussian_mixture" in model.column_types_ else FIXED[:4]
    return ORDERLESS


def _params(model):
    return {k: np.array(getattr(model, k + "_")) for k in _names(model)}


def _reference(model, X, order=None, upto=None):
    order = model.ordering_ if order is None else order
    return mixed_log_density(type(model).__name__, _params(model), X, model.column_types_,
                             model.n_categories_, model.n_components, model.means_,
                             model.scales_, order, upto)


def _grid(model, j, half_width=40.0, points=16001):
    """A quadrature grid over real column j, in the user's units."""
    m, s = model.means_[j], model.scales_[j]
    return np.linspace(m - half_width * s, m + half_width * s, points)


MODELS = [(NADE, {}), (NADE, {"ordering": [2, 0, 1]}), (NADE, {"ordering": [1, 2, 0]}),
          (OrderAgnosticNADE, {"n_layers": 1}), (OrderAgnosticNADE, {"n_layers": 2})]


@pytest.mark.parametrize("Model, kw", MODELS)
def test_log_density_matches_the_masked_form(rng, Model, kw):
    model = _random_model(rng, Model, **kw)
    X = _table(rng, rows=12)
    np.testing.assert_allclose(model.score_samples(X), _reference(model, X), rtol=1e-10,
                               atol=1e-10)
    if Model is OrderAgnosticNADE:  # any other ordering too
        for order in ([2, 1, 0], [1, 0, 2]):
            other = model.with_ordering(order)
            np.testing.assert_allclose(other.score_samples(X), _reference(model, X, order),
                                       rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("Model, kw", MODELS)
def test_mixed_model_sums_and_integrates_to_one(rng, Model, kw):
    """Sum over the 2 x 3 discrete values of the quadrature over the real column, in the
    user's units: 1 (the real column first, middle or last in the chain)."""
    model = _random_model(rng, Model, scale=0.5, **kw)
    t = _grid(model, 2)
    total = 0.0
    for b, c in itertools.product(range(2), range(3)):
        rows = np.column_stack([np.full_like(t, b), np.full_like(t, c), t])
        total += np.trapezoid(np.exp(model.score_samples(rows)), t)
    assert abs(total - 1.0) < 1e-6, total


@pytest.mark.parametrize("Model", [NADE, OrderAgnosticNADE])
def test_two_real_columns_and_a_categorical_one_integrate_to_one(rng, Model):
    types = ["gaussian_mixture", "categorical", "gaussian_mixture"]
    model = _random_model(rng, Model, types, scale=0.4, ordering="random")
    axes = [_grid(model, 0, 12, 401), _grid(model, 2, 12, 401)]
    u, v = np.meshgrid(*axes, indexing="ij")
    total = 0.0
    for c in range(model.n_categories_[1]):
        rows = np.column_stack([u.ravel(), np.full(u.size, c), v.ravel()])
        p = np.exp(model.score_samples(rows)).reshape(u.shape)
        total += np.trapezoid(np.trapezoid(p, axes[1], axis=1), axes[0])
    assert abs(total - 1.0) < 1e-4, total


def test_all_discrete_mixed_model_sums_to_one_by_enumeration(rng):
    types = ["bernoulli", "categorical", "bernoulli", "categorical"]
    for Model in (NADE, OrderAgnosticNADE):
        model = _random_model(rng, Model, types, scale=1.0, ordering="random")
        K = model.n_categories_
        X = np.array(list(itertools.product(*[range(k) for k in K])), dtype=np.float64)
        assert abs(np.exp(model.score_samples(X)).sum() - 1.0) < 1e-12
        np.testing.assert_allclose(model.score_samples(X), _reference(model, X), rtol=1e-10)


@pytest.mark.parametrize("Model, kw", [MODELS[1], MODELS[4]])
def test_gradient_matches_central_differences(rng, Model, kw):
    model = _random_model(rng, Model, **kw)
    X = _table(rng, rows=10)
    params = _params(model)

    def loss():
        for k, v in params.items():
            getattr(model, k + "_")[...] = v
        return model.loss_and_gradient(X, random_state=3)[0]

    expected = central_difference_gradient(loss, params)
    for k, v in params.items():
        getattr(model, k + "_")[...] = v
    loss_value, grads = model.loss_and_gradient(X, random_state=3)
    assert sorted(grads) == sorted(params)
    for k in params:
        np.testing.assert_allclose(grads[k], expected[k], rtol=1e-5, atol=1e-7, err_msg=k)
    if Model is NADE:  # the exact mean NLL
        assert abs(loss_value + _reference(model, X).mean()
                   + np.log(model.scales_[2])) < 1e-10


def test_gradient_with_missing_entries_matches_central_differences(rng):
    model = _random_model(rng, OrderAgnosticNADE)
    X = _table(rng, rows=10)
    X[rng.random(X.shape) < 0.3] = np.nan
    X[0] = np.nan  # a row with nothing observed counts 0
    params = _params(model)

    def loss():
        for k, v in params.items():
            getattr(model, k + "_")[...] = v
        return model.loss_and_gradient(X, random_state=4)[0]

    expected = central_difference_gradient(loss, params)
    for k, v in params.items():
        getattr(model, k + "_")[...] = v
    _, grads = model.loss_and_gradient(X, random_state=4)
    for k in params:
        np.testing.assert_allclose(grads[k], expected[k], rtol=1e-5, atol=1e-7, err_msg=k)


# ------------------------------------------------------- training with missing entries


def _oa_conditional(model, x, mask, j):
    """log p(x_j | x_mask) of an order-agnostic model from the masked form: the reference
    along an ordering that lists the mask, then j, minus the same without j."""
    first = [i for i in range(len(x)) if mask[i]]
    order = first + [j] + [i for i in range(len(x)) if not mask[i] and i != j]
    with_j = _reference(model, x[None], order, upto=len(first) + 1)[0]
    without = _reference(model, x[None], order, upto=len(first))[0]
    return with_j - without


def test_objective_with_missing_entries_is_the_written_formula(rng):
    """For every mask within a row's observed set A: a / (a - s) times the sum over A minus
    the mask of -log p(x_j | x_mask), in standardised units (the objective's)."""
    model = _random_model(rng, OrderAgnosticNADE)
    kernels = model._fitted_kernels()
    x = _table(rng, rows=1)[0]
    available = np.array([True, False, True])
    A = np.flatnonzero(available)
    z = model._output.prepare(x[None])[0]
    jac = np.where(np.array(model.column_types_) == "gaussian_mixture", np.log(model.scales_), 0)
    for s in range(len(A)):
        for chosen in itertools.combinations(A, s):
            mask = np.zeros(3, dtype=bool)
            mask[list(chosen)] = True
            got = kernels.objective(np.where(available, z, 0.0)[None], mask[None],
                                    available=available[None])
            terms = [-(_oa_conditional(model, x, mask, j) + jac[j]) for j in A if not mask[j]]
            expected = len(A) / (len(A) - s) * sum(terms)
            assert abs(got - expected) < 1e-10, (chosen, got, expected)


def test_expected_objective_over_masks_is_the_mean_over_orderings_of_the_observed(rng):
    """E over the masks (s uniform in 0..a-1, then a uniform s-subset of A) of the
    objective = mean over the a! orderings of A of -log p_o(x_A): exact enumeration."""
    model = _random_model(rng, OrderAgnosticNADE, ["bernoulli", "categorical",
                                                   "gaussian_mixture", "categorical"])
    kernels = model._fitted_kernels()
    x = _table(rng, ["bernoulli", "categorical", "gaussian_mixture", "categorical"], rows=1)[0]
    available = np.array([True, True, True, False])
    A = list(np.flatnonzero(available))
    a = len(A)
    z = np.where(available, model._output.prepare(x[None])[0], 0.0)
    expected_objective = 0.0
    for s in range(a):
        subsets = list(itertools.combinations(A, s))
        for chosen in subsets:
            mask = np.zeros(4, dtype=bool)
            mask[list(chosen)] = True
            expected_objective += kernels.objective(z[None], mask[None], available=available[None]) \
                / a / len(subsets)
    real = [j for j in A if model.column_types_[j] == "gaussian_mixture"]
    orderings = list(itertools.permutations(A))
    mean_nll = np.mean([-_reference(model, x[None], list(o) + [3], upto=a)[0] for o in orderings])
    mean_nll -= sum(np.log(model.scales_[j]) for j in real)  # back to standardised units
    assert abs(expected_objective - mean_nll) < 1e-10


def test_training_masks_lie_within_the_observed_entries_and_are_uniform(rng):
    """s uniform in 0..a-1 and, given s, every s-subset of the available entries equally
    likely (chi-square over all (s, subset) pairs)."""
    available = np.array([[True, False, True, True, False]] * 30000)
    masks = masks_among(available, np.random.default_rng(1))
    assert not (masks & ~available).any()
    A = [0, 2, 3]
    cells = {}
    for s in range(3):
        for subset in itertools.combinations(A, s):
            cells[subset] = 1.0 / 3 / len(list(itertools.combinations(A, s)))
    keys = [tuple(np.flatnonzero(m)) for m in masks]
    counts = {c: 0 for c in cells}
    for k in keys:
        counts[k] += 1
    n = len(keys)
    chi2 = sum((counts[c] - n * p) ** 2 / (n * p) for c, p in cells.items())
    assert len(cells) == 7 and chi2 < 22.46  # chi2.ppf(0.999, 6)
    weight, counted = row_weights(available[:3], masks[:3])
    s = masks[:3].sum(axis=1)
    np.testing.assert_array_equal(weight, 3 / (3 - s))
    np.testing.assert_array_equal(counted, available[:3] & ~masks[:3])


def test_fit_on_a_table_with_holes_learns_its_dependence(rng):
    """Column 2 is column 1's category mean plus small noise; with 20 % of cells missing the
    fitted model predicts it from column 1 (imputation error far below the spread)."""
    n = 600
    c = rng.integers(0, 3, n)
    X = np.column_stack([rng.integers(0, 2, n), c, 10.0 * c + rng.normal(0, 0.3, n)])
    holes = X.copy()
    holes[rng.random(X.shape) < 0.2] = np.nan
    model = OrderAgnosticNADE(16, n_layers=1, output=TYPES, n_components=2, dtype="float64",
                              random_state=0, backend="numpy")
    model.fit(holes, epochs=60, batch_size=50, learning_rate=1e-2, patience=None)
    assert np.isfinite(model.history_[-1]["train_nll"])
    assert model.history_[-1]["train_nll"] < model.history_[0]["train_nll"]
    test = X[:100].copy()
    test[:, 2] = np.nan
    filled = model.impute(test)
    assert np.abs(filled[:, 2] - X[:100, 2]).mean() < 2.0  # the column's sd is about 8.2
    np.testing.assert_array_equal(filled[:, :2], X[:100, :2])


# ---------------------------------------------------------- conditional inference


@pytest.mark.parametrize("Model, kw", [MODELS[0], MODELS[3]])
def test_observed_cells_come_back_bit_for_bit(rng, Model, kw):
    model = _random_model(rng, Model, **kw)
    X = _table(rng, rows=10)
    X[:, 2] += 1e-9 * rng.normal(size=10)  # values that standardising and back would move
    observed = np.zeros(X.shape, dtype=bool)
    observed[:, 2] = True  # NADE: the prefix of its ordering
    observed[:5, 0] = True
    if Model is NADE:
        model = _random_model(rng, Model, ordering=[2, 0, 1])
    holes = np.where(observed, X, np.nan)
    for draws in (model.conditional_sample(holes, n_samples=4, random_state=1),):
        assert draws.shape == (4, 10, 3)
        for d in draws:
            np.testing.assert_array_equal(d[observed], X[observed])
    for method in ("mode", "mean", "median"):
        filled = model.impute(holes, method=method, n_samples=30, random_state=2)
        np.testing.assert_array_equal(filled[observed], X[observed])
        assert np.isin(filled[:, 0], [0, 1]).all()
        assert np.isin(filled[:, 1], np.arange(model.n_categories_[1])).all()
        assert np.isfinite(filled).all()


@pytest.mark.parametrize("Model, kw", [(NADE, {"ordering": [2, 0, 1]}), MODELS[4]])
def test_discrete_columns_given_a_real_one_follow_enumeration(rng, Model, kw):
    """Draws of (bernoulli, categorical) given the real value: chi-square against
    p(b, c | x) = p(b, c, x) / sum over the six pairs."""
    model = _random_model(rng, Model, scale=0.8, **kw)
    x = _table(rng, rows=1)[0]
    pairs = list(itertools.product(range(2), range(3)))
    # the joint along the ordering that conditioning follows: the observed column first
    along = model if Model is NADE else model.with_ordering([2, 0, 1])
    joint = np.exp(along.score_samples(np.array([[b, c, x[2]] for b, c in pairs])))
    expected = joint / joint.sum()
    holes = np.array([[np.nan, np.nan, x[2]]])
    draws = model.conditional_sample(holes, n_samples=6000, random_state=3)[:, 0]
    counts = np.array([np.sum((draws[:, 0] == b) & (draws[:, 1] == c)) for b, c in pairs])
    chi2 = ((counts - 6000 * expected) ** 2 / (6000 * expected)).sum()
    assert chi2 < CHI2_999[5], (chi2, counts, expected)


@pytest.mark.parametrize("Model, kw", [(NADE, {}), MODELS[4]])
def test_real_column_given_discrete_ones_follows_quadrature(rng, Model, kw):
    """Kolmogorov-Smirnov against the CDF of p(x | b, c) by cumulative quadrature."""
    model = _random_model(rng, Model, scale=0.8, **kw)
    t = _grid(model, 2, points=20001)
    density = np.exp(model.score_samples(np.column_stack([np.ones_like(t), np.full_like(t, 2),
                                                          t])))
    cdf = np.concatenate([[0], np.cumsum((density[1:] + density[:-1]) / 2 * np.diff(t))])
    cdf /= cdf[-1]
    draws = model.conditional_sample(np.array([[1.0, 2.0, np.nan]]), n_samples=3000,
                                     random_state=4)[:, 0, 2]
    v = np.sort(draws)
    F = np.interp(v, t, cdf)
    i = np.arange(1, len(v) + 1)
    D = max((i / len(v) - F).max(), (F - (i - 1) / len(v)).max())
    assert D * np.sqrt(len(v)) < KS_999, D


def test_log_marginal_of_any_observed_set_is_the_sum_and_integral_of_the_rest(rng):
    """log p(x_observed) sums and integrates the joint of the ordering that lists the
    observed columns first (an order-agnostic model's joints differ between orderings)."""
    model = _random_model(rng, OrderAgnosticNADE, scale=0.5)
    x = _table(rng, rows=1)[0]
    t = _grid(model, 2)
    # real observed, discrete summed out
    got = model.log_marginal(np.array([[np.nan, np.nan, x[2]]]))[0]
    along = model.with_ordering([2, 0, 1])
    joint = sum(np.exp(along.score_samples(np.array([[b, c, x[2]]])))[0]
                for b, c in itertools.product(range(2), range(3)))
    assert abs(got - np.log(joint)) < 1e-10
    # the categorical observed: the bernoulli summed, the real integrated
    got = model.log_marginal(np.array([[np.nan, x[1], np.nan]]))[0]
    along = model.with_ordering([1, 0, 2])
    total = sum(np.trapezoid(np.exp(along.score_samples(
        np.column_stack([np.full_like(t, b), np.full_like(t, x[1]), t]))), t) for b in range(2))
    assert abs(got - np.log(total)) < 1e-6


def test_mean_and_median_imputation_summarise_the_draws(rng):
    """method="mean": the draws' mean in real columns and most frequent value in discrete
    ones; "median": the median (same draws: same random_state)."""
    model = _random_model(rng, OrderAgnosticNADE)
    holes = np.array([[np.nan, np.nan, np.nan], [1.0, np.nan, np.nan]])
    draws = model.conditional_sample(holes, n_samples=50, random_state=5)
    for method, real in (("mean", draws[:, :, 2].mean(axis=0)),
                         ("median", np.median(draws[:, :, 2], axis=0))):
        filled = model.impute(holes, method=method, n_samples=50, random_state=5)
        np.testing.assert_allclose(filled[:, 2], real, rtol=1e-12)
        for r in range(2):
            for j, K in ((0, 2), (1, 3)):
                counts = np.bincount(draws[:, r, j].astype(int), minlength=K)
                assert filled[r, j] == np.argmax(counts)


# ------------------------------------------------------------------------- files


@pytest.mark.parametrize("Model, kw", [MODELS[1], MODELS[4]])
def test_model_file_and_pickle_round_trip(rng, Model, kw, tmp_path):
    model = _random_model(rng, Model, **kw)
    X = _table(rng, rows=8)
    path = tmp_path / "mixed.npz"
    model.save(path)
    for again in (load(path, backend="numpy"), Model.load(path, backend="numpy"),
                  pickle.loads(pickle.dumps(model))):
        assert again.column_types_ == TYPES and again.output == TYPES
        np.testing.assert_array_equal(again.n_categories_, model.n_categories_)
        np.testing.assert_array_equal(again.means_, model.means_)
        np.testing.assert_array_equal(again.scales_, model.scales_)
        for k, v in _params(model).items():
            np.testing.assert_array_equal(getattr(again, k + "_"), v)
        np.testing.assert_array_equal(again.score_samples(X), model.score_samples(X))
        np.testing.assert_array_equal(again.sample(5, random_state=1), model.sample(5, random_state=1))


def test_damaged_mixed_model_file_is_refused_naming_the_problem(rng, tmp_path):
    model = _random_model(rng, OrderAgnosticNADE)
    path = tmp_path / "mixed.npz"
    model.save(path)
    arrays = dict(np.load(path))
    for key, value, message in (("column_types", np.array(["bernoulli", "poisson", "categorical"]),
                                 "column_types"),
                                ("scales", np.array([1.0, 1.0, -2.0]), "scales"),
                                ("n_categories", np.array([2, 0, 0]), "n_categories")):
        bad = dict(arrays, **{key: value})
        np.savez(tmp_path / "bad.npz", **bad)
        with pytest.raises(ValueError, match=message):
            load(tmp_path / "bad.npz", backend="numpy")


# --------------------------------------------------------------------- bad input


def test_bad_output_lists_are_refused_before_any_work(rng):
    X = _table(rng)
    cases = [(["bernoulli", "categorical"], ValueError, "2 .*3|3 columns.*2|columns"),
             (["bernoulli", "poisson", "categorical"], ValueError, r"output\[1\]"),
             (["bernoulli", 3, "categorical"], TypeError, r"output\[1\]"),
             ([], ValueError, "no columns")]
    for output, error, message in cases:
        with pytest.raises(error, match=message):
            NADE(4, output=output, backend="numpy").fit(X, epochs=0)
    with pytest.raises(ValueError, match="column_types=|DataFrame"):
        NADE(4, output="auto", backend="numpy").fit(X, epochs=0)
    with pytest.raises(ValueError, match="not both"):
        NADE(4, output=TYPES, column_types=TYPES, backend="numpy").fit(X, epochs=0)
    with pytest.raises(ValueError, match="column_types applies to output='auto'"):
        NADE(4, output="bernoulli", column_types=TYPES, backend="numpy").fit(X, epochs=0)
    # output="auto" with column_types: the same model as output=[...]
    a = NADE(4, output="auto", column_types=TYPES, backend="numpy", random_state=0).fit(X, epochs=0)
    b = NADE(4, output=TYPES, backend="numpy", random_state=0).fit(X, epochs=0)
    np.testing.assert_array_equal(a.score_samples(X), b.score_samples(X))


def test_compiled_backend_refuses_mixed_outputs_naming_the_numpy_backend(rng):
    for Model in (NADE, OrderAgnosticNADE):
        with pytest.raises(ValueError, match="backend='numpy'"):
            Model(4, output=TYPES).fit(_table(rng), epochs=0)


def test_bad_values_name_the_cell(rng):
    X = _table(rng)
    model = NADE(4, output=TYPES, backend="numpy").fit(X, epochs=0)
    cases = [((0, 0), 2.0, r"\[0, 0\].*0 or 1"), ((1, 1), 1.5, r"\[1, 1\].*whole codes"),
             ((2, 1), -1.0, r"\[2, 1\]"), ((3, 1), 3.0, r"\[3, 1\].*0..2"),
             ((4, 2), np.inf, r"infinity.*\[4, 2\]"), ((5, 0), -np.inf, "infinity"),
             ((6, 2), np.nan, r"NaN at \[6, 2\]")]
    for (i, j), value, message in cases:
        bad = X.copy()
        bad[i, j] = value
        with pytest.raises(ValueError, match=message):
            model.score_samples(bad)
    with pytest.raises(ValueError, match="infinity"):
        NADE(4, output=TYPES, backend="numpy").fit(np.where(X == X[4, 2], np.inf, X), epochs=0)
    with pytest.raises(ValueError, match="infinity"):  # inf is not "missing"
        bad = X[:2].copy()
        bad[0, 2] = np.inf
        model.impute(bad)
    with pytest.raises(TypeError, match="dtype"):
        model.score_samples(X.astype(str))
    with pytest.raises(ValueError, match="3"):
        model.score_samples(X[:, :2])


def test_missing_values_at_fit(rng):
    X = _table(rng)
    holes = X.copy()
    holes[::3, 1] = np.nan
    with pytest.raises(ValueError, match="NaN"):  # a fixed-order NADE needs complete rows
        NADE(4, output=TYPES, backend="numpy").fit(holes, epochs=0)
    empty = X.copy()
    empty[:, 2] = np.nan
    with pytest.raises(ValueError, match="column 2 has no observed value"):
        OrderAgnosticNADE(4, output=TYPES, backend="numpy").fit(empty, epochs=0)
    model = OrderAgnosticNADE(4, output=TYPES, backend="numpy", random_state=0)
    model.fit(holes, holes[:10], epochs=2)
    # the statistics come from the observed entries only
    np.testing.assert_allclose(model.means_[2], X[:, 2].mean(), rtol=1e-12)
    assert model.n_categories_[1] == int(np.nanmax(holes[:, 1])) + 1
    # a column entirely missing at transform time is imputed like any other
    rows = X[:4].copy()
    rows[:, 1] = np.nan
    filled = model.impute(rows)
    assert np.isin(filled[:, 1], np.arange(model.n_categories_[1])).all()


def test_streamed_data_is_refused_for_mixed_outputs(rng, tmp_path):
    X = _table(rng)
    path = tmp_path / "x.npy"
    np.save(path, X)
    with pytest.raises(TypeError, match="streamed"):
        NADE(4, output=TYPES, backend="numpy").fit(np.load(path, mmap_mode="r"), epochs=0)


# ------------------------------------------------------------------ per-column reports


@pytest.mark.parametrize("Model, kw", [MODELS[1], MODELS[4]])
def test_column_log_likelihoods_are_the_chain_terms_by_column(rng, Model, kw):
    model = _random_model(rng, Model, **kw)
    X = _table(rng, rows=6)
    got = model.column_log_likelihoods(X)
    o = model.ordering_
    prefix = [_reference(model, X, upto=k) for k in range(4)]
    for k in range(3):
        np.testing.assert_allclose(got[:, o[k]], prefix[k + 1] - prefix[k], rtol=1e-10,
                                   atol=1e-12)
    np.testing.assert_allclose(got.sum(axis=1), model.score_samples(X), rtol=1e-12)


def test_category_probabilities_given_any_observed_set_follow_the_masked_form(rng):
    model = _random_model(rng, OrderAgnosticNADE, ["categorical", "gaussian_mixture", "bernoulli",
                                                   "categorical"], scale=0.8)
    X = _table(rng, ["categorical", "gaussian_mixture", "bernoulli", "categorical"], rows=4)
    observed = np.array([[False, True, False, True], [True, False, False, False],
                         [False, False, False, False], [False, True, True, False]])
    got = model.category_probabilities(np.where(observed, X, np.nan))
    assert sorted(got) == [0, 2, 3]
    for j, p in got.items():
        K = model.n_categories_[j]
        assert p.shape == (4, K)
        np.testing.assert_allclose(p.sum(axis=1), 1.0, rtol=1e-12)
        for r in range(4):
            if observed[r, j]:
                np.testing.assert_array_equal(p[r], np.eye(K)[int(X[r, j])])
                continue
            for v in range(K):
                x = X[r].copy()
                x[j] = v
                expected = np.exp(_oa_conditional(model, x, observed[r], j))
                assert abs(p[r, v] - expected) < 1e-10, (r, j, v)


def test_real_valued_models_impute_by_the_median_of_their_draws(rng):
    X = _table(rng, ["gaussian_mixture", "gaussian_mixture"], rows=40)
    model = OrderAgnosticNADE(4, output="gaussian_mixture", n_components=2, dtype="float64",
                              random_state=0).fit(X, epochs=1)
    holes = X[:5].copy()
    holes[:, 1] = np.nan
    draws = model.conditional_sample(holes, n_samples=31, random_state=6)
    filled = model.impute(holes, method="median", n_samples=31, random_state=6)
    np.testing.assert_array_equal(filled[:, 0], X[:5, 0])
    np.testing.assert_array_equal(filled[:, 1], np.median(draws[:, :, 1], axis=0))
