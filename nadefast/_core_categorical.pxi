# Categorical outputs (csrc/nade.h, "Categorical outputs"; csrc/cat_impl.h): the
# fixed-order and order-agnostic kernels for int32 codes, each variable a block of K values.
# Included by nadefast/_core.pyx (one extension module); not compiled on its own.
#
# Besides the model's arrays, every function takes the blocks of its variables:
# in_off, out_off (n + 1,) with in_off[0] = out_off[0] = 0, K_k = out_off[k+1] - out_off[k]
# >= 1 values and in_off[k+1] - in_off[k] = K_k - 1 input rows per variable; by chain
# position (fixed-order) or by feature (order-agnostic).  Wt / Win (n_in, dp) row
# in_off[k] + v - 1 = the input weights of value v >= 1; V (n_out, dp) row out_off[k] + v and
# c[out_off[k] + v] = the output weights and bias of value v.  X holds int32 codes; a code
# outside its variable's 0 .. K - 1 is refused here, naming it, before any kernel runs.


cdef object _cat_plan(_Plan *P, Py_ssize_t nrows, Py_ssize_t n, Py_ssize_t n_out, Py_ssize_t dp,
                      size_t real_size, int n_threads):
    """As _plan, with the categorical kernels' scratch (nade_cat_work_bytes)."""
    cdef uint8_t[::1] work
    cdef size_t w
    P.rows = _balanced_rows(nrows, dp, real_size, n_threads)
    P.nblocks = (nrows + P.rows - 1) // P.rows
    w = nade_cat_work_bytes(n, n_out, dp, real_size, P.rows)
    P.stride = <Py_ssize_t>((w + NADE_ALIGN - 1) // NADE_ALIGN * NADE_ALIGN)
    P.nt = _threads_for(P.nblocks, n_threads)
    work = np.empty(P.nt * P.stride + NADE_ALIGN, dtype=np.uint8)
    P.base = <char *>&work[0]
    return work


cdef int _check_cat_offsets(str fn, const Py_ssize_t[::1] in_off, const Py_ssize_t[::1] out_off,
                            str by) except -1:
    """The variables' blocks (see the top of this file); `by` names what k counts."""
    cdef Py_ssize_t n = out_off.shape[0] - 1, k, K
    _at_least(fn, "n = out_off.shape[0] - 1", n, 1)
    _expect(fn, "in_off.shape[0]", in_off.shape[0], "out_off.shape[0]", out_off.shape[0])
    if in_off[0] != 0 or out_off[0] != 0:
        raise ValueError(f"{fn}: in_off[0] = {in_off[0]} and out_off[0] = {out_off[0]} must "
                         f"both be 0")
    for k in range(n):
        K = out_off[k + 1] - out_off[k]
        if K < 1:
            raise ValueError(f"{fn}: out_off[{k + 1}] - out_off[{k}] = {K} ({by} {k}): every "
                             f"variable needs K >= 1 values")
        if in_off[k + 1] - in_off[k] != K - 1:
            raise ValueError(f"{fn}: in_off[{k + 1}] - in_off[{k}] = {in_off[k + 1] - in_off[k]} "
                             f"does not match K - 1 = {K - 1} of out_off ({by} {k})")
    return 0


cdef int _check_cat_width(str fn, Py_ssize_t d, Py_ssize_t dp, size_t real_size) except -1:
    """1 <= d <= dp, dp (= V.shape[1]) a multiple of the kernels' lanes."""
    if not 1 <= d <= dp:
        raise ValueError(f"{fn}: d = {d} must be in [1, dp = V.shape[1] = {dp}]")
    if dp % nade_lanes(real_size) != 0:
        raise ValueError(f"{fn}: dp = V.shape[1] = {dp} is not a multiple of "
                         f"{nade_lanes(real_size)}, the kernels' lanes for this dtype")
    return 0


cdef int _check_cat_params(str fn, const floating[:, ::1] Wt, const floating[:, ::1] V,
                           const floating[::1] b, const floating[::1] c, Py_ssize_t d,
                           const Py_ssize_t[::1] in_off, const Py_ssize_t[::1] out_off,
                           const Py_ssize_t[::1] order, Py_ssize_t xcols) except -1:
    """A fixed-order categorical model and data of xcols columns."""
    _check_cat_offsets(fn, in_off, out_off, "chain position")
    cdef Py_ssize_t n = out_off.shape[0] - 1, dp = V.shape[1]
    _check_cat_width(fn, d, dp, sizeof(floating))
    _expect(fn, "Wt.shape[0]", Wt.shape[0], "n_in = in_off[n]", in_off[n])
    _expect(fn, "Wt.shape[1]", Wt.shape[1], "dp = V.shape[1]", dp)
    _expect(fn, "V.shape[0]", V.shape[0], "n_out = out_off[n]", out_off[n])
    _expect(fn, "b.shape[0]", b.shape[0], "dp = V.shape[1]", dp)
    _expect(fn, "c.shape[0]", c.shape[0], "n_out = out_off[n]", out_off[n])
    _expect(fn, "order.shape[0]", order.shape[0], "n = out_off.shape[0] - 1", n)
    _expect(fn, "X.shape[1]", xcols, "n = out_off.shape[0] - 1", n)
    return 0


cdef int _check_oa_cat_params(str fn, const floating[:, ::1] Win, const floating[:, ::1] Wmask,
                              const floating[::1] b1, const floating[:, :, ::1] Wdeep,
                              const floating[:, ::1] bdeep, const floating[:, ::1] V,
                              const floating[::1] c, Py_ssize_t d,
                              const Py_ssize_t[::1] in_off, const Py_ssize_t[::1] out_off,
                              const Py_ssize_t[:, ::1] order, const int32_t[:, ::1] X) except -1:
    """An order-agnostic categorical model, its orderings (one, or one per row) and data X."""
    _check_cat_offsets(fn, in_off, out_off, "feature")
    cdef Py_ssize_t n = out_off.shape[0] - 1, dp = V.shape[1], nrows = X.shape[0]
    _check_cat_width(fn, d, dp, sizeof(floating))
    _expect(fn, "Win.shape[0]", Win.shape[0], "n_in = in_off[n]", in_off[n])
    _expect(fn, "Win.shape[1]", Win.shape[1], "dp = V.shape[1]", dp)
    _expect(fn, "Wmask.shape[0]", Wmask.shape[0], "n = out_off.shape[0] - 1", n)
    _expect(fn, "Wmask.shape[1]", Wmask.shape[1], "dp = V.shape[1]", dp)
    _expect(fn, "b1.shape[0]", b1.shape[0], "dp = V.shape[1]", dp)
    _expect(fn, "V.shape[0]", V.shape[0], "n_out = out_off[n]", out_off[n])
    _expect(fn, "c.shape[0]", c.shape[0], "n_out = out_off[n]", out_off[n])
    _expect(fn, "bdeep.shape[0]", bdeep.shape[0], "layers - 1 = Wdeep.shape[0]", Wdeep.shape[0])
    if Wdeep.shape[0] > 0:
        _expect(fn, "Wdeep.shape[1]", Wdeep.shape[1], "d", d)
        _expect(fn, "Wdeep.shape[2]", Wdeep.shape[2], "dp = V.shape[1]", dp)
        _expect(fn, "bdeep.shape[1]", bdeep.shape[1], "d", d)
    _expect(fn, "order.shape[1]", order.shape[1], "n = out_off.shape[0] - 1", n)
    if order.shape[0] != 1 and order.shape[0] != nrows:
        raise ValueError(f"{fn}: order.shape[0] = {order.shape[0]} must be 1 (one ordering) or "
                         f"the rows of X = {nrows} (one per row)")
    _expect(fn, "X.shape[1]", X.shape[1], "n = out_off.shape[0] - 1", n)
    return 0


cdef int _check_codes(str fn, const int32_t[:, ::1] X, const Py_ssize_t *order, Py_ssize_t ldo,
                      const Py_ssize_t[::1] out_off, bint by_position,
                      const Py_ssize_t *upto) except -1:
    """Every code the kernel will read lies in its variable's 0 .. K - 1: X[r, order_r[k]]
    for k < upto[r] (upto NULL: all n), order_r = order + r * ldo, K from out_off by chain
    position or by feature.  Features outside [0, n) and counts outside [0, n] are left to
    the kernels, which refuse them."""
    cdef Py_ssize_t n = X.shape[1], r, k, j, m, K
    cdef int32_t x
    for r in range(X.shape[0]):
        m = n if upto == NULL else min(max(upto[r], 0), n)
        for k in range(m):
            j = order[r * ldo + k]
            if j < 0 or j >= n:
                continue
            K = out_off[k + 1] - out_off[k] if by_position else out_off[j + 1] - out_off[j]
            x = X[r, j]
            if x < 0 or x >= K:
                raise ValueError(f"{fn}: X[{r}, {j}] = {x} is not a code of feature {j}, whose "
                                 f"K = {K} values are 0 .. {K - 1}")
    return 0


cdef int _check_feature_offsets(str fn, const Py_ssize_t[::1] feat_off,
                                const Py_ssize_t[::1] order,
                                const Py_ssize_t[::1] out_off) except -1:
    """feat_off (n + 1,), the cumulative K by feature, agrees with out_off through order."""
    cdef Py_ssize_t n = out_off.shape[0] - 1, k, j
    _expect(fn, "feat_off.shape[0]", feat_off.shape[0], "out_off.shape[0]", n + 1)
    if feat_off[0] != 0:
        raise ValueError(f"{fn}: feat_off[0] = {feat_off[0]} must be 0")
    for k in range(n):
        j = order[k]
        if j < 0 or j >= n:
            continue  # the kernel refuses the ordering
        if feat_off[j + 1] - feat_off[j] != out_off[k + 1] - out_off[k]:
            raise ValueError(f"{fn}: feat_off[{j + 1}] - feat_off[{j}] = "
                             f"{feat_off[j + 1] - feat_off[j]} does not match K = "
                             f"{out_off[k + 1] - out_off[k]} of feature {j} at chain position "
                             f"{k} (out_off)")
    return 0


cdef inline void _cat_params(nade_cat_params_f32 *p32, nade_cat_params_f64 *p64,
                             const floating[:, ::1] Wt, const floating[:, ::1] V,
                             const floating[::1] b, const floating[::1] c, Py_ssize_t d,
                             const Py_ssize_t[::1] in_off, const Py_ssize_t[::1] out_off) noexcept:
    cdef const floating *wt = &Wt[0, 0] if Wt.shape[0] > 0 else NULL  # n_in = 0: every K = 1
    if floating is float:
        p32[0] = nade_cat_params_f32(n=out_off.shape[0] - 1, d=d, dp=V.shape[1], Wt=wt,
                                     V=&V[0, 0], b=&b[0], c=&c[0], in_off=&in_off[0],
                                     out_off=&out_off[0])
    else:
        p64[0] = nade_cat_params_f64(n=out_off.shape[0] - 1, d=d, dp=V.shape[1], Wt=wt,
                                     V=&V[0, 0], b=&b[0], c=&c[0], in_off=&in_off[0],
                                     out_off=&out_off[0])


# ------------------------------------------------------------------ fixed-order

def cat_score(const floating[:, ::1] Wt,        # IN (n_in, dp)
              const floating[:, ::1] V,         # IN (n_out, dp)
              const floating[::1] b,            # IN (dp,)
              const floating[::1] c,            # IN (n_out,)
              Py_ssize_t d,
              const Py_ssize_t[::1] in_off,     # IN (n + 1,) by chain position
              const Py_ssize_t[::1] out_off,    # IN (n + 1,) by chain position
              const Py_ssize_t[::1] order,      # IN (n,)
              const int32_t[:, ::1] X,          # IN  (n_samples, n) codes, feature order
              double[::1] loglik,               # OUT (n_samples,) log p(x), nats
              floating[:, ::1] cond,            # OUT (n_samples, n_out) p(x_j = v | .) at
                                                #     feat_off[j] + v, or (0, 0) to skip
              const Py_ssize_t[::1] feat_off,   # IN  (n + 1,) cumulative K by feature
                                                #     (read only with cond)
              double[:, ::1] terms,             # OUT (n_samples, n) chain order, or (0, 0)
              int n_threads):
    """Log-likelihood (and conditionals, and per-position terms) of every row of X."""
    cdef:
        nade_cat_params_f32 p32
        nade_cat_params_f64 p64
        _Plan P
        Py_ssize_t nrows = X.shape[0], n = out_off.shape[0] - 1, n_out
        Py_ssize_t blk, r0, nr, ldc = cond.shape[1], ldt = terms.shape[1]
        bint want_cond, want_terms
        int status = 0
        floating *cptr
        double *tptr
        const Py_ssize_t *fptr = NULL
    _check_cat_params("cat_score", Wt, V, b, c, d, in_off, out_off, order, X.shape[1])
    n_out = out_off[n]
    _expect("cat_score", "loglik.shape[0]", loglik.shape[0], "the rows of X", nrows)
    want_cond = _optional("cat_score", "cond", cond.shape[0], nrows)
    if want_cond:
        _expect("cat_score", "cond.shape[1]", ldc, "n_out = out_off[n]", n_out)
        _check_feature_offsets("cat_score", feat_off, order, out_off)
        fptr = &feat_off[0]
    want_terms = _optional_rows("cat_score", "terms", terms.shape[0], ldt, nrows, n)
    if nrows == 0:
        return
    _check_codes("cat_score", X, &order[0], 0, out_off, True, NULL)
    _cat_params(&p32, &p64, Wt, V, b, c, d, in_off, out_off)
    work = _cat_plan(&P, nrows, n, n_out, V.shape[1], sizeof(floating), n_threads)
    with nogil:
        for blk in prange(P.nblocks, schedule="dynamic", num_threads=P.nt):
            r0 = blk * P.rows
            nr = min(P.rows, nrows - r0)
            cptr = &cond[r0, 0] if want_cond else NULL
            tptr = &terms[r0, 0] if want_terms else NULL
            if floating is float:
                status |= nade_cat_score_f32(&p32, &order[0], &X[r0, 0], X.shape[1], nr,
                                             &loglik[r0], cptr, ldc, fptr, tptr, ldt,
                                             P.base + threadid() * P.stride)
            else:
                status |= nade_cat_score_f64(&p64, &order[0], &X[r0, 0], X.shape[1], nr,
                                             &loglik[r0], cptr, ldc, fptr, tptr, ldt,
                                             P.base + threadid() * P.stride)
    _check_status(status, "cat_score")


def cat_sample(const floating[:, ::1] Wt, const floating[:, ::1] V, const floating[::1] b,
               const floating[::1] c, Py_ssize_t d,
               const Py_ssize_t[::1] in_off,     # IN (n + 1,) by chain position
               const Py_ssize_t[::1] out_off,    # IN (n + 1,) by chain position
               const Py_ssize_t[::1] order,      # IN (n,)
               const uint64_t[::1] key,          # IN (2,) Philox key, or (0,) when greedy
               uint64_t row0,                    # global index of the first row
               int32_t[:, ::1] X,                # INOUT (n_samples, n) codes (given values in)
               const Py_ssize_t[::1] given,      # IN (n_samples,) chain positions kept, or (0,)
               bint greedy,                      # the most probable values instead of draws
               double[::1] loglik,               # OUT (n_samples,) or (0,) to skip
               int n_threads):
    """Draw every row of X; row i uses the random stream of row row0 + i."""
    cdef:
        nade_cat_params_f32 p32
        nade_cat_params_f64 p64
        _Plan P
        Py_ssize_t nrows = X.shape[0], n = out_off.shape[0] - 1
        Py_ssize_t blk, r0, nr
        bint want_ll, want_given
        int status = 0
        double *lptr
        const Py_ssize_t *gptr
        const uint64_t *kptr
    _check_cat_params("cat_sample", Wt, V, b, c, d, in_off, out_off, order, X.shape[1])
    want_given = _optional("cat_sample", "given", given.shape[0], nrows)
    want_ll = _optional("cat_sample", "loglik", loglik.shape[0], nrows)
    kptr = _key("cat_sample", key, greedy)
    if nrows == 0:
        return
    if want_given:
        _check_codes("cat_sample", X, &order[0], 0, out_off, True, &given[0])
    _cat_params(&p32, &p64, Wt, V, b, c, d, in_off, out_off)
    work = _cat_plan(&P, nrows, n, out_off[n], V.shape[1], sizeof(floating), n_threads)
    with nogil:
        for blk in prange(P.nblocks, schedule="dynamic", num_threads=P.nt):
            r0 = blk * P.rows
            nr = min(P.rows, nrows - r0)
            lptr = &loglik[r0] if want_ll else NULL
            gptr = &given[r0] if want_given else NULL
            if floating is float:
                status |= nade_cat_sample_f32(&p32, &order[0], kptr, row0 + <uint64_t>r0,
                                              &X[r0, 0], X.shape[1], nr, gptr, greedy, lptr,
                                              P.base + threadid() * P.stride)
            else:
                status |= nade_cat_sample_f64(&p64, &order[0], kptr, row0 + <uint64_t>r0,
                                              &X[r0, 0], X.shape[1], nr, gptr, greedy, lptr,
                                              P.base + threadid() * P.stride)
    _check_status(status, "cat_sample")


def cat_grad(const floating[:, ::1] Wt, const floating[:, ::1] V, const floating[::1] b,
             const floating[::1] c, Py_ssize_t d,
             const Py_ssize_t[::1] in_off,     # IN (n + 1,) by chain position
             const Py_ssize_t[::1] out_off,    # IN (n + 1,) by chain position
             const Py_ssize_t[::1] order,      # IN (n,)
             const int32_t[:, ::1] X,          # IN    (n_samples, n) codes
             double[::1] nll,                  # OUT   (n_samples,) -log p(x)
             floating[:, ::1] gWt,             # INOUT (n_in, dp) sums over rows are added
             floating[:, ::1] gV,              # INOUT (n_out, dp)
             floating[::1] gb,                 # INOUT (dp,)
             floating[::1] gc,                 # INOUT (n_out,)
             int n_threads):
    """Add the gradient of sum_rows -log p(x) to (gWt, gV, gb, gc), rows in row order
    whatever the thread count (schedule(static, 1) and the blocks' hand-off, as grad)."""
    cdef:
        nade_cat_params_f32 p32
        nade_cat_params_f64 p64
        nade_gradsum_f32 g32
        nade_gradsum_f64 g64
        _Plan P
        Py_ssize_t nrows = X.shape[0], n = out_off.shape[0] - 1, dp = V.shape[1]
        Py_ssize_t blk, r0, nr
        int status = 0
        int64_t[::1] progress
        int64_t *prev
        floating *gwt
    _check_cat_params("cat_grad", Wt, V, b, c, d, in_off, out_off, order, X.shape[1])
    _expect("cat_grad", "nll.shape[0]", nll.shape[0], "the rows of X", nrows)
    _expect("cat_grad", "gWt.shape[0]", gWt.shape[0], "n_in = in_off[n]", in_off[n])
    _expect("cat_grad", "gWt.shape[1]", gWt.shape[1], "dp = V.shape[1]", dp)
    _expect("cat_grad", "gV.shape[0]", gV.shape[0], "n_out = out_off[n]", out_off[n])
    _expect("cat_grad", "gV.shape[1]", gV.shape[1], "dp = V.shape[1]", dp)
    _expect("cat_grad", "gb.shape[0]", gb.shape[0], "dp = V.shape[1]", dp)
    _expect("cat_grad", "gc.shape[0]", gc.shape[0], "n_out = out_off[n]", out_off[n])
    if nrows == 0:
        return
    _check_codes("cat_grad", X, &order[0], 0, out_off, True, NULL)
    _cat_params(&p32, &p64, Wt, V, b, c, d, in_off, out_off)
    gwt = &gWt[0, 0] if gWt.shape[0] > 0 else NULL  # n_in = 0: every K = 1
    if floating is float:
        g32 = nade_gradsum_f32(Wt=gwt, V=&gV[0, 0], b=&gb[0], c=&gc[0])
    else:
        g64 = nade_gradsum_f64(Wt=gwt, V=&gV[0, 0], b=&gb[0], c=&gc[0])
    work = _cat_plan(&P, nrows, n, out_off[n], dp, sizeof(floating), n_threads)
    progress = np.full(P.nblocks, n, dtype=np.int64)
    with nogil:
        for blk in prange(P.nblocks, schedule="static", chunksize=1, num_threads=P.nt):
            r0 = blk * P.rows
            nr = min(P.rows, nrows - r0)
            prev = &progress[blk - 1] if blk > 0 else NULL
            if floating is float:
                status |= nade_cat_grad_f32(&p32, &order[0], &X[r0, 0], X.shape[1], nr,
                                            &nll[r0], &g32, prev, &progress[blk],
                                            P.base + threadid() * P.stride)
            else:
                status |= nade_cat_grad_f64(&p64, &order[0], &X[r0, 0], X.shape[1], nr,
                                            &nll[r0], &g64, prev, &progress[blk],
                                            P.base + threadid() * P.stride)
    _check_status(status, "cat_grad")


def cat_hidden(const floating[:, ::1] Wt, const floating[:, ::1] V, const floating[::1] b,
               const floating[::1] c, Py_ssize_t d,
               const Py_ssize_t[::1] in_off,     # IN (n + 1,) by chain position
               const Py_ssize_t[::1] out_off,    # IN (n + 1,) by chain position
               const Py_ssize_t[::1] order,      # IN (n,)
               const int32_t[:, ::1] X,          # IN  (n_samples, n) codes
               floating[:, :, ::1] out,          # OUT (n_samples, n, d) h_k in chain order
               int n_threads):
    """The hidden state of every row at every chain position."""
    cdef:
        nade_cat_params_f32 p32
        nade_cat_params_f64 p64
        _Plan P
        Py_ssize_t nrows = X.shape[0], n = out_off.shape[0] - 1
        Py_ssize_t blk, r0, nr
        int status = 0
    _check_cat_params("cat_hidden", Wt, V, b, c, d, in_off, out_off, order, X.shape[1])
    _expect("cat_hidden", "out.shape[0]", out.shape[0], "the rows of X", nrows)
    _expect("cat_hidden", "out.shape[1]", out.shape[1], "n = out_off.shape[0] - 1", n)
    _expect("cat_hidden", "out.shape[2]", out.shape[2], "d", d)
    if nrows == 0:
        return
    _check_codes("cat_hidden", X, &order[0], 0, out_off, True, NULL)
    _cat_params(&p32, &p64, Wt, V, b, c, d, in_off, out_off)
    work = _cat_plan(&P, nrows, n, out_off[n], V.shape[1], sizeof(floating), n_threads)
    with nogil:
        for blk in prange(P.nblocks, schedule="dynamic", num_threads=P.nt):
            r0 = blk * P.rows
            nr = min(P.rows, nrows - r0)
            if floating is float:
                status |= nade_cat_hidden_f32(&p32, &order[0], &X[r0, 0], X.shape[1], nr,
                                              &out[r0, 0, 0], P.base + threadid() * P.stride)
            else:
                status |= nade_cat_hidden_f64(&p64, &order[0], &X[r0, 0], X.shape[1], nr,
                                              &out[r0, 0, 0], P.base + threadid() * P.stride)
    _check_status(status, "cat_hidden")


# ------------------------------------------------------------------ order-agnostic

cdef inline void _oa_cat_params(nade_oa_cat_params_f32 *p32, nade_oa_cat_params_f64 *p64,
                                const floating[:, ::1] Win, const floating[:, ::1] Wmask,
                                const floating[::1] b1, const floating[:, :, ::1] Wdeep,
                                const floating[:, ::1] bdeep, const floating[:, ::1] V,
                                const floating[::1] c, Py_ssize_t d,
                                const Py_ssize_t[::1] in_off,
                                const Py_ssize_t[::1] out_off) noexcept:
    cdef Py_ssize_t layers = Wdeep.shape[0] + 1
    cdef const floating *win = &Win[0, 0] if Win.shape[0] > 0 else NULL
    cdef const floating *wdeep = &Wdeep[0, 0, 0] if layers > 1 else NULL
    cdef const floating *bdp = &bdeep[0, 0] if layers > 1 else NULL
    if floating is float:
        p32[0] = nade_oa_cat_params_f32(n=out_off.shape[0] - 1, d=d, dp=V.shape[1],
                                        layers=layers, Win=win, Wmask=&Wmask[0, 0], b1=&b1[0],
                                        Wdeep=wdeep, bdeep=bdp, V=&V[0, 0], c=&c[0],
                                        in_off=&in_off[0], out_off=&out_off[0])
    else:
        p64[0] = nade_oa_cat_params_f64(n=out_off.shape[0] - 1, d=d, dp=V.shape[1],
                                        layers=layers, Win=win, Wmask=&Wmask[0, 0], b1=&b1[0],
                                        Wdeep=wdeep, bdeep=bdp, V=&V[0, 0], c=&c[0],
                                        in_off=&in_off[0], out_off=&out_off[0])


def oa_cat_score(const floating[:, ::1] Win,      # IN (n_in, dp) input weights, blocks by feature
                 const floating[:, ::1] Wmask,    # IN (n, dp) mask weights by feature
                 const floating[::1] b1,          # IN (dp,)
                 const floating[:, :, ::1] Wdeep,  # IN (layers-1, d, dp)
                 const floating[:, ::1] bdeep,    # IN (layers-1, d)
                 const floating[:, ::1] V,        # IN (n_out, dp) blocks by feature
                 const floating[::1] c,           # IN (n_out,)
                 Py_ssize_t d,
                 const Py_ssize_t[::1] in_off,    # IN (n + 1,) by feature
                 const Py_ssize_t[::1] out_off,   # IN (n + 1,) by feature
                 const Py_ssize_t[:, ::1] order,  # IN (1, n): one ordering; (n_samples, n): per row
                 const int32_t[:, ::1] X,         # IN (n_samples, n) codes
                 const Py_ssize_t[::1] stop,      # IN (n_samples,) positions to evaluate, or (0,)
                 double[::1] loglik,              # OUT (n_samples,) log p of the evaluated prefix
                 floating[:, ::1] cond,           # OUT (n_samples, n_out) p(x_j = v | .) at
                                                  #     out_off[j] + v, or (0, 0)
                 double[:, ::1] terms,            # OUT (n_samples, n) chain order, or (0, 0)
                 int n_threads):
    """Exact log-likelihoods of an order-agnostic categorical NADE along the given orderings."""
    cdef:
        nade_oa_cat_params_f32 p32
        nade_oa_cat_params_f64 p64
        _Plan P
        Py_ssize_t nrows = X.shape[0], n = out_off.shape[0] - 1, n_out
        Py_ssize_t blk, r0, nr, ldo
        Py_ssize_t ldc = cond.shape[1], ldt = terms.shape[1]
        bint want_cond, want_terms, want_stop
        int status = 0
        floating *cptr
        double *tptr
        const Py_ssize_t *sptr
    _check_oa_cat_params("oa_cat_score", Win, Wmask, b1, Wdeep, bdeep, V, c, d, in_off, out_off,
                         order, X)
    n_out = out_off[n]
    ldo = n if order.shape[0] > 1 else 0
    want_stop = _optional("oa_cat_score", "stop", stop.shape[0], nrows)
    _expect("oa_cat_score", "loglik.shape[0]", loglik.shape[0], "the rows of X", nrows)
    want_cond = _optional("oa_cat_score", "cond", cond.shape[0], nrows)
    if want_cond:
        _expect("oa_cat_score", "cond.shape[1]", ldc, "n_out = out_off[n]", n_out)
    want_terms = _optional_rows("oa_cat_score", "terms", terms.shape[0], ldt, nrows, n)
    if nrows == 0:
        return
    _check_codes("oa_cat_score", X, &order[0, 0], ldo, out_off, False,
                 &stop[0] if want_stop else NULL)
    _oa_cat_params(&p32, &p64, Win, Wmask, b1, Wdeep, bdeep, V, c, d, in_off, out_off)
    work = _cat_plan(&P, nrows, n, n_out, V.shape[1], sizeof(floating), n_threads)
    with nogil:
        for blk in prange(P.nblocks, schedule="dynamic", num_threads=P.nt):
            r0 = blk * P.rows
            nr = min(P.rows, nrows - r0)
            cptr = &cond[r0, 0] if want_cond else NULL
            tptr = &terms[r0, 0] if want_terms else NULL
            sptr = &stop[r0] if want_stop else NULL
            if floating is float:
                status |= nade_oa_cat_score_f32(&p32, &order[r0 if ldo else 0, 0], ldo,
                                                &X[r0, 0], X.shape[1], nr, sptr, &loglik[r0],
                                                cptr, ldc, tptr, ldt,
                                                P.base + threadid() * P.stride)
            else:
                status |= nade_oa_cat_score_f64(&p64, &order[r0 if ldo else 0, 0], ldo,
                                                &X[r0, 0], X.shape[1], nr, sptr, &loglik[r0],
                                                cptr, ldc, tptr, ldt,
                                                P.base + threadid() * P.stride)
    _check_status(status, "oa_cat_score")


def oa_cat_sample(const floating[:, ::1] Win, const floating[:, ::1] Wmask,
                  const floating[::1] b1, const floating[:, :, ::1] Wdeep,
                  const floating[:, ::1] bdeep, const floating[:, ::1] V,
                  const floating[::1] c, Py_ssize_t d,
                  const Py_ssize_t[::1] in_off,    # IN (n + 1,) by feature
                  const Py_ssize_t[::1] out_off,   # IN (n + 1,) by feature
                  const Py_ssize_t[:, ::1] order,  # IN (1, n) or (n_samples, n)
                  const uint64_t[::1] key,         # IN (2,) or (0,) when greedy
                  uint64_t row0,
                  int32_t[:, ::1] X,               # INOUT (n_samples, n) codes
                  const Py_ssize_t[::1] given,     # IN (n_samples,) or (0,)
                  bint greedy,
                  double[::1] loglik,              # OUT (n_samples,) or (0,)
                  int n_threads):
    """Draw (or complete) rows of an order-agnostic categorical NADE along the given orderings."""
    cdef:
        nade_oa_cat_params_f32 p32
        nade_oa_cat_params_f64 p64
        _Plan P
        Py_ssize_t nrows = X.shape[0], n = out_off.shape[0] - 1
        Py_ssize_t blk, r0, nr, ldo
        bint want_ll, want_given
        int status = 0
        double *lptr
        const Py_ssize_t *gptr
        const uint64_t *kptr
    _check_oa_cat_params("oa_cat_sample", Win, Wmask, b1, Wdeep, bdeep, V, c, d, in_off,
                         out_off, order, X)
    ldo = n if order.shape[0] > 1 else 0
    want_given = _optional("oa_cat_sample", "given", given.shape[0], nrows)
    want_ll = _optional("oa_cat_sample", "loglik", loglik.shape[0], nrows)
    kptr = _key("oa_cat_sample", key, greedy)
    if nrows == 0:
        return
    if want_given:
        _check_codes("oa_cat_sample", X, &order[0, 0], ldo, out_off, False, &given[0])
    _oa_cat_params(&p32, &p64, Win, Wmask, b1, Wdeep, bdeep, V, c, d, in_off, out_off)
    work = _cat_plan(&P, nrows, n, out_off[n], V.shape[1], sizeof(floating), n_threads)
    with nogil:
        for blk in prange(P.nblocks, schedule="dynamic", num_threads=P.nt):
            r0 = blk * P.rows
            nr = min(P.rows, nrows - r0)
            lptr = &loglik[r0] if want_ll else NULL
            gptr = &given[r0] if want_given else NULL
            if floating is float:
                status |= nade_oa_cat_sample_f32(&p32, &order[r0 if ldo else 0, 0], ldo, kptr,
                                                 row0 + <uint64_t>r0, &X[r0, 0], X.shape[1], nr,
                                                 gptr, greedy, lptr,
                                                 P.base + threadid() * P.stride)
            else:
                status |= nade_oa_cat_sample_f64(&p64, &order[r0 if ldo else 0, 0], ldo, kptr,
                                                 row0 + <uint64_t>r0, &X[r0, 0], X.shape[1], nr,
                                                 gptr, greedy, lptr,
                                                 P.base + threadid() * P.stride)
    _check_status(status, "oa_cat_sample")
