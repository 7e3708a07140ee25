"""Small, valid arguments of nadefast._core's functions, for the tests of its checks
(test_core_checks.py, test_c_entry_points.py): padded so that an index slightly out of
range stays inside memory the test owns."""

import numpy as np

from nadefast import _core

N, D, ROWS = 5, 3, 4  # features, hidden units, rows of X
DTYPES = [np.float32, np.float64]
NO_TERMS = np.empty((0, 0))


def dp_of(dtype):
    return _core.lanes(dtype)


def data(rows=ROWS, n=N, spare=0):
    """0/1 rows (rows, n), C-contiguous, viewed from a buffer with `spare`
    rows before and after: indices slightly out of range stay in memory."""
    buf = (np.random.default_rng(1).random((rows + 2 * spare, n)) < 0.5).astype(np.uint8)
    return buf[spare:spare + rows]


def fixed_model(dtype, spare=0):
    """Wt, V, b, c, d, order of a fixed-order model (padding columns zero)."""
    rng = np.random.default_rng(2)
    dp = dp_of(dtype)
    Wt, V = np.zeros((2, N + spare, dp), dtype)
    Wt[:, :D] = rng.normal(size=(N + spare, D))
    V[:, :D] = rng.normal(size=(N + spare, D))
    b = np.zeros(dp, dtype)
    b[:D] = rng.normal(size=D)
    c = rng.normal(size=N).astype(dtype)
    return Wt[:N], V[:N], b, c, D, np.arange(N, dtype=np.intp)


def oa_model(dtype, spare=0):
    """Win, Wmask, b1, Wdeep, bdeep, V, c, d of a 2-layer order-agnostic model;
    with `spare` extra rows behind the weight matrices of the features."""
    rng = np.random.default_rng(3)
    dp = dp_of(dtype)
    Win, Wmask, V = np.zeros((3, N + spare, dp), dtype)
    for W in (Win, Wmask, V):
        W[:, :D] = rng.normal(size=(N + spare, D))
    b1 = np.zeros(dp, dtype)
    Wdeep = np.zeros((1, D, dp), dtype)
    Wdeep[0, :, :D] = rng.normal(size=(D, D))
    bdeep = rng.normal(size=(1, D)).astype(dtype)
    c = np.zeros(N + spare, dtype)
    return Win[:N], Wmask[:N], b1, Wdeep, bdeep, V[:N], c[:N], D


def masks(rows=ROWS, n=N):
    return _core.oa_masks(np.array([1, 2], dtype=np.uint64), 0, rows, n, 1)


KEY = np.array([7, 8], dtype=np.uint64)
