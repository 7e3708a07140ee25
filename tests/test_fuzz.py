"""Property-based fuzzing (hypothesis) of every public entry point of nadefast.

Every call must either return a correct answer (checked against the plain
float64 references of tests/reference.py, with an a-priori floating-point
error bound for the model's dtype) or raise ValueError / TypeError /
MemoryError (NotFittedError is a ValueError) whose message names the problem;
never another exception type, a NaN, or a crash.  `nadefast.cli.main` must
return 0/1/2 or exit with status 2 (0 for --help), with at most one line on
stderr and never a traceback.  Oversized requests must fail fast, naming the
argument, before allocating.

Two settings profiles are registered here (and applied per test, so other
test modules are not affected):

* ``nadefast-fuzz`` (default): short and derandomized, for CI (~10 s).
* ``nadefast-fuzz-long``: 20x more examples, random seeds (failures are kept
  in the .hypothesis/ example database), no deadline; about 2 minutes on
  2 cores.  Run it with

      NADEFAST_FUZZ_PROFILE=long python -m pytest tests/test_fuzz.py -q

  (add ``-x`` to stop at the first failure, ``--hypothesis-show-statistics``
  for timings and outcome counts, ``--hypothesis-seed=N`` to repeat a run).

Known bugs are pinned by strict-xfail reproducers; see the BUG_* flags below.
"""

import contextlib
import io
import os
import pathlib
import re
import shutil
import tempfile
import time
import warnings
import zipfile
import zlib
from unittest import mock

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, event, example, given, note, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import nadefast
import nadefast.cli
import nadefast.datasets
from nadefast import NADE, NotFittedError

import reference

# ---------------------------------------------------------------- profiles

_COMMON = dict(
    deadline=None,  # the machine is shared and noisy
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                           HealthCheck.filter_too_much],
    print_blob=True,
)
settings.register_profile("nadefast-fuzz", max_examples=50, derandomize=True, database=None,
                          **_COMMON)
settings.register_profile("nadefast-fuzz-long", max_examples=1000, derandomize=False, **_COMMON)

_PROFILE_NAMES = {"": "nadefast-fuzz", "default": "nadefast-fuzz", "short": "nadefast-fuzz",
                  "long": "nadefast-fuzz-long"}
_choice = os.environ.get("NADEFAST_FUZZ_PROFILE", "").strip().lower()
if _choice not in _PROFILE_NAMES:
    raise ValueError(f"NADEFAST_FUZZ_PROFILE must be 'long' or unset, got {_choice!r}")
# Applied per test (not settings.load_profile) so that other test modules keep
# hypothesis' own defaults.
PROFILE = settings.get_profile(_PROFILE_NAMES[_choice])


def fuzz(weight=1.0):
    """The selected profile with `weight` times its number of examples."""
    return settings(PROFILE, max_examples=max(1, int(round(PROFILE.max_examples * weight))))


# Known bugs.  Each flag marks its reproducer tests (grep for the flag) as
# xfail(strict=True) and, while True, steers the fuzzers clear of that class of input so
# that they keep looking for new problems.  When a bug is fixed its reproducers XPASS,
# which fails under strict=True: then set the flag to False (the reproducers become
# ordinary regression tests and the fuzzers generate that input again).
BUG_NONCANONICAL_BOOLS = False  # bool bytes other than 0/1 were scored wrongly; fixed
BUG_HUGE_N_JOBS = False  # n_jobs >= 2**31 raised OverflowError; fixed in 5c36f2a
BUG_RAGGED_PARAMS = False  # from_params([[1.], [1., 2.]], ...): numpy's message, no name
BUG_LOAD_ZIP_ERRORS = False  # damaged model .npz: zlib.error / RuntimeError / NotImplementedError
BUG_NPZ_RAW_MEMBER = False  # a model file member that is not .npy data: AttributeError in load
BUG_DATA_NPZ_ERRORS = False  # CLI DATA .npz that is empty or not a zip: EOFError/BadZipFile traceback
BUG_SAVE_ERROR_NAMES_TEMP = False  # save() errors name .nadefast-XXXX.tmp, not the path given
BUG_SETTER_OVERFLOW = False  # model.V_ = 1e39 on a float32 model stores inf; scores turn NaN
BUG_NEWLINES_ON_STDERR = False  # CLI errors echo argv/paths raw: a newline in them splits the line

# The only exception types a public entry point may raise for bad input.
ALLOWED = (ValueError, TypeError, MemoryError)


def _mentions(message, names):
    """Whether `message` contains one of `names` as a word (X is not X_valid)."""
    return any(re.search(rf"(?<![A-Za-z0-9_]){re.escape(str(n))}(?![A-Za-z0-9_])", message)
               for n in names)


def assert_clear_error(exc, names, types=ALLOWED):
    """`exc` is of an allowed type and its message names one of `names`."""
    assert isinstance(exc, types), f"{type(exc).__name__}: {exc}"
    message = str(exc)
    assert message.strip(), f"{type(exc).__name__} with an empty message"
    assert _mentions(message, names), f"{type(exc).__name__}({message!r}) names none of {names}"


@contextlib.contextmanager
def raises_clearly(names, types=ALLOWED):
    """Like pytest.raises, but for the allowed types, and the message must name the problem."""
    try:
        yield
    except BaseException as exc:  # noqa: BLE001 - anything else is the bug we are looking for
        if isinstance(exc, (KeyboardInterrupt, SystemExit)):
            raise
        assert_clear_error(exc, names, types)
    else:
        raise AssertionError(f"no error raised; expected one naming {names}")


def call(fn, *args, **kwargs):
    """(result, None) or (None, exception) for any Exception; the outcome is a hypothesis event."""
    try:
        result = fn(*args, **kwargs)
    except Exception as exc:  # noqa: BLE001
        _event(f"{getattr(fn, '__name__', 'call')}: {type(exc).__name__}")
        return None, exc
    _event(f"{getattr(fn, '__name__', 'call')}: returned")
    return result, None


@contextlib.contextmanager
def warnings_ignored():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        yield


def _event(text):
    try:
        event(text)
    except Exception:  # noqa: BLE001 - outside a hypothesis test
        pass


# ---------------------------------------------------- references and bounds


def _sigmoid_slope(t):
    s = reference.sigmoid(t)
    return s * (1.0 - s)


def reference_with_bounds(model, X):
    """Float64 references of what the kernels compute on X, and a-priori error bounds.

    The bounds propagate rounding through the chain (pre-activation sums,
    sigmoid, logit dot products, log-sigmoid), each error taken as a few
    units of the model's precision times the magnitude of the terms summed,
    plus the same in float64 for the reference itself; where |W|, |V| reach
    1e4 the problem is ill-conditioned and the bounds grow accordingly.
    """
    dtype = model.W_.dtype
    eps = float(np.finfo(dtype).eps) + float(np.finfo(np.float64).eps)
    # reference.sigmoid = (1 + tanh(x/2)) / 2 is exact only to ~1e-16 absolute (it gives
    # 0 below -37); the kernels clamp at -87 (float32) / -708 (float64)
    tiny = 4e-16
    W, b, V, c = (np.asarray(a, dtype=np.float64) for a in (model.W_, model.b_, model.V_, model.c_))
    order = model.ordering_
    X = np.asarray(X, dtype=np.float64)
    m, n = X.shape
    d = W.shape[0]
    H, Z, Xo = reference.masked_forward(W, b, V, c, X, order)
    # pre-activations a_k = b + sum_{j<k} W[:, j] x_o[j], and the sums of |terms|
    contrib = Xo[:, :, None] * W.T[None, :, :]
    A = b + np.concatenate([np.zeros((m, 1, d)), np.cumsum(contrib, axis=1)[:, :-1]], axis=1)
    absA = np.abs(b) + np.concatenate([np.zeros((m, 1, d)), np.cumsum(np.abs(contrib), axis=1)[:, :-1]],
                                      axis=1)
    dA = (n + 4) * eps * absA
    dH = _sigmoid_slope(np.maximum(np.abs(A) - dA, 0.0)) * dA + 4 * eps * H + tiny
    absV = np.abs(V)
    dZ = (np.einsum("mkd,kd->mk", dH, absV)
          + (d + 4) * eps * (np.abs(c) + np.einsum("mkd,kd->mk", H, absV)))
    sign = 2.0 * Xo - 1.0
    terms = -np.logaddexp(0.0, -sign * Z)  # log sigmoid(s z)
    dL = dZ + 4 * eps * (np.abs(terms) + 1.0)
    loglik = terms.sum(axis=1)
    loglik_tol = 4.0 * (dL.sum(axis=1) + (n + 2) * eps * np.abs(terms).sum(axis=1)) + 1e-300
    P = reference.sigmoid(Z)
    dP = _sigmoid_slope(np.maximum(np.abs(Z) - dZ, 0.0)) * dZ + 4 * eps * P + tiny
    cond = np.empty_like(P)
    cond_tol = np.empty_like(P)
    cond[:, order] = P
    cond_tol[:, order] = 4.0 * dP
    return {"loglik": loglik, "loglik_tol": loglik_tol, "cond": cond, "cond_tol": cond_tol,
            "H": H, "H_tol": 4.0 * dH, "Z": Z, "Z_tol": 4.0 * dZ, "Xo": Xo}


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


# -------------------------------------------------------------- strategies

SCALES = (1e-3, 0.1, 1.0, 3.0, 30.0, 300.0, 1e4)


@st.composite
def param_sets(draw, n=None, d=None, max_abs=1e4):
    """Public-layout float64 parameters (W, b, V, c), |entries| <= max_abs."""
    n = draw(st.integers(1, 7)) if n is None else n
    d = draw(st.integers(1, 6)) if d is None else d
    if draw(st.booleans()):
        # hypothesis' own floats: zeros, extremes, subnormals, -0.0
        el = st.floats(-max_abs, max_abs, allow_nan=False, allow_infinity=False)
        shapes = ((d, n), (d,), (n, d), (n,))
        return tuple(draw(hnp.arrays(np.float64, s, elements=el)) for s in shapes)
    seed = draw(st.integers(0, 2**32 - 1))
    scale = draw(st.sampled_from([s for s in SCALES if s <= max_abs]))
    rng = np.random.default_rng(seed)
    return tuple(np.clip(a, -max_abs, max_abs) for a in reference.random_params(rng, n, d, scale))


@st.composite
def models(draw, max_abs=1e4, dtypes=("float32", "float64"), n=None, d=None):
    W, b, V, c = draw(param_sets(n=n, d=d, max_abs=max_abs))
    n = W.shape[1]
    dtype = draw(st.sampled_from(dtypes))
    ordering = draw(st.none() | st.permutations(range(n)))
    model = NADE.from_params(W, b, V, c, ordering=ordering, dtype=dtype)
    note(f"model: n={n} d={W.shape[0]} dtype={dtype} ordering={ordering} "
         f"max|W|={np.abs(W).max():.3g} max|V|={np.abs(V).max():.3g}")
    return model


def binary_rows(n, min_rows=0, max_rows=6, big=False):
    """uint8 0/1 arrays (rows, n); with big=True sometimes more rows than one kernel block (12)."""
    rows = st.integers(min_rows, max_rows)
    if big:
        rows = rows | st.integers(13, 40)
    return hnp.arrays(np.uint8, st.tuples(rows, st.just(n)), elements=st.integers(0, 1))


NUMERIC_DTYPES = [np.bool_, np.int8, np.int16, np.int32, np.int64, np.uint8, np.uint16, np.uint32,
                  np.uint64, np.float16, np.float32, np.float64, np.longdouble]
OTHER_DTYPES = [np.complex64, np.complex128, object, "U1", "U3", "S1", "M8[s]", "m8[s]",
                [("a", np.uint8)]]


def _bad_values(dtype):
    """Values representable in `dtype` that are not 0 or 1."""
    dt = np.dtype(dtype)
    if dt.kind == "i":
        info = np.iinfo(dt)
        return [2, -1, info.max, info.min, 7]
    if dt.kind == "u":
        return [2, 3, np.iinfo(dt).max]
    if dt.kind == "f":
        finfo = np.finfo(dt)
        return [0.5, 2.0, -1.0, np.nan, np.inf, -np.inf, float(1 + finfo.eps), float(finfo.tiny),
                float(finfo.max), -np.nan]
    return []


# Odd things passed as X, made fresh for each example (some are mutable or unhashable).
ODD_X = [
    lambda n: None, lambda n: 0, lambda n: 1.0, lambda n: "0101", lambda n: b"\x00\x01",
    lambda n: "", lambda n: [], lambda n: [[]], lambda n: [[0, 1], [1]], lambda n: {0: 1},
    lambda n: {1, 0}, lambda n: object(), lambda n: (x for x in [[0, 1]]), lambda n: [[None] * n],
    lambda n: [[0] * n, [1] * (n + 1)], lambda n: [["0"] * n], lambda n: [[0.0, float("nan")][:n]],
    lambda n: np.zeros((1, n), dtype=object), lambda n: [[1 + 0j] * n], lambda n: [[2**70] * n],
    lambda n: [[True] * n, [False] * n], lambda n: _matrix(np.zeros((2, n), dtype=np.uint8)),
    lambda n: memoryview(np.ones((2, n), dtype=np.uint8)),
    lambda n: np.ma.masked_array(np.ones((2, n)), mask=np.eye(2, n, dtype=bool)),
    lambda n: FakeSparse((2, n)),
]


def _matrix(a):
    with warnings_ignored():  # PendingDeprecationWarning
        return np.matrix(a)


class FakeSparse:
    """Quacks like a scipy.sparse matrix."""

    def __init__(self, shape):
        self.shape = shape

    def toarray(self):
        return np.zeros(self.shape)


@st.composite
def data_inputs(draw, n):
    """Anything a user might pass as X to a model with n features; mostly near-valid arrays."""
    kind = draw(st.sampled_from(["array"] * 8 + ["list", "odd"]))
    if kind == "odd":
        make = draw(st.sampled_from(ODD_X))
        return make(n)
    rows = draw(st.integers(0, 5))
    cols = draw(st.sampled_from([n, n, n, n, n + 1, max(n - 1, 0), 0]))
    base = draw(hnp.arrays(np.uint8, (rows, cols), elements=st.integers(0, 1)))
    if kind == "list":
        conv = draw(st.sampled_from([int, float, bool]))
        out = [[conv(v) for v in row] for row in base.tolist()]
        if rows and cols and draw(st.booleans()):
            out[draw(st.integers(0, rows - 1))][draw(st.integers(0, cols - 1))] = draw(
                st.sampled_from([2, -1, 0.5, float("nan"), float("inf"), "1", None, 1j]))
        return out if draw(st.booleans()) else tuple(map(tuple, out))

    dtype = draw(st.sampled_from(NUMERIC_DTYPES * 3 + OTHER_DTYPES))
    dt = np.dtype(dtype)
    if dt.kind == "V":
        X = np.zeros(base.shape, dtype=dt)
        X["a"] = base
    elif dt.kind in "US":
        X = base.astype(dt)
    else:
        X = base.astype(dt)
    if dt.kind in "iuf" and rows and cols and draw(st.booleans()):
        X[draw(st.integers(0, rows - 1)), draw(st.integers(0, cols - 1))] = draw(
            st.sampled_from(_bad_values(dt)))
    if dt.kind == "b" and rows and cols and not BUG_NONCANONICAL_BOOLS and draw(st.booleans()):
        # non-canonical bools: bytes other than 0/1 (numpy reads them as True)
        raw = X.view(np.uint8)
        raw[draw(st.integers(0, rows - 1)), draw(st.integers(0, cols - 1))] = draw(st.integers(2, 255))
    if dt.kind in "iuf" and dt.itemsize > 1 and draw(st.integers(0, 5)) == 0:
        X = X.astype(dt.newbyteorder())  # non-native byte order

    layout = draw(st.sampled_from(["C", "F", "strided", "reversed", "readonly", "transposed",
                                   "broadcast", "unaligned", "ndim"]))
    if layout == "F":
        X = np.asfortranarray(X)
    elif layout == "strided":
        big = np.zeros((2 * rows + 1, 3 * cols + 2), dtype=X.dtype)
        big[1::2, 2::3] = X
        X = big[1::2, 2::3]
    elif layout == "reversed":
        X = np.ascontiguousarray(X[::-1, ::-1])[::-1, ::-1]
    elif layout == "readonly":
        X = X.copy()
        X.setflags(write=False)
    elif layout == "transposed":
        X = np.ascontiguousarray(X.T).T
    elif layout == "broadcast" and rows:
        X = np.broadcast_to(X[:1], X.shape)
    elif layout == "unaligned" and X.dtype.kind in "iuf" and X.dtype.itemsize > 1:
        buf = bytearray(X.nbytes + 1)
        Y = np.frombuffer(buf, dtype=X.dtype, count=X.size, offset=1).reshape(X.shape)
        Y[...] = X
        X = Y
    elif layout == "ndim":
        X = draw(st.sampled_from([X.reshape(-1), X.reshape(X.shape + (1,)), X.reshape((1,) + X.shape),
                                  X.reshape(-1)[:1].reshape(()) if X.size else np.zeros(())]))
    return X


def expected_binary(X, n):
    """What as_binary_matrix should do with X for a model with n features (n=None: any).

    Returns ("ok", uint8 matrix) or ("error", [(exception type, words the message may name)]).
    Written from the README's contract, independently of nadefast._validation.
    """
    if hasattr(X, "toarray") or isinstance(X, (str, bytes)):
        return "error", [(TypeError, ["X", "str", "bytes", "toarray"])]
    try:
        a = np.asarray(X)
    except Exception:  # noqa: BLE001 - ragged lists and the like
        return "error", [(ValueError, ["X"])]
    problems = []
    if a.dtype.kind == "c":  # scikit-learn's convention: complex data is a ValueError
        problems.append((ValueError, ["X", "Complex"]))
    elif a.dtype.kind not in "biuf":
        problems.append((TypeError, ["X", str(a.dtype)]))
    if a.ndim != 2:
        problems.append((ValueError, ["X", f"{a.ndim}-D"]))
    elif n is not None and a.shape[1] != n:
        problems.append((ValueError, ["X", str(a.shape[1])]))
    elif a.shape[1] == 0 and a.shape[0] > 0:
        problems.append((ValueError, ["X"]))
    if problems:
        return "error", problems
    if a.shape[0] == 0:
        return "ok", np.zeros(a.shape, dtype=np.uint8)
    if a.dtype.kind == "b":
        return "ok", (a.view(np.uint8) != 0).astype(np.uint8)
    good = (a == 0) | (a == 1)
    if not good.all():
        return "error", [(ValueError, ["X"])]
    return "ok", (a == 1).astype(np.uint8)


def check_value_error_position(exc, X):
    """If the message points at [i, j], X[i, j] must really be a bad value there."""
    match = re.search(r"at \[(\d+), (\d+)\]", str(exc))
    if match:
        a = np.asarray(X)
        i, j = int(match.group(1)), int(match.group(2))
        v = a[i, j]
        assert not (v == 0 or v == 1), f"message {exc} points at a good value {v!r}"


# ------------------------------------------------------ model computations


def check_model_outputs(model, X, n_jobs=None):
    """All inference entry points on valid 0/1 data X: correct, finite, consistent."""
    X = np.asarray(X, dtype=np.uint8)
    m, n = X.shape
    d = model.W_.shape[0]
    dtype = model.W_.dtype
    ref = reference_with_bounds(model, X)
    model.n_jobs = n_jobs

    ll = model.score_samples(X)
    assert ll.shape == (m,) and ll.dtype == np.float64
    assert not np.isnan(ll).any(), ll
    assert (np.isfinite(ll) | (ll == -np.inf)).all()
    assert (ll <= 0).all(), ll
    err = np.abs(ll - ref["loglik"])
    bad = ~(err <= ref["loglik_tol"])
    assert not bad.any(), (f"score_samples {ll[bad]} vs reference {ref['loglik'][bad]}, "
                           f"tolerance {ref['loglik_tol'][bad]}")

    cond = model.conditionals(X)
    assert cond.shape == (m, n) and cond.dtype == dtype
    assert not np.isnan(cond).any()
    assert ((cond >= 0) & (cond <= 1)).all(), cond
    bad = ~(np.abs(cond - ref["cond"]) <= ref["cond_tol"])
    assert not bad.any(), f"conditionals {cond[bad]} vs reference {ref['cond'][bad]}"

    hidden = model.hidden_states(X)
    assert hidden.shape == (m, n, d) and hidden.dtype == dtype
    assert ((hidden >= 0) & (hidden <= 1)).all()
    bad = ~(np.abs(hidden - ref["H"]) <= ref["H_tol"])
    assert not bad.any(), f"hidden_states {hidden[bad]} vs reference {ref['H'][bad]}"

    if m == 0:
        with raises_clearly(["X", "0 samples", "samples"]):
            model.score(X)
        with raises_clearly(["X", "0 samples", "samples"]):
            model.loss_and_gradient(X)
        return ll
    assert model.score(X) == float(np.mean(ll))
    loss, grads = model.loss_and_gradient(X)
    assert isinstance(loss, float) and np.isfinite(loss)
    assert abs(loss + np.mean(ref["loglik"])) <= np.mean(ref["loglik_tol"]) + 1e-12 * abs(loss)
    assert set(grads) == {"W", "b", "V", "c"}
    for name, shape in (("W", (d, n)), ("b", (d,)), ("V", (n, d)), ("c", (n,))):
        g = grads[name]
        assert g.shape == shape and g.dtype == dtype, (name, g.shape, g.dtype)
        assert np.isfinite(g).all(), (name, g)
    # a row's log-likelihood is the same alone as in the batch
    for i in range(m):
        assert model.score_samples(X[i : i + 1])[0] == ll[i]
    return ll


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
        assert _same_bits(model.score_samples(X), ll), f"n_jobs={other}"
        assert _same_bits(model.conditionals(X), cond), f"n_jobs={other}"
        assert _same_bits(model.sample(len(X), random_state=1), samples), f"n_jobs={other}"
        if loss_grads is not None:
            loss, grads = model.loss_and_gradient(X)
            assert loss == loss_grads[0]
            assert all(_same_bits(grads[k], loss_grads[1][k]) for k in grads), f"n_jobs={other}"


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


# ------------------------------------------------------------- bad data X

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


@pytest.mark.xfail(BUG_NONCANONICAL_BOOLS, strict=True,
                   reason="as_binary_matrix passes the raw bytes of bool arrays to the kernels")
def test_non_canonical_bools_are_true():
    """A bool array holding bytes other than 0/1 means True, as numpy says."""
    W, b, V, c = reference.random_params(np.random.default_rng(0), 3, 2)
    model = NADE.from_params(W, b, V, c, dtype="float64")
    X = np.frombuffer(bytes([0, 2, 255, 1, 0, 7]), dtype=np.bool_).reshape(2, 3)
    assert np.array_equal(X, [[False, True, True], [True, False, True]])
    canonical = np.array([[0, 1, 1], [1, 0, 1]], dtype=np.uint8)
    np.testing.assert_array_equal(model.score_samples(X), model.score_samples(canonical))
    np.testing.assert_array_equal(model.conditionals(X), model.conditionals(canonical))


# -------------------------------------------------------- from_params


def _param_array(draw, shape, name):
    """A parameter argument: usually a float array of `shape`, sometimes anything."""
    what = draw(st.sampled_from(["good"] * 6 + ["dtype", "shape", "nonfinite", "huge", "odd"]))
    if what == "odd":
        odd = [None, "weights", b"w", 3.0, [], {"a": 1}, object(), np.array(["a"]),
               np.zeros(shape, dtype=object), np.zeros(shape, dtype=complex)]
        return draw(st.sampled_from(odd + ([] if BUG_RAGGED_PARAMS else [[[1.0], [1.0, 2.0]]])))
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


def _same_bits(a, b):
    a, b = np.asarray(a), np.asarray(b)
    return a.dtype == b.dtype and a.shape == b.shape and np.ascontiguousarray(a).tobytes() == \
        np.ascontiguousarray(b).tobytes()


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
        assert _same_bits(getattr(model, name), want), name
    assert np.array_equal(model.ordering_, order)
    assert model.n_features_in_ == W.shape[1]
    # the model works
    X = np.ones((2, W.shape[1]), dtype=np.uint8)
    X[0] = 0
    check_model_outputs(model, X)


@fuzz(1.5)
@given(model=models(max_abs=100.0), data=st.data(), attr=st.sampled_from(["W_", "b_", "V_", "c_"]))
def test_parameter_setters(model, data, attr):
    """Assigning to W_, b_, V_, c_ copies a valid array in, or fails naming the attribute."""
    shape = getattr(model, attr).shape
    value = data.draw(param_values(shape, attr), label="value")
    dtype = model.W_.dtype
    if BUG_SETTER_OVERFLOW and dtype == np.float32:
        try:
            a = np.asarray(value)
            if a.dtype.kind == "f":
                assume(not (np.abs(a[np.isfinite(a)].astype(np.float64)) > 3e38).any())
        except (TypeError, ValueError):
            pass
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
            assert _same_bits(getattr(model, p), v), p
        return
    assert exc is None, f"{attr} = valid array failed: {type(exc).__name__}: {exc}"
    with warnings_ignored():
        assert _same_bits(getattr(model, attr), np.asarray(value).astype(dtype))
    X = np.array([[0] * model.n_features_in_, [1] * model.n_features_in_], dtype=np.uint8)
    ll = model.score_samples(X)
    assert not np.isnan(ll).any() and (ll <= 0).all()


@pytest.mark.xfail(BUG_SETTER_OVERFLOW, strict=True,
                   reason="NADE._assign checks finiteness before the cast to the model dtype")
def test_setter_rejects_values_that_overflow_float32():
    model = NADE.from_params(*(a.astype(np.float32) for a in
                               reference.random_params(np.random.default_rng(6), 3, 2)))
    with raises_clearly(["V_"]), warnings_ignored():
        model.V_ = np.full((3, 2), 1e39)
    assert np.isfinite(model.V_).all()
    assert not np.isnan(model.score_samples(np.ones((1, 3), dtype=np.uint8))).any()


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
                      either=[64, -(10**6)] + ([] if BUG_HUGE_N_JOBS else [2**31, 2**63, 2**70])),
}
FIT_ARGS = {
    "epochs": _tagged(valid=[0, 1, 2, np.int16(1)], invalid=[-1, 1.0, "2", None, True, 2**70 * -1]),
    "batch_size": _tagged(valid=[1, 2, 100, 2**62, 10**30], invalid=[0, -5, 2.0, "100", None, False]),
    "optimizer": _tagged(valid=["adam", "sgd", "ADAM", "Sgd"],
                         invalid=["rmsprop", "", None, 1, ["adam"], b"adam"]),
    "learning_rate": _tagged(valid=[1e-3, 0.1, 1, np.float32(0.01), 5e-324],
                             invalid=[0, 0.0, -1e-3, float("nan"), float("inf"), float("-inf"), "0.1",
                                      None, True, 1j],
                             # training may diverge (FloatingPointError) or not
                             either=[1e300, 1e10]),
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


# -------------------------------------------------------------- save/load

NAME_CHARS = st.characters(blacklist_categories=("Cs", "Cc"), blacklist_characters="/\\\x00")


@fuzz(1)
@given(model=models(), name=st.text(NAME_CHARS, min_size=1, max_size=20), as_path=st.booleans())
def test_save_load_round_trip_is_bit_exact(model, name, as_path):
    assume(name not in (".", "..") and len(name.encode("utf-8")) < 200)
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, name)
        model.save(pathlib.Path(path) if as_path else path)
        assert os.listdir(tmp) == [name], "save left temporary files behind"
        loaded = NADE.load(pathlib.Path(path) if not as_path else path)
    for attr in ("W_", "b_", "V_", "c_"):
        assert _same_bits(getattr(loaded, attr), getattr(model, attr)), attr
    assert np.array_equal(loaded.ordering_, model.ordering_)
    assert loaded.n_features_in_ == model.n_features_in_
    X = np.tile(np.array([0, 1], dtype=np.uint8), (3, model.n_features_in_))[:, : model.n_features_in_]
    X[1] = 1 - X[1]
    assert _same_bits(loaded.score_samples(X), model.score_samples(X))
    assert _same_bits(loaded.sample(4, random_state=5), model.sample(4, random_state=5))


def _valid_file_arrays(rng, n=3, d=2, dtype=np.float64):
    W, b, V, c = (a.astype(dtype) for a in reference.random_params(rng, n, d))
    return {"format": np.array("nadefast.NADE"), "format_version": np.array(1, dtype=np.int64),
            "W": W, "b": b, "V": V, "c": c, "ordering": rng.permutation(n).astype(np.int64)}


ODD_ARRAYS = [np.array(1.5), np.array("nadefast.NADE"), np.array(b"nadefast.NADE"), np.zeros(0),
              np.zeros((2, 3)), np.zeros((3, 2), dtype=np.float32), np.full(3, np.nan),
              np.array([np.inf, 0, 1]), np.array([0, 1, 1]), np.array([2, 0, 1]), np.arange(3.0),
              np.array([0.5, 1, 2]), np.array([True, False, True]), np.array(2, dtype=np.int64),
              np.array(0), np.array(-1), np.array(2**63 - 1, dtype=np.int64),
              np.array(2**64 - 1, dtype=np.uint64), np.zeros(3, dtype=np.float16),
              np.zeros(3, dtype=complex), np.array(["a", "b", "c"]), np.zeros((1, 1, 1)),
              np.array(1, dtype=np.int8), np.zeros((2, 0))]


@st.composite
def model_files(draw):
    """The arrays of a model file with some keys dropped, replaced or added."""
    rng = np.random.default_rng(draw(st.integers(0, 2**16)))
    dtype = draw(st.sampled_from([np.float32, np.float64]))
    arrays = _valid_file_arrays(rng, draw(st.integers(1, 4)), draw(st.integers(1, 3)), dtype)
    for _ in range(draw(st.integers(0, 3))):
        key = draw(st.sampled_from(sorted(arrays) + ["extra"]))
        action = draw(st.sampled_from(["drop", "replace", "replace", "cast"]))
        if action == "drop":
            arrays.pop(key, None)
        elif action == "replace":
            arrays[key] = draw(st.sampled_from(ODD_ARRAYS))
        elif key in arrays and arrays[key].dtype.kind in "biuf":
            with warnings_ignored():  # overflow in casts
                arrays[key] = arrays[key].astype(draw(st.sampled_from(
                    [np.float16, np.float32, np.float64, np.int64, np.uint8, object])))
    compressed = draw(st.booleans())
    return arrays, compressed


def _model_file_is_valid(arrays):
    keys = {"format", "format_version", "W", "b", "V", "c", "ordering"}
    if not keys <= arrays.keys():
        return False
    if any(a.dtype == object for a in arrays.values()):
        return False
    f, v = arrays["format"], arrays["format_version"]
    if f.shape != () or f.dtype.kind != "U" or str(f) != "nadefast.NADE":
        return False
    # versions 1 and 2 are understood (2 adds order-agnostic models, marked by a "kind" key)
    if v.shape != () or v.dtype.kind not in "iu" or int(v) not in (1, 2):
        return False
    W, b, V, c = (arrays[k] for k in "WbVc")
    if W.dtype not in (np.float32, np.float64) or any(a.dtype != W.dtype for a in (b, V, c)):
        return False
    if W.ndim != 2 or 0 in W.shape:
        return False
    d, n = W.shape
    if b.shape != (d,) or V.shape != (n, d) or c.shape != (n,):
        return False
    if not all(np.isfinite(a).all() for a in (W, b, V, c)):
        return False
    o = arrays["ordering"]
    return (o.dtype.kind in "iuf" and o.ndim == 1 and o.shape == (n,) and np.isfinite(o).all()
            and (o == np.round(o)).all() and np.array_equal(np.sort(o), np.arange(n)))


@fuzz(1.5)
@given(case=model_files())
def test_load_checks_every_array(case):
    arrays, compressed = case
    valid = _model_file_is_valid(arrays)
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "m.npz")
        with warnings_ignored():
            (np.savez_compressed if compressed else np.savez)(path, **arrays)
        model, exc = call(NADE.load, path)
    if valid:
        assert exc is None, f"load rejected a valid file: {type(exc).__name__}: {exc}"
        assert _same_bits(model.W_, arrays["W"]) and _same_bits(model.c_, arrays["c"])
        return
    assert exc is not None, f"load accepted an invalid file with keys {sorted(arrays)}"
    assert_clear_error(exc, [path], (ValueError,))


@st.composite
def corrupted_files(draw):
    rng = np.random.default_rng(draw(st.integers(0, 2**16)))
    compressed = not BUG_LOAD_ZIP_ERRORS and draw(st.booleans())
    buf = io.BytesIO()
    (np.savez_compressed if compressed else np.savez)(buf, **_valid_file_arrays(rng))
    data = bytearray(buf.getvalue())
    for _ in range(draw(st.integers(1, 4))):
        how = draw(st.sampled_from(["flip", "flip", "truncate", "insert", "zero"]))
        pos = draw(st.integers(0, len(data) - 1))
        if how == "flip":
            data[pos] ^= draw(st.integers(1, 255))
        elif how == "truncate":
            del data[pos:]
        elif how == "insert":
            data[pos:pos] = draw(st.binary(min_size=1, max_size=8))
        else:
            data[pos : pos + 16] = bytes(len(data[pos : pos + 16]))
        if not data:
            break
    return bytes(data), compressed


def _compressed_member_payload_offset():
    """Bytes of a savez_compressed model file and the offset of W's deflate stream."""
    rng = np.random.default_rng(0)
    buf = io.BytesIO()
    np.savez_compressed(buf, **_valid_file_arrays(rng))
    data = bytearray(buf.getvalue())
    with zipfile.ZipFile(io.BytesIO(bytes(data))) as zf:
        info = zf.getinfo("W.npy")
    # local header: 30 bytes + name + extra
    name_len = int.from_bytes(data[info.header_offset + 26 : info.header_offset + 28], "little")
    extra_len = int.from_bytes(data[info.header_offset + 28 : info.header_offset + 30], "little")
    return data, info.header_offset + 30 + name_len + extra_len


@fuzz(2)
@given(case=corrupted_files())
def test_load_corrupted_files(case):
    data, _ = case
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "m.npz")
        with open(path, "wb") as f:
            f.write(data)
        model, exc = call(NADE.load, path)
    if BUG_NPZ_RAW_MEMBER and isinstance(exc, AttributeError) and "'bytes'" in str(exc):
        assume(False)  # test_load_rejects_members_that_are_not_arrays
    if BUG_LOAD_ZIP_ERRORS and isinstance(exc, (RuntimeError, NotImplementedError, zlib.error)):
        assume(False)  # test_load_damaged_zip_structures
    if exc is None:  # a harmless corruption (e.g. in a zip comment): the model must be sound
        for p in ("W_", "b_", "V_", "c_"):
            assert np.isfinite(getattr(model, p)).all()
        assert np.array_equal(np.sort(model.ordering_), np.arange(model.n_features_in_))
        return
    assert_clear_error(exc, [path], (ValueError,))


def _damaged_zip(how):
    """A model file whose zip structure is damaged in one specific way."""
    if how == "deflate":  # savez_compressed, W's deflate stream overwritten
        data, start = _compressed_member_payload_offset()
        data[start : start + 4] = b"\xff\xff\xff\xff"
        return bytes(data)
    buf = io.BytesIO()
    np.savez(buf, **_valid_file_arrays(np.random.default_rng(0)))
    data = bytearray(buf.getvalue())
    entry = data.find(b"PK\x01\x02")  # first central-directory entry
    field, value = {"encrypted": (8, 1), "method": (10, 99)}[how]  # flag bits / compression
    data[entry + field : entry + field + 2] = value.to_bytes(2, "little")
    return bytes(data)


@pytest.mark.xfail(BUG_LOAD_ZIP_ERRORS, strict=True,
                   reason="io.read_npz catches OSError/ValueError/EOFError/KeyError/BadZipFile only; "
                          "zipfile and zlib raise zlib.error, RuntimeError, NotImplementedError too")
@pytest.mark.parametrize("how", ["deflate", "encrypted", "method"])
def test_load_damaged_zip_structures(how):
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "m.npz")
        pathlib.Path(path).write_bytes(_damaged_zip(how))
        with raises_clearly([path], (ValueError,)):
            NADE.load(path)


def _model_file_with_member(name, content):
    """Bytes of a valid model file whose member `name` is replaced by raw `content`."""
    buf = io.BytesIO()
    np.savez(buf, **_valid_file_arrays(np.random.default_rng(0)))
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(buf.getvalue())) as zin, zipfile.ZipFile(out, "w") as zout:
        for item in zin.infolist():
            zout.writestr(item.filename, content if item.filename == name else zin.read(item.filename))
    return out.getvalue()


@pytest.mark.xfail(BUG_NPZ_RAW_MEMBER, strict=True,
                   reason="numpy's NpzFile returns raw bytes for a member without the .npy magic; "
                          "load_model then fails with AttributeError")
@pytest.mark.parametrize("member", ["W.npy", "c.npy", "format_version.npy"])
def test_load_rejects_members_that_are_not_arrays(member):
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "m.npz")
        pathlib.Path(path).write_bytes(_model_file_with_member(member, b"not an npy file"))
        with raises_clearly([path], (ValueError,)):
            NADE.load(path)


@pytest.mark.parametrize("what", ["missing", "directory", "empty", "npy", "text"])
def test_load_odd_paths(what):
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "model.npz")
        if what == "directory":
            os.mkdir(path)
        elif what == "empty":
            open(path, "wb").close()
        elif what == "npy":
            with open(path, "wb") as f:
                np.save(f, np.zeros(3))
        elif what == "text":
            pathlib.Path(path).write_text("W,b,V,c\n1,2,3,4\n")
        # a missing file is a FileNotFoundError (an OSError), as open() gives
        types = (FileNotFoundError,) if what == "missing" else (ValueError,)
        with raises_clearly([path], types):
            NADE.load(path)


def test_unfitted_model_entry_points_say_so():
    model = NADE(3)
    for fn in (lambda: model.score_samples([[0, 1]]), lambda: model.score([[0, 1]]),
               lambda: model.conditionals([[0, 1]]), lambda: model.hidden_states([[0, 1]]),
               lambda: model.loss_and_gradient([[0, 1]]), lambda: model.sample(1),
               lambda: model.save("never-written.npz")):
        with raises_clearly(["fitted", "fit"], (NotFittedError,)):
            fn()
    assert not os.path.exists("never-written.npz")


# ------------------------------------------------------ oversized requests


@contextlib.contextmanager
def address_space_limit(extra_bytes=2 << 30):
    """Cap this process's address space near its current size, so that a request
    that really tried to allocate would fail instead of swapping or being OOM-killed."""
    resource = pytest.importorskip("resource")
    try:
        with open("/proc/self/statm") as f:
            current = int(f.read().split()[0]) * os.sysconf("SC_PAGE_SIZE")
    except OSError:
        pytest.skip("no /proc/self/statm")
    soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    limit = current + extra_bytes
    if hard != resource.RLIM_INFINITY:
        limit = min(limit, hard)
    resource.setrlimit(resource.RLIMIT_AS, (limit, hard))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_AS, (soft, hard))


@pytest.fixture(scope="module")
def wide_model():
    rng = np.random.default_rng(3)
    W, b, V, c = reference.random_params(rng, 784, 3)
    return NADE.from_params(W, b, V, c)


@fuzz(0.5)
@given(count=st.integers(10**11, 2**80) | st.sampled_from([10**12, 2**63 - 1, 2**63, 2**64]))
@example(count=10**12)
def test_oversized_sample_fails_fast_before_allocating(wide_model, count):
    t0 = time.perf_counter()
    with address_space_limit():
        # the name, not just the number: numpy's own "Unable to allocate ... shape (count, 784)"
        # would mean that nothing checked the request before allocating
        with raises_clearly(["n_samples", "sample"], (ValueError, MemoryError)):
            wide_model.sample(count)
    assert time.perf_counter() - t0 < 5.0


@fuzz(0.5)
@given(n_hidden=st.integers(10**9, 2**80) | st.sampled_from([10**9, 2**31, 2**63 - 1, 2**64]),
       dtype=st.sampled_from(["float32", "float64"]))
@example(n_hidden=10**9, dtype="float32")
def test_oversized_n_hidden_fails_fast_before_allocating(n_hidden, dtype):
    X = np.zeros((2, 784), dtype=np.uint8)
    model = NADE(n_hidden, dtype=dtype)
    t0 = time.perf_counter()
    with address_space_limit():
        with raises_clearly(["n_hidden"], (ValueError, MemoryError)):
            model.fit(X, epochs=1)
    assert time.perf_counter() - t0 < 5.0
    assert not hasattr(model, "W_")


def test_oversized_hidden_states_fail_fast(wide_model):
    X = np.zeros((200_000, 784), dtype=np.uint8)  # 0.16 GB of data, 1.9 GB of hidden states ...
    big = NADE.from_params(np.zeros((2000, 784), np.float32), np.zeros(2000, np.float32),
                           np.zeros((784, 2000), np.float32), np.zeros(784, np.float32))
    # ... times 2000 hidden units: 1.25 TB
    t0 = time.perf_counter()
    with address_space_limit():
        with raises_clearly(["hidden_states", "n_samples"], (ValueError, MemoryError)):
            big.hidden_states(X)
    assert time.perf_counter() - t0 < 5.0


# ------------------------------------------------------------------- CLI

SUBCOMMANDS = ["demo", "train", "eval", "sample"]
INTS = ["1", "2", "3"] * 4 + ["0", "-1", "-3", "x", "", "1e3", "0x10", "\u0661", " 2", "1000000000000",
        "99999999999", "-99999999999", "2147483648", "10000000000000000000000"]
FLOATS = ["1e-3", "0.1", "0.5"] * 3 + ["nan", "inf", "-inf", "1e400", "0", "-1", "x", "1e-320", ""]
OUTS = ["o.npz", "o.npy", "o.png", "subdir", "nodir/o.npz", "model.npz", "-", "", "data.npz",
        "o\nnewline.npz"]
SHAPES = ["2x2", "4x1", "1x4", "0x4", "axb", "4X1", "-2x-2", "2x2x2", "x", "", "28x28", "2x"]
DATA = ["data.npz", "data.npy", "data.txt", "bad.npy", "wide.npy",
        "subdir", "missing.npy", "data3.npy", "onlyvalid.npz", "obj.npy", "adult", "model.npz",
        "data\nnewline.npy", "empty.txt", "text.txt"] + ([] if BUG_NEWLINES_ON_STDERR
                                                            else ["bad\nname.npy"])
DATA += [] if BUG_DATA_NPZ_ERRORS else ["notmodel.npz", "trunc.npz", "rawW.npz", "empty.npz"]
MODELS = ["model.npz", "model32.npz", "notmodel.npz", "empty.npz", "data.npz", "missing.npz",
          "subdir", "data.npy", "trunc.npz"] + ([] if BUG_NPZ_RAW_MEMBER else ["rawW.npz"])
SUB_OPTIONS = {
    "demo": {"--hidden": INTS, "--epochs": INTS, "--patience": INTS, "--lr": FLOATS,
             "--seed": INTS, "--out": OUTS, "--n-jobs": INTS},
    "train": {"--valid": DATA, "--test": DATA, "--hidden": INTS, "--epochs": INTS,
              "--batch-size": INTS, "--lr": FLOATS, "--patience": INTS,
              "--dtype": ["float32", "float64", "float16", ""], "--ordering": ["identity", "random", "r"],
              "--seed": INTS, "--out": OUTS, "--quiet": None, "--n-jobs": INTS},
    "eval": {"--split": ["train", "valid", "test", "TEST", "", "nope"], "--n-jobs": INTS},
    "sample": {"-n": INTS, "--out": OUTS, "--png": OUTS, "--shape": SHAPES, "--scale": INTS,
               "--seed": INTS, "--n-jobs": INTS},
}
STRAY = ["--help", "-h", "--", "--frobnicate", "-x", "--hid", "--n", "--out=o.npz", "--lr=nan",
         "--hidden=2", "-n5", "--n-jobs=99999999999", "--quiet=1", "-"]
ALL_VALUES = sorted({v for opts in SUB_OPTIONS.values() for vals in opts.values() if vals
                     for v in vals} | set(DATA) | set(MODELS))


@pytest.fixture(scope="module")
def cli_files(tmp_path_factory):
    """A folder of small files the fuzzed command lines refer to."""
    root = tmp_path_factory.mktemp("cli-files")
    rng = np.random.default_rng(5)
    W, b, V, c = reference.random_params(rng, 4, 3)
    NADE.from_params(W, b, V, c).save(root / "model.npz")
    NADE.from_params(W, b, V, c, dtype="float32", ordering=[3, 1, 0, 2]).save(root / "model32.npz")
    X = (rng.random((12, 4)) < 0.5).astype(np.uint8)
    np.savez(root / "data.npz", train=X[:6], valid=X[6:9], test=X[9:])
    np.savez(root / "onlyvalid.npz", valid=X[:3])
    np.save(root / "data.npy", X)
    np.save(root / "data3.npy", X[:, :3])
    np.save(root / "bad.npy", np.full((3, 4), 2))
    np.save(root / "wide.npy", np.zeros((2, 4, 1)))
    np.save(root / "obj.npy", np.zeros((2, 4), dtype=object), allow_pickle=True)
    np.savetxt(root / "data.txt", X, fmt="%d")
    (root / "notmodel.npz").write_bytes(b"PK\x03\x04 not really a zip")
    (root / "empty.npz").write_bytes(b"")
    np.save(root / "bad\nname.npy", np.full((3, 4), 2))
    (root / "empty.txt").write_text("")
    (root / "text.txt").write_text("0 1 0 1\n1 1 a 0\n")
    (root / "trunc.npz").write_bytes((root / "model.npz").read_bytes()[:200])
    (root / "rawW.npz").write_bytes(_model_file_with_member("W.npy", b"not an npy file"))
    (root / "subdir").mkdir()
    (root / "datasets").mkdir()  # an empty NADEFAST_DATA
    return root


def _guard(real, cheap):
    """Run the real command only when it is cheap; otherwise only parsing is fuzzed."""

    def command(args):
        return real(args) if cheap(args) else 0

    return command


_CHEAP = {
    # the demo runs on tiny stand-in digits (_tiny_demo) when asked for little training
    "cmd_demo": lambda a: a.hidden * a.epochs <= 5000,
    # tiny data: an epoch costs microseconds per hidden unit; n_hidden >= 1e9 must fail fast
    "cmd_train": lambda a: a.hidden * a.epochs <= 2 * 10**6 or a.hidden >= 10**9,
    "cmd_eval": lambda a: True,
    "cmd_sample": lambda a: (a.n <= 2000 or a.n >= 10**11) and a.scale <= 8,
}

text_token = st.text(st.characters(blacklist_categories=("Cs",),
                                   blacklist_characters="\n" if BUG_NEWLINES_ON_STDERR else ""),
                     max_size=12)


@st.composite
def argvs(draw):
    anything = st.one_of(st.sampled_from(STRAY), st.sampled_from(ALL_VALUES), text_token)
    if draw(st.integers(0, 9)) == 0:
        return draw(st.lists(anything, max_size=6))
    sub = draw(st.sampled_from(SUBCOMMANDS * 4 + ["", "trian", "-h", "--version", "help"]))
    argv = [sub]
    if sub in ("eval", "sample") and draw(st.integers(0, 9)):
        argv.append(draw(st.sampled_from(MODELS[:2] * 4 + MODELS)))
    if sub in ("eval", "train") and draw(st.integers(0, 9)):
        argv.append(draw(st.sampled_from(DATA[:3] * 4 + DATA)))
    options = SUB_OPTIONS.get(sub, SUB_OPTIONS["train"])
    for _ in range(draw(st.integers(0, 4))):
        if draw(st.integers(0, 9)) == 0:
            argv.append(draw(anything))
            continue
        option = draw(st.sampled_from(sorted(options)))
        argv.append(option)
        values = options[option]
        if values is not None and draw(st.integers(0, 9)):
            argv.append(draw(st.sampled_from(values) if draw(st.integers(0, 3)) else anything))
    return argv


def _tiny_demo(return_labels=False):
    """A stand-in for the bundled digits: 784 features, a few dozen rows."""
    rng = np.random.default_rng(0)
    return {split: (rng.random((rows, 784)) < 0.3).astype(np.uint8)
            for split, rows in (("train", 24), ("valid", 8), ("test", 8))}


def run_cli(argv, files):
    """main(argv) in a fresh copy of the files: (code, stdout, stderr)."""
    out, err = io.StringIO(), io.StringIO()
    with tempfile.TemporaryDirectory() as tmp:
        work = os.path.join(tmp, "w")
        shutil.copytree(files, work)
        cwd = os.getcwd()
        patches = [mock.patch.object(nadefast.cli, name, _guard(getattr(nadefast.cli, name), cheap))
                   for name, cheap in _CHEAP.items()]
        try:
            os.chdir(work)
            with contextlib.ExitStack() as stack:
                for p in patches:
                    stack.enter_context(p)
                stack.enter_context(mock.patch.dict(os.environ, {"NADEFAST_DATA": str(files / "datasets")}))
                stack.enter_context(mock.patch.object(nadefast.datasets, "load_demo", _tiny_demo))
                stack.enter_context(contextlib.redirect_stdout(out))
                stack.enter_context(contextlib.redirect_stderr(err))
                stack.enter_context(warnings_ignored())
                try:
                    code = nadefast.cli.main(list(argv))
                except SystemExit as exc:
                    code = ("exit", exc.code)
        finally:
            os.chdir(cwd)
    return code, out.getvalue(), err.getvalue()


def check_cli_outcome(argv, code, out, err):
    with contextlib.suppress(Exception):  # outside a hypothesis test there is nothing to note
        note(f"argv={argv!r} code={code!r}\nstderr={err!r}")
    assert "Traceback" not in err
    lines = err.rstrip("\n").split("\n") if err else []
    if isinstance(code, tuple):  # SystemExit
        status = code[1]
        if status == 0:  # --help / -h
            assert "usage:" in out and not err, (out, err)
            return
        assert status == 2, f"SystemExit({status!r})"
        assert len(lines) == 1, f"usage error on {len(lines)} lines: {err!r}"
        assert "error:" in lines[0]
        return
    assert code in (0, 1, 2), f"main returned {code!r}"
    if code == 0:
        assert not err, err
    else:
        assert len(lines) == 1, f"error on {len(lines)} lines: {err!r}"
        assert lines[0].startswith("nadefast:") and len(lines[0]) > len("nadefast: error: ")


def _huge_n_jobs(argv):
    """Whether argv gives --n-jobs (or an abbreviation of it) a value of 2**31 or more."""
    for i, token in enumerate(argv):
        option, eq, value = token.partition("=")
        if len(option) >= 3 and "--n-jobs".startswith(option):
            if not eq:
                value = argv[i + 1] if i + 1 < len(argv) else ""
            try:
                if int(value) >= 2**31:
                    return True
            except ValueError:
                pass
    return False


@fuzz(2)
@given(argv=argvs())
@example(argv=["sample", "model.npz", "-n", "1000000000000", "--out", "o.npy"])
@example(argv=["train", "data.npz", "--out", "subdir"])
@example(argv=["frobnicate\nsecond line"])
@example(argv=["demo", "--epochs", "1", "--hidden", "2", "--seed", "3"])
@example(argv=["train", "data.npz", "--epochs", "2", "--hidden", "3", "--dtype", "float64",
               "--ordering", "random", "--seed", "1", "--out", "o.npz"])
@example(argv=["train", "data.npy", "--epochs", "1", "--hidden", "2", "--seed", "-1"])
@example(argv=["train", "data.txt", "--hidden", "1000000000", "--epochs", "1"])
@example(argv=["train", "text.txt", "--epochs", "1"])
@example(argv=["sample", "model32.npz", "-n", "7", "--png", "o.png", "--shape", "2x2", "--seed", "1"])
@example(argv=["sample", "model.npz", "--png", "o.png", "--shape", "3x3"])
@example(argv=["eval", "trunc.npz", "data.npz"])
@example(argv=["eval", "model.npz", "data3.npy"])
@example(argv=["sample", "model.npz", "--shape", "a\nb", "--png", "x.png"])
@example(argv=["eval", "model.npz", "data.npz", "--split", "a\nb"])
def test_cli_parsing(cli_files, argv):
    if BUG_HUGE_N_JOBS:
        assume(not _huge_n_jobs(argv))
    code, out, err = run_cli(argv, cli_files)
    event(f"cli: {code!r}")
    if BUG_NEWLINES_ON_STDERR and any("\n" in a for a in argv) and err.rstrip("\n").count("\n"):
        assume(False)  # test_cli_error_is_one_line_even_with_newlines_in_arguments
    check_cli_outcome(argv, code, out, err)


# ------------------------------------------------- reproducers of known bugs
# (more sit next to the fuzzers they belong to; see the BUG_* flags at the top)


@pytest.mark.xfail(BUG_HUGE_N_JOBS, strict=True,
                   reason="n_jobs is passed to the Cython `int n_threads` without a range check")
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


@pytest.mark.xfail(BUG_HUGE_N_JOBS, strict=True,
                   reason="OverflowError from the compiled core escapes nadefast.cli.main")
def test_cli_huge_n_jobs_is_one_line(cli_files):
    argv = ["eval", "model.npz", "data.npz", "--n-jobs", "99999999999"]
    check_cli_outcome(argv, *run_cli(argv, cli_files))


@pytest.mark.xfail(BUG_RAGGED_PARAMS, strict=True,
                   reason="check_params lets numpy's ValueError through, which names no parameter")
@pytest.mark.parametrize("name", ["W", "b", "V", "c"])
def test_from_params_ragged_parameter_is_named(name):
    params = dict(zip("WbVc", reference.random_params(np.random.default_rng(2), 2, 2)))
    params[name] = [[1.0], [1.0, 2.0]]
    with raises_clearly([name]):
        NADE.from_params(params["W"], params["b"], params["V"], params["c"])


@pytest.mark.xfail(BUG_DATA_NPZ_ERRORS, strict=True,
                   reason="datasets._open_npz catches ValueError/OSError only, not "
                          "zipfile.BadZipFile or EOFError")
@pytest.mark.parametrize("data", ["notmodel.npz", "trunc.npz", "empty.npz"])
def test_cli_data_npz_that_cannot_be_read(cli_files, data):
    argv = ["train", data, "--epochs", "1", "--hidden", "2"]
    code, out, err = run_cli(argv, cli_files)
    check_cli_outcome(argv, code, out, err)
    assert code == 1 and data in err


@pytest.mark.xfail(BUG_NEWLINES_ON_STDERR, strict=True,
                   reason="argparse's 'unrecognized arguments' and the data loaders' messages "
                          "print arguments and paths raw, newlines included")
@pytest.mark.parametrize("argv", [["eval", "model.npz", "data.npz", "x\ny"],
                                  ["train", "bad\nname.npy", "--epochs", "1"]])
def test_cli_error_is_one_line_even_with_newlines_in_arguments(cli_files, argv):
    check_cli_outcome(argv, *run_cli(argv, cli_files))


@pytest.mark.xfail(BUG_SAVE_ERROR_NAMES_TEMP, strict=True,
                   reason="save's error names its temporary file (.nadefast-XXXX.tmp), "
                          "not the path it was given")
@pytest.mark.parametrize("where", ["missing-dir", "file-as-dir"])
def test_save_error_names_the_path_given(where):
    W, b, V, c = reference.random_params(np.random.default_rng(4), 2, 2)
    model = NADE.from_params(W, b, V, c)
    with tempfile.TemporaryDirectory() as tmp:
        if where == "missing-dir":
            path = os.path.join(tmp, "no-such-dir", "model.npz")
        else:
            open(os.path.join(tmp, "file"), "w").close()
            path = os.path.join(tmp, "file", "model.npz")
        with pytest.raises(OSError) as info:
            model.save(path)
        assert ".nadefast-" not in str(info.value), str(info.value)
        assert path in str(info.value) or os.path.dirname(path) in str(info.value)
