"""pandas tables through mixed models (output="auto"; docs/mixed.md §2): types from dtypes,
labels, names, order and dtypes through fit, sample, impute and files; missing cells;
unseen labels; columns mixing types; pandas imported only when used."""

import subprocess
import sys
import warnings

import numpy as np
import pytest

from nadefast import NADE, OrderAgnosticNADE, load

pd = pytest.importorskip("pandas")


def _frame(rng, rows=80):
    return pd.DataFrame({
        "smoker": rng.random(rows) < 0.3,
        "colour": pd.Categorical(rng.choice(["red", "green", "blue"], rows),
                                 categories=["red", "green", "blue"]),
        "city": pd.Series(rng.choice(["Paris", "Oslo", "Lima"], rows), dtype=object),
        "age": rng.integers(18, 80, rows),
        "income": rng.normal(3e4, 1e4, rows),
    })


TYPES = ["bernoulli", "categorical", "categorical", "gaussian_mixture", "gaussian_mixture"]


def _model(frame, Model=OrderAgnosticNADE, **kw):
    return Model(6, output="auto", backend="numpy", dtype="float64", random_state=0,
                 **kw).fit(frame, epochs=2)


def _holes(frame, rng, fraction=0.3):
    """The frame with cells set missing (NaN, None or pd.NA as each dtype takes them) and
    the mask of the observed ones."""
    out = frame.copy()
    out["smoker"] = out["smoker"].astype(object)
    out["age"] = out["age"].astype("Int64")
    observed = rng.random(frame.shape) >= fraction
    for j, name in enumerate(out.columns):
        out.loc[~observed[:, j], name] = None if name in ("smoker", "city") else (
            pd.NA if name == "age" else np.nan)
    return out, observed


def test_auto_reads_types_labels_and_names_from_dtypes(rng):
    frame = _frame(rng)
    model = _model(frame)
    assert model.column_types_ == TYPES
    assert list(model.feature_names_in_) == list(frame.columns)
    np.testing.assert_array_equal(model.n_categories_, [2, 3, 3, 0, 0])
    schema = model._output.schema
    assert schema.labels[1] == ["red", "green", "blue"]  # a category dtype's own order
    assert schema.labels[2] == ["Lima", "Oslo", "Paris"]  # sorted distinct values


@pytest.mark.parametrize("Model", [NADE, OrderAgnosticNADE])
def test_samples_are_a_frame_like_the_training_one(rng, Model):
    frame = _frame(rng)
    model = _model(frame, Model)
    S = model.sample(50, random_state=1)
    assert isinstance(S, pd.DataFrame)
    assert list(S.columns) == list(frame.columns)
    assert list(S.dtypes) == list(frame.dtypes)
    assert list(S["colour"].cat.categories) == ["red", "green", "blue"]
    assert set(S["city"]) <= {"Paris", "Oslo", "Lima"}
    assert S["smoker"].dtype == bool and S["age"].dtype == np.int64


def test_imputation_keeps_observed_cells_and_fills_valid_labels(rng):
    frame = _frame(rng)
    model = _model(frame)
    holes, observed = _holes(frame.head(30), rng)
    for method in ("mode", "mean", "median"):
        filled = model.impute(holes, method=method, n_samples=20, random_state=2)
        assert list(filled.columns) == list(frame.columns)
        assert list(filled.dtypes) == list(frame.dtypes)
        assert (filled.index == holes.index).all()
        assert not filled.isna().any().any()
        for j, name in enumerate(frame.columns):
            kept = filled[name][observed[:, j]].tolist()
            assert kept == frame[name].head(30)[observed[:, j]].tolist(), name
        assert set(filled["city"]) <= {"Paris", "Oslo", "Lima"}
        assert set(filled["colour"]) <= {"red", "green", "blue"}
    draws = model.conditional_sample(holes, n_samples=3, random_state=3)
    assert len(draws) == 3 and all(isinstance(d, pd.DataFrame) for d in draws)


def test_file_round_trip_keeps_the_table(rng, tmp_path):
    frame = _frame(rng)
    model = _model(frame)
    model.save(tmp_path / "m.npz")
    again = load(tmp_path / "m.npz", backend="numpy")
    assert list(again.feature_names_in_) == list(frame.columns)
    pd.testing.assert_frame_equal(again.sample(20, random_state=4), model.sample(20, random_state=4))
    holes, _ = _holes(frame.head(10), rng)
    pd.testing.assert_frame_equal(again.impute(holes), model.impute(holes))
    np.testing.assert_array_equal(again.score_samples(frame), model.score_samples(frame))


def test_columns_in_another_order_are_matched_by_name(rng):
    frame = _frame(rng)
    model = _model(frame)
    shuffled = frame[["income", "city", "smoker", "age", "colour"]]
    np.testing.assert_array_equal(model.score_samples(shuffled), model.score_samples(frame))
    with pytest.raises(ValueError, match="fitted on"):
        model.score_samples(frame.drop(columns="age"))


def test_an_unseen_label_is_missing_for_imputation_and_an_error_for_scoring(rng):
    frame = _frame(rng)
    model = _model(frame)
    rows = frame.head(3).copy()
    rows.loc[0, "city"] = "Rome"
    with pytest.warns(UserWarning, match="'Rome'.*treated as missing"):
        filled = model.impute(rows)
    assert filled.loc[0, "city"] in {"Paris", "Oslo", "Lima"}
    with pytest.raises(ValueError, match="'Rome'.*not seen"):
        model.score_samples(rows)


def test_an_object_column_mixing_types_is_a_categorical_of_its_values(rng):
    frame = _frame(rng, rows=60)
    frame["mixed"] = pd.Series([1, "a", 2.5, None] * 15, dtype=object)
    model = _model(frame)
    assert model.column_types_[-1] == "categorical"
    assert model._output.schema.labels[-1] == [1, "a", 2.5]  # unsortable: first appearance
    filled = model.impute(frame.head(8))
    values = filled["mixed"].tolist()
    assert all(v in (1, "a", 2.5) for v in values)
    assert values[:3] == [1, "a", 2.5] and type(values[0]) is int


def test_bad_tables_are_refused_naming_the_column(rng):
    frame = _frame(rng)
    bad = frame.copy()
    bad.loc[3, "income"] = np.inf
    with pytest.raises(ValueError, match="infinity"):
        _model(bad)
    empty = frame.copy()
    empty["income"] = np.nan
    with pytest.raises(ValueError, match="column 4 has no observed value"):
        _model(empty)
    with pytest.raises(ValueError, match="'colour' is bernoulli but holds 3 labels"):
        _model(frame, column_types={"colour": "bernoulli"})
    with pytest.raises(ValueError, match="'city' is to hold real numbers"):
        _model(frame, column_types={"city": "gaussian_mixture"})
    with pytest.raises(ValueError, match="lacks"):
        _model(frame, column_types={"height": "gaussian_mixture"})
    dates = frame.assign(when=pd.Timestamp("2026-01-01"))
    with pytest.raises(TypeError, match="'when'"):
        _model(dates)


def test_column_types_override_the_dtypes(rng):
    frame = _frame(rng)
    frame["age"] = frame["age"] % 4
    model = _model(frame, column_types={"age": "categorical"})
    assert model.column_types_[3] == "categorical"
    assert model._output.schema.labels[3] == [0, 1, 2, 3]
    S = model.sample(30, random_state=0)
    assert S["age"].dtype == np.int64 and set(S["age"]) <= {0, 1, 2, 3}


def test_pandas_is_imported_only_for_dataframes(tmp_path):
    code = ("import sys, numpy as np\n"
            "from nadefast import OrderAgnosticNADE\n"
            "X = np.column_stack([np.arange(20) % 2, np.arange(20) % 3, np.arange(20) * 0.5])\n"
            "m = OrderAgnosticNADE(4, output=['bernoulli', 'categorical', 'gaussian_mixture'],"
            " backend='numpy').fit(X, epochs=1)\n"
            "m.impute(np.where(np.arange(60).reshape(20, 3) % 4 == 0, np.nan, X))\n"
            "assert 'pandas' not in sys.modules, 'pandas was imported'\n")
    # cwd: away from the source tree, which `python -c` would import instead of the install
    subprocess.run([sys.executable, "-c", code], check=True, cwd=tmp_path)


def test_reports_on_a_frame_are_frames_with_names_and_labels(rng):
    frame = _frame(rng)
    model = _model(frame)
    per_column = model.column_log_likelihoods(frame.head(4))
    assert list(per_column.columns) == list(frame.columns)
    np.testing.assert_allclose(per_column.sum(axis=1), model.score_samples(frame.head(4)),
                               rtol=1e-12)
    holes = frame.head(4).copy()
    holes["city"] = holes["city"].astype(object)
    holes.loc[:, "city"] = None
    probabilities = model.category_probabilities(holes)
    assert sorted(probabilities) == ["city", "colour", "smoker"]
    assert list(probabilities["city"].columns) == ["Lima", "Oslo", "Paris"]
    assert list(probabilities["smoker"].columns) == [False, True]
    np.testing.assert_allclose(probabilities["city"].sum(axis=1), 1.0, rtol=1e-12)
    observed = probabilities["colour"]  # observed cells: their own label, probability 1
    assert (observed.idxmax(axis=1).tolist() == frame["colour"].head(4).tolist())
