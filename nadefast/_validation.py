"""Every input check of nadefast, shared by all entry points.

The compiled kernels never see unchecked data: whatever reaches them has
been through one of these functions, which raise ``TypeError`` (wrong kind
of object) or ``ValueError`` (right kind, wrong content) with a message
naming the argument and the problem.
"""

import numbers
import operator
import os

import numpy as np

FLOAT_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))


class NotFittedError(ValueError, AttributeError):
    """Raised when a model is used before it is fitted (or loaded)."""


def _as_2d_numbers(X, n_features, name, allow_empty, *, dense, values, dtype_error,
                   complex_error=None):
    """The checks every data matrix shares: a dense numeric 2-D array with the model's
    number of features, rows where rows are required.  `dense` and `values` name what the
    caller wants ("a dense array of 0/1", "0/1"); `dtype_error(arr)` is the TypeError's
    message for a non-numeric dtype, `complex_error(arr)` (if given) a ValueError's for
    complex numbers (scikit-learn's convention for binary data).  Returns np.asarray(X)."""
    if hasattr(X, "toarray") or hasattr(X, "tocsr"):
        raise TypeError(f"{name} is a sparse matrix; nadefast needs {dense} (use "
                        f"{name}.toarray())")
    if isinstance(X, (str, bytes)):
        raise TypeError(f"{name} must be an array of {values}, got a {type(X).__name__}")
    try:
        arr = np.asarray(X)
    except Exception as exc:  # ragged lists and the like
        raise ValueError(f"{name} cannot be converted to an array: {exc}") from None
    if arr.dtype.kind == "c" and complex_error is not None:
        raise ValueError(complex_error(arr))
    if arr.dtype.kind not in "biuf":
        raise TypeError(dtype_error(arr))
    if arr.ndim != 2:
        hint = " Reshape a single sample with X.reshape(1, -1)." if arr.ndim == 1 else ""
        raise ValueError(f"{name} must be 2-D (n_samples, n_features), got {arr.ndim}-D shape "
                         f"{arr.shape}.{hint}")
    if n_features is not None and arr.shape[1] != n_features:
        raise ValueError(f"{name} has {arr.shape[1]} features, but the model has {n_features}")
    if arr.shape[0] == 0 and not allow_empty:
        raise ValueError(f"{name} has 0 samples; at least 1 is required")
    if arr.shape[0] > 0 and arr.shape[1] == 0:
        raise ValueError(f"{name} has 0 feature(s) (shape={arr.shape}) while a minimum of 1 is "
                         f"required.")
    return arr


def _raise_if_not_finite(arr, name, rule, offset=0):
    """ValueError naming the first NaN or infinity of a float array, and `rule`."""
    finite = np.isfinite(arr)
    if not finite.all():
        i, j = np.argwhere(~finite)[0]
        value = arr[i, j].item()
        what = "NaN" if value != value else f"infinity ({value})"
        raise ValueError(f"{name} contains {what} at [{offset + i}, {j}]; {rule}")


def as_binary_matrix(X, n_features=None, *, name="X", allow_empty=True):
    """Return `X` as a C-contiguous uint8 array of 0/1, shape (n_samples, n_features).

    Accepts bool, integer and floating arrays (and array-likes) holding only
    0 and 1, in any memory layout, read-only included; copies only when the
    input is not already uint8 C-contiguous.

    Raises TypeError for strings, objects, complex numbers and sparse
    matrices; ValueError for a wrong number of dimensions or features, NaN,
    infinities, or any value other than 0 and 1.
    """
    arr = _as_2d_numbers(
        X, n_features, name, allow_empty, dense="a dense array of 0/1", values="0/1",
        dtype_error=lambda a: f"{name} must hold numbers 0/1 (bool, integer or float), got "
                              f"dtype {a.dtype}",
        complex_error=lambda a: f"Complex data not supported: {name} has dtype {a.dtype}; "
                                f"values must be 0 or 1")
    if arr.shape[0] == 0:
        return np.zeros((0, arr.shape[1]), dtype=np.uint8)
    kind = arr.dtype.kind
    if kind == "b":
        # a bool's byte can be anything but 0 when built from raw memory; the
        # kernels need exactly 1
        out = np.ascontiguousarray(arr).view(np.uint8)
        return out if out.max() <= 1 else (out != 0).view(np.uint8)
    if arr.dtype == np.uint8:
        if arr.max() > 1:  # no temporary the size of X on the common path
            _raise_first_bad(arr, arr > 1, name)
        return np.ascontiguousarray(arr)
    # other dtypes: check in slices of rows so no temporary exceeds ~8 MB
    step = max(1, (1 << 23) // max(1, arr.shape[1] * arr.itemsize))
    for start in range(0, arr.shape[0], step):
        part = arr[start : start + step]
        if kind == "f":
            _raise_if_not_finite(part, name, "values must be 0 or 1", offset=start)
        bad = (part != 0) & (part != 1)
        if bad.any():
            _raise_first_bad(part, bad, name, offset=start)
    return np.ascontiguousarray(arr, dtype=np.uint8)


def as_code_matrix(X, n_features=None, n_categories=None, *, name="X", allow_empty=True):
    """`X` as a C-contiguous int32 array of category codes, (n_samples, n_features).

    Accepts integer arrays, and bool or floating arrays holding whole numbers;
    every code must be >= 0 and, where `n_categories` (one per feature) is
    given, below its column's count.  Raises TypeError for strings, objects
    and sparse matrices; ValueError for a wrong shape, NaN, infinities,
    fractions, negative codes or codes out of range, naming the first.
    """
    arr = _as_2d_numbers(
        X, n_features, name, allow_empty, dense="a dense array of codes",
        values="category codes",
        dtype_error=lambda a: f"{name} must hold integer category codes 0, 1, 2, ...; got dtype "
                              f"{a.dtype} (encode labels as codes first)")
    if arr.shape[0] == 0:
        return np.zeros((0, arr.shape[1]), dtype=np.int32)
    if arr.dtype.kind == "f":
        _raise_if_not_finite(arr, name, "category codes must be whole numbers >= 0")
        if (arr != np.round(arr)).any():
            i, j = np.argwhere(arr != np.round(arr))[0]
            raise ValueError(f"{name} contains {arr[i, j].item()!r} at [{i}, {j}]; category codes "
                             f"must be whole numbers")
    limit = np.iinfo(np.int32).max if n_categories is None else np.asarray(n_categories)
    bad = (arr < 0) | (arr > limit - (0 if n_categories is None else 1))
    if bad.any():
        i, j = np.argwhere(bad)[0]
        value = arr[i, j].item()
        if value < 0:
            raise ValueError(f"{name} contains {value!r} at [{i}, {j}]; category codes must be >= 0")
        if n_categories is None:
            raise ValueError(f"{name} contains {value!r} at [{i}, {j}]; too large a category code")
        raise ValueError(f"{name} contains the code {value!r} at [{i}, {j}], but column {j} has "
                         f"{int(np.asarray(n_categories)[j])} categories (codes 0.."
                         f"{int(np.asarray(n_categories)[j]) - 1})")
    return np.ascontiguousarray(arr, dtype=np.int32)


def as_real_matrix(X, n_features=None, *, name="X", allow_empty=True):
    """`X` as a C-contiguous float64 array of finite real numbers, (n_samples, n_features).

    Raises TypeError for strings, objects, complex numbers and sparse
    matrices; ValueError for a wrong shape, NaN or infinities, naming the first.
    """
    arr = _as_2d_numbers(
        X, n_features, name, allow_empty, dense="a dense array", values="real numbers",
        dtype_error=lambda a: f"{name} must hold real numbers, got dtype {a.dtype}")
    arr = np.ascontiguousarray(arr, dtype=np.float64)
    _raise_if_not_finite(arr, name, "values must be finite (mark missing values for "
                                    "log_marginal/impute, not for fit)")
    return arr


def _raise_first_bad(arr, bad, name, offset=0):
    i, j = np.argwhere(bad)[0]
    raise ValueError(
        f"{name} contains {arr[i, j].item()!r} at [{offset + i}, {j}]; values must be 0 or 1 "
        f"(binarize the data first)"
    )


def available_memory():
    """Bytes of physical memory, or None where the OS does not say."""
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (AttributeError, ValueError, OSError):
        return None


def check_memory(nbytes, what):
    """MemoryError, before allocating, for a request larger than physical memory.

    Virtual memory is often overcommitted, so such a request would not fail
    at allocation but kill the process (or swap for hours) later.
    """
    total = available_memory()
    if total is not None and nbytes > total:
        raise MemoryError(
            f"{what} needs {_human_bytes(nbytes)} of memory, more than this machine has "
            f"({_human_bytes(total)}); ask for less"
        )


def _human_bytes(n):
    n = float(n)
    for unit in ("B", "KB", "MB", "GB", "TB", "PB"):
        if n < 1024 or unit == "PB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} EB"


def check_int(value, name, *, minimum=None, maximum=None):
    """An integral number (not bool) within bounds, as a Python int."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be an integer, got {value!r} ({type(value).__name__})")
    value = operator.index(value)
    if minimum is not None and value < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value}")
    if maximum is not None and value > maximum:
        raise ValueError(f"{name} must be <= {maximum}, got {value}")
    return value


def check_bool(value, name):
    """True/False (numpy bools too) as a Python bool."""
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{name} must be True or False, got {value!r}")
    return bool(value)


def check_real(value, name, *, minimum=None, maximum=None, strict_minimum=False):
    """A finite real number (not bool) within bounds, as a Python float."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a real number, got {value!r} ({type(value).__name__})")
    value = float(value)
    if not np.isfinite(value):
        raise ValueError(f"{name} must be finite, got {value}")
    if minimum is not None:
        if strict_minimum and value <= minimum:
            raise ValueError(f"{name} must be > {minimum}, got {value}")
        if not strict_minimum and value < minimum:
            raise ValueError(f"{name} must be >= {minimum}, got {value}")
    if maximum is not None and value > maximum:
        raise ValueError(f"{name} must be <= {maximum}, got {value}")
    return value


def check_dtype(dtype):
    """'float32' / 'float64' (or the numpy types) as a numpy dtype."""
    if dtype is None:  # np.dtype(None) would quietly mean float64
        raise ValueError("dtype must be 'float32' or 'float64', got None")
    try:
        dt = np.dtype(dtype)
    except TypeError:
        raise TypeError(f"dtype must be 'float32' or 'float64', got {dtype!r}") from None
    if dt not in FLOAT_DTYPES:
        raise ValueError(f"dtype must be 'float32' or 'float64', got {dtype!r}")
    return dt


def check_ordering(ordering, n_features, *, name="ordering"):
    """A permutation of range(n_features) as a C-contiguous intp array."""
    if isinstance(ordering, (str, bytes)):
        raise ValueError(f"{name} must be None, 'random' or a permutation, got {ordering!r}")
    arr = np.asarray(ordering)
    if arr.dtype.kind == "b" or arr.dtype.kind not in "iuf":
        raise TypeError(f"{name} must be a sequence of integers, got dtype {arr.dtype}")
    if arr.ndim != 1:
        raise ValueError(f"{name} must be 1-D, got shape {arr.shape}")
    if arr.shape[0] != n_features:
        raise ValueError(f"{name} has {arr.shape[0]} entries, but there are {n_features} features")
    if arr.dtype.kind == "f":
        if not (np.isfinite(arr).all() and (arr == np.round(arr)).all()):
            raise ValueError(f"{name} must hold integers")
    if n_features and (arr.min() < 0 or arr.max() >= n_features):
        raise ValueError(f"{name} must be a permutation of 0..{n_features - 1}")
    perm = arr.astype(np.intp)
    if not np.array_equal(np.sort(perm), np.arange(n_features)):
        raise ValueError(f"{name} must be a permutation of 0..{n_features - 1} (repeated entries)")
    return np.ascontiguousarray(perm)


def check_params(W, b, V, c, dtype=None):
    """Validate NADE parameters given in the public layout.

    W (d, n), b (d,), V (n, d), c (n,): real, finite, consistent shapes.
    Returns float arrays in `dtype` (default: float32 when every array is
    float32, else float64) and (n, d).
    """
    arrays = {}
    for name, value in (("W", W), ("b", b), ("V", V), ("c", c)):
        if isinstance(value, (str, bytes)):
            raise TypeError(f"{name} must be a numeric array, got {type(value).__name__}")
        try:
            arr = np.asarray(value)
        except ValueError as exc:  # ragged nested lists
            raise ValueError(f"{name} is not a rectangular array: {exc}") from None
        if arr.dtype.kind not in "biuf":
            raise TypeError(f"{name} must be a real numeric array, got dtype {arr.dtype}")
        arrays[name] = arr
    W, b, V, c = arrays["W"], arrays["b"], arrays["V"], arrays["c"]
    if W.ndim != 2:
        raise ValueError(f"W must be 2-D (n_hidden, n_features), got shape {W.shape}")
    d, n = W.shape
    if d < 1 or n < 1:
        raise ValueError(f"W must have at least one hidden unit and one feature, got shape {W.shape}")
    expected = {"b": (d,), "V": (n, d), "c": (n,)}
    for name, arr in (("b", b), ("V", V), ("c", c)):
        if arr.shape != expected[name]:
            raise ValueError(
                f"{name} has shape {arr.shape}, expected {expected[name]} for W of shape {W.shape}"
            )
    if dtype is None:
        dtype = (
            np.float32 if all(a.dtype == np.float32 for a in (W, b, V, c)) else np.float64
        )
    dtype = check_dtype(dtype)
    out = []
    for name, arr in (("W", W), ("b", b), ("V", V), ("c", c)):
        with np.errstate(over="ignore"):
            cast = arr.astype(dtype)
        if not np.isfinite(cast).all():
            raise ValueError(f"{name} contains non-finite values (NaN or inf) in {dtype}")
        out.append(cast)
    return out[0], out[1], out[2], out[3], (n, d)


def check_observed(X, observed, n_features):
    """(X, observed) of conditional inference, checked; unobserved entries of X zeroed.

    observed: a bool array shaped like X, or (n_features,) for every row, or
    None for "the entries of X that are not NaN" (X then floating).
    Unobserved entries of X are ignored (NaN allowed there).  Returns X (an
    array, values not yet checked) and observed, (n_samples, n_features) bool.
    """
    if isinstance(X, (str, bytes)):
        raise TypeError(f"X must be an array of 0/1, got a {type(X).__name__}")
    X = np.asarray(X)
    if observed is None:
        if X.dtype.kind != "f":
            raise ValueError("observed=None means 'the entries of X that are not NaN', "
                             "which needs a floating X; pass observed explicitly")
        observed = ~np.isnan(X)
    if isinstance(observed, (str, bytes)):
        raise TypeError("observed must be a boolean array shaped like X")
    observed = np.asarray(observed)
    if observed.dtype.kind not in "biu":
        raise TypeError(f"observed must be a boolean array, got dtype {observed.dtype}")
    if observed.dtype.kind != "b":
        if ((observed != 0) & (observed != 1)).any():
            raise ValueError("observed must hold only True/False (or 0/1)")
        observed = observed.astype(bool)
    if X.ndim != 2:
        raise ValueError(f"X must be 2-D (n_samples, n_features), got shape {X.shape}")
    if observed.shape == (n_features,):
        observed = np.broadcast_to(observed, X.shape)
    if observed.shape != X.shape:
        raise ValueError(f"observed has shape {observed.shape}, expected {X.shape} (like X) "
                         f"or ({n_features},)")
    if X.dtype.kind in "biuf":
        X = np.where(observed, X, 0)
    return X, observed


def assign_checked(name, target, value):
    """target[...] = value for a parameter setter: same shape, real, finite in target's dtype."""
    try:
        value = np.asarray(value)
    except ValueError as exc:  # ragged nested lists
        raise ValueError(f"{name} must be a rectangular array: {exc}") from None
    if value.shape != target.shape:
        raise ValueError(f"{name} must have shape {target.shape}, got {value.shape}")
    if value.dtype.kind not in "biuf":
        raise ValueError(f"{name} must hold real numbers, got dtype {value.dtype}")
    with np.errstate(over="ignore"):
        cast = value.astype(target.dtype)  # check after the cast: 1e39 is inf in float32
    if not np.isfinite(cast).all():
        raise ValueError(f"{name} must hold finite values in {target.dtype}")
    target[...] = cast
