# Fixed-order NADE (docs/fixed_order.md), the Adam step and the sampler's random numbers.
# Included by nadefast/_core.pyx (one extension module); not compiled on its own.

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
