# cython: language_level=3, cdivision=True, embedsignature=True
# (boundscheck, wraparound and initializedcheck are off in release builds and on in
#  NADEFAST_DEBUG / NADEFAST_SANITIZE builds: see setup.py)
"""The compiled core of nadefast: loops over blocks of rows.

Each function takes arrays that nadefast.model has already validated and
laid out (parameters position-major and padded, data uint8 C-contiguous),
splits the rows into blocks (``block_rows``: as many rows as keep a block's
hidden states in L1), and runs the C kernel of csrc/nade.h on every block
with the GIL released, blocks spread over ``n_threads`` OpenMP threads.

Errors are caught twice.  Before releasing the GIL, every function checks
that the arrays it is given agree with one another (shapes, lengths) and
raises ValueError naming itself and the mismatch.  The C kernels then check
what they can see (sizes, strides, the ranges of order, given and stop,
pointers) and return a status code; the codes of a parallel loop are
collected and turned into an exception after it by ``_check_status``.

Arguments are marked ``# IN`` (read), ``# OUT`` (overwritten) or
``# INOUT`` (accumulated into).  The parameter arguments are always
``Wt`` (n, dp), ``V`` (n, dp), ``b`` (dp,), ``c`` (n,) of one floating type,
``d`` the number of real hidden units (dp >= d is the padded width) and
``order`` (n,) the feature at each chain position.
"""

import numpy as np

from cython cimport floating
from cython.parallel cimport prange, threadid
from libc.stdint cimport uint8_t, uint32_t, int64_t, uint64_t

from nadefast._cnade cimport *

MAX_BLOCK_ROWS = NADE_MAX_BLOCK_ROWS


cdef Py_ssize_t _forced_block_rows = 0


def block_rows(Py_ssize_t dp, dtype):
    """Rows per kernel call for padded width `dp` (see nade_block_rows in nade.h)."""
    cdef Py_ssize_t rows = _rows_per_block(dp, np.dtype(dtype).itemsize)
    if rows < 1:
        raise ValueError(f"block_rows: need dp >= 1 and a float32 or float64 dtype, got dp={dp}, "
                         f"dtype={np.dtype(dtype)}")
    return rows


def _force_block_rows(Py_ssize_t rows):
    """For tests: use `rows` rows per block (0 restores the automatic choice).

    Results must not change: every kernel's per-row arithmetic is fixed and
    gradients are summed in row order whatever the blocking.
    """
    global _forced_block_rows
    if not 0 <= rows <= NADE_MAX_BLOCK_ROWS:
        raise ValueError(f"rows must be in [0, {NADE_MAX_BLOCK_ROWS}]")
    _forced_block_rows = rows


cdef Py_ssize_t _rows_per_block(Py_ssize_t dp, size_t real_size) noexcept:
    if _forced_block_rows > 0:
        return _forced_block_rows
    return nade_block_rows(dp, real_size)


cdef Py_ssize_t _balanced_rows(Py_ssize_t nrows, Py_ssize_t dp, size_t real_size,
                               int n_threads) noexcept:
    """Rows per block: at most _rows_per_block, and a block count that is a
    multiple of the thread count, so that no thread gets one block more than
    another (100 rows at 18 per block on 2 threads: 6 blocks of 17, not 54/46)."""
    cdef Py_ssize_t most = _rows_per_block(dp, real_size), nblocks
    if _forced_block_rows > 0 or nrows <= 0:
        return most
    nblocks = (nrows + most - 1) // most
    if n_threads > 1:
        nblocks = (nblocks + n_threads - 1) // n_threads * n_threads
    return (nrows + nblocks - 1) // nblocks


def lanes(dtype):
    """Padded hidden width must be a multiple of this for `dtype`."""
    cdef Py_ssize_t width = nade_lanes(np.dtype(dtype).itemsize)
    if width < 1:
        raise ValueError(f"lanes: the kernels take float32 or float64, not {np.dtype(dtype)}")
    return width


def openmp_enabled():
    """Whether the extension was compiled with OpenMP."""
    return bool(nade_openmp_enabled())


def openmp_max_threads():
    """omp_get_max_threads(): OMP_NUM_THREADS, threadpoolctl limits, ... (1 without OpenMP)."""
    return nade_openmp_max_threads()


def active_isa():
    """Name of the instruction set whose kernels are in use."""
    return nade_active_isa().decode("ascii")


def isa_supported(str name):
    """Whether kernels for `name` exist in this build and run on this CPU."""
    return bool(nade_isa_supported(name.encode("ascii")))


def select_isa(str name):
    """Use the kernels of `name` ("auto", "baseline", "avx2", "avx512").

    Not thread-safe: no kernel may be running while this is called.
    """
    if nade_select_isa(name.encode("ascii")) != NADE_OK:
        raise ValueError(f"instruction set {name!r} is not available on this CPU or build")


# ------------------------------------------------------------ checks and statuses
# The first line of defence: the arrays a function receives must agree with one
# another, checked with the GIL held.  Messages name the function, then the
# mismatch ("score: X.shape[1] = 3 does not match n = Wt.shape[0] = 5").

cdef int _expect(str fn, str what, Py_ssize_t got, str against, Py_ssize_t want) except -1:
    if got != want:
        raise ValueError(f"{fn}: {what} = {got} does not match {against} = {want}")
    return 0


cdef int _at_least(str fn, str what, Py_ssize_t got, Py_ssize_t low) except -1:
    if got < low:
        raise ValueError(f"{fn}: {what} = {got} must be at least {low}")
    return 0


cdef int _optional(str fn, str what, Py_ssize_t length, Py_ssize_t nrows) except -1:
    """Whether the optional per-row array `what` is given: length 0 skips it,
    otherwise it needs one entry per row of X."""
    if length == 0:
        return 0
    if length != nrows:
        raise ValueError(f"{fn}: {what}.shape[0] = {length} does not match the rows of X = "
                         f"{nrows} (or 0, to skip {what})")
    return 1


cdef int _optional_rows(str fn, str what, Py_ssize_t rows, Py_ssize_t cols, Py_ssize_t nrows,
                        Py_ssize_t n) except -1:
    """Whether the optional output `what` is wanted: (0, any) skips it,
    otherwise it must be (rows of X, n)."""
    if _optional(fn, what, rows, nrows):
        _expect(fn, f"{what}.shape[1]", cols, "n", n)
        return 1
    return 0


cdef int _check_width(str fn, str W, Py_ssize_t n, Py_ssize_t dp, Py_ssize_t d,
                      size_t real_size) except -1:
    """The model's sizes, read from its (n, dp) weight matrix W: n >= 1,
    1 <= d <= dp and dp a multiple of the kernels' lanes."""
    _at_least(fn, f"n = {W}.shape[0]", n, 1)
    if not 1 <= d <= dp:
        raise ValueError(f"{fn}: d = {d} must be in [1, dp = {W}.shape[1] = {dp}]")
    if dp % nade_lanes(real_size) != 0:
        raise ValueError(f"{fn}: dp = {W}.shape[1] = {dp} is not a multiple of "
                         f"{nade_lanes(real_size)}, the kernels' lanes for this dtype")
    return 0


cdef int _check_params(str fn, const floating[:, ::1] Wt, const floating[:, ::1] V,
                       const floating[::1] b, const floating[::1] c, Py_ssize_t d,
                       const Py_ssize_t[::1] order, const uint8_t[:, ::1] X) except -1:
    """A fixed-order model (Wt, V, b, c, d, order) and data X of its n features."""
    cdef Py_ssize_t n = Wt.shape[0], dp = Wt.shape[1]
    _check_width(fn, "Wt", n, dp, d, sizeof(floating))
    _expect(fn, "V.shape[0]", V.shape[0], "n = Wt.shape[0]", n)
    _expect(fn, "V.shape[1]", V.shape[1], "dp = Wt.shape[1]", dp)
    _expect(fn, "b.shape[0]", b.shape[0], "dp = Wt.shape[1]", dp)
    _expect(fn, "c.shape[0]", c.shape[0], "n = Wt.shape[0]", n)
    _expect(fn, "order.shape[0]", order.shape[0], "n = Wt.shape[0]", n)
    _expect(fn, "X.shape[1]", X.shape[1], "n = Wt.shape[0]", n)
    return 0


cdef int _check_oa_params(str fn, const floating[:, ::1] Win, const floating[:, ::1] Wmask,
                          const floating[::1] b1, const floating[:, :, ::1] Wdeep,
                          const floating[:, ::1] bdeep, const floating[:, ::1] V,
                          const floating[::1] c, Py_ssize_t d, const Py_ssize_t[:, ::1] order,
                          const uint8_t[:, ::1] X) except -1:
    """An order-agnostic model, its orderings (one, or one per row) and data X."""
    cdef Py_ssize_t n = Win.shape[0], dp = Win.shape[1], nrows = X.shape[0]
    _check_width(fn, "Win", n, dp, d, sizeof(floating))
    _expect(fn, "Wmask.shape[0]", Wmask.shape[0], "n = Win.shape[0]", n)
    _expect(fn, "Wmask.shape[1]", Wmask.shape[1], "dp = Win.shape[1]", dp)
    _expect(fn, "b1.shape[0]", b1.shape[0], "dp = Win.shape[1]", dp)
    _expect(fn, "V.shape[0]", V.shape[0], "n = Win.shape[0]", n)
    _expect(fn, "V.shape[1]", V.shape[1], "dp = Win.shape[1]", dp)
    _expect(fn, "c.shape[0]", c.shape[0], "n = Win.shape[0]", n)
    _expect(fn, "bdeep.shape[0]", bdeep.shape[0], "layers - 1 = Wdeep.shape[0]", Wdeep.shape[0])
    if Wdeep.shape[0] > 0:
        _expect(fn, "Wdeep.shape[1]", Wdeep.shape[1], "d", d)
        _expect(fn, "Wdeep.shape[2]", Wdeep.shape[2], "dp = Win.shape[1]", dp)
        _expect(fn, "bdeep.shape[1]", bdeep.shape[1], "d", d)
    _expect(fn, "order.shape[1]", order.shape[1], "n = Win.shape[0]", n)
    if order.shape[0] != 1 and order.shape[0] != nrows:
        raise ValueError(f"{fn}: order.shape[0] = {order.shape[0]} must be 1 (one ordering) or "
                         f"the rows of X = {nrows} (one per row)")
    _expect(fn, "X.shape[1]", X.shape[1], "n = Win.shape[0]", n)
    return 0


cdef const uint64_t *_key(str fn, const uint64_t[::1] key, bint greedy) except? NULL:
    """The Philox key's 2 words; NULL for an empty key, allowed when greedy."""
    if key.shape[0] == 2:
        return &key[0]
    if key.shape[0] == 0 and greedy:
        return NULL
    raise ValueError(f"{fn}: key.shape[0] = {key.shape[0]}; expected a 2-word Philox key")


# The second line: a kernel's status.  Statuses of a parallel loop are OR-ed
# together inside it (a prange reduction) and checked once after it.

cdef int _check_status(int status, str fn,
                       str hint="a size, a stride, an index in order, given or stop, or a "
                                "pointer breaks the contract of csrc/nade.h") except -1:
    if status == NADE_OK:
        return 0
    if status == NADE_EINVAL:
        raise ValueError(f"{fn}: the C kernel rejected its arguments (NADE_EINVAL): {hint}")
    raise RuntimeError(f"{fn}: the C kernel failed with status {status}")


# ------------------------------------------------------------------ blocks of rows

cdef struct _Plan:
    Py_ssize_t rows      # rows per block
    Py_ssize_t nblocks
    Py_ssize_t stride    # scratch bytes per thread, a multiple of the alignment
    int nt               # threads
    char *base           # thread t's scratch: base + t * stride


cdef object _plan(_Plan *P, Py_ssize_t nrows, Py_ssize_t n, Py_ssize_t dp, size_t real_size,
                  int n_threads):
    """Split nrows rows of a model of n features and width dp into blocks;
    returns the scratch, which the caller keeps while the kernels run."""
    cdef uint8_t[::1] work
    P.rows = _balanced_rows(nrows, dp, real_size, n_threads)
    P.nblocks = (nrows + P.rows - 1) // P.rows
    P.stride = _work_stride(n, dp, real_size, P.rows)
    P.nt = _threads_for(P.nblocks, n_threads)
    work = np.empty(P.nt * P.stride + NADE_ALIGN, dtype=np.uint8)
    P.base = <char *>&work[0]
    return work


cdef Py_ssize_t _work_stride(Py_ssize_t n, Py_ssize_t dp, size_t real_size, Py_ssize_t rows):
    """Bytes of scratch per thread, a multiple of the alignment (no false sharing)."""
    cdef size_t w = nade_work_bytes(n, dp, real_size, rows)
    return <Py_ssize_t>((w + NADE_ALIGN - 1) // NADE_ALIGN * NADE_ALIGN)


cdef int _threads_for(Py_ssize_t nblocks, int n_threads):
    """No more threads than blocks: idle threads still cost a wake-up."""
    if nblocks < n_threads:
        return <int>max(nblocks, 1)
    return max(n_threads, 1)


def adam(floating[::1] p,         # INOUT (len,) parameters
         const floating[::1] g,   # IN    (len,) gradient
         floating[::1] m,         # INOUT (len,) first moment
         floating[::1] v,         # INOUT (len,) second moment
         double b1, double b2, double lr_t, double eps_t, int n_threads):
    """One Adam step in place (see nadefast.optim.Adam), in chunks across threads.

    The scalars are rounded to the arrays' type as NumPy would round them
    (1 - b1 in double, then cast), so this equals the NumPy expression
    p -= lr_t * (m / (sqrt(v) + eps_t)) after m, v updates, bit for bit.
    """
    cdef:
        Py_ssize_t length = p.shape[0], chunk = 1 << 16
        Py_ssize_t nchunks = (length + chunk - 1) // chunk, i, start, size
        int status = 0, nt = _threads_for(nchunks, n_threads)
        double c1 = 1.0 - b1, c2 = 1.0 - b2
    _expect("adam", "g.shape[0]", g.shape[0], "p.shape[0]", length)
    _expect("adam", "m.shape[0]", m.shape[0], "p.shape[0]", length)
    _expect("adam", "v.shape[0]", v.shape[0], "p.shape[0]", length)
    with nogil:
        for i in prange(nchunks, schedule="static", num_threads=nt):
            start = i * chunk
            size = min(chunk, length - start)
            if floating is float:
                status |= nade_adam_f32(&p[start], &g[start], &m[start], &v[start], size,
                                        <float>b1, <float>c1, <float>b2, <float>c2, <float>lr_t,
                                        <float>eps_t)
            else:
                status |= nade_adam_f64(&p[start], &g[start], &m[start], &v[start], size, b1, c1,
                                        b2, c2, lr_t, eps_t)
    _check_status(status, "adam")


def uniform_bits(const uint64_t[::1] key, uint64_t row, Py_ssize_t n):
    """The sampler's 32-bit draws for one row: (n,) uint32 (see nade.h)."""
    cdef const uint64_t *k = _key("uniform_bits", key, False)
    out = np.empty(n, dtype=np.uint32)
    cdef uint32_t[::1] o = out
    if n > 0:
        _check_status(nade_uniform_bits(k, row, n, &o[0]), "uniform_bits")
    return out


def logistic_noise(const uint64_t[::1] key, uint64_t row, Py_ssize_t n):
    """The logistic noise the sampler compares logits with, for one row: (n,) float64."""
    cdef const uint64_t *k = _key("logistic_noise", key, False)
    out = np.empty(n, dtype=np.float64)
    bits = np.empty(n, dtype=np.uint32)
    cdef double[::1] o = out
    cdef uint32_t[::1] bv = bits
    if n > 0:
        _check_status(nade_logistic_noise(k, row, n, &bv[0], &o[0]), "logistic_noise")
    return out


cdef inline void _params(nade_params_f32 *p32, nade_params_f64 *p64,
                         const floating[:, ::1] Wt, const floating[:, ::1] V,
                         const floating[::1] b, const floating[::1] c, Py_ssize_t d) noexcept:
    if floating is float:
        p32[0] = nade_params_f32(n=Wt.shape[0], d=d, dp=Wt.shape[1], Wt=&Wt[0, 0], V=&V[0, 0],
                                 b=&b[0], c=&c[0])
    else:
        p64[0] = nade_params_f64(n=Wt.shape[0], d=d, dp=Wt.shape[1], Wt=&Wt[0, 0], V=&V[0, 0],
                                 b=&b[0], c=&c[0])


def score(const floating[:, ::1] Wt,  # IN
          const floating[:, ::1] V,   # IN
          const floating[::1] b,      # IN
          const floating[::1] c,      # IN
          Py_ssize_t d,
          const Py_ssize_t[::1] order,  # IN
          const uint8_t[:, ::1] X,      # IN  (n_samples, n) 0/1
          double[::1] loglik,           # OUT (n_samples,) log p(x), nats
          floating[:, ::1] cond,        # OUT (n_samples, n) or (0, 0) to skip
          double[:, ::1] terms,         # OUT (n_samples, n) log p(x_k | x_<k), chain order,
                                        #     or (0, 0) to skip
          int n_threads):
    """Log-likelihood (and conditionals, and per-position terms) of every row of X."""
    cdef:
        nade_params_f32 p32
        nade_params_f64 p64
        _Plan P
        Py_ssize_t nrows = X.shape[0], n = Wt.shape[0]
        Py_ssize_t blk, r0, nr, ldc = cond.shape[1], ldt = terms.shape[1]
        bint want_cond, want_terms
        int status = 0
        floating *cptr
        double *tptr
    _check_params("score", Wt, V, b, c, d, order, X)
    _expect("score", "loglik.shape[0]", loglik.shape[0], "the rows of X", nrows)
    want_cond = _optional_rows("score", "cond", cond.shape[0], ldc, nrows, n)
    want_terms = _optional_rows("score", "terms", terms.shape[0], ldt, nrows, n)
    if nrows == 0:
        return
    _params(&p32, &p64, Wt, V, b, c, d)
    work = _plan(&P, nrows, n, Wt.shape[1], sizeof(floating), n_threads)
    with nogil:
        for blk in prange(P.nblocks, schedule="dynamic", num_threads=P.nt):
            r0 = blk * P.rows
            nr = min(P.rows, nrows - r0)
            cptr = &cond[r0, 0] if want_cond else NULL
            tptr = &terms[r0, 0] if want_terms else NULL
            if floating is float:
                status |= nade_score_f32(&p32, &order[0], &X[r0, 0], X.shape[1], nr,
                                         &loglik[r0], cptr, ldc, tptr, ldt,
                                         P.base + threadid() * P.stride)
            else:
                status |= nade_score_f64(&p64, &order[0], &X[r0, 0], X.shape[1], nr,
                                         &loglik[r0], cptr, ldc, tptr, ldt,
                                         P.base + threadid() * P.stride)
    _check_status(status, "score")


def sample(const floating[:, ::1] Wt,  # IN
           const floating[:, ::1] V,   # IN
           const floating[::1] b,      # IN
           const floating[::1] c,      # IN
           Py_ssize_t d,
           const Py_ssize_t[::1] order,  # IN
           const uint64_t[::1] key,      # IN  (2,) Philox key, or (0,) when greedy
           uint64_t row0,                # global index of the first row
           uint8_t[:, ::1] X,            # INOUT (n_samples, n) the samples (given values in)
           const Py_ssize_t[::1] given,  # IN  (n_samples,) chain positions already in X,
                                         #     or (0,) to draw every position
           bint greedy,                  # most probable values instead of random draws
           double[::1] loglik,           # OUT (n_samples,) or (0,) to skip
           int n_threads):
    """Draw every row of X; row i uses the random stream of row row0 + i."""
    cdef:
        nade_params_f32 p32
        nade_params_f64 p64
        _Plan P
        Py_ssize_t nrows = X.shape[0], n = Wt.shape[0]
        Py_ssize_t blk, r0, nr
        bint want_ll, want_given
        int status = 0
        double *lptr
        const Py_ssize_t *gptr
        const uint64_t *kptr
    _check_params("sample", Wt, V, b, c, d, order, X)
    want_given = _optional("sample", "given", given.shape[0], nrows)
    want_ll = _optional("sample", "loglik", loglik.shape[0], nrows)
    kptr = _key("sample", key, greedy)
    if nrows == 0:
        return
    _params(&p32, &p64, Wt, V, b, c, d)
    work = _plan(&P, nrows, n, Wt.shape[1], sizeof(floating), n_threads)
    with nogil:
        for blk in prange(P.nblocks, schedule="dynamic", num_threads=P.nt):
            r0 = blk * P.rows
            nr = min(P.rows, nrows - r0)
            lptr = &loglik[r0] if want_ll else NULL
            gptr = &given[r0] if want_given else NULL
            if floating is float:
                status |= nade_sample_f32(&p32, &order[0], kptr, row0 + <uint64_t>r0,
                                          &X[r0, 0], X.shape[1], nr, gptr, greedy, lptr,
                                          P.base + threadid() * P.stride)
            else:
                status |= nade_sample_f64(&p64, &order[0], kptr, row0 + <uint64_t>r0,
                                          &X[r0, 0], X.shape[1], nr, gptr, greedy, lptr,
                                          P.base + threadid() * P.stride)
    _check_status(status, "sample")


def grad(const floating[:, ::1] Wt,  # IN
         const floating[:, ::1] V,   # IN
         const floating[::1] b,      # IN
         const floating[::1] c,      # IN
         Py_ssize_t d,
         const Py_ssize_t[::1] order,  # IN
         const uint8_t[:, ::1] X,      # IN    (n_samples, n)
         double[::1] nll,              # OUT   (n_samples,) -log p(x)
         floating[:, ::1] gWt,         # INOUT (n, dp) sums over rows are added
         floating[:, ::1] gV,          # INOUT (n, dp)
         floating[::1] gb,             # INOUT (dp,)
         floating[::1] gc,             # INOUT (n,)
         int n_threads):
    """Add the gradient of sum_rows -log p(x) to (gWt, gV, gb, gc).

    Blocks hand their rows' contributions on in row order (see
    nade_internal.h), hence ``schedule(static, 1)``: the sums are the same
    for every thread count.
    """
    cdef:
        nade_params_f32 p32
        nade_params_f64 p64
        nade_gradsum_f32 g32
        nade_gradsum_f64 g64
        _Plan P
        Py_ssize_t nrows = X.shape[0], n = Wt.shape[0], dp = Wt.shape[1]
        Py_ssize_t blk, r0, nr
        int status = 0
        int64_t[::1] progress
        int64_t *prev
    _check_params("grad", Wt, V, b, c, d, order, X)
    _expect("grad", "nll.shape[0]", nll.shape[0], "the rows of X", nrows)
    _expect("grad", "gWt.shape[0]", gWt.shape[0], "n = Wt.shape[0]", n)
    _expect("grad", "gWt.shape[1]", gWt.shape[1], "dp = Wt.shape[1]", dp)
    _expect("grad", "gV.shape[0]", gV.shape[0], "n = Wt.shape[0]", n)
    _expect("grad", "gV.shape[1]", gV.shape[1], "dp = Wt.shape[1]", dp)
    _expect("grad", "gb.shape[0]", gb.shape[0], "dp = Wt.shape[1]", dp)
    _expect("grad", "gc.shape[0]", gc.shape[0], "n = Wt.shape[0]", n)
    if nrows == 0:
        return
    _params(&p32, &p64, Wt, V, b, c, d)
    if floating is float:
        g32 = nade_gradsum_f32(Wt=&gWt[0, 0], V=&gV[0, 0], b=&gb[0], c=&gc[0])
    else:
        g64 = nade_gradsum_f64(Wt=&gWt[0, 0], V=&gV[0, 0], b=&gb[0], c=&gc[0])
    work = _plan(&P, nrows, n, dp, sizeof(floating), n_threads)
    progress = np.full(P.nblocks, n, dtype=np.int64)
    with nogil:
        for blk in prange(P.nblocks, schedule="static", chunksize=1, num_threads=P.nt):
            r0 = blk * P.rows
            nr = min(P.rows, nrows - r0)
            prev = &progress[blk - 1] if blk > 0 else NULL
            if floating is float:
                status |= nade_grad_f32(&p32, &order[0], &X[r0, 0], X.shape[1], nr, &nll[r0],
                                        &g32, prev, &progress[blk],
                                        P.base + threadid() * P.stride)
            else:
                status |= nade_grad_f64(&p64, &order[0], &X[r0, 0], X.shape[1], nr, &nll[r0],
                                        &g64, prev, &progress[blk],
                                        P.base + threadid() * P.stride)
    _check_status(status, "grad")


def hidden(const floating[:, ::1] Wt,  # IN
           const floating[:, ::1] V,   # IN
           const floating[::1] b,      # IN
           const floating[::1] c,      # IN
           Py_ssize_t d,
           const Py_ssize_t[::1] order,  # IN
           const uint8_t[:, ::1] X,      # IN  (n_samples, n)
           floating[:, :, ::1] out,      # OUT (n_samples, n, d) h_k in chain order
           int n_threads):
    """The hidden state of every row at every chain position."""
    cdef:
        nade_params_f32 p32
        nade_params_f64 p64
        _Plan P
        Py_ssize_t nrows = X.shape[0], n = Wt.shape[0]
        Py_ssize_t blk, r0, nr
        int status = 0
    _check_params("hidden", Wt, V, b, c, d, order, X)
    _expect("hidden", "out.shape[0]", out.shape[0], "the rows of X", nrows)
    _expect("hidden", "out.shape[1]", out.shape[1], "n = Wt.shape[0]", n)
    _expect("hidden", "out.shape[2]", out.shape[2], "d", d)
    if nrows == 0:
        return
    _params(&p32, &p64, Wt, V, b, c, d)
    work = _plan(&P, nrows, n, Wt.shape[1], sizeof(floating), n_threads)
    with nogil:
        for blk in prange(P.nblocks, schedule="dynamic", num_threads=P.nt):
            r0 = blk * P.rows
            nr = min(P.rows, nrows - r0)
            if floating is float:
                status |= nade_hidden_f32(&p32, &order[0], &X[r0, 0], X.shape[1], nr,
                                          &out[r0, 0, 0], P.base + threadid() * P.stride)
            else:
                status |= nade_hidden_f64(&p64, &order[0], &X[r0, 0], X.shape[1], nr,
                                          &out[r0, 0, 0], P.base + threadid() * P.stride)
    _check_status(status, "hidden")


def _select_isa_from_environment():
    """NADEFAST_ISA (auto | baseline | avx2 | avx512) picks the kernels at import."""
    import os
    import warnings

    name = os.environ.get("NADEFAST_ISA", "auto").strip().lower() or "auto"
    if nade_select_isa(name.encode("ascii", "replace")) != NADE_OK:
        nade_select_isa(b"auto")
        warnings.warn(
            f"NADEFAST_ISA={name!r} is not available on this CPU or build; "
            f"using {active_isa()!r}",
            RuntimeWarning,
            stacklevel=2,
        )


_select_isa_from_environment()


# ---------------------------------------------------------------- order-agnostic NADE

cdef inline void _oa_params(nade_oa_params_f32 *p32, nade_oa_params_f64 *p64,
                            const floating[:, ::1] Win, const floating[:, ::1] Wmask,
                            const floating[::1] b1, const floating[:, :, ::1] Wdeep,
                            const floating[:, ::1] bdeep, const floating[:, ::1] V,
                            const floating[::1] c, Py_ssize_t d) noexcept:
    cdef Py_ssize_t layers = Wdeep.shape[0] + 1
    cdef const floating *wdeep = &Wdeep[0, 0, 0] if layers > 1 else NULL
    cdef const floating *bdp = &bdeep[0, 0] if layers > 1 else NULL
    if floating is float:
        p32[0] = nade_oa_params_f32(n=Win.shape[0], d=d, dp=Win.shape[1], layers=layers,
                                    Win=&Win[0, 0], Wmask=&Wmask[0, 0], b1=&b1[0], Wdeep=wdeep,
                                    bdeep=bdp, V=&V[0, 0], c=&c[0])
    else:
        p64[0] = nade_oa_params_f64(n=Win.shape[0], d=d, dp=Win.shape[1], layers=layers,
                                    Win=&Win[0, 0], Wmask=&Wmask[0, 0], b1=&b1[0], Wdeep=wdeep,
                                    bdeep=bdp, V=&V[0, 0], c=&c[0])


def oa_score(const floating[:, ::1] Win,     # IN (n, dp) first-layer input weights by feature
             const floating[:, ::1] Wmask,   # IN (n, dp) first-layer mask weights by feature
             const floating[::1] b1,         # IN (dp,)
             const floating[:, :, ::1] Wdeep,  # IN (layers-1, d, dp)
             const floating[:, ::1] bdeep,   # IN (layers-1, d)
             const floating[:, ::1] V,       # IN (n, dp) output weights by feature
             const floating[::1] c,          # IN (n,)
             Py_ssize_t d,
             const Py_ssize_t[:, ::1] order,  # IN (1, n): one ordering; (n_samples, n): per row
             const uint8_t[:, ::1] X,         # IN (n_samples, n)
             const Py_ssize_t[::1] stop,      # IN (n_samples,) positions to evaluate, or (0,)
             double[::1] loglik,              # OUT (n_samples,) log p of the evaluated prefix
             floating[:, ::1] cond,           # OUT (n_samples, n) or (0, 0)
             double[:, ::1] terms,            # OUT (n_samples, n) chain order, or (0, 0)
             int n_threads):
    """Exact log-likelihoods of an order-agnostic NADE along the given orderings."""
    cdef:
        nade_oa_params_f32 p32
        nade_oa_params_f64 p64
        _Plan P
        Py_ssize_t nrows = X.shape[0], n = Win.shape[0]
        Py_ssize_t blk, r0, nr, ldo = n if order.shape[0] > 1 else 0
        Py_ssize_t ldc = cond.shape[1], ldt = terms.shape[1]
        bint want_cond, want_terms, want_stop
        int status = 0
        floating *cptr
        double *tptr
        const Py_ssize_t *sptr
    _check_oa_params("oa_score", Win, Wmask, b1, Wdeep, bdeep, V, c, d, order, X)
    want_stop = _optional("oa_score", "stop", stop.shape[0], nrows)
    _expect("oa_score", "loglik.shape[0]", loglik.shape[0], "the rows of X", nrows)
    want_cond = _optional_rows("oa_score", "cond", cond.shape[0], ldc, nrows, n)
    want_terms = _optional_rows("oa_score", "terms", terms.shape[0], ldt, nrows, n)
    if nrows == 0:
        return
    _oa_params(&p32, &p64, Win, Wmask, b1, Wdeep, bdeep, V, c, d)
    work = _plan(&P, nrows, n, Win.shape[1], sizeof(floating), n_threads)
    with nogil:
        for blk in prange(P.nblocks, schedule="dynamic", num_threads=P.nt):
            r0 = blk * P.rows
            nr = min(P.rows, nrows - r0)
            cptr = &cond[r0, 0] if want_cond else NULL
            tptr = &terms[r0, 0] if want_terms else NULL
            sptr = &stop[r0] if want_stop else NULL
            if floating is float:
                status |= nade_oa_score_f32(&p32, &order[r0 if ldo else 0, 0], ldo, &X[r0, 0],
                                            X.shape[1], nr, sptr, &loglik[r0], cptr, ldc, tptr,
                                            ldt, P.base + threadid() * P.stride)
            else:
                status |= nade_oa_score_f64(&p64, &order[r0 if ldo else 0, 0], ldo, &X[r0, 0],
                                            X.shape[1], nr, sptr, &loglik[r0], cptr, ldc, tptr,
                                            ldt, P.base + threadid() * P.stride)
    _check_status(status, "oa_score")


def oa_sample(const floating[:, ::1] Win, const floating[:, ::1] Wmask, const floating[::1] b1,
              const floating[:, :, ::1] Wdeep, const floating[:, ::1] bdeep,
              const floating[:, ::1] V, const floating[::1] c, Py_ssize_t d,
              const Py_ssize_t[:, ::1] order,  # IN (1, n) or (n_samples, n)
              const uint64_t[::1] key,         # IN (2,) or (0,) when greedy
              uint64_t row0,
              uint8_t[:, ::1] X,               # INOUT (n_samples, n)
              const Py_ssize_t[::1] given,     # IN (n_samples,) or (0,)
              bint greedy,
              double[::1] loglik,              # OUT (n_samples,) or (0,)
              int n_threads):
    """Draw (or complete) rows of an order-agnostic NADE along the given orderings."""
    cdef:
        nade_oa_params_f32 p32
        nade_oa_params_f64 p64
        _Plan P
        Py_ssize_t nrows = X.shape[0], n = Win.shape[0]
        Py_ssize_t blk, r0, nr, ldo = n if order.shape[0] > 1 else 0
        bint want_ll, want_given
        int status = 0
        double *lptr
        const Py_ssize_t *gptr
        const uint64_t *kptr
    _check_oa_params("oa_sample", Win, Wmask, b1, Wdeep, bdeep, V, c, d, order, X)
    want_given = _optional("oa_sample", "given", given.shape[0], nrows)
    want_ll = _optional("oa_sample", "loglik", loglik.shape[0], nrows)
    kptr = _key("oa_sample", key, greedy)
    if nrows == 0:
        return
    _oa_params(&p32, &p64, Win, Wmask, b1, Wdeep, bdeep, V, c, d)
    work = _plan(&P, nrows, n, Win.shape[1], sizeof(floating), n_threads)
    with nogil:
        for blk in prange(P.nblocks, schedule="dynamic", num_threads=P.nt):
            r0 = blk * P.rows
            nr = min(P.rows, nrows - r0)
            lptr = &loglik[r0] if want_ll else NULL
            gptr = &given[r0] if want_given else NULL
            if floating is float:
                status |= nade_oa_sample_f32(&p32, &order[r0 if ldo else 0, 0], ldo, kptr,
                                             row0 + <uint64_t>r0, &X[r0, 0], X.shape[1], nr, gptr,
                                             greedy, lptr, P.base + threadid() * P.stride)
            else:
                status |= nade_oa_sample_f64(&p64, &order[r0 if ldo else 0, 0], ldo, kptr,
                                             row0 + <uint64_t>r0, &X[r0, 0], X.shape[1], nr, gptr,
                                             greedy, lptr, P.base + threadid() * P.stride)
    _check_status(status, "oa_sample")


# ------------------------------------------------- order-agnostic training objective
# The parts of nadefast.orderless.loss_and_gradient between its BLAS products.
# Rows (or features) are split into fixed chunks, each computed whole by one
# thread, so results do not depend on n_threads.

cdef enum:
    _CHUNK_ROWS = 16  # rows (or features) per unit of parallel work


def oa_masks(const uint64_t[::1] key,  # IN (2,) Philox key
             uint64_t row0, Py_ssize_t nrows, Py_ssize_t n, int n_threads):
    """The training objective's observed-variable masks: (nrows, n) uint8, 1 =
    observed; row r from the Philox stream of (key, row0 + r) (nade_oa_masks)."""
    cdef const uint64_t *k = _key("oa_masks", key, False)
    if not 0 < n < 2**31 or nrows < 0:
        raise ValueError(f"oa_masks: need 0 < n < 2**31 and nrows >= 0, got n={n}, nrows={nrows}")
    out = np.empty((nrows, n), dtype=np.uint8)
    if nrows == 0:
        return out
    cdef:
        uint8_t[:, ::1] m = out
        Py_ssize_t nchunks = (nrows + _CHUNK_ROWS - 1) // _CHUNK_ROWS, i, r0
        int status = 0, nt = _threads_for(nchunks, n_threads)
        Py_ssize_t[:, ::1] perm = np.empty((nt, n), dtype=np.intp)
    with nogil:
        for i in prange(nchunks, schedule="static", num_threads=nt):
            r0 = i * _CHUNK_ROWS
            status |= nade_oa_masks(k, row0 + <uint64_t>r0, n, min(_CHUNK_ROWS, nrows - r0),
                                    &m[r0, 0], n, &perm[threadid(), 0])
    _check_status(status, "oa_masks")
    return out


def oa_output(floating[:, ::1] Z,          # INOUT (rows, n) logits in, scale * dloss/dZ out
              const uint8_t[:, ::1] X,     # IN    (rows, n) 0/1
              const uint8_t[:, ::1] mask,  # IN    (rows, n) 1 = observed
              double scale,
              double[::1] loss,            # OUT   (rows,) rescaled NLL of the unobserved features
              int n_threads):
    """The order-agnostic objective's output layer, in place (nade_oa_output in nade.h)."""
    cdef:
        Py_ssize_t nrows = Z.shape[0], n = Z.shape[1]
        Py_ssize_t nchunks = (nrows + _CHUNK_ROWS - 1) // _CHUNK_ROWS, i, r0, nr
        int status = 0, nt = _threads_for(nchunks, n_threads)
    _at_least("oa_output", "n = Z.shape[1]", n, 1)
    _expect("oa_output", "X.shape[0]", X.shape[0], "the rows of Z", nrows)
    _expect("oa_output", "X.shape[1]", X.shape[1], "n = Z.shape[1]", n)
    _expect("oa_output", "mask.shape[0]", mask.shape[0], "the rows of Z", nrows)
    _expect("oa_output", "mask.shape[1]", mask.shape[1], "n = Z.shape[1]", n)
    _expect("oa_output", "loss.shape[0]", loss.shape[0], "the rows of Z", nrows)
    if nrows == 0:
        return
    with nogil:
        for i in prange(nchunks, schedule="static", num_threads=nt):
            r0 = i * _CHUNK_ROWS
            nr = min(_CHUNK_ROWS, nrows - r0)
            if floating is float:
                status |= nade_oa_output_f32(&Z[r0, 0], n, &X[r0, 0], n, &mask[r0, 0], n, n, nr,
                                             scale, &loss[r0])
            else:
                status |= nade_oa_output_f64(&Z[r0, 0], n, &X[r0, 0], n, &mask[r0, 0], n, n, nr,
                                             scale, &loss[r0])
    # the shapes being checked, the kernel's one refusal left is a full row
    _check_status(status, "oa_output", "a row of mask observes every feature; the objective "
                                       "needs at least one unobserved feature per row")


def oa_input_add(const floating[:, ::1] Win,  # IN    (n, dp) input weights by feature
                 const uint8_t[:, ::1] X,     # IN    (rows, n) 0/1
                 const uint8_t[:, ::1] mask,  # IN    (rows, n) 1 = observed
                 floating[:, ::1] A,          # INOUT (rows, dp) += (X * mask) @ Win
                 int n_threads):
    """A += (X * mask) @ Win by adding the weight rows of the ones (sparse inputs)."""
    cdef:
        Py_ssize_t nrows = X.shape[0], n = Win.shape[0], dp = Win.shape[1]
        Py_ssize_t nchunks = (nrows + _CHUNK_ROWS - 1) // _CHUNK_ROWS, i, r0, nr
        int status = 0, nt = _threads_for(nchunks, n_threads)
    _at_least("oa_input_add", "n = Win.shape[0]", n, 1)
    _at_least("oa_input_add", "dp = Win.shape[1]", dp, 1)
    _expect("oa_input_add", "X.shape[1]", X.shape[1], "n = Win.shape[0]", n)
    _expect("oa_input_add", "mask.shape[0]", mask.shape[0], "the rows of X", nrows)
    _expect("oa_input_add", "mask.shape[1]", mask.shape[1], "n = Win.shape[0]", n)
    _expect("oa_input_add", "A.shape[0]", A.shape[0], "the rows of X", nrows)
    _expect("oa_input_add", "A.shape[1]", A.shape[1], "dp = Win.shape[1]", dp)
    if nrows == 0:
        return
    with nogil:
        for i in prange(nchunks, schedule="static", num_threads=nt):
            r0 = i * _CHUNK_ROWS
            nr = min(_CHUNK_ROWS, nrows - r0)
            if floating is float:
                status |= nade_oa_input_add_f32(&Win[0, 0], dp, &X[r0, 0], n, &mask[r0, 0], n,
                                                n, nr, &A[r0, 0], dp)
            else:
                status |= nade_oa_input_add_f64(&Win[0, 0], dp, &X[r0, 0], n, &mask[r0, 0], n,
                                                n, nr, &A[r0, 0], dp)
    _check_status(status, "oa_input_add")


def oa_input_grad(const floating[:, ::1] dA,   # IN  (rows, dp) gradient of the first layer's pre-activation
                  const uint8_t[:, ::1] X,     # IN  (rows, n) 0/1
                  const uint8_t[:, ::1] mask,  # IN  (rows, n) 1 = observed
                  floating[:, ::1] gWin,       # OUT (n, dp) = (X * mask).T @ dA
                  int n_threads):
    """gWin = (X * mask).T @ dA, each feature's sum over rows in row order."""
    cdef:
        Py_ssize_t nrows = X.shape[0], n = X.shape[1], dp = dA.shape[1]
        Py_ssize_t nchunks = (n + _CHUNK_ROWS - 1) // _CHUNK_ROWS, i, j0
        int status = 0, nt = _threads_for(nchunks, n_threads)
    _at_least("oa_input_grad", "dp = dA.shape[1]", dp, 1)
    _expect("oa_input_grad", "dA.shape[0]", dA.shape[0], "the rows of X", nrows)
    _expect("oa_input_grad", "mask.shape[0]", mask.shape[0], "the rows of X", nrows)
    _expect("oa_input_grad", "mask.shape[1]", mask.shape[1], "n = X.shape[1]", n)
    _expect("oa_input_grad", "gWin.shape[0]", gWin.shape[0], "n = X.shape[1]", n)
    _expect("oa_input_grad", "gWin.shape[1]", gWin.shape[1], "dp = dA.shape[1]", dp)
    if nrows == 0:
        gWin[:, :] = 0
        return
    with nogil:
        for i in prange(nchunks, schedule="static", num_threads=nt):
            j0 = i * _CHUNK_ROWS
            if floating is float:
                status |= nade_oa_input_grad_f32(&dA[0, 0], dp, &X[0, 0], n, &mask[0, 0], n,
                                                 nrows, j0, min(j0 + _CHUNK_ROWS, n),
                                                 &gWin[0, 0], dp)
            else:
                status |= nade_oa_input_grad_f64(&dA[0, 0], dp, &X[0, 0], n, &mask[0, 0], n,
                                                 nrows, j0, min(j0 + _CHUNK_ROWS, n),
                                                 &gWin[0, 0], dp)
    _check_status(status, "oa_input_grad")
