"""NADEImputer (nadefast/impute.py): scikit-learn's transformer checks, Pipeline,
GridSearchCV, clone, feature names; observed cells kept; valid codes and labels; a model
that learnt the table's dependence beats the column mean."""

import numpy as np
import pytest

from nadefast import NotFittedError
from nadefast.impute import NADEImputer

sklearn = pytest.importorskip("sklearn")
from sklearn.base import clone  # noqa: E402
from sklearn.linear_model import Ridge  # noqa: E402
from sklearn.model_selection import GridSearchCV  # noqa: E402
from sklearn.pipeline import make_pipeline  # noqa: E402
from sklearn.utils.estimator_checks import parametrize_with_checks  # noqa: E402

TYPES = ["bernoulli", "categorical", "gaussian_mixture", "gaussian_mixture"]


@parametrize_with_checks([NADEImputer(4, epochs=2, random_state=0)])
def test_scikit_learn_estimator_checks(estimator, check):
    check(estimator)


def _table(rng, rows=300):
    """A bernoulli, a categorical and two real columns, the reals following the codes."""
    b = rng.integers(0, 2, rows)
    c = rng.integers(0, 3, rows)
    r1 = 5.0 * c + rng.normal(0, 0.3, rows)
    r2 = r1 + 3.0 * b + rng.normal(0, 0.3, rows)
    return np.column_stack([b, c, r1, r2]).astype(np.float64)


def _holes(rng, X, fraction=0.2):
    H = X.copy()
    H[rng.random(X.shape) < fraction] = np.nan
    return H


def test_transform_fills_every_hole_and_keeps_observed_cells(rng):
    X = _table(rng, 120)
    H = _holes(rng, X)
    for kw in ({}, {"method": "mean"}, {"method": "median"}, {"sample_posterior": True}):
        imputer = NADEImputer(8, column_types=TYPES, epochs=3, random_state=0, **kw)
        filled = imputer.fit_transform(H)
        observed = ~np.isnan(H)
        assert not np.isnan(filled).any()
        np.testing.assert_array_equal(filled[observed], H[observed])
        assert np.isin(filled[:, 0], [0, 1]).all() and np.isin(filled[:, 1], [0, 1, 2]).all()


def test_multiple_imputations_are_draws_of_the_models_conditional(rng):
    H = _holes(rng, _table(rng, 60))
    imputer = NADEImputer(8, column_types=TYPES, epochs=2, random_state=0).fit(H)
    draws = imputer.multiple_imputations(H[:5], 4, random_state=7)
    expected = imputer.model_.conditional_sample(H[:5], n_samples=4, random_state=7)
    np.testing.assert_array_equal(draws, expected)
    assert draws.shape == (4, 5, 4)


def test_a_learnt_model_imputes_better_than_the_column_mean(rng):
    X = _table(rng, 400)
    H = _holes(rng, X)
    imputer = NADEImputer(32, n_layers=1, column_types=TYPES, n_components=2, epochs=60,
                          learning_rate=1e-2, random_state=0).fit(H)
    test = _table(rng, 100)
    hidden = test.copy()
    hidden[:, 2] = np.nan
    filled = imputer.transform(hidden)
    nade_error = np.abs(filled[:, 2] - test[:, 2]).mean()
    mean_error = np.abs(np.nanmean(H[:, 2]) - test[:, 2]).mean()
    assert nade_error < 0.3 * mean_error, (nade_error, mean_error)


def test_pipeline_grid_search_clone_and_feature_names(rng):
    X = _table(rng, 80)
    y = X @ [1.0, 2.0, 0.5, 0.1]
    H = _holes(rng, X)
    imputer = NADEImputer(4, column_types=TYPES, epochs=2, random_state=0)
    again = clone(imputer)
    assert again.get_params() == imputer.get_params() and again is not imputer
    search = GridSearchCV(make_pipeline(imputer, Ridge()), {"nadeimputer__n_hidden": [4, 6]},
                          cv=2).fit(H, y)
    assert search.best_params_["nadeimputer__n_hidden"] in (4, 6)
    search = GridSearchCV(imputer, {"method": ["mode", "mean"]}, cv=2).fit(H)  # by score
    assert np.isfinite(search.best_score_)
    fitted = imputer.fit(H)
    np.testing.assert_array_equal(fitted.get_feature_names_out(), ["x0", "x1", "x2", "x3"])
    with pytest.raises(ValueError, match="3 features, but NADEImputer is expecting 4"):
        fitted.transform(H[:, :3])


def test_data_frames_keep_names_and_labels(rng):
    pd = pytest.importorskip("pandas")
    X = _table(rng, 80)
    frame = pd.DataFrame({"flag": X[:, 0] > 0, "kind": pd.Series(np.array(["a", "b", "c"])[
        X[:, 1].astype(int)], dtype=object), "r1": X[:, 2], "r2": X[:, 3]})
    holes = frame.copy()
    holes.loc[::4, "kind"] = None
    holes.loc[1::4, "r1"] = np.nan
    imputer = NADEImputer(4, epochs=2, random_state=0).fit(holes)
    np.testing.assert_array_equal(imputer.get_feature_names_out(), ["flag", "kind", "r1", "r2"])
    filled = imputer.transform(holes)
    assert list(filled.columns) == ["flag", "kind", "r1", "r2"]
    assert set(filled["kind"]) <= {"a", "b", "c"} and not filled.isna().any().any()
    assert (filled["kind"][1::4] == frame["kind"][1::4]).all()


def test_bad_settings_and_input(rng):
    H = _holes(rng, _table(rng, 40))
    with pytest.raises(ValueError, match="method"):
        NADEImputer(method="average").fit(H)
    with pytest.raises(ValueError, match=r"output\[1\]"):
        NADEImputer(column_types=["bernoulli", "poisson", "categorical", "gaussian_mixture"],
                    epochs=1).fit(H)
    with pytest.raises(TypeError, match="not numbers"):
        NADEImputer(epochs=1).fit(np.array([[1.0, "a"], [2.0, None]], dtype=object))
    with pytest.raises(NotFittedError, match="not fitted"):
        NADEImputer().transform(H)


# ------------------------------------------------------------- early stopping


def test_validation_rows_stop_the_fit_early_and_keep_the_best_epoch(rng):
    # independent columns: nothing to learn beyond the marginals, so the validation loss
    # stops improving within a few epochs and patience ends the fit long before the budget
    H = _holes(rng, rng.normal(size=(200, 3)))
    imputer = NADEImputer(8, epochs=500, patience=3, learning_rate=1e-2,
                          random_state=0).fit(H)
    history = imputer.model_.history_
    assert imputer.n_epochs_ == len(history) < 500
    valid = np.array([h["valid_nll"] for h in history])
    assert np.isfinite(valid).all()
    # stopped `patience` epochs after the kept one, which has the lowest validation loss
    assert imputer.n_epochs_ - imputer.best_epoch_ == 3
    if imputer.best_epoch_ > 0:
        assert valid[imputer.best_epoch_ - 1] == valid.min()


def test_no_validation_runs_the_whole_budget(rng):
    H = _holes(rng, _table(rng, 100))
    for fraction in (0, 0.0, None):
        imputer = NADEImputer(4, column_types=TYPES, epochs=7, patience=1,
                              validation_fraction=fraction, random_state=0).fit(H)
        assert imputer.n_epochs_ == imputer.best_epoch_ == 7
        assert imputer.validation_rows_.size == 0
        assert all(h["valid_nll"] is None for h in imputer.model_.history_)


def test_validation_rows_come_from_random_state_and_do_not_train(rng):
    from nadefast import OrderAgnosticNADE

    H = _holes(rng, _table(rng, 150))
    fit = lambda seed: NADEImputer(4, column_types=TYPES, epochs=3, validation_fraction=0.2,
                                   random_state=seed).fit(H)
    a, b, c = fit(3), fit(3), fit(4)
    # numpy's own draw from the same seed: floor(0.2 * 150) = 30 rows without replacement
    expected = np.sort(np.random.default_rng(3).choice(150, size=30, replace=False))
    np.testing.assert_array_equal(a.validation_rows_, expected)
    np.testing.assert_array_equal(b.validation_rows_, expected)
    assert not np.array_equal(c.validation_rows_, expected)
    # the same fit by hand on the other 120 rows, validated on those 30: the same model
    train = np.setdiff1d(np.arange(150), expected)
    model = OrderAgnosticNADE(4, output=TYPES, n_components=5, dtype="float64", random_state=3,
                              backend="numpy")
    model.fit(H[train], H[expected], epochs=3, patience=20)
    np.testing.assert_array_equal(a.model_.W_, model.W_)
    np.testing.assert_array_equal(a.model_.c_, model.c_)


def test_bad_validation_fraction_is_a_clear_error(rng):
    H = _holes(rng, _table(rng, 40))
    for bad in (-0.1, 1.0, 1.5, float("nan")):
        with pytest.raises(ValueError, match="validation_fraction"):
            NADEImputer(4, column_types=TYPES, epochs=1, validation_fraction=bad).fit(H)
    with pytest.raises(TypeError, match="validation_fraction"):
        NADEImputer(4, column_types=TYPES, epochs=1, validation_fraction="0.1").fit(H)
    with pytest.raises(ValueError, match="patience"):
        NADEImputer(4, column_types=TYPES, epochs=1, patience=0).fit(H)


def test_auto_epochs_are_a_budget_of_about_8000_steps(rng):
    # ceil(8000 / ceil(rows / batch)) epochs, clipped to 5..200; batch "auto" is
    # rows // 40 within 10..100 rows (nadefast._training.auto_batch_size)
    imputer = NADEImputer(epochs="auto")
    assert imputer._epoch_budget(18_000) == 45      # batch 100: 180 steps an epoch
    assert imputer._epoch_budget(90_000) == 9       # batch 100: 900 steps
    assert imputer._epoch_budget(360) == 200        # batch 10: 36 steps -> 223, clipped
    assert NADEImputer(epochs="auto", batch_size=1)._epoch_budget(5000) == 5  # 2 -> 5
    assert NADEImputer(epochs="auto", batch_size=7)._epoch_budget(7000) == 8
    assert NADEImputer(epochs=3)._epoch_budget(10**6) == 3
    H = _holes(rng, _table(rng, 40))
    with pytest.raises(ValueError, match="epochs"):
        NADEImputer(4, column_types=TYPES, epochs="many").fit(H)


@pytest.mark.parametrize("n_jobs", [1, None])
def test_fit_runs_blas_on_n_jobs_threads(rng, monkeypatch, n_jobs):
    """n_jobs limits NumPy's BLAS threads for the fit (through threadpoolctl) and restores
    them after; None leaves BLAS alone."""
    threadpoolctl = pytest.importorskip("threadpoolctl")
    from nadefast._orderless import OrderAgnosticNADE

    def blas_threads():
        return [p["num_threads"] for p in threadpoolctl.threadpool_info()
                if p["user_api"] == "blas"]

    before = blas_threads()
    if not before:
        pytest.skip("no BLAS library that threadpoolctl can see")
    seen = []
    fit = OrderAgnosticNADE.fit

    def recording_fit(self, *args, **kwargs):
        seen.append(blas_threads())
        return fit(self, *args, **kwargs)

    monkeypatch.setattr(OrderAgnosticNADE, "fit", recording_fit)
    with threadpoolctl.threadpool_limits(limits=2, user_api="blas"):
        outside = blas_threads()
        X = rng.normal(size=(40, 3))
        X[rng.random(X.shape) < 0.2] = np.nan
        NADEImputer(8, epochs=1, validation_fraction=0, n_jobs=n_jobs, random_state=0).fit(X)
        assert seen == [[1] * len(outside)] if n_jobs == 1 else seen == [outside]
        assert blas_threads() == outside  # restored


@pytest.mark.parametrize("n_jobs, error", [(0, ValueError), (-1, ValueError), (1.5, TypeError),
                                           (True, TypeError), ("2", TypeError)])
def test_bad_n_jobs_is_a_clear_error(rng, n_jobs, error):
    X = rng.normal(size=(20, 2))
    with pytest.raises(error, match="n_jobs"):
        NADEImputer(4, epochs=1, n_jobs=n_jobs).fit(X)
