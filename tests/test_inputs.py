"""What every entry point accepts, and what it rejects with a clear error."""

import numpy as np
import pytest

from nadefast import NADE, NotFittedError

from reference import log_likelihood, random_params


@pytest.fixture
def model(rng):
    n, d = 9, 5
    W, b, V, c = random_params(rng, n, d)
    return NADE.from_params(W, b, V, c, ordering=rng.permutation(n), dtype="float64")


@pytest.fixture
def X(rng):
    return (rng.random((20, 9)) < 0.5).astype(np.uint8)


def _variants(X):
    """The same 0/1 data in every accepted form."""
    F = np.asfortranarray(X)
    wide = np.zeros((X.shape[0] * 2, X.shape[1] * 3), dtype=np.int64)
    wide[::2, ::3] = X
    ro = X.copy()
    ro.setflags(write=False)
    return {
        "uint8": X,
        "bool": X.astype(bool),
        "int8": X.astype(np.int8),
        "int64": X.astype(np.int64),
        "uint16": X.astype(np.uint16),
        "float16": X.astype(np.float16),
        "float32": X.astype(np.float32),
        "float64": X.astype(np.float64),
        "fortran": F,
        "strided": wide[::2, ::3],
        "reversed": X[::-1][::-1],
        "read-only": ro,
        "list": X.tolist(),
        "transposed view": np.ascontiguousarray(X.T).T,
    }


def test_every_accepted_form_gives_the_same_answer(model, X):
    expected = model.score_samples(X)
    cond = model.conditionals(X)
    loss, grads = model.loss_and_gradient(X)
    for name, variant in _variants(X).items():
        np.testing.assert_array_equal(model.score_samples(variant), expected, err_msg=name)
        np.testing.assert_array_equal(model.conditionals(variant), cond, err_msg=name)
        l2, g2 = model.loss_and_gradient(variant)
        assert l2 == loss, name
        np.testing.assert_array_equal(g2["W"], grads["W"], err_msg=name)
    # and the answer itself is right
    np.testing.assert_allclose(
        expected, log_likelihood(model.W_, model.b_, model.V_, model.c_, X, model.ordering_), rtol=1e-12
    )


def test_read_only_parameters(rng):
    W, b, V, c = random_params(rng, 6, 4)
    for a in (W, b, V, c):
        a.setflags(write=False)
    m = NADE.from_params(W, b, V, c)
    assert np.isfinite(m.score_samples(np.ones((2, 6)))).all()


def test_empty_batches(model):
    empty = np.zeros((0, 9), dtype=np.uint8)
    assert model.score_samples(empty).shape == (0,)
    assert model.score_samples(empty).dtype == np.float64
    assert model.conditionals(empty).shape == (0, 9)
    assert model.hidden_states(empty).shape == (0, 9, 5)
    assert model.sample(0).shape == (0, 9)
    with pytest.raises(ValueError, match="0 samples"):
        model.loss_and_gradient(empty)
    with pytest.raises(ValueError, match="0 samples"):
        model.score(empty)
    with pytest.raises(ValueError, match="0 samples"):
        NADE(3).fit(empty)


BAD_X = [
    (np.array([[0, 1, 2, 0, 0, 0, 0, 0, 0]]), ValueError, r"contains 2 at \[0, 2\]"),
    (np.array([[0, 1, -1, 0, 0, 0, 0, 0, 0]]), ValueError, r"contains -1"),
    (np.array([[0.0, 0.5, 1, 0, 0, 0, 0, 0, 0]]), ValueError, r"contains 0.5"),
    (np.array([[0.0, np.nan, 1, 0, 0, 0, 0, 0, 0]]), ValueError, "NaN"),
    (np.array([[0.0, np.inf, 1, 0, 0, 0, 0, 0, 0]]), ValueError, "infinity"),
    (np.array([[0.0, -np.inf, 1, 0, 0, 0, 0, 0, 0]]), ValueError, "infinity"),
    (np.array([["0"] * 9]), TypeError, "dtype"),
    (np.array([[0] * 9], dtype=object), TypeError, "dtype"),
    (np.array([[0j] * 9]), ValueError, "Complex data not supported"),
    ("010101010", TypeError, "str"),
    (np.zeros((3, 8)), ValueError, "8 features, but the model has 9"),
    (np.zeros((3, 10)), ValueError, "10 features"),
    (np.zeros(9), ValueError, "2-D.*1-D"),
    (np.zeros((2, 9, 1)), ValueError, "2-D.*3-D"),
    (np.zeros(()), ValueError, "2-D.*0-D"),
    ([[0, 1], [1]], ValueError, "cannot be converted|inhomogeneous"),
]


@pytest.mark.parametrize("bad, error, match", BAD_X)
@pytest.mark.parametrize("method", ["score_samples", "score", "conditionals", "hidden_states",
                                    "loss_and_gradient"])
def test_bad_data_is_rejected(model, bad, error, match, method):
    with pytest.raises(error, match=match):
        getattr(model, method)(bad)


@pytest.mark.parametrize("bad, error, match", [case for case in BAD_X if "features" not in case[2]])
def test_bad_training_data_is_rejected(bad, error, match):
    with pytest.raises(error, match=match):
        NADE(3).fit(bad)


def test_bad_validation_data_is_rejected(X):
    with pytest.raises(ValueError, match="X_valid has 4 features"):
        NADE(3).fit(X, np.zeros((2, 4)))
    with pytest.raises(ValueError, match="X_valid contains 3"):
        NADE(3).fit(X, np.full((2, 9), 3))


def test_sparse_input_is_rejected_with_advice(model):
    class FakeSparse:
        shape = (2, 9)

        def toarray(self):
            return np.zeros(self.shape)

    with pytest.raises(TypeError, match="toarray"):
        model.score_samples(FakeSparse())


@pytest.mark.parametrize("n_samples, error", [(-1, ValueError), (2.0, TypeError), ("3", TypeError),
                                              (True, TypeError), (None, TypeError)])
def test_bad_n_samples(model, n_samples, error):
    with pytest.raises(error, match="n_samples"):
        model.sample(n_samples)


@pytest.mark.parametrize("kwargs, error, match", [
    ({"n_hidden": 0}, ValueError, "n_hidden must be >= 1"),
    ({"n_hidden": -5}, ValueError, "n_hidden must be >= 1"),
    ({"n_hidden": 2.5}, TypeError, "n_hidden must be an integer"),
    ({"n_hidden": "10"}, TypeError, "n_hidden"),
    ({"dtype": "float16"}, ValueError, "dtype"),
    ({"dtype": "int"}, ValueError, "dtype"),
    ({"dtype": object()}, TypeError, "dtype"),
    ({"ordering": [0, 1, 2]}, ValueError, "3 entries, but there are 9"),
    ({"ordering": [0] * 9}, ValueError, "permutation"),
    ({"ordering": list(range(1, 10))}, ValueError, "permutation"),
    ({"ordering": "reversed"}, ValueError, "ordering"),
    ({"ordering": [[0, 1, 2, 3, 4, 5, 6, 7, 8]]}, ValueError, "1-D"),
    ({"random_state": "seed"}, TypeError, "random_state"),
    ({"random_state": -1}, ValueError, "random_state"),
    ({"n_jobs": 0}, ValueError, "n_jobs"),
    ({"n_jobs": 1.5}, TypeError, "n_jobs"),
])
def test_bad_constructor_arguments_fail_at_fit(X, kwargs, error, match):
    model = NADE(**{"n_hidden": 3, **kwargs})  # the constructor stores, fit validates
    for name, value in kwargs.items():
        assert getattr(model, name) is value
    with pytest.raises(error, match=match):
        model.fit(X, epochs=1)


@pytest.mark.parametrize("kwargs, error, match", [
    ({"epochs": -1}, ValueError, "epochs"),
    ({"batch_size": 0}, ValueError, "batch_size"),
    ({"learning_rate": 0.0}, ValueError, "learning_rate"),
    ({"learning_rate": float("nan")}, ValueError, "learning_rate"),
    ({"optimizer": "rmsprop"}, ValueError, "optimizer"),
    ({"optimizer": None}, TypeError, "optimizer"),
    ({"patience": 0}, ValueError, "patience"),
])
def test_bad_fit_arguments(X, kwargs, error, match):
    with pytest.raises(error, match=match):
        NADE(3).fit(X, **kwargs)


def test_unfitted_model_says_so():
    model = NADE(4)
    for call in (lambda: model.score_samples([[0, 1]]), lambda: model.sample(2),
                 lambda: model.conditionals([[0, 1]]), lambda: model.loss_and_gradient([[0, 1]]),
                 lambda: model.W_, lambda: model.save("never-written.npz")):
        with pytest.raises(NotFittedError, match="not fitted"):
            call()
    assert not hasattr(model, "W_")  # AttributeError subclass: hasattr is False


@pytest.mark.parametrize("change, match", [
    (lambda p: {**p, "W": p["W"][:, :-1]}, "V has shape"),
    (lambda p: {**p, "b": p["b"][:-1]}, "b has shape"),
    (lambda p: {**p, "V": p["V"].T}, "V has shape"),
    (lambda p: {**p, "c": p["c"][:, None]}, "c has shape"),
    (lambda p: {**p, "W": p["W"].ravel()}, "W must be 2-D"),
    (lambda p: {**p, "W": np.zeros((0, 6))}, "at least one hidden unit"),
    (lambda p: {**p, "c": np.full(6, np.nan)}, "c contains non-finite"),
    (lambda p: {**p, "V": np.full((6, 4), np.inf)}, "V contains non-finite"),
    (lambda p: {**p, "b": np.array(["a"] * 4)}, "b must be a real numeric array"),
    (lambda p: {**p, "W": "weights"}, "W must be a numeric array"),
])
def test_from_params_rejects_inconsistent_parameters(rng, change, match):
    W, b, V, c = random_params(rng, 6, 4)
    p = change({"W": W, "b": b, "V": V, "c": c})
    with pytest.raises((ValueError, TypeError), match=match):
        NADE.from_params(p["W"], p["b"], p["V"], p["c"])


def test_from_params_rejects_bad_ordering(rng):
    params = random_params(rng, 6, 4)
    for bad, match in (([0, 1, 2], "3 entries"), ([0, 0, 1, 2, 3, 4], "permutation"),
                       ([0.5, 1, 2, 3, 4, 5], "integers"), ([True] * 6, "integers")):
        with pytest.raises((ValueError, TypeError), match=match):
            NADE.from_params(*params, ordering=bad)


def test_parameter_attributes_are_live_views(rng):
    W, b, V, c = random_params(rng, 5, 3)
    m = NADE.from_params(W, b, V, c, dtype="float64")
    X = (rng.random((4, 5)) < 0.5).astype(np.uint8)
    before = m.score_samples(X)
    m.V_ = V * 2  # assignment copies in
    np.testing.assert_allclose(m.score_samples(X), log_likelihood(W, b, 2 * V, c, X), rtol=1e-12)
    m.V_[...] = V  # in-place writes change the model too
    np.testing.assert_array_equal(m.score_samples(X), before)
    with pytest.raises(ValueError, match="shape"):
        m.W_ = W[:, :2]
    with pytest.raises(ValueError, match="finite"):
        m.c_ = np.full(5, np.nan)
