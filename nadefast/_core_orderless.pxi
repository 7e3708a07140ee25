# Order-agnostic NADE (docs/order_agnostic.md): inference along orderings, the training objective's steps.
# Included by nadefast/_core.pyx (one extension module); not compiled on its own.

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
