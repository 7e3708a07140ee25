"""Fuzz tests of the estimator interface: the constructor and fit arguments
(n_hidden, dtype, ordering, random_state, n_jobs, epochs, batch_size,
optimizer, learning_rate, patience, X, X_valid), sample's arguments and
draws, and what an unfitted model says.  Valid arguments give a sound fitted
model; invalid ones fail naming the argument and leave the model unfitted.
Profiles and contract: tests/fuzzing.py."""

import os

import numpy as np
import pytest
from hypothesis import given, note
from hypothesis import strategies as st

from nadefast import NADE, NotFittedError

import reference
from fuzzing import (assert_clear_error, binary_rows, call, data_inputs, expected_binary, fuzz,
                     models, raises_clearly, reference_with_bounds, warnings_ignored)


# ------------------------------------------------- constructor and fit

VALID, INVALID, EITHER = "valid", "invalid", "either"


def _tagged(valid=(), invalid=(), either=()):
    """A strategy of (value, verdict) pairs, mostly valid (so that whole calls often succeed)."""

    @st.composite
    def pick(draw):
        roll = draw(st.integers(0, 99))
        for values, verdict, share in ((invalid, INVALID, 5), (either, EITHER, 3)):
            if values and roll < share:
                return draw(st.sampled_from(list(values))), verdict
            roll -= share
        if valid:
            return draw(st.sampled_from(list(valid))), VALID
        return draw(st.sampled_from(list(invalid) + list(either))), INVALID if invalid else EITHER

    return pick()


def _ordering_arg(n):
    perms = st.permutations(range(n))
    return st.one_of(
        _tagged(valid=[None, None, "random"], invalid=["reversed", "", "RANDOM", b"random"]),
        perms.map(lambda p: (p, VALID)),
        perms.map(lambda p: (np.asarray(p, dtype=np.float64), VALID)),
        perms.map(lambda p: (np.asarray(p, dtype=np.uint8), VALID)),
        perms.map(lambda p: (tuple(p), VALID)),
        st.sampled_from([list(range(n + 1)), [0] * max(n, 2), [[0] * n], [0.5] * n, [True] * n,
                         [-1] + list(range(1, n)), [np.nan] * n, [2**70] * n,
                         [str(i) for i in range(n)], object(), 3, [None] * n,
                         list(range(1, n + 1))]).map(lambda v: (v, INVALID)),
    )


CTOR_ARGS = {
    "n_hidden": _tagged(valid=[1, 2, 3, 8, np.int64(4), np.uint8(2)],
                        invalid=[0, -1, -(2**70), 2.0, 2.5, "10", None, True, np.bool_(True), [3],
                                 float("nan"), 10**12, 2**64, 10**30]),
    "dtype": _tagged(valid=["float32", "float64", np.float32, np.float64, "f4", "f8", "d", float,
                            np.dtype("float32")],
                     invalid=["float16", "int", "int32", object(), 5, "floaty", "", np.int64,
                              "complex128", "float128", "bool"],
                     # None means float64 to numpy; the README does not say
                     either=[None]),
    "random_state": _tagged(valid=[None, 0, 1, 2**32, 2**100, np.int64(5), np.random.SeedSequence(3)],
                            invalid=[-1, -(2**70), "seed", 1.5, True, [1, 2], object()],
                            either=["generator", "randomstate"]),
    "n_jobs": _tagged(valid=[None, 1, 2, -1, -2, np.int32(1)],
                      invalid=[0, 1.5, "2", True, [1], float("nan")],
                      # a huge thread count: run capped, or say n_jobs is too large
                      either=[64, -(10**6), 2**31, 2**63, 2**70]),
}
FIT_ARGS = {
    "epochs": _tagged(valid=[0, 1, 2, np.int16(1)], invalid=[-1, 1.0, "2", None, True, 2**70 * -1]),
    "batch_size": _tagged(valid=[1, 2, 100, 2**62, 10**30], invalid=[0, -5, 2.0, "100", None, False]),
    "optimizer": _tagged(valid=["adam", "sgd", "ADAM", "Sgd"],
                         invalid=["rmsprop", "", None, 1, ["adam"], b"adam"]),
    "learning_rate": _tagged(valid=[1e-3, 0.1, np.float32(0.01), 5e-324],
                             invalid=[0, 0.0, -1e-3, float("nan"), float("inf"), float("-inf"), "0.1",
                                      None, True, 1j],
                             # training may diverge (FloatingPointError: a non-finite loss, or
                             # no epoch better than the start and a loss that blew up) or not
                             either=[1, 1e300, 1e10]),
    "patience": _tagged(valid=[None, 1, 5, 10**30], invalid=[0, -1, 1.5, "3", True]),
}


@st.composite
def fit_cases(draw):
    ctor = {k: draw(v, label=k) for k, v in CTOR_ARGS.items()}
    fit = {k: draw(v, label=k) for k, v in FIT_ARGS.items()}
    n = draw(st.integers(1, 5))
    ctor["ordering"] = draw(_ordering_arg(n), label="ordering")
    if draw(st.integers(0, 5)) == 0:
        X = draw(data_inputs(n), label="X")
    else:
        X = draw(binary_rows(n, min_rows=1, max_rows=8), label="X")
    X_valid = draw(st.sampled_from(["none", "good", "good", "any"]).flatmap(
        lambda how: st.none() if how == "none" else binary_rows(n, min_rows=1, max_rows=4)
        if how == "good" else data_inputs(n)), label="X_valid")
    return ctor, fit, X, X_valid, n


def _is_permutation_arg(value):
    return not (value is None or isinstance(value, (str, bytes)))


def _materialise(value):
    if value == "generator":
        return np.random.default_rng(1)
    if value == "randomstate":
        return np.random.RandomState(1)
    return value


@fuzz(3)
@given(case=fit_cases())
def test_constructor_and_fit_arguments(case):
    ctor, fit, X, X_valid, n = case
    ctor_values = {k: _materialise(v[0]) if isinstance(v[0], str) else v[0] for k, v in ctor.items()}
    fit_values = {k: v[0] for k, v in fit.items()}
    verdicts = {k: v[1] for k, v in {**ctor, **fit}.items()}
    # X and X_valid
    x_verdict, x_detail = expected_binary(X, None)
    if x_verdict == "ok" and x_detail.shape[0] == 0:
        x_verdict = "error"
    verdicts["X"] = VALID if x_verdict == "ok" else INVALID
    if X_valid is not None:
        v_verdict, v_detail = expected_binary(X_valid, None)
        ok = (v_verdict == "ok" and v_detail.shape[0] > 0
              and (x_verdict != "ok" or v_detail.shape[1] == x_detail.shape[1]))
        verdicts["X_valid"] = VALID if ok else INVALID
    if x_verdict == "ok" and x_detail.shape[1] != n:
        # the ordering was drawn for n features; against other data it is a wrong length
        if verdicts["ordering"] == VALID and _is_permutation_arg(ctor["ordering"][0]):
            verdicts["ordering"] = INVALID
    invalid = [k for k, v in verdicts.items() if v == INVALID]
    maybe = [k for k, v in verdicts.items() if v == EITHER]
    note(f"invalid={invalid} either={maybe}")

    model = NADE(**ctor_values)
    for name, value in ctor_values.items():  # the constructor only stores
        assert getattr(model, name) is value
    assert repr(model).startswith("NADE(")
    assert all(model.get_params()[k] is v for k, v in ctor_values.items())
    with warnings_ignored():
        result, exc = call(model.fit, X, X_valid, **fit_values)
    if exc is not None:
        names = invalid + maybe
        if isinstance(exc, FloatingPointError) and "learning_rate" in maybe:
            assert "diverged" in str(exc)
            assert all(np.isfinite(getattr(model, p)).all() for p in ("W_", "b_", "V_", "c_"))
            return
        assert names, f"fit rejected valid arguments: {type(exc).__name__}: {exc}"
        if isinstance(exc, MemoryError):
            names = names + [str(ctor_values["n_hidden"])]
        if "X" in invalid or "X_valid" in invalid:
            names = names + ["0 samples", "features"]
        assert_clear_error(exc, names)
        # a rejected fit leaves an unfitted model unfitted
        assert not hasattr(model, "W_")
        with pytest.raises(NotFittedError):
            model.sample(1)
        return
    assert not invalid, f"fit accepted invalid {invalid}"
    assert result is model
    n_data = x_detail.shape[1]
    d = ctor_values["n_hidden"]
    dtype = np.dtype(ctor_values["dtype"])
    assert model.W_.shape == (d, n_data) and model.W_.dtype == dtype
    assert model.V_.shape == (n_data, d) and model.b_.shape == (d,) and model.c_.shape == (n_data,)
    assert np.array_equal(np.sort(model.ordering_), np.arange(n_data))
    if _is_permutation_arg(ctor["ordering"][0]):
        assert np.array_equal(model.ordering_, np.asarray(ctor_values["ordering"]).astype(int))
    assert model.n_features_in_ == n_data
    assert len(model.history_) <= fit_values["epochs"]
    for p in ("W_", "b_", "V_", "c_"):
        assert np.isfinite(getattr(model, p)).all()
    ll = model.score_samples(x_detail)
    assert not np.isnan(ll).any() and (ll <= 0).all()


# Regression test: n_jobs was passed to the Cython `int n_threads` without a range check
# (OverflowError for n_jobs >= 2**31).
@pytest.mark.parametrize("n_jobs", [2**31, 2**63, 10**30])
@pytest.mark.parametrize("method", ["score_samples", "sample", "fit"])
def test_huge_n_jobs_is_capped_or_rejected_clearly(n_jobs, method):
    W, b, V, c = reference.random_params(np.random.default_rng(1), 3, 2)
    model = NADE.from_params(W, b, V, c)
    model.n_jobs = n_jobs
    X = np.array([[0, 1, 1], [1, 0, 0]], dtype=np.uint8)
    run = {"score_samples": lambda: model.score_samples(X), "sample": lambda: model.sample(2),
           "fit": lambda: NADE(2, n_jobs=n_jobs).fit(X, epochs=1)}[method]
    result, exc = call(run)
    if exc is not None:
        assert_clear_error(exc, ["n_jobs"], (ValueError,))


# ------------------------------------------------------------------ sample

N_SAMPLES = _tagged(valid=[0, 1, 2, 5, 13, 25, np.int64(3), np.uint16(4)],
                    invalid=[-1, -(2**70), 2.0, 2.5, "3", None, True, np.bool_(False), [2],
                             float("nan")])
RANDOM_STATES = _tagged(valid=[None, 0, 7, 2**64 + 3, np.int64(9), "seedsequence"],
                        invalid=[-1, "7", 1.5, True, [1, 2]],
                        either=["generator", "randomstate"])


def _rs(value):
    if value == "seedsequence":
        return np.random.SeedSequence(3)
    return _materialise(value) if isinstance(value, str) else value


@fuzz(1.5)
@given(model=models(), n_samples=N_SAMPLES, random_state=RANDOM_STATES,
       on_estimator=st.booleans(), n_jobs=st.sampled_from([None, 1, 2]))
def test_sample(model, n_samples, random_state, on_estimator, n_jobs):
    (count, count_ok), (rs, rs_ok) = n_samples, random_state
    rs_value = _rs(rs)
    model.n_jobs = n_jobs
    if on_estimator:
        model.random_state = rs_value
        result, exc = call(model.sample, count)
    else:
        result, exc = call(model.sample, count, random_state=rs_value)
    names = ([] if count_ok == VALID else ["n_samples"]) + ([] if rs_ok != INVALID else ["random_state"])
    if exc is not None or names:
        assert exc is not None, f"sample({count!r}, random_state={rs_value!r}) did not fail"
        assert names, f"sample rejected valid arguments: {type(exc).__name__}: {exc}"
        assert_clear_error(exc, names)
        return
    n = model.n_features_in_
    assert result.shape == (int(count), n) and result.dtype == np.uint8
    assert result.flags.c_contiguous
    assert set(np.unique(result)) <= {0, 1}
    if rs is None or isinstance(rs, str) and rs != "seedsequence":
        return  # fresh entropy or a stateful generator: not reproducible
    again = model.sample(count) if on_estimator else model.sample(count, random_state=_rs(rs))
    np.testing.assert_array_equal(again, result)
    if count:
        prefix = model.sample(1) if on_estimator else model.sample(1, random_state=_rs(rs))
        np.testing.assert_array_equal(prefix, result[:1])
        # where a logit is far beyond the logistic noise (|noise| <= 22.9), the draw is certain
        ref = reference_with_bounds(model, result)
        Z, tol, Xo = ref["Z"], ref["Z_tol"], ref["Xo"]
        certain = np.abs(Z) > 24 + tol
        assert (Xo[certain] == (Z[certain] > 0)).all(), "a sample contradicts a certain logit"
        assert not np.isnan(model.score_samples(result)).any()


# ---------------------------------------------------------- unfitted model


def test_unfitted_model_entry_points_say_so():
    model = NADE(3)
    for fn in (lambda: model.score_samples([[0, 1]]), lambda: model.score([[0, 1]]),
               lambda: model.conditionals([[0, 1]]), lambda: model.hidden_states([[0, 1]]),
               lambda: model.loss_and_gradient([[0, 1]]), lambda: model.sample(1),
               lambda: model.save("never-written.npz")):
        with raises_clearly(["fitted", "fit"], (NotFittedError,)):
            fn()
    assert not os.path.exists("never-written.npz")
