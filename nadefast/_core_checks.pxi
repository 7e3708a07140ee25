# Argument checks, C statuses -> exceptions, and the plan of a call's blocks of rows.
# Included by nadefast/_core.pyx (one extension module); not compiled on its own.

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
