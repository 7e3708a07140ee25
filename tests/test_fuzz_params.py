"""Fuzz tests of the ways to set a model's parameters: NADE.from_params
(parameters, ordering, dtype) and assignment to W_, b_, V_, c_.  Valid values
give a working model holding exactly them; anything else fails naming the
argument and changes nothing.  Profiles and contract: tests/fuzzing.py."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from nadefast import NADE

import reference
from fuzzing import (assert_clear_error, call, check_model_outputs, fuzz, models, raises_clearly,
                     same_bits, warnings_ignored)


# -------------------------------------------------------- from_params


def _param_array(draw, shape, name):
    """A parameter argument: usually a float array of `shape`, sometimes anything."""
    what = draw(st.sampled_from(["good"] * 6 + ["dtype", "shape", "nonfinite", "huge", "odd"]))
    if what == "odd":
        odd = [None, "weights", b"w", 3.0, [], {"a": 1}, object(), np.array(["a"]),
               np.zeros(shape, dtype=object), np.zeros(shape, dtype=complex)]
        return draw(st.sampled_from(odd + [[[1.0], [1.0, 2.0]]]))
    if what == "shape":
        shape = draw(st.sampled_from([shape[::-1], (shape[0] + 1,) + shape[1:], shape + (1,), (),
                                      (0,) + shape[1:]]))
    el = st.floats(-1e4, 1e4, allow_nan=False, allow_infinity=False)
    arr = draw(hnp.arrays(np.float64, shape, elements=el))
    if what == "dtype":
        dtype = draw(st.sampled_from([np.float32, np.float16, np.int8, np.int64, np.uint16, np.bool_,
                                      np.longdouble]))
        arr = arr.astype(dtype) if np.dtype(dtype).kind == "f" else (arr != 0).astype(dtype)
    if what in ("nonfinite", "huge") and arr.size:
        flat = arr.reshape(-1)
        flat[draw(st.integers(0, arr.size - 1))] = draw(st.sampled_from(
            [np.nan, np.inf, -np.inf] if what == "nonfinite" else [1e39, -1e300, 3.5e38]))
    if draw(st.integers(0, 4)) == 0:
        arr = arr.tolist() if draw(st.booleans()) else np.asfortranarray(arr)
    return arr


@st.composite
def param_values(draw, shape, name):
    return _param_array(draw, shape, name)


@st.composite
def from_params_args(draw):
    n = draw(st.integers(1, 5))
    d = draw(st.integers(1, 4))
    args = {name: _param_array(draw, shape, name)
            for name, shape in (("W", (d, n)), ("b", (d,)), ("V", (n, d)), ("c", (n,)))}
    args["dtype"] = draw(st.sampled_from([None] * 3 + ["float32", "float64", np.float32, "f8",
                                                       "float16", "int", object(), 5, "float128"]))
    args["ordering"] = draw(st.none() | st.permutations(range(n)) | st.sampled_from(
        [list(range(n + 1)), [0] * n, "random", "reversed", [[0] * n], [0.5] * n,
         [float(i) for i in range(n)], [True] * n, np.arange(n)[::-1].astype(np.uint64),
         [str(i) for i in range(n)], [-1] + list(range(1, n)), [2**70] * n]))
    return args


def expected_from_params(args):
    """("ok", (W, b, V, c, ordering, dtype)) or ("error", names the message may use)."""
    arrays = {}
    bad = []
    for name in "WbVc":
        value = args[name]
        if isinstance(value, (str, bytes)):
            bad.append(name)
            continue
        try:
            a = np.asarray(value)
        except Exception:  # noqa: BLE001
            bad.append(name)
            continue
        if a.dtype.kind not in "biuf":
            bad.append(name)
        arrays[name] = a
    if bad:
        return "error", bad
    W, b, V, c = (arrays[k] for k in "WbVc")
    if W.ndim != 2 or 0 in W.shape:
        return "error", ["W"]
    d, n = W.shape
    for name, shape in (("b", (d,)), ("V", (n, d)), ("c", (n,))):
        if arrays[name].shape != shape:
            bad.append(name)
    dtype = args["dtype"]
    if dtype is None:
        dtype = np.float32 if all(a.dtype == np.float32 for a in (W, b, V, c)) else np.float64
    try:
        dtype = np.dtype(dtype)
        dtype_ok = dtype in (np.dtype(np.float32), np.dtype(np.float64))
    except TypeError:
        dtype_ok = False
    if not dtype_ok:
        bad.append("dtype")
    if bad:
        return "error", bad
    with np.errstate(over="ignore", invalid="ignore"):
        cast = {k: arrays[k].astype(dtype) for k in "WbVc"}
    bad = [k for k in "WbVc" if not np.isfinite(cast[k]).all()]
    ordering = args["ordering"]
    if ordering is None:
        order = np.arange(n)
    else:
        o = None if isinstance(ordering, (str, bytes)) else np.asarray(ordering)
        ok = (o is not None and o.dtype.kind in "iuf" and o.ndim == 1 and o.shape == (n,)
              and np.isfinite(o).all() and (o == np.round(o)).all()
              and np.array_equal(np.sort(o), np.arange(n)))
        if not ok:
            bad.append("ordering")
        order = o
    if bad:
        return "error", bad
    return "ok", (cast["W"], cast["b"], cast["V"], cast["c"], np.asarray(order, dtype=np.intp), dtype)


@fuzz(3)
@given(args=from_params_args())
def test_from_params_accepts_or_rejects_clearly(args):
    verdict, detail = expected_from_params(args)
    with warnings_ignored():
        model, exc = call(NADE.from_params, args["W"], args["b"], args["V"], args["c"],
                          ordering=args["ordering"], dtype=args["dtype"])
    if verdict == "error":
        assert exc is not None, f"from_params accepted invalid parameters ({detail} are bad)"
        assert_clear_error(exc, detail)
        return
    assert exc is None, f"from_params rejected valid parameters: {type(exc).__name__}: {exc}"
    W, b, V, c, order, dtype = detail
    for name, want in (("W_", W), ("b_", b), ("V_", V), ("c_", c)):
        assert same_bits(getattr(model, name), want), name
    assert np.array_equal(model.ordering_, order)
    assert model.n_features_in_ == W.shape[1]
    # the model works
    X = np.ones((2, W.shape[1]), dtype=np.uint8)
    X[0] = 0
    check_model_outputs(model, X)


# Regression test: check_params let numpy's ValueError through, which names no parameter.
@pytest.mark.parametrize("name", ["W", "b", "V", "c"])
def test_from_params_ragged_parameter_is_named(name):
    params = dict(zip("WbVc", reference.random_params(np.random.default_rng(2), 2, 2)))
    params[name] = [[1.0], [1.0, 2.0]]
    with raises_clearly([name]):
        NADE.from_params(params["W"], params["b"], params["V"], params["c"])


# ------------------------------------------------------- parameter setters


@fuzz(1.5)
@given(model=models(max_abs=100.0), data=st.data(), attr=st.sampled_from(["W_", "b_", "V_", "c_"]))
def test_parameter_setters(model, data, attr):
    """Assigning to W_, b_, V_, c_ copies a valid array in, or fails naming the attribute."""
    shape = getattr(model, attr).shape
    value = data.draw(param_values(shape, attr), label="value")
    dtype = model.W_.dtype
    before = {p: getattr(model, p).copy() for p in ("W_", "b_", "V_", "c_")}
    with warnings_ignored():
        _, exc = call(setattr, model, attr, value)
    try:
        a = np.asarray(value)
        with warnings_ignored():
            ok = (a.shape == shape and a.dtype.kind in "biuf"
                  and np.isfinite(a.astype(dtype)).all())
    except (TypeError, ValueError):
        ok = False
    if not ok:
        assert exc is not None, f"{attr} accepted {value!r}"
        assert_clear_error(exc, [attr])
        for p, v in before.items():  # nothing changed
            assert same_bits(getattr(model, p), v), p
        return
    assert exc is None, f"{attr} = valid array failed: {type(exc).__name__}: {exc}"
    with warnings_ignored():
        assert same_bits(getattr(model, attr), np.asarray(value).astype(dtype))
    X = np.array([[0] * model.n_features_in_, [1] * model.n_features_in_], dtype=np.uint8)
    ll = model.score_samples(X)
    assert not np.isnan(ll).any() and (ll <= 0).all()


# Regression test: NADE._assign checked finiteness before the cast to the model dtype.
def test_setter_rejects_values_that_overflow_float32():
    model = NADE.from_params(*(a.astype(np.float32) for a in
                               reference.random_params(np.random.default_rng(6), 3, 2)))
    with raises_clearly(["V_"]), warnings_ignored():
        model.V_ = np.full((3, 2), 1e39)
    assert np.isfinite(model.V_).all()
    assert not np.isnan(model.score_samples(np.ones((1, 3), dtype=np.uint8))).any()
