"""Shared pieces of the property-based fuzz tests (hypothesis) of nadefast.

The fuzz tests are split by target, one module each:

* tests/test_fuzz_inference.py: model computations against float64 references, gradients;
* tests/test_fuzz_inputs.py: every form of X is accepted or rejected clearly;
* tests/test_fuzz_params.py: NADE.from_params and the W_, b_, V_, c_ setters;
* tests/test_fuzz_estimator.py: constructor and fit arguments, sample, unfitted models;
* tests/test_fuzz_persistence.py: save/load round trips, damaged and odd files;
* tests/test_fuzz_resources.py: oversized requests fail fast;
* tests/test_fuzz_cli.py: nadefast.cli.main.

The contract they check: every call must either return a correct answer
(checked against the plain float64 references of tests/reference.py, with an
a-priori floating-point error bound for the model's dtype) or raise
ValueError / TypeError / MemoryError (NotFittedError is a ValueError) whose
message names the problem; never another exception type, a NaN, or a crash.
`nadefast.cli.main` must return 0/1/2 or exit with status 2 (0 for --help),
with at most one line on stderr and never a traceback.  Oversized requests
must fail fast, naming the argument, before allocating.

This module (not a test module itself) holds what several of them use: the
settings profiles and `fuzz`, the error assertions, the references with error
bounds, and the shared strategies.  Strategies used by one module only live
in that module.

Two settings profiles are registered here (and applied per test, so other
test modules are not affected):

* ``nadefast-fuzz`` (default): short and derandomized, for CI (~10 s).
* ``nadefast-fuzz-long``: 20x more examples, random seeds (failures are kept
  in the .hypothesis/ example database), no deadline; about 2 minutes on
  2 cores.  Run it with

      NADEFAST_FUZZ_PROFILE=long python -m pytest tests/test_fuzz_*.py -q

  (add ``-x`` to stop at the first failure, ``--hypothesis-show-statistics``
  for timings and outcome counts, ``--hypothesis-seed=N`` to repeat a run).
"""

import contextlib
import io
import os
import re
import warnings
import zipfile

import numpy as np
from hypothesis import HealthCheck, event, note, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from nadefast import NADE

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


# ------------------------------------------------------------ assertions

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


def same_bits(a, b):
    """Whether a and b have the same dtype, shape and bytes."""
    a, b = np.asarray(a), np.asarray(b)
    return a.dtype == b.dtype and a.shape == b.shape and np.ascontiguousarray(a).tobytes() == \
        np.ascontiguousarray(b).tobytes()


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
    if dt.kind == "b" and rows and cols and draw(st.booleans()):
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


# ------------------------------------------------------------ model files


def valid_file_arrays(rng, n=3, d=2, dtype=np.float64):
    """The arrays of a valid model file (format version 1)."""
    W, b, V, c = (a.astype(dtype) for a in reference.random_params(rng, n, d))
    return {"format": np.array("nadefast.NADE"), "format_version": np.array(1, dtype=np.int64),
            "W": W, "b": b, "V": V, "c": c, "ordering": rng.permutation(n).astype(np.int64)}


def model_file_with_member(name, content):
    """Bytes of a valid model file whose member `name` is replaced by raw `content`."""
    buf = io.BytesIO()
    np.savez(buf, **valid_file_arrays(np.random.default_rng(0)))
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(buf.getvalue())) as zin, zipfile.ZipFile(out, "w") as zout:
        for item in zin.infolist():
            zout.writestr(item.filename, content if item.filename == name else zin.read(item.filename))
    return out.getvalue()
