# Real-valued outputs, a mixture of C Gaussians per variable (RNADE; csrc/nade.h, "Real-valued
# outputs"; csrc/mix_impl.h): the fixed-order and order-agnostic kernels for float64 values.
# Included by nadefast/_core.pyx (one extension module); not compiled on its own.
#
# Every variable k owns one input row (Wt / Win (n, dp)) and the 3C output rows 3Ck ..
# 3C(k+1) - 1 of V (3 C n, dp) and entries of c (3 C n,): C weight logits, C means, C scale
# pre-activations; by chain position (fixed-order, which also has rho (n,), RNADE's activation
# rescaling h_k = act(rho_k a_k), act the sigmoid or the ReLU as the keyword `activation`
# asks) or by feature (order-agnostic).  X holds float64 values in the model's standardised
# units (the caller standardises, and converts the conditionals' means and scales back); a
# value that is not finite is refused here, naming it, before any kernel runs.

from cpython.pyport cimport PY_SSIZE_T_MAX
from libc.math cimport isfinite


cdef object _mix_plan(_Plan *P, Py_ssize_t nrows, Py_ssize_t n, Py_ssize_t C, Py_ssize_t dp,
                      size_t real_size, int n_threads):
    """As _plan, with the mixture kernels' scratch (nade_mix_work_bytes)."""
    cdef uint8_t[::1] work
    cdef size_t w
    P.rows = _balanced_rows(nrows, dp, real_size, n_threads)
    P.nblocks = (nrows + P.rows - 1) // P.rows
    w = nade_mix_work_bytes(n, C, dp, real_size, P.rows)
    P.stride = <Py_ssize_t>((w + NADE_ALIGN - 1) // NADE_ALIGN * NADE_ALIGN)
    P.nt = _threads_for(P.nblocks, n_threads)
    work = np.empty(P.nt * P.stride + NADE_ALIGN, dtype=np.uint8)
    P.base = <char *>&work[0]
    return work


cdef int _check_components(str fn, Py_ssize_t C, Py_ssize_t n) except -1:
    """C >= 1, and small enough that 3 C n and the kernels' scratch cannot overflow."""
    _at_least(fn, "C", C, 1)
    if C > (PY_SSIZE_T_MAX // 2048) // max(n, 1):
        raise ValueError(f"{fn}: C = {C} components of n = {n} variables are too many")
    return 0


cdef int _mix_activation(str fn, object activation) except -1:
    """The kernels' code (nade_mix_params.act) of a fixed-order mixture model's hidden
    activation: "sigmoid" (h = sigmoid(rho a)) or "relu" (h = max(rho a, 0))."""
    if isinstance(activation, str):
        if activation == "sigmoid":
            return NADE_ACT_SIGMOID
        if activation == "relu":
            return NADE_ACT_RELU
    raise ValueError(f"{fn}: activation = {activation!r} is not 'sigmoid' or 'relu'")


cdef int _check_mix_params(str fn, const floating[:, ::1] Wt, const floating[:, ::1] V,
                           const floating[::1] b, const floating[::1] c,
                           const floating[::1] rho, Py_ssize_t d, Py_ssize_t C,
                           const Py_ssize_t[::1] order, Py_ssize_t xcols) except -1:
    """A fixed-order mixture model and data of xcols columns."""
    cdef Py_ssize_t n = Wt.shape[0], dp = Wt.shape[1]
    _check_width(fn, "Wt", n, dp, d, sizeof(floating))
    _check_components(fn, C, n)
    _expect(fn, "V.shape[0]", V.shape[0], "3 C n", 3 * C * n)
    _expect(fn, "V.shape[1]", V.shape[1], "dp = Wt.shape[1]", dp)
    _expect(fn, "b.shape[0]", b.shape[0], "dp = Wt.shape[1]", dp)
    _expect(fn, "c.shape[0]", c.shape[0], "3 C n", 3 * C * n)
    _expect(fn, "rho.shape[0]", rho.shape[0], "n = Wt.shape[0]", n)
    _expect(fn, "order.shape[0]", order.shape[0], "n = Wt.shape[0]", n)
    _expect(fn, "X.shape[1]", xcols, "n = Wt.shape[0]", n)
    return 0


cdef int _check_oa_widths(str fn, const floating[:, ::1] Win, const floating[:, ::1] Wmask,
                          const floating[::1] b1, const floating[:, :, ::1] Wdeep,
                          const floating[:, ::1] bdeep, Py_ssize_t d,
                          const Py_ssize_t[:, ::1] order, Py_ssize_t nrows,
                          Py_ssize_t xcols) except -1:
    """The first and deeper layers of an order-agnostic model, its orderings and X's width."""
    cdef Py_ssize_t n = Win.shape[0], dp = Win.shape[1]
    _check_width(fn, "Win", n, dp, d, sizeof(floating))
    _expect(fn, "Wmask.shape[0]", Wmask.shape[0], "n = Win.shape[0]", n)
    _expect(fn, "Wmask.shape[1]", Wmask.shape[1], "dp = Win.shape[1]", dp)
    _expect(fn, "b1.shape[0]", b1.shape[0], "dp = Win.shape[1]", dp)
    _expect(fn, "bdeep.shape[0]", bdeep.shape[0], "layers - 1 = Wdeep.shape[0]", Wdeep.shape[0])
    if Wdeep.shape[0] > 0:
        _expect(fn, "Wdeep.shape[1]", Wdeep.shape[1], "d", d)
        _expect(fn, "Wdeep.shape[2]", Wdeep.shape[2], "dp = Win.shape[1]", dp)
        _expect(fn, "bdeep.shape[1]", bdeep.shape[1], "d", d)
    _expect(fn, "order.shape[1]", order.shape[1], "n = Win.shape[0]", n)
    if order.shape[0] != 1 and order.shape[0] != nrows:
        raise ValueError(f"{fn}: order.shape[0] = {order.shape[0]} must be 1 (one ordering) or "
                         f"the rows of X = {nrows} (one per row)")
    _expect(fn, "X.shape[1]", xcols, "n = Win.shape[0]", n)
    return 0


cdef int _check_oa_mix_params(str fn, const floating[:, ::1] Win, const floating[:, ::1] Wmask,
                              const floating[::1] b1, const floating[:, :, ::1] Wdeep,
                              const floating[:, ::1] bdeep, const floating[:, ::1] V,
                              const floating[::1] c, Py_ssize_t d, Py_ssize_t C,
                              const Py_ssize_t[:, ::1] order, const double[:, ::1] X) except -1:
    """An order-agnostic mixture model, its orderings (one, or one per row) and data X."""
    cdef Py_ssize_t n = Win.shape[0]
    _check_oa_widths(fn, Win, Wmask, b1, Wdeep, bdeep, d, order, X.shape[0], X.shape[1])
    _check_components(fn, C, n)
    _expect(fn, "V.shape[0]", V.shape[0], "3 C n", 3 * C * n)
    _expect(fn, "V.shape[1]", V.shape[1], "dp = Win.shape[1]", Win.shape[1])
    _expect(fn, "c.shape[0]", c.shape[0], "3 C n", 3 * C * n)
    return 0


cdef int _check_values(str fn, const double[:, ::1] X, const Py_ssize_t *order, Py_ssize_t ldo,
                       const Py_ssize_t *upto) except -1:
    """Every value the kernel will read is finite: X[r, order_r[k]] for k < upto[r] (upto
    NULL: all n), order_r = order + r * ldo.  Features outside [0, n) and counts outside
    [0, n] are left to the kernels, which refuse them."""
    cdef Py_ssize_t n = X.shape[1], r, k, j, m
    for r in range(X.shape[0]):
        m = n if upto == NULL else min(max(upto[r], 0), n)
        for k in range(m):
            j = order[r * ldo + k]
            if j < 0 or j >= n:
                continue
            if not isfinite(X[r, j]):
                raise ValueError(f"{fn}: X[{r}, {j}] = {X[r, j]} is not a finite number")
    return 0


cdef inline void _mix_params(nade_mix_params_f32 *p32, nade_mix_params_f64 *p64,
                             const floating[:, ::1] Wt, const floating[:, ::1] V,
                             const floating[::1] b, const floating[::1] c,
                             const floating[::1] rho, Py_ssize_t d, Py_ssize_t C,
                             int act) noexcept:
    if floating is float:
        p32[0] = nade_mix_params_f32(n=Wt.shape[0], d=d, dp=Wt.shape[1], C=C, Wt=&Wt[0, 0],
                                     V=&V[0, 0], b=&b[0], c=&c[0], rho=&rho[0], act=act)
    else:
        p64[0] = nade_mix_params_f64(n=Wt.shape[0], d=d, dp=Wt.shape[1], C=C, Wt=&Wt[0, 0],
                                     V=&V[0, 0], b=&b[0], c=&c[0], rho=&rho[0], act=act)


# ------------------------------------------------------------------------- fixed-order

def mix_score(const floating[:, ::1] Wt,    # IN (n, dp) input weights, row k = chain position k
              const floating[:, ::1] V,     # IN (3 C n, dp) output weights, 3C rows per position
              const floating[::1] b,        # IN (dp,)
              const floating[::1] c,        # IN (3 C n,)
              const floating[::1] rho,      # IN (n,) activation rescaling by chain position
              Py_ssize_t d,
              Py_ssize_t C,                 # components per variable
              const Py_ssize_t[::1] order,  # IN (n,)
              const double[:, ::1] X,       # IN  (n_samples, n) standardised values
              double[::1] loglik,           # OUT (n_samples,) log p(x), nats
              floating[:, ::1] cond,        # OUT (n_samples, 3 C n) weights, means, scales of
                                            #     feature j at 3 C j .., or (0, 0) to skip
              double[:, ::1] terms,         # OUT (n_samples, n) chain order, or (0, 0)
              int n_threads,
              activation="sigmoid"):        # h = sigmoid(rho a), or "relu": max(rho a, 0)
    """Log-density (and conditionals, and per-position terms) of every row of X."""
    cdef:
        nade_mix_params_f32 p32
        nade_mix_params_f64 p64
        _Plan P
        Py_ssize_t nrows = X.shape[0], n = Wt.shape[0]
        Py_ssize_t blk, r0, nr, ldc = cond.shape[1], ldt = terms.shape[1]
        bint want_cond, want_terms
        int status = 0
        int act
        floating *cptr
        double *tptr
    act = _mix_activation("mix_score", activation)
    _check_mix_params("mix_score", Wt, V, b, c, rho, d, C, order, X.shape[1])
    _expect("mix_score", "loglik.shape[0]", loglik.shape[0], "the rows of X", nrows)
    want_cond = _optional("mix_score", "cond", cond.shape[0], nrows)
    if want_cond:
        _expect("mix_score", "cond.shape[1]", ldc, "3 C n", 3 * C * n)
    want_terms = _optional_rows("mix_score", "terms", terms.shape[0], ldt, nrows, n)
    if nrows == 0:
        return
    _check_values("mix_score", X, &order[0], 0, NULL)
    _mix_params(&p32, &p64, Wt, V, b, c, rho, d, C, act)
    work = _mix_plan(&P, nrows, n, C, Wt.shape[1], sizeof(floating), n_threads)
    with nogil:
        for blk in prange(P.nblocks, schedule="dynamic", num_threads=P.nt):
            r0 = blk * P.rows
            nr = min(P.rows, nrows - r0)
            cptr = &cond[r0, 0] if want_cond else NULL
            tptr = &terms[r0, 0] if want_terms else NULL
            if floating is float:
                status |= nade_mix_score_f32(&p32, &order[0], &X[r0, 0], X.shape[1], nr,
                                             &loglik[r0], cptr, ldc, tptr, ldt,
                                             P.base + threadid() * P.stride)
            else:
                status |= nade_mix_score_f64(&p64, &order[0], &X[r0, 0], X.shape[1], nr,
                                             &loglik[r0], cptr, ldc, tptr, ldt,
                                             P.base + threadid() * P.stride)
    _check_status(status, "mix_score")


def mix_sample(const floating[:, ::1] Wt, const floating[:, ::1] V, const floating[::1] b,
               const floating[::1] c, const floating[::1] rho, Py_ssize_t d, Py_ssize_t C,
               const Py_ssize_t[::1] order,  # IN (n,)
               const uint64_t[::1] key,      # IN  (2,) Philox key, or (0,) when greedy
               uint64_t row0,                # global index of the first row
               double[:, ::1] X,             # INOUT (n_samples, n) the samples (given values in)
               const Py_ssize_t[::1] given,  # IN  (n_samples,) chain positions already in X,
                                             #     or (0,) to draw every position
               bint greedy,                  # each variable's mode instead of random draws
               double[::1] loglik,           # OUT (n_samples,) or (0,) to skip
               int n_threads,
               activation="sigmoid"):        # "sigmoid" or "relu", as mix_score
    """Draw every row of X; row i uses the random stream of row row0 + i, 3 draws a position."""
    cdef:
        nade_mix_params_f32 p32
        nade_mix_params_f64 p64
        _Plan P
        Py_ssize_t nrows = X.shape[0], n = Wt.shape[0]
        Py_ssize_t blk, r0, nr
        bint want_ll, want_given
        int status = 0
        int act
        double *lptr
        const Py_ssize_t *gptr
        const uint64_t *kptr
    act = _mix_activation("mix_sample", activation)
    _check_mix_params("mix_sample", Wt, V, b, c, rho, d, C, order, X.shape[1])
    want_given = _optional("mix_sample", "given", given.shape[0], nrows)
    want_ll = _optional("mix_sample", "loglik", loglik.shape[0], nrows)
    kptr = _key("mix_sample", key, greedy)
    if nrows == 0:
        return
    if want_given:
        _check_values("mix_sample", X, &order[0], 0, &given[0])
    _mix_params(&p32, &p64, Wt, V, b, c, rho, d, C, act)
    work = _mix_plan(&P, nrows, n, C, Wt.shape[1], sizeof(floating), n_threads)
    with nogil:
        for blk in prange(P.nblocks, schedule="dynamic", num_threads=P.nt):
            r0 = blk * P.rows
            nr = min(P.rows, nrows - r0)
            lptr = &loglik[r0] if want_ll else NULL
            gptr = &given[r0] if want_given else NULL
            if floating is float:
                status |= nade_mix_sample_f32(&p32, &order[0], kptr, row0 + <uint64_t>r0,
                                              &X[r0, 0], X.shape[1], nr, gptr, greedy, lptr,
                                              P.base + threadid() * P.stride)
            else:
                status |= nade_mix_sample_f64(&p64, &order[0], kptr, row0 + <uint64_t>r0,
                                              &X[r0, 0], X.shape[1], nr, gptr, greedy, lptr,
                                              P.base + threadid() * P.stride)
    _check_status(status, "mix_sample")


def mix_grad(const floating[:, ::1] Wt, const floating[:, ::1] V, const floating[::1] b,
             const floating[::1] c, const floating[::1] rho, Py_ssize_t d, Py_ssize_t C,
             const Py_ssize_t[::1] order,  # IN (n,)
             const double[:, ::1] X,       # IN    (n_samples, n)
             double[::1] nll,              # OUT   (n_samples,) -log p(x)
             floating[:, ::1] gWt,         # INOUT (n, dp) sums over rows are added
             floating[:, ::1] gV,          # INOUT (3 C n, dp)
             floating[::1] gb,             # INOUT (dp,)
             floating[::1] gc,             # INOUT (3 C n,)
             floating[::1] grho,           # INOUT (n,)
             int n_threads,
             activation="sigmoid"):        # "sigmoid" or "relu", as mix_score
    """Add the gradient of sum_rows -log p(x) to (gWt, gV, gb, gc, grho); row order, so the
    sums are the same for every thread count (see grad)."""
    cdef:
        nade_mix_params_f32 p32
        nade_mix_params_f64 p64
        nade_mix_gradsum_f32 g32
        nade_mix_gradsum_f64 g64
        _Plan P
        Py_ssize_t nrows = X.shape[0], n = Wt.shape[0], dp = Wt.shape[1]
        Py_ssize_t blk, r0, nr
        int status = 0
        int act
        int64_t[::1] progress
        int64_t *prev
    act = _mix_activation("mix_grad", activation)
    _check_mix_params("mix_grad", Wt, V, b, c, rho, d, C, order, X.shape[1])
    _expect("mix_grad", "nll.shape[0]", nll.shape[0], "the rows of X", nrows)
    _expect("mix_grad", "gWt.shape[0]", gWt.shape[0], "n = Wt.shape[0]", n)
    _expect("mix_grad", "gWt.shape[1]", gWt.shape[1], "dp = Wt.shape[1]", dp)
    _expect("mix_grad", "gV.shape[0]", gV.shape[0], "3 C n", 3 * C * n)
    _expect("mix_grad", "gV.shape[1]", gV.shape[1], "dp = Wt.shape[1]", dp)
    _expect("mix_grad", "gb.shape[0]", gb.shape[0], "dp = Wt.shape[1]", dp)
    _expect("mix_grad", "gc.shape[0]", gc.shape[0], "3 C n", 3 * C * n)
    _expect("mix_grad", "grho.shape[0]", grho.shape[0], "n = Wt.shape[0]", n)
    if nrows == 0:
        return
    _check_values("mix_grad", X, &order[0], 0, NULL)
    _mix_params(&p32, &p64, Wt, V, b, c, rho, d, C, act)
    if floating is float:
        g32 = nade_mix_gradsum_f32(Wt=&gWt[0, 0], V=&gV[0, 0], b=&gb[0], c=&gc[0],
                                   rho=&grho[0])
    else:
        g64 = nade_mix_gradsum_f64(Wt=&gWt[0, 0], V=&gV[0, 0], b=&gb[0], c=&gc[0],
                                   rho=&grho[0])
    work = _mix_plan(&P, nrows, n, C, dp, sizeof(floating), n_threads)
    progress = np.full(P.nblocks, n, dtype=np.int64)
    with nogil:
        for blk in prange(P.nblocks, schedule="static", chunksize=1, num_threads=P.nt):
            r0 = blk * P.rows
            nr = min(P.rows, nrows - r0)
            prev = &progress[blk - 1] if blk > 0 else NULL
            if floating is float:
                status |= nade_mix_grad_f32(&p32, &order[0], &X[r0, 0], X.shape[1], nr,
                                            &nll[r0], &g32, prev, &progress[blk],
                                            P.base + threadid() * P.stride)
            else:
                status |= nade_mix_grad_f64(&p64, &order[0], &X[r0, 0], X.shape[1], nr,
                                            &nll[r0], &g64, prev, &progress[blk],
                                            P.base + threadid() * P.stride)
    _check_status(status, "mix_grad")


def mix_hidden(const floating[:, ::1] Wt, const floating[:, ::1] V, const floating[::1] b,
               const floating[::1] c, const floating[::1] rho, Py_ssize_t d, Py_ssize_t C,
               const Py_ssize_t[::1] order,  # IN (n,)
               const double[:, ::1] X,       # IN  (n_samples, n)
               floating[:, :, ::1] out,      # OUT (n_samples, n, d) h_k in chain order
               int n_threads,
               activation="sigmoid"):        # "sigmoid" or "relu", as mix_score
    """The hidden state h_k = act(rho_k a_k) of every row at every chain position."""
    cdef:
        nade_mix_params_f32 p32
        nade_mix_params_f64 p64
        _Plan P
        Py_ssize_t nrows = X.shape[0], n = Wt.shape[0]
        Py_ssize_t blk, r0, nr
        int status = 0
        int act
    act = _mix_activation("mix_hidden", activation)
    _check_mix_params("mix_hidden", Wt, V, b, c, rho, d, C, order, X.shape[1])
    _expect("mix_hidden", "out.shape[0]", out.shape[0], "the rows of X", nrows)
    _expect("mix_hidden", "out.shape[1]", out.shape[1], "n = Wt.shape[0]", n)
    _expect("mix_hidden", "out.shape[2]", out.shape[2], "d", d)
    if nrows == 0:
        return
    _check_values("mix_hidden", X, &order[0], 0, NULL)
    _mix_params(&p32, &p64, Wt, V, b, c, rho, d, C, act)
    work = _mix_plan(&P, nrows, n, C, Wt.shape[1], sizeof(floating), n_threads)
    with nogil:
        for blk in prange(P.nblocks, schedule="dynamic", num_threads=P.nt):
            r0 = blk * P.rows
            nr = min(P.rows, nrows - r0)
            if floating is float:
                status |= nade_mix_hidden_f32(&p32, &order[0], &X[r0, 0], X.shape[1], nr,
                                              &out[r0, 0, 0], P.base + threadid() * P.stride)
            else:
                status |= nade_mix_hidden_f64(&p64, &order[0], &X[r0, 0], X.shape[1], nr,
                                              &out[r0, 0, 0], P.base + threadid() * P.stride)
    _check_status(status, "mix_hidden")


# ------------------------------------------------------------------ order-agnostic

cdef inline void _oa_mix_params(nade_oa_mix_params_f32 *p32, nade_oa_mix_params_f64 *p64,
                                const floating[:, ::1] Win, const floating[:, ::1] Wmask,
                                const floating[::1] b1, const floating[:, :, ::1] Wdeep,
                                const floating[:, ::1] bdeep, const floating[:, ::1] V,
                                const floating[::1] c, Py_ssize_t d, Py_ssize_t C) noexcept:
    cdef Py_ssize_t layers = Wdeep.shape[0] + 1
    cdef const floating *wdeep = &Wdeep[0, 0, 0] if layers > 1 else NULL
    cdef const floating *bdp = &bdeep[0, 0] if layers > 1 else NULL
    if floating is float:
        p32[0] = nade_oa_mix_params_f32(n=Win.shape[0], d=d, dp=Win.shape[1], layers=layers,
                                        C=C, Win=&Win[0, 0], Wmask=&Wmask[0, 0], b1=&b1[0],
                                        Wdeep=wdeep, bdeep=bdp, V=&V[0, 0], c=&c[0])
    else:
        p64[0] = nade_oa_mix_params_f64(n=Win.shape[0], d=d, dp=Win.shape[1], layers=layers,
                                        C=C, Win=&Win[0, 0], Wmask=&Wmask[0, 0], b1=&b1[0],
                                        Wdeep=wdeep, bdeep=bdp, V=&V[0, 0], c=&c[0])


def oa_mix_score(const floating[:, ::1] Win,      # IN (n, dp) input weights by feature
                 const floating[:, ::1] Wmask,    # IN (n, dp) mask weights by feature
                 const floating[::1] b1,          # IN (dp,)
                 const floating[:, :, ::1] Wdeep,  # IN (layers-1, d, dp)
                 const floating[:, ::1] bdeep,    # IN (layers-1, d)
                 const floating[:, ::1] V,        # IN (3 C n, dp) 3C rows per feature
                 const floating[::1] c,           # IN (3 C n,)
                 Py_ssize_t d,
                 Py_ssize_t C,                    # components per variable
                 const Py_ssize_t[:, ::1] order,  # IN (1, n): one ordering; (n_samples, n): per row
                 const double[:, ::1] X,          # IN (n_samples, n) standardised values
                 const Py_ssize_t[::1] stop,      # IN (n_samples,) positions to evaluate, or (0,)
                 double[::1] loglik,              # OUT (n_samples,) log p of the evaluated prefix
                 floating[:, ::1] cond,           # OUT (n_samples, 3 C n) weights, means, scales
                                                  #     of feature j at 3 C j .., or (0, 0)
                 double[:, ::1] terms,            # OUT (n_samples, n) chain order, or (0, 0)
                 int n_threads):
    """Exact log-densities of an order-agnostic mixture NADE along the given orderings."""
    cdef:
        nade_oa_mix_params_f32 p32
        nade_oa_mix_params_f64 p64
        _Plan P
        Py_ssize_t nrows = X.shape[0], n = Win.shape[0]
        Py_ssize_t blk, r0, nr, ldo
        Py_ssize_t ldc = cond.shape[1], ldt = terms.shape[1]
        bint want_cond, want_terms, want_stop
        int status = 0
        floating *cptr
        double *tptr
        const Py_ssize_t *sptr
    _check_oa_mix_params("oa_mix_score", Win, Wmask, b1, Wdeep, bdeep, V, c, d, C, order, X)
    ldo = n if order.shape[0] > 1 else 0
    want_stop = _optional("oa_mix_score", "stop", stop.shape[0], nrows)
    _expect("oa_mix_score", "loglik.shape[0]", loglik.shape[0], "the rows of X", nrows)
    want_cond = _optional("oa_mix_score", "cond", cond.shape[0], nrows)
    if want_cond:
        _expect("oa_mix_score", "cond.shape[1]", ldc, "3 C n", 3 * C * n)
    want_terms = _optional_rows("oa_mix_score", "terms", terms.shape[0], ldt, nrows, n)
    if nrows == 0:
        return
    _check_values("oa_mix_score", X, &order[0, 0], ldo, &stop[0] if want_stop else NULL)
    _oa_mix_params(&p32, &p64, Win, Wmask, b1, Wdeep, bdeep, V, c, d, C)
    work = _mix_plan(&P, nrows, n, C, Win.shape[1], sizeof(floating), n_threads)
    with nogil:
        for blk in prange(P.nblocks, schedule="dynamic", num_threads=P.nt):
            r0 = blk * P.rows
            nr = min(P.rows, nrows - r0)
            cptr = &cond[r0, 0] if want_cond else NULL
            tptr = &terms[r0, 0] if want_terms else NULL
            sptr = &stop[r0] if want_stop else NULL
            if floating is float:
                status |= nade_oa_mix_score_f32(&p32, &order[r0 if ldo else 0, 0], ldo,
                                                &X[r0, 0], X.shape[1], nr, sptr, &loglik[r0],
                                                cptr, ldc, tptr, ldt,
                                                P.base + threadid() * P.stride)
            else:
                status |= nade_oa_mix_score_f64(&p64, &order[r0 if ldo else 0, 0], ldo,
                                                &X[r0, 0], X.shape[1], nr, sptr, &loglik[r0],
                                                cptr, ldc, tptr, ldt,
                                                P.base + threadid() * P.stride)
    _check_status(status, "oa_mix_score")


def oa_mix_sample(const floating[:, ::1] Win, const floating[:, ::1] Wmask,
                  const floating[::1] b1, const floating[:, :, ::1] Wdeep,
                  const floating[:, ::1] bdeep, const floating[:, ::1] V,
                  const floating[::1] c, Py_ssize_t d, Py_ssize_t C,
                  const Py_ssize_t[:, ::1] order,  # IN (1, n) or (n_samples, n)
                  const uint64_t[::1] key,         # IN (2,) or (0,) when greedy
                  uint64_t row0,
                  double[:, ::1] X,                # INOUT (n_samples, n)
                  const Py_ssize_t[::1] given,     # IN (n_samples,) or (0,)
                  bint greedy,
                  double[::1] loglik,              # OUT (n_samples,) or (0,)
                  int n_threads):
    """Draw (or complete) rows of an order-agnostic mixture NADE along the given orderings."""
    cdef:
        nade_oa_mix_params_f32 p32
        nade_oa_mix_params_f64 p64
        _Plan P
        Py_ssize_t nrows = X.shape[0], n = Win.shape[0]
        Py_ssize_t blk, r0, nr, ldo
        bint want_ll, want_given
        int status = 0
        double *lptr
        const Py_ssize_t *gptr
        const uint64_t *kptr
    _check_oa_mix_params("oa_mix_sample", Win, Wmask, b1, Wdeep, bdeep, V, c, d, C, order, X)
    ldo = n if order.shape[0] > 1 else 0
    want_given = _optional("oa_mix_sample", "given", given.shape[0], nrows)
    want_ll = _optional("oa_mix_sample", "loglik", loglik.shape[0], nrows)
    kptr = _key("oa_mix_sample", key, greedy)
    if nrows == 0:
        return
    if want_given:
        _check_values("oa_mix_sample", X, &order[0, 0], ldo, &given[0])
    _oa_mix_params(&p32, &p64, Win, Wmask, b1, Wdeep, bdeep, V, c, d, C)
    work = _mix_plan(&P, nrows, n, C, Win.shape[1], sizeof(floating), n_threads)
    with nogil:
        for blk in prange(P.nblocks, schedule="dynamic", num_threads=P.nt):
            r0 = blk * P.rows
            nr = min(P.rows, nrows - r0)
            lptr = &loglik[r0] if want_ll else NULL
            gptr = &given[r0] if want_given else NULL
            if floating is float:
                status |= nade_oa_mix_sample_f32(&p32, &order[r0 if ldo else 0, 0], ldo, kptr,
                                                 row0 + <uint64_t>r0, &X[r0, 0], X.shape[1], nr,
                                                 gptr, greedy, lptr,
                                                 P.base + threadid() * P.stride)
            else:
                status |= nade_oa_mix_sample_f64(&p64, &order[r0 if ldo else 0, 0], ldo, kptr,
                                                 row0 + <uint64_t>r0, &X[r0, 0], X.shape[1], nr,
                                                 gptr, greedy, lptr,
                                                 P.base + threadid() * P.stride)
    _check_status(status, "oa_mix_sample")


def oa_mix_output(floating[:, ::1] Z,          # INOUT (rows, 3 C n) units in, scale * dloss/dZ out
                  const double[:, ::1] X,      # IN    (rows, n) standardised values
                  const uint8_t[:, ::1] mask,  # IN    (rows, n) 1 = observed
                  Py_ssize_t C,
                  double scale,
                  double[::1] loss,            # OUT   (rows,) rescaled NLL of the unobserved
                  int n_threads):
    """The order-agnostic objective's output layer for mixtures, in place
    (nade_oa_mix_output in nade.h)."""
    cdef:
        Py_ssize_t nrows = X.shape[0], n = X.shape[1], r, j
        Py_ssize_t nchunks = (nrows + _CHUNK_ROWS - 1) // _CHUNK_ROWS, i, r0, nr
        int status = 0, nt = _threads_for(nchunks, n_threads)
        double[:, ::1] work
    _at_least("oa_mix_output", "n = X.shape[1]", n, 1)
    _check_components("oa_mix_output", C, n)
    _expect("oa_mix_output", "Z.shape[0]", Z.shape[0], "the rows of X", nrows)
    _expect("oa_mix_output", "Z.shape[1]", Z.shape[1], "3 C n", 3 * C * n)
    _expect("oa_mix_output", "mask.shape[0]", mask.shape[0], "the rows of X", nrows)
    _expect("oa_mix_output", "mask.shape[1]", mask.shape[1], "n = X.shape[1]", n)
    _expect("oa_mix_output", "loss.shape[0]", loss.shape[0], "the rows of X", nrows)
    if nrows == 0:
        return
    for r in range(nrows):  # the values the kernel reads: the unobserved ones
        for j in range(n):
            if mask[r, j] == 0 and not isfinite(X[r, j]):
                raise ValueError(f"oa_mix_output: X[{r}, {j}] = {X[r, j]} is not a finite number")
    work = np.empty((nt, 10 * C), dtype=np.float64)  # one variable's mixture per thread
    with nogil:
        for i in prange(nchunks, schedule="static", num_threads=nt):
            r0 = i * _CHUNK_ROWS
            nr = min(_CHUNK_ROWS, nrows - r0)
            if floating is float:
                status |= nade_oa_mix_output_f32(&Z[r0, 0], 3 * C * n, &X[r0, 0], n,
                                                 &mask[r0, 0], n, n, C, nr, scale, &loss[r0],
                                                 &work[threadid(), 0])
            else:
                status |= nade_oa_mix_output_f64(&Z[r0, 0], 3 * C * n, &X[r0, 0], n,
                                                 &mask[r0, 0], n, n, C, nr, scale, &loss[r0],
                                                 &work[threadid(), 0])
    # the shapes and values being checked, the kernel's one refusal left is a full row
    _check_status(status, "oa_mix_output", "a row of mask observes every feature; the "
                                           "objective needs at least one unobserved feature "
                                           "per row")
