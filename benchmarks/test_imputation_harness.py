"""The imputation benchmark's own parts (benchmarks/imputation.py): masks, metrics and the
snapping of scikit-learn's outputs, on tiny synthetic data with hand-computed answers.

    pytest benchmarks/test_imputation_harness.py        # ~2 s; no statsmodels needed
"""

import json

import numpy as np
import pytest

import imputation as imp

REAL, BERN, CAT = imp.REAL, imp.BERN, imp.CAT


def test_rows_hidden_whole_get_exactly_one_cell_back():
    hidden = np.array([[True, True, True], [True, False, True], [False, False, False],
                       [True, True, True]])
    out = imp.keep_one_per_row(hidden, np.random.default_rng(0))
    assert out[[0, 3]].sum(axis=1).tolist() == [2, 2]  # one of three given back
    np.testing.assert_array_equal(out[[1, 2]], hidden[[1, 2]])
    assert hidden.all(axis=1).sum() == 2  # the input is left alone


def test_mcar_mask_hides_the_rate_and_never_a_whole_row():
    rows, n = 20_000, 4
    for rate in (0.1, 0.5):
        hidden = imp.mcar_mask((rows, n), rate, np.random.default_rng(1))
        assert not hidden.all(axis=1).any()
        # rows given back lower the share by rate**n / n; 5 binomial standard errors
        expected = rate - rate ** n / n
        assert abs(hidden.mean() - expected) < 5 * np.sqrt(rate * (1 - rate) / (rows * n))
    for bad in (-0.1, 1.0):
        with pytest.raises(ValueError, match="rate"):
            imp.mcar_mask((3, 3), bad, np.random.default_rng(0))


def test_mnar_mask_hides_large_real_values_more_often():
    rng = np.random.default_rng(2)
    rows = 40_000
    X = np.column_stack([rng.normal(size=rows), rng.integers(0, 3, rows), rng.normal(size=rows)])
    types = [REAL, CAT, REAL]
    hidden = imp.mnar_mask(X, types, np.random.default_rng(3), quantile=0.7, p_above=0.5,
                           p_below=0.1, p_discrete=0.2)
    for j in (0, 2):
        high = X[:, j] > np.quantile(X[:, j], 0.7)
        assert abs(hidden[high, j].mean() - 0.5) < 0.02
        assert abs(hidden[~high, j].mean() - 0.1) < 0.01
    assert abs(hidden[:, 1].mean() - 0.2) < 0.01


def test_masks_are_fixed_by_their_seed():
    X = np.random.default_rng(0).normal(size=(50, 3))
    types = [REAL] * 3
    for pattern in ("mcar30", "mnar"):
        a = imp.make_mask(X, types, pattern, 7)
        np.testing.assert_array_equal(a, imp.make_mask(X, types, pattern, 7))
        assert not np.array_equal(a, imp.make_mask(X, types, pattern, 8))
    assert imp.mask_seed("fair", "mcar10", 0) != imp.mask_seed("fair", "mcar30", 0)
    with pytest.raises(ValueError, match="pattern"):
        imp.make_mask(X, types, "mar", 0)


def test_rmse_accuracy_and_normalisation_by_hand():
    X = np.array([[1.0, 0.0, 10.0], [3.0, 1.0, 20.0], [5.0, 2.0, 30.0], [7.0, 1.0, 40.0]])
    filled = X.copy()
    filled[0, 0], filled[1, 0] = 2.0, 6.0  # errors 1 and 3 in column 0
    filled[2, 1], filled[3, 1] = 1.0, 1.0  # one wrong, one right
    hidden = np.zeros_like(X, dtype=bool)
    hidden[[0, 1], 0] = True
    hidden[[2, 3], 1] = True
    hidden[0, 2] = True  # hidden, filled exactly
    types = [REAL, CAT, REAL]
    rmse = imp.rmse_per_column(X, filled, hidden, types)
    assert rmse == {0: pytest.approx(np.sqrt(5.0)), 2: 0.0}
    # column 0: values 1, 3, 5, 7 have population sd sqrt(5); column 2: nrmse 0
    assert imp.normalised_rmse(X, rmse) == pytest.approx(0.5)
    assert imp.discrete_accuracy(X, filled, hidden, types) == 0.5
    assert np.isnan(imp.discrete_accuracy(X, filled, np.zeros_like(hidden), types))


def test_interval_coverage_counts_truths_inside_the_central_interval():
    # draws 0, 1, ..., 100 for every cell: the 5 % and 95 % quantiles are 5 and 95
    draws = np.broadcast_to(np.arange(101.0)[:, None, None], (101, 5, 2)).copy()
    X = np.array([[4.0, 0.0], [5.0, 0.0], [50.0, 0.0], [95.0, 0.0], [96.0, 0.0]])
    hidden = np.zeros((5, 2), dtype=bool)
    hidden[:, 0] = True
    hidden[:, 1] = True  # a discrete column: not counted
    cov = imp.interval_coverage(X, draws, hidden, [REAL, BERN])
    assert cov == pytest.approx(3 / 5)


def test_scikit_learn_outputs_snap_to_valid_codes():
    filled = np.array([[-0.7, 0.49, 3.3], [1.4, 0.51, -2.2], [2.6, 7.0, 0.25]])
    out = imp.snap_discrete(filled, [CAT, BERN, REAL], [3, 2, 0])
    np.testing.assert_array_equal(out[:, 0], [0.0, 1.0, 2.0])
    np.testing.assert_array_equal(out[:, 1], [0.0, 1.0, 1.0])
    np.testing.assert_array_equal(out[:, 2], filled[:, 2])


def test_synthetic_speed_table_has_its_types():
    X, types = imp.synthetic_table(500, seed=1)
    assert X.shape == (500, 20) and types.count(REAL) == 10
    assert set(np.unique(X[:, 10:15])) == {0.0, 1.0}
    assert set(np.unique(X[:, 15:])) == {0.0, 1.0, 2.0, 3.0}


def test_diabetes_table_types():
    pytest.importorskip("sklearn")
    table = imp.load_table("diabetes")
    assert table["X"].shape == (442, 11)
    assert table["types"].count(BERN) == 1 and table["types"].count(REAL) == 10
    sex = table["columns"].index("sex")
    assert set(np.unique(table["X"][:, sex])) == {0.0, 1.0} and table["levels"][sex] == [1.0, 2.0]


def test_records_are_standard_json():
    record = {"nrmse": float("inf"), "cells": [float("nan"), 0.5, {"x": -float("inf")}], "n": 3}
    safe = imp.json_safe(record)
    assert safe == {"nrmse": None, "cells": [None, 0.5, {"x": None}], "n": 3}
    json.dumps(safe, allow_nan=False)  # raises on Infinity or NaN
