"""The C entry points of csrc/nade.h check the sizes that the Cython wrappers always get
right -- strides, block sizes, NULL pointers, j0 <= j1, the gradient's progress counter --
and return NADE_EINVAL (test_core_checks.py covers the wrappers and the statuses they
reach).  Called here directly with ctypes, on every instruction set the CPU has, with
buffers padded so that a missing check fails an assertion instead of corrupting memory
(NULL pointers aside)."""

import ctypes

import numpy as np
import pytest

from nadefast import _core

from core_arrays import D, N, ROWS, data, dp_of, fixed_model, masks

try:
    _LIB = ctypes.CDLL(_core.__file__)
    _LIB.nade_score_f32  # noqa: B018  (exported? not with hidden symbols or on every platform)
except (OSError, AttributeError):
    _LIB = None

needs_symbols = pytest.mark.skipif(_LIB is None, reason="the C entry points are not exported")

ssize, ptr = ctypes.c_ssize_t, ctypes.c_void_p
OK, EINVAL = 0, 1


def _c(name, *argtypes):
    f = getattr(_LIB, name)
    f.argtypes, f.restype = list(argtypes), ctypes.c_int
    return f


def _p(a):
    return ptr(a.ctypes.data)


class _Params(ctypes.Structure):
    _fields_ = [("n", ssize), ("d", ssize), ("dp", ssize), ("Wt", ptr), ("V", ptr), ("b", ptr),
                ("c", ptr)]


@pytest.fixture(params=["baseline", "avx2", "avx512"])
def isa(request):
    """Each instruction set this CPU has: the checks are compiled into each one's kernels."""
    if not _core.isa_supported(request.param):
        pytest.skip(f"{request.param} is not supported here")
    before = _core.active_isa()
    _core.select_isa(request.param)
    yield request.param
    _core.select_isa(before)


@needs_symbols
@pytest.mark.parametrize("dtype, sfx", [(np.float32, "f32"), (np.float64, "f64")])
def test_score_kernel_checks_its_sizes(isa, dtype, sfx):
    score = _c(f"nade_score_{sfx}", ctypes.POINTER(_Params), ptr, ptr, ssize, ssize, ptr, ptr,
               ssize, ptr, ssize, ptr)
    lanes, rows = dp_of(dtype), 60  # more rows than a block, each room for 2 dp columns
    big = np.zeros((N, 2 * lanes), dtype)  # room for a width that is not a multiple
    keep = [big, np.zeros(2 * lanes, dtype), np.zeros(N, dtype)]
    X = data(rows=rows, n=N)
    order = np.arange(N, dtype=np.intp)
    loglik, terms = np.empty(rows), np.empty((rows, N))
    work = np.empty(1 << 22, np.uint8)  # scratch for more rows than any call below

    def call(n=N, d=D, dp=lanes, ldx=N, nrows=ROWS, order_=order, ldt=N, terms_=None,
             work_=work):
        p = _Params(n, d, dp, big.ctypes.data, big.ctypes.data, keep[1].ctypes.data,
                    keep[2].ctypes.data)
        t = None if terms_ is None else _p(terms_)
        w = None if work_ is None else _p(work_)
        return score(ctypes.byref(p), _p(order_), _p(X), ldx, nrows, _p(loglik), None, 0, t,
                     ldt, w)

    assert call() == OK
    assert call(nrows=_core.MAX_BLOCK_ROWS) == OK
    assert call(terms_=terms) == OK
    assert call(nrows=_core.MAX_BLOCK_ROWS + 1) == EINVAL
    assert call(ldx=N - 1) == EINVAL           # X has fewer columns than features
    assert call(dp=lanes + lanes // 2) == EINVAL  # not a multiple of the lanes
    assert call(d=lanes + 1) == EINVAL         # d > dp
    assert call(d=0) == EINVAL
    assert call(n=0) == EINVAL
    assert call(terms_=terms, ldt=N - 1) == EINVAL
    assert call(work_=None) == EINVAL
    bad = order.copy()
    bad[0] = N
    assert call(order_=bad) == EINVAL


@needs_symbols
def test_grad_kernel_needs_its_progress_counter(isa):
    grad = _c("nade_grad_f64", ctypes.POINTER(_Params), ptr, ptr, ssize, ssize, ptr, ptr, ptr,
              ptr, ptr)
    Wt, V, b, c, d, order = fixed_model(np.float64)
    X = data()
    nll = np.empty(ROWS)
    g = [np.zeros_like(a) for a in (Wt, V, b, c)]
    gsum = (ptr * 4)(*[a.ctypes.data for a in g])
    work = np.empty(1 << 22, np.uint8)
    progress = np.full(1, N, dtype=np.int64)
    p = _Params(N, D, Wt.shape[1], Wt.ctypes.data, V.ctypes.data, b.ctypes.data, c.ctypes.data)
    assert grad(ctypes.byref(p), _p(order), _p(X), N, ROWS, _p(nll), gsum, None, _p(progress),
                _p(work)) == OK
    assert grad(ctypes.byref(p), _p(order), _p(X), N, ROWS, _p(nll), gsum, None, None,
                _p(work)) == EINVAL
    assert grad(ctypes.byref(p), _p(order), _p(X), N, ROWS, None, gsum, None, _p(progress),
                _p(work)) == EINVAL


@needs_symbols
def test_training_kernels_check_their_strides(isa):
    dp = dp_of(np.float64)
    X, M = data(rows=ROWS, n=N + 2), masks(rows=ROWS, n=N + 2)  # 2 spare columns per row
    Win = np.zeros((N + 2, dp))
    A = np.zeros((ROWS, dp + 8))
    add = _c("nade_oa_input_add_f64", ptr, ssize, ptr, ssize, ptr, ssize, ssize, ssize, ptr, ssize)
    assert add(_p(Win), dp, _p(X), N + 2, _p(M), N + 2, N, ROWS, _p(A), dp) == OK
    assert add(_p(Win), dp, _p(X), N + 2, _p(M), N + 2, N, ROWS, _p(A), dp - 1) == EINVAL
    assert add(_p(Win), dp, _p(X), N - 1, _p(M), N + 2, N, ROWS, _p(A), dp) == EINVAL
    assert add(_p(Win), dp, _p(X), N + 2, _p(M), N + 2, N, -1, _p(A), dp) == EINVAL

    grad = _c("nade_oa_input_grad_f64", ptr, ssize, ptr, ssize, ptr, ssize, ssize, ssize, ssize,
              ptr, ssize)
    dA, gWin = np.ones((ROWS, dp)), np.zeros((N + 2, dp))
    assert grad(_p(dA), dp, _p(X), N, _p(M), N, ROWS, 0, N, _p(gWin), dp) == OK
    assert grad(_p(dA), dp, _p(X), N, _p(M), N, ROWS, 0, N + 1, _p(gWin), dp) == EINVAL  # j1 > ldx
    assert grad(_p(dA), dp, _p(X), N, _p(M), N, ROWS, 3, 2, _p(gWin), dp) == EINVAL      # j0 > j1
    assert grad(_p(dA), dp - 1, _p(X), N, _p(M), N, ROWS, 0, N, _p(gWin), dp) == EINVAL  # lda < dp

    out = _c("nade_oa_output_f64", ptr, ssize, ptr, ssize, ptr, ssize, ssize, ssize,
             ctypes.c_double, ptr)
    Z, loss = np.zeros((ROWS, N + 2)), np.empty(ROWS)
    Mfree = np.zeros_like(M)
    assert out(_p(Z), N, _p(X), N, _p(Mfree), N, N, ROWS, 1.0, _p(loss)) == OK
    assert out(_p(Z), N - 1, _p(X), N, _p(Mfree), N, N, ROWS, 1.0, _p(loss)) == EINVAL
    assert out(_p(Z), N, _p(X), N, _p(Mfree), N - 1, N, ROWS, 1.0, _p(loss)) == EINVAL
    assert out(_p(Z), N, _p(X), N, _p(Mfree), N, N, ROWS, 1.0, None) == EINVAL


@needs_symbols
def test_formerly_void_kernels_return_a_status(isa):
    f = ctypes.c_float
    adam = _c("nade_adam_f32", ptr, ptr, ptr, ptr, ssize, f, f, f, f, f, f)
    p, g, m, v = (np.zeros(4, np.float32) for _ in range(4))
    assert adam(_p(p), _p(g), _p(m), _p(v), 4, 0.9, 0.1, 0.999, 0.001, 1e-3, 1e-8) == OK
    assert adam(_p(p), _p(g), _p(m), _p(v), -1, 0.9, 0.1, 0.999, 0.001, 1e-3, 1e-8) == EINVAL
    assert adam(_p(p), None, _p(m), _p(v), 4, 0.9, 0.1, 0.999, 0.001, 1e-3, 1e-8) == EINVAL

    key = np.array([1, 2], dtype=np.uint64)
    mask, perm = np.zeros((ROWS, N + 1), np.uint8), np.zeros(N + 1, np.intp)
    oa_masks = _c("nade_oa_masks", ptr, ctypes.c_uint64, ssize, ssize, ptr, ssize, ptr)
    assert oa_masks(_p(key), 0, N, ROWS, _p(mask), N + 1, _p(perm)) == OK
    assert oa_masks(_p(key), 0, N, ROWS, _p(mask), N - 1, _p(perm)) == EINVAL  # ldm < n
    assert oa_masks(_p(key), 0, 0, ROWS, _p(mask), N + 1, _p(perm)) == EINVAL
    assert oa_masks(None, 0, N, ROWS, _p(mask), N + 1, _p(perm)) == EINVAL

    bits, noise = np.zeros(8, np.uint32), np.zeros(8)
    uniform = _c("nade_uniform_bits", ptr, ctypes.c_uint64, ssize, ptr)
    assert uniform(_p(key), 0, 8, _p(bits)) == OK
    assert uniform(None, 0, 8, _p(bits)) == EINVAL
    assert uniform(_p(key), 0, -1, _p(bits)) == EINVAL
    logistic = _c("nade_logistic_noise", ptr, ctypes.c_uint64, ssize, ptr, ptr)
    assert logistic(_p(key), 0, 8, _p(bits), _p(noise)) == OK
    assert logistic(_p(key), 0, -2, _p(bits), _p(noise)) == EINVAL
    assert logistic(_p(key), 0, 8, None, _p(noise)) == EINVAL


@needs_symbols
def test_size_queries_return_zero_for_sizes_no_kernel_takes():
    _LIB.nade_lanes.argtypes, _LIB.nade_lanes.restype = [ctypes.c_size_t], ssize
    _LIB.nade_block_rows.argtypes, _LIB.nade_block_rows.restype = [ssize, ctypes.c_size_t], ssize
    _LIB.nade_work_bytes.argtypes = [ssize, ssize, ctypes.c_size_t, ssize]
    _LIB.nade_work_bytes.restype = ctypes.c_size_t
    assert _LIB.nade_lanes(4) == 32 and _LIB.nade_lanes(8) == 16 and _LIB.nade_lanes(2) == 0
    assert _LIB.nade_block_rows(32, 4) > 0
    assert _LIB.nade_block_rows(0, 4) == 0  # was a division by zero
    assert _LIB.nade_block_rows(32, 0) == 0
    assert _LIB.nade_work_bytes(N, 32, 4, 6) > 0
    assert _LIB.nade_work_bytes(0, 32, 4, 6) == 0
    assert _LIB.nade_work_bytes(N, 32, 4, _core.MAX_BLOCK_ROWS + 1) == 0
