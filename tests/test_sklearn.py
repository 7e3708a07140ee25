"""scikit-learn conformance (scikit-learn is a test extra, never a runtime dependency)."""

import copy
import pickle

import numpy as np
import pytest

sklearn = pytest.importorskip("sklearn", reason="scikit-learn is not installed (pip install '.[test]')")

from sklearn.base import clone  # noqa: E402
from sklearn.model_selection import GridSearchCV  # noqa: E402
from sklearn.pipeline import Pipeline  # noqa: E402
from sklearn.preprocessing import Binarizer  # noqa: E402
from sklearn.utils.estimator_checks import parametrize_with_checks  # noqa: E402

from nadefast import NADE, NotFittedError, OrderAgnosticNADE  # noqa: E402

# The common checks feed continuous random data (e.g. rng.uniform, shifted normals).
# A density model of binary vectors rejects any value other than 0 and 1 with a
# ValueError naming it, so these checks cannot apply; the properties they test are
# covered with binary data below and in test_inputs.py / test_determinism.py.
NON_BINARY = "feeds non-binary data; NADE accepts only 0/1 and raises ValueError naming the value"
EXPECTED_FAILED = {name: NON_BINARY for name in (
    "check_dict_unchanged", "check_dont_overwrite_parameters", "check_dtype_object",
    "check_estimators_dtypes", "check_estimators_fit_returns_self", "check_estimators_nan_inf",
    "check_estimators_overwrite_params", "check_estimators_pickle",
    "check_f_contiguous_array_estimator", "check_fit2d_1feature", "check_fit2d_1sample",
    "check_fit2d_predict1d", "check_fit_check_is_fitted", "check_fit_idempotent",
    "check_fit_score_takes_y", "check_methods_sample_order_invariance",
    "check_methods_subset_invariance", "check_n_features_in", "check_n_features_in_after_fitting",
    "check_pipeline_consistency", "check_positive_only_tag_during_fit",
    "check_readonly_memmap_input",
)}


@parametrize_with_checks([NADE(n_hidden=5, random_state=0),
                          OrderAgnosticNADE(n_hidden=5, n_layers=2, random_state=0)],
                         expected_failed_checks=lambda estimator: EXPECTED_FAILED)
def test_sklearn_common_checks(estimator, check):
    check(estimator)


@pytest.fixture
def binary_data():
    rng = np.random.default_rng(0)
    prototypes = rng.integers(0, 2, size=(3, 12))
    return (prototypes[rng.integers(3, size=150)] ^ (rng.random((150, 12)) < 0.1)).astype(np.uint8)


def _fitted(kind, X):
    if kind == "order_agnostic":
        return OrderAgnosticNADE(6, n_layers=2, random_state=0).fit(X, epochs=2)
    return NADE(6, random_state=0).fit(X, epochs=2)


def test_estimator_contract_with_binary_data(binary_data):
    X = binary_data
    model = NADE(6, random_state=0, ordering="random")
    params = model.get_params()
    assert params == {"n_hidden": 6, "output": "bernoulli", "column_types": None,
                      "n_categories": None, "n_components": 10, "activation": "sigmoid",
                      "ordering": "random", "dtype": "float32", "random_state": 0,
                      "n_jobs": None, "warm_start": False, "backend": "compiled",
                      "device": "cpu"}
    assert model.fit(X, epochs=2) is model  # fit returns self
    assert model.get_params() == params  # fit does not change constructor parameters
    assert model.n_features_in_ == 12
    # everything fit added (besides private state) ends in "_"
    added = set(vars(model)) - set(params)
    assert added and all(name.endswith("_") for name in added if not name.startswith("_"))
    again = clone(model)
    assert again.get_params() == params and not again.__sklearn_is_fitted__()
    with pytest.raises(NotFittedError):
        again.score_samples(X)
    # idempotent fit, and scores invariant to the order and subsets of rows
    first = model.score_samples(X)
    np.testing.assert_array_equal(clone(model).fit(X, epochs=2).score_samples(X), first)
    perm = np.random.default_rng(1).permutation(len(X))
    np.testing.assert_array_equal(model.score_samples(X[perm]), first[perm])
    np.testing.assert_array_equal(model.score_samples(X[10:20]), first[10:20])
    assert model.set_params(n_hidden=9) is model and model.n_hidden == 9
    with pytest.raises(ValueError, match="invalid parameter 'hidden'"):
        model.set_params(hidden=3)


@pytest.mark.parametrize("kind", ["fixed", "order_agnostic"])
def test_pickle_and_deepcopy_round_trip_bit_exact(binary_data, kind):
    model = _fitted(kind, binary_data)
    for other in (pickle.loads(pickle.dumps(model)), copy.deepcopy(model)):
        assert other.get_params() == model.get_params()
        for name in ("W_", "b_", "V_", "c_", "ordering_") + (("M_", "W_hidden_") if kind != "fixed" else ()):
            np.testing.assert_array_equal(getattr(other, name), getattr(model, name))
        np.testing.assert_array_equal(other.score_samples(binary_data), model.score_samples(binary_data))
        assert other.history_ == model.history_
    # the pickled state holds the public arrays, not the kernels' padded layout
    state = model.__getstate__()
    assert state["fitted"]["W"].shape == (6, 12)
    assert pickle.loads(pickle.dumps(NADE(3))).get_params() == NADE(3).get_params()


def test_pipeline_and_grid_search_on_digits():
    from sklearn.datasets import load_digits

    X = load_digits().data  # 8x8 grey levels 0..16, a small real dataset shipped with scikit-learn
    pipe = Pipeline([("binarize", Binarizer(threshold=7.5)),
                     ("nade", NADE(10, random_state=0))])
    pipe.fit(X[:1200], nade__epochs=5)
    assert np.isfinite(pipe.score(X[1200:]))
    search = GridSearchCV(pipe, {"nade__n_hidden": [2, 40]}, cv=3)
    search.fit(X[:1200], nade__epochs=15, nade__learning_rate=3e-3)
    # 40 hidden units describe the digits far better than 2: the search must find that
    assert search.best_params_ == {"nade__n_hidden": 40}
    scores = search.cv_results_["mean_test_score"]
    assert scores[1] > scores[0] + 2.0  # nats


def test_threadpoolctl_limits_the_core():
    threadpoolctl = pytest.importorskip("threadpoolctl")
    from nadefast._parallel import effective_n_threads
    from nadefast.backends import _compiled as _core

    if not _core.openmp_enabled():
        pytest.skip("built without OpenMP")
    with threadpoolctl.threadpool_limits(limits=1):
        assert effective_n_threads(None) == 1
        assert _core.openmp_max_threads() == 1
    assert effective_n_threads(None) == _core.openmp_max_threads()
