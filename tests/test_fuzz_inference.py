"""Fuzz tests of the model computations: score_samples, score, conditionals,
hidden_states, loss_and_gradient and their results against the float64
references of tests/reference.py within a-priori error bounds, gradients
included, for any thread count.  Profiles and contract: tests/fuzzing.py."""

import numpy as np
import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from nadefast import NADE

import reference
from fuzzing import binary_rows, check_model_outputs, fuzz, models, same_bits


# -------------------------------------------------- reference gradient


def reference_loss_and_gradient(W, b, V, c, X, ordering=None):
    """Mean NLL and its gradient in the public layout, float64, straight from the chain rule."""
    W, b, V, c = (np.asarray(a, dtype=np.float64) for a in (W, b, V, c))
    H, Z, Xo = reference.masked_forward(W, b, V, c, X, ordering)
    m = Xo.shape[0]
    E = reference.sigmoid(Z) - Xo  # d NLL / d z_k
    gc = E.sum(axis=0)
    gV = np.einsum("mk,mkd->kd", E, H)
    dA = E[:, :, None] * V[None, :, :] * H * (1.0 - H)  # d NLL / d a_k
    gb = dA.sum(axis=(0, 1))
    after = np.cumsum(dA[:, ::-1], axis=1)[:, ::-1]  # sum over k >= j
    after = np.concatenate([after[:, 1:], np.zeros_like(after[:, :1])], axis=1)  # k > j
    gW = np.einsum("mjd,mj->dj", after, Xo)
    loss = -float(np.mean(reference.log_likelihood(W, b, V, c, X, ordering)))
    return loss, {"W": gW / m, "b": gb / m, "V": gV / m, "c": gc / m}


def test_reference_gradient_matches_central_differences():
    """The analytic reference used below agrees with reference.central_difference_gradient."""
    rng = np.random.default_rng(7)
    n, d = 5, 3
    W, b, V, c = reference.random_params(rng, n, d)
    X = (rng.random((6, n)) < 0.5).astype(np.uint8)
    order = rng.permutation(n)
    params = {"W": W, "b": b, "V": V, "c": c}
    numeric = reference.central_difference_gradient(
        lambda: reference.mean_nll(params["W"], params["b"], params["V"], params["c"], X, order), params)
    _, analytic = reference_loss_and_gradient(W, b, V, c, X, order)
    for name in params:
        np.testing.assert_allclose(analytic[name], numeric[name], rtol=1e-6, atol=1e-8, err_msg=name)


def gradient_tolerance(model, X):
    """Loose accuracy bound for gradients when the problem is well conditioned."""
    eps = float(np.finfo(model.W_.dtype).eps)
    scale = 1.0 + np.abs(model.V_).max() * (1.0 + np.abs(model.W_).max() + np.abs(model.b_).max())
    return 50 * (X.shape[1] + model.W_.shape[0]) * eps * scale


# ================================================================== tests


@fuzz(1.5)
@given(data=st.data(), model=models(), n_jobs=st.sampled_from([None, 1, 2]))
@example(data=None, model=NADE.from_params(np.full((1, 1), 1e4), np.zeros(1), np.full((1, 1), 1e4),
                                           np.full(1, -1e4), dtype="float32"), n_jobs=None)
def test_inference_is_correct_for_valid_data(data, model, n_jobs):
    n = model.n_features_in_
    if data is None:
        X = np.array([[0], [1]], dtype=np.uint8)
    else:
        X = data.draw(binary_rows(n, big=True), label="X")
    ll = check_model_outputs(model, X, n_jobs)
    # the ordering contract of the README: ordering=o on X equals identity on X[:, o]
    if len(ll):
        plain = NADE.from_params(model.W_, model.b_, model.V_, model.c_, dtype=model.W_.dtype.name)
        np.testing.assert_array_equal(plain.score_samples(X[:, model.ordering_]), ll)
    # results do not depend on the thread count
    cond = model.conditionals(X)
    samples = model.sample(len(X), random_state=1)
    loss_grads = model.loss_and_gradient(X) if len(X) else None
    for other in (1, 2, -1):
        model.n_jobs = other
        assert same_bits(model.score_samples(X), ll), f"n_jobs={other}"
        assert same_bits(model.conditionals(X), cond), f"n_jobs={other}"
        assert same_bits(model.sample(len(X), random_state=1), samples), f"n_jobs={other}"
        if loss_grads is not None:
            loss, grads = model.loss_and_gradient(X)
            assert loss == loss_grads[0]
            assert all(same_bits(grads[k], loss_grads[1][k]) for k in grads), f"n_jobs={other}"


@fuzz(0.75)
@given(model=models(max_abs=10.0, dtypes=("float64",)), data=st.data())
def test_gradient_matches_reference(model, data):
    X = data.draw(binary_rows(model.n_features_in_, min_rows=1), label="X")
    loss, grads = model.loss_and_gradient(X)
    ref_loss, ref = reference_loss_and_gradient(model.W_, model.b_, model.V_, model.c_, X,
                                                model.ordering_)
    assert loss == pytest.approx(ref_loss, rel=1e-10, abs=1e-10)
    tol = gradient_tolerance(model, X)
    for name in ("W", "b", "V", "c"):
        np.testing.assert_allclose(grads[name], ref[name], rtol=1e-6, atol=tol, err_msg=name)


@fuzz(0.5)
@given(model=models(max_abs=3.0, dtypes=("float32",)), data=st.data())
def test_float32_gradient_matches_reference(model, data):
    X = data.draw(binary_rows(model.n_features_in_, min_rows=1), label="X")
    _, grads = model.loss_and_gradient(X)
    _, ref = reference_loss_and_gradient(model.W_, model.b_, model.V_, model.c_, X, model.ordering_)
    tol = gradient_tolerance(model, X)
    for name in ("W", "b", "V", "c"):
        np.testing.assert_allclose(grads[name], ref[name], rtol=1e-4, atol=tol, err_msg=name)
