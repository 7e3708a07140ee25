/*
 * oa_impl.h -- order-agnostic and deep NADE (docs/order_agnostic.md §7, §9) along given
 * orderings: exact log-likelihoods, conditionals, samples.  Included after
 * nade_impl.h for the same REAL and instruction set (it reuses its dot
 * products, scratch layout, noise and log-likelihood helpers).
 *
 * The first layer sees the observed values and the mask of observed
 * variables, so revealing the variable at chain position k adds its mask
 * column and (if it is 1) its input column:
 *     a  = b1;  a += M[:, j] + x_j W[:, j]  after position k (j = order[k])
 *     h1 = relu(a);  h_l = relu(W_l h_{l-1} + b_l), l = 2..layers
 *     z_k = c_j + V[j] . h_layers
 * The first layer is incremental; the deeper ones are recomputed at every
 * position, all rows of the block at once, sharing each load of W_l.
 * Rows may each follow their own ordering (ldo > 0), as conditional
 * inference with an arbitrary mask does (observed variables first).
 */

#define OAPARAMS NADE_XPASTE2(nade_oa_params, RSFX)

/* NADE_EINVAL checks (see nade_internal.h), as FN(bad_params) and
   FN(bad_block) of nade_impl.h; every row's ordering must list features */
static int FN(oa_bad_params)(const OAPARAMS *p)
{
    return p == NULL || p->n < 1 || p->d < 1 || p->dp < p->d || p->dp % LANES != 0 ||
           p->layers < 1 || p->Win == NULL || p->Wmask == NULL || p->b1 == NULL ||
           p->V == NULL || p->c == NULL ||
           (p->layers > 1 && (p->Wdeep == NULL || p->bdeep == NULL));
}

static int FN(oa_bad_block)(const OAPARAMS *p, const ptrdiff_t *order, ptrdiff_t ldo,
                            const uint8_t *X, ptrdiff_t ldx, ptrdiff_t nrows, const void *work)
{
    if (FN(oa_bad_params)(p) || !nade_block_ok(nrows) || order == NULL || X == NULL ||
        work == NULL || ldx < p->n || ldo < 0 || (ldo > 0 && ldo < p->n))
        return 1;
    const ptrdiff_t orderings = ldo == 0 ? 1 : nrows;
    for (ptrdiff_t r = 0; r < orderings; r++)
        if (!nade_indices_within(order + r * ldo, p->n, p->n - 1)) return 1;
    return 0;
}

static inline REAL FN(relu)(REAL x) { return x > (REAL)0 ? x : (REAL)0; }

/* every row starts at a = b1, h = relu(b1) */
static void FN(oa_init)(const OAPARAMS *p, ptrdiff_t nrows, REAL *restrict A, REAL *restrict H)
{
    const ptrdiff_t dp = p->dp;
    for (ptrdiff_t j = 0; j < dp; j++) {
        A[j] = p->b1[j];
        H[j] = FN(relu)(p->b1[j]);
    }
    for (ptrdiff_t r = 1; r < nrows; r++) {
        memcpy(A + r * dp, A, sizeof(REAL) * (size_t)dp);
        memcpy(H + r * dp, H, sizeof(REAL) * (size_t)dp);
    }
}

/* the top hidden layer of every row from the first layer H (rows of dp);
   returns H itself for one layer, else one of the two buffers */
static const REAL *FN(oa_top)(const OAPARAMS *p, ptrdiff_t nrows, const REAL *H, REAL *buf0,
                              REAL *buf1)
{
    const ptrdiff_t d = p->d, dp = p->dp;
    const REAL *in = H;
    REAL *out = buf0;
    for (ptrdiff_t l = 0; l + 1 < p->layers; l++) {
        const REAL *Wl = p->Wdeep + l * d * dp, *bl = p->bdeep + l * d;
        for (ptrdiff_t i = 0; i < d; i++) { /* unit i of every row: shares the load of W_l[i] */
            ptrdiff_t r = 0;
            for (; r + NADE_RT <= nrows; r += NADE_RT)
                FN(dot_rows)(Wl + i * dp, bl[i], in + r * dp, dp, NADE_RT, out + r * dp + i, dp);
            for (; r < nrows; r++) FN(dot_rows)(Wl + i * dp, bl[i], in + r * dp, dp, 1, out + r * dp + i, dp);
        }
        for (ptrdiff_t r = 0; r < nrows; r++) {
            REAL *o = out + r * dp;
            for (ptrdiff_t i = 0; i < d; i++) o[i] = FN(relu)(o[i]);
            for (ptrdiff_t i = d; i < dp; i++) o[i] = (REAL)0;
        }
        in = out;
        out = out == buf0 ? buf1 : buf0;
    }
    return in;
}

/* The forward sweep along each row's ordering (order + r * ldo), positions
   0 .. stop[r] - 1 (stop == NULL: all n).  Logits into Z (chain order).  With
   noise == NULL the inputs are XB; otherwise x_k = [z_k > noise_k] is drawn,
   except at the first given[r] positions, where (with skip_given) neither
   logits nor the deeper layers are computed while every row is still given. */
static void FN(oa_forward)(const OAPARAMS *p, const ptrdiff_t *order, ptrdiff_t ldo,
                           ptrdiff_t nrows, const ptrdiff_t *stop, const double *noise,
                           const ptrdiff_t *given, int skip_given, FN(scratch) * s)
{
    const ptrdiff_t n = p->n, dp = p->dp, nz = s->nz;
    ptrdiff_t last = 0;
    for (ptrdiff_t r = 0; r < nrows; r++) {
        ptrdiff_t st = stop ? stop[r] : n;
        if (st > last) last = st;
    }
    const ptrdiff_t skip = skip_given && given ? FN(min_given)(given, nrows) : 0;
    FN(oa_init)(p, nrows, s->A, s->H);
    for (ptrdiff_t k = 0; k < last; k++) {
        if (k >= skip) { /* else every row is still in its given prefix: no logits needed */
            const REAL *top = FN(oa_top)(p, nrows, s->H, s->S, s->U);
            if (ldo == 0) { /* one ordering: tiles of rows share V[j] */
                const ptrdiff_t j = order[k];
                ptrdiff_t r = 0;
                for (; r + NADE_RT <= nrows; r += NADE_RT)
                    FN(dot_rows)(p->V + j * dp, p->c[j], top + r * dp, dp, NADE_RT, s->Z + r * nz + k, nz);
                for (; r < nrows; r++)
                    FN(dot_rows)(p->V + j * dp, p->c[j], top + r * dp, dp, 1, s->Z + r * nz + k, nz);
            } else {
                for (ptrdiff_t r = 0; r < nrows; r++) {
                    if (stop && k >= stop[r]) continue;
                    const ptrdiff_t j = order[r * ldo + k];
                    FN(dot_rows)(p->V + j * dp, p->c[j], top + r * dp, dp, 1, s->Z + r * nz + k, nz);
                }
            }
        }
        if (k + 1 == n) break;
        for (ptrdiff_t r = 0; r < nrows; r++) {
            if (stop && k >= stop[r]) continue;
            const ptrdiff_t j = order[r * ldo + k];
            uint8_t *x = s->XB + r * nz + k;
            if (noise && (given == NULL || k >= given[r]))
                *x = (uint8_t)((double)s->Z[r * nz + k] > noise[r * nz + k]);
            REAL *restrict a = s->A + r * dp, *restrict h = s->H + r * dp;
            const REAL *restrict wm = p->Wmask + j * dp, *restrict wi = p->Win + j * dp;
            if (*x) {
                for (ptrdiff_t i = 0; i < dp; i++) {
                    REAL t = (a[i] + wm[i]) + wi[i];
                    a[i] = t;
                    h[i] = FN(relu)(t);
                }
            } else {
                for (ptrdiff_t i = 0; i < dp; i++) {
                    REAL t = a[i] + wm[i];
                    a[i] = t;
                    h[i] = FN(relu)(t);
                }
            }
        }
    }
    /* the last position's x is drawn after its logit, with no state update */
    if (noise && last == n)
        for (ptrdiff_t r = 0; r < nrows; r++)
            if (given == NULL || n - 1 >= given[r])
                s->XB[r * nz + n - 1] = (uint8_t)((double)s->Z[r * nz + n - 1] > noise[r * nz + n - 1]);
}

/* XB[r][k] = X[r][order_r[k]] */
static void FN(oa_gather)(const uint8_t *X, ptrdiff_t ldx, const ptrdiff_t *order, ptrdiff_t ldo,
                          ptrdiff_t n, ptrdiff_t nrows, uint8_t *XB, ptrdiff_t nz)
{
    for (ptrdiff_t r = 0; r < nrows; r++) {
        const uint8_t *x = X + r * ldx;
        const ptrdiff_t *o = order + r * ldo;
        uint8_t *xb = XB + r * nz;
        for (ptrdiff_t k = 0; k < n; k++) xb[k] = x[o[k]];
    }
}

int FN(oa_score)(const OAPARAMS *p, const ptrdiff_t *order, ptrdiff_t ldo, const uint8_t *X,
                 ptrdiff_t ldx, ptrdiff_t nrows, const ptrdiff_t *stop, double *loglik, REAL *cond,
                 ptrdiff_t ldc, double *terms, ptrdiff_t ldt, void *work)
{
    if (FN(oa_bad_block)(p, order, ldo, X, ldx, nrows, work) ||
        (stop && !nade_indices_within(stop, nrows, p->n)) || (cond && ldc < p->n) ||
        (terms && ldt < p->n))
        return NADE_EINVAL;
    if (nrows == 0) return NADE_OK;
    FN(scratch) s = FN(carve)(p->n, p->dp, nrows, work);
    const ptrdiff_t n = p->n, nz = s.nz;
    FN(oa_gather)(X, ldx, order, ldo, n, nrows, s.XB, nz);
    FN(oa_forward)(p, order, ldo, nrows, stop, NULL, NULL, 0, &s);
    for (ptrdiff_t r = 0; r < nrows; r++) {
        const ptrdiff_t m = stop ? stop[r] : n;
        const REAL *z = s.Z + r * nz;
        const ptrdiff_t *o = order + r * ldo;
        if (cond) {
            for (ptrdiff_t k = 0; k < m; k++) s.tmp[k] = SIGMOID(z[k]);
            REAL *out = cond + r * ldc;
            for (ptrdiff_t k = 0; k < m; k++) out[o[k]] = s.tmp[k];
        }
        if (loglik || terms) {
            double ll = FN(row_loglik)(z, s.XB + r * nz, m, s.tmp);
            if (loglik) loglik[r] = ll;
            if (terms)
                for (ptrdiff_t k = 0; k < m; k++) terms[r * ldt + k] = (double)s.tmp[k];
        }
    }
    return NADE_OK;
}

int FN(oa_sample)(const OAPARAMS *p, const ptrdiff_t *order, ptrdiff_t ldo,
                  const uint64_t key[2], uint64_t row0, uint8_t *X, ptrdiff_t ldx,
                  ptrdiff_t nrows, const ptrdiff_t *given, int greedy, double *loglik,
                  void *work)
{
    if (FN(oa_bad_block)(p, order, ldo, X, ldx, nrows, work) || (key == NULL && !greedy) ||
        (given && !nade_indices_within(given, nrows, p->n)))
        return NADE_EINVAL;
    if (nrows == 0) return NADE_OK;
    FN(scratch) s = FN(carve)(p->n, p->dp, nrows, work);
    const ptrdiff_t n = p->n, nz = s.nz;
    if (given) FN(oa_gather)(X, ldx, order, ldo, n, nrows, s.XB, nz);
    for (ptrdiff_t r = 0; r < nrows; r++) {
        if (greedy)
            for (ptrdiff_t k = 0; k < n; k++) s.T[r * nz + k] = 0.0;
        else
            FN(noise_row)(key, row0 + (uint64_t)r, n, s.bits, s.T + r * nz);
    }
    FN(oa_forward)(p, order, ldo, nrows, NULL, s.T, given, loglik == NULL, &s);
    for (ptrdiff_t r = 0; r < nrows; r++) {
        const uint8_t *xb = s.XB + r * nz;
        const ptrdiff_t *o = order + r * ldo;
        uint8_t *x = X + r * ldx;
        for (ptrdiff_t k = 0; k < n; k++) x[o[k]] = xb[k];
        if (loglik) loglik[r] = FN(row_loglik)(s.Z + r * nz, xb, n, s.tmp);
    }
    return NADE_OK;
}

#undef OAPARAMS
