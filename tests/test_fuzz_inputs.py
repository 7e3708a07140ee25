"""Fuzz tests of the data argument X of the inference entry points: every form
of X (dtypes, layouts, byte orders, shapes, lists, odd objects) is either
accepted as the 0/1 matrix it stands for or rejected with an error that names
the problem.  Profiles and contract: tests/fuzzing.py."""

import re

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from nadefast import NADE

import reference
from fuzzing import (assert_clear_error, call, data_inputs, expected_binary, fuzz,
                     reference_with_bounds)


# ------------------------------------------------------------- bad data X


def check_value_error_position(exc, X):
    """If the message points at [i, j], X[i, j] must really be a bad value there."""
    match = re.search(r"at \[(\d+), (\d+)\]", str(exc))
    if match:
        a = np.asarray(X)
        i, j = int(match.group(1)), int(match.group(2))
        v = a[i, j]
        assert not (v == 0 or v == 1), f"message {exc} points at a good value {v!r}"


METHODS = ("score_samples", "score", "conditionals", "hidden_states", "loss_and_gradient")


@pytest.fixture(scope="module")
def small_models():
    rng = np.random.default_rng(11)
    out = {}
    for n in (1, 2, 3, 5):
        for dtype in ("float32", "float64"):
            W, b, V, c = reference.random_params(rng, n, 3)
            out[n, dtype] = NADE.from_params(W, b, V, c, ordering=rng.permutation(n), dtype=dtype)
    return out


@fuzz(4)
@given(data=st.data(), key=st.sampled_from([(1, "float32"), (2, "float64"), (3, "float32"),
                                             (5, "float64")]),
       method=st.sampled_from(METHODS))
def test_every_form_of_X_is_accepted_or_rejected_clearly(small_models, data, key, method):
    model = small_models[key]
    n = key[0]
    X = data.draw(data_inputs(n), label="X")
    verdict, detail = expected_binary(X, n)
    if verdict == "ok" and method in ("score", "loss_and_gradient") and len(detail) == 0:
        verdict, detail = "error", [(ValueError, ["X"])]
    result, exc = call(getattr(model, method), X)
    if verdict == "error":
        assert exc is not None, f"{method} accepted an invalid X and returned {result!r}"
        types = tuple(t for t, _ in detail)
        names = [w for _, words in detail for w in words]
        assert_clear_error(exc, names, types)
        if isinstance(exc, ValueError):
            check_value_error_position(exc, X)
        return
    assert exc is None, f"{method} rejected a valid X: {type(exc).__name__}: {exc}"
    expected = getattr(model, method)(detail)  # the canonical uint8 C-contiguous form
    if method == "loss_and_gradient":
        assert result[0] == expected[0]
        for name in expected[1]:
            np.testing.assert_array_equal(result[1][name], expected[1][name])
    elif method == "score":
        assert result == expected
    else:
        np.testing.assert_array_equal(result, expected)
    if method == "score_samples" and len(detail):
        ref = reference_with_bounds(model, detail)
        assert (np.abs(result - ref["loglik"]) <= ref["loglik_tol"]).all()


# Regression test: as_binary_matrix passed the raw bytes of bool arrays to the kernels.
def test_non_canonical_bools_are_true():
    """A bool array holding bytes other than 0/1 means True, as numpy says."""
    W, b, V, c = reference.random_params(np.random.default_rng(0), 3, 2)
    model = NADE.from_params(W, b, V, c, dtype="float64")
    X = np.frombuffer(bytes([0, 2, 255, 1, 0, 7]), dtype=np.bool_).reshape(2, 3)
    assert np.array_equal(X, [[False, True, True], [True, False, True]])
    canonical = np.array([[0, 1, 1], [1, 0, 1]], dtype=np.uint8)
    np.testing.assert_array_equal(model.score_samples(X), model.score_samples(canonical))
    np.testing.assert_array_equal(model.conditionals(X), model.conditionals(canonical))
