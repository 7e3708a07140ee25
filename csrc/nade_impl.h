/*
 * nade_impl.h -- the NADE kernels for one real type and one instruction
 * set.  Included twice (float, double) by nade_isa.h; do not include it
 * anywhere else.  Expects:
 *   REAL      float or double        RSFX      f32 or f64
 *   ISA_SFX   baseline, avx2, avx512 NADE_RT   rows per register tile
 *   NADE_FMA  0/1 (see nade_math.h)
 *
 * Shape of every kernel (docs/fixed_order.md §5-§6): a block of up to
 * NADE_MAX_BLOCK_ROWS rows walks the chain positions in the outer loop, so
 * V[k] and W[:, k] are loaded once per block and the dot products of
 * NADE_RT rows share every load of V[k].  A row's hidden state is
 * recomputed only after an x_k = 1 (binary inputs make it piecewise
 * constant).  Per-row arithmetic does not depend on the tiling: see nade.h.
 */

#define FN(name) NADE_XPASTE3(name, RSFX, ISA_SFX)
#define PARAMS NADE_XPASTE2(nade_params, RSFX)
#define GRAD NADE_XPASTE2(nade_gradsum, RSFX)
#define LANES ((int)(NADE_LANE_BYTES / sizeof(REAL)))

#if NADE_REAL_IS_DOUBLE
#define MADD MADDD
#define SIGMOID nade_sigmoid_f64
#define LOGSIG nade_logsig_f64
#else
#define MADD MADDF
#define SIGMOID nade_sigmoid_f32
#define LOGSIG nade_logsig_f32
#endif

/* the scratch of one call, carved from the caller's work buffer */
typedef struct {
    REAL *A, *H, *S, *U, *G, *Z, *tmp;
    double *T;
    uint32_t *bits;
    uint8_t *XB;
    ptrdiff_t nz;
} FN(scratch);

static FN(scratch) FN(carve)(ptrdiff_t n, ptrdiff_t dp, ptrdiff_t nrows, void *work)
{
    nade_layout L = nade_work_layout(n, dp, sizeof(REAL), nrows);
    char *base = nade_align_base(work);
    FN(scratch) s;
    s.A = (REAL *)(base + L.A);
    s.H = (REAL *)(base + L.H);
    s.S = (REAL *)(base + L.S);
    s.U = (REAL *)(base + L.U);
    s.G = (REAL *)(base + L.G);
    s.Z = (REAL *)(base + L.Z);
    s.T = (double *)(base + L.T);
    s.tmp = (REAL *)(base + L.tmp);
    s.bits = (uint32_t *)(base + L.bits);
    s.XB = (uint8_t *)(base + L.XB);
    s.nz = L.nz;
    return s;
}

/* NADE_EINVAL checks (see nade_internal.h): the model's sizes and arrays
   (nade.h, Conventions), then what every block kernel takes besides them */
static int FN(bad_params)(const PARAMS *p)
{
    return p == NULL || p->n < 1 || p->d < 1 || p->dp < p->d || p->dp % LANES != 0 ||
           p->Wt == NULL || p->V == NULL || p->b == NULL || p->c == NULL;
}

static int FN(bad_block)(const PARAMS *p, const ptrdiff_t *order, const uint8_t *X,
                         ptrdiff_t ldx, ptrdiff_t nrows, const void *work)
{
    return FN(bad_params)(p) || !nade_block_ok(nrows) || order == NULL || X == NULL ||
           work == NULL || ldx < p->n || !nade_indices_within(order, p->n, p->n - 1);
}

/* XB[r][k] = X[r][order[k]]: the block's rows in chain order */
static void FN(gather)(const uint8_t *X, ptrdiff_t ldx, const ptrdiff_t *order, ptrdiff_t n,
                       ptrdiff_t nrows, uint8_t *XB, ptrdiff_t nz)
{
    for (ptrdiff_t r = 0; r < nrows; r++) {
        const uint8_t *x = X + r * ldx;
        uint8_t *xb = XB + r * nz;
        for (ptrdiff_t k = 0; k < n; k++) xb[k] = x[order[k]];
    }
}

/* every row starts at a = b, h = sigmoid(b) */
static void FN(init_state)(const PARAMS *p, ptrdiff_t nrows, REAL *restrict A, REAL *restrict H)
{
    const ptrdiff_t dp = p->dp;
    const REAL *restrict b = p->b;
    for (ptrdiff_t j = 0; j < dp; j++) {
        A[j] = b[j];
        H[j] = SIGMOID(b[j]);
    }
    for (ptrdiff_t r = 1; r < nrows; r++) {
        memcpy(A + r * dp, A, sizeof(REAL) * (size_t)dp);
        memcpy(H + r * dp, H, sizeof(REAL) * (size_t)dp);
    }
}

/* a += w; h = sigmoid(a): the state after an x_k = 1 */
static inline void FN(step_up)(REAL *restrict a, REAL *restrict h, const REAL *restrict w,
                               ptrdiff_t dp)
{
    for (ptrdiff_t j = 0; j < dp; j++) {
        REAL t = a[j] + w[j];
        a[j] = t;
        h[j] = SIGMOID(t);
    }
}

/* the inverse step of the backward sweep: a -= w; h = sigmoid(a); s = h (1 - h) */
static inline void FN(step_down)(REAL *restrict a, REAL *restrict h, REAL *restrict s,
                                 const REAL *restrict w, ptrdiff_t dp)
{
    for (ptrdiff_t j = 0; j < dp; j++) {
        REAL t = a[j] - w[j];
        REAL y = SIGMOID(t);
        a[j] = t;
        h[j] = y;
        s[j] = y * ((REAL)1 - y);
    }
}

/* Vectors (GCC/Clang vector extensions) for the dot products: VEC of the
   instruction set's width (NADE_VEC_BYTES), and 32- and 16-byte ones for the
   reduction; on targets without such registers the compiler splits them.
   The tile's accumulators are whole vectors so that they stay in registers
   (as an array of scalars, GCC kept half of them in memory for double). */
typedef REAL FN(vec) __attribute__((vector_size(NADE_VEC_BYTES)));
typedef REAL FN(vec32) __attribute__((vector_size(32)));
typedef REAL FN(vec16) __attribute__((vector_size(16)));
#define VEC_LANES ((int)(NADE_VEC_BYTES / sizeof(REAL)))
#define VECS_PER_LANES (NADE_LANE_BYTES / NADE_VEC_BYTES)

/* a * b + c lane by lane, fused exactly when MADD is */
NADE_INLINE FN(vec) FN(vmadd)(FN(vec) a, FN(vec) b, FN(vec) c)
{
#if defined(VFMA)
    return VFMA(a, b, c);
#elif NADE_FMA
    FN(vec) r;
    for (int l = 0; l < VEC_LANES; l++) r[l] = MADD(a[l], b[l], c[l]);
    return r;
#else
    return a * b + c;
#endif
}

/* The canonical reduction of the LANES (= 128 bytes) partial sums, held in
   VECS_PER_LANES vectors: the pairwise tree acc[l] += acc[l + w] for
   w = LANES/2, LANES/4, ..., 1, whatever the vector width. */
NADE_INLINE REAL FN(hsum)(const FN(vec) *acc)
{
    FN(vec16) q;
#if NADE_VEC_BYTES == 64
    FN(vec) t = acc[0] + acc[1]; /* w = LANES/2 */
    FN(vec32) lo, hi;
    memcpy(&lo, &t, 32);
    memcpy(&hi, (const char *)&t + 32, 32);
    FN(vec32) s = lo + hi; /* w = LANES/4 */
#elif NADE_VEC_BYTES == 32
    FN(vec32) s = (acc[0] + acc[2]) + (acc[1] + acc[3]); /* w = LANES/2, then LANES/4 */
#elif NADE_VEC_BYTES == 16
    FN(vec16) s0 = (acc[0] + acc[4]) + (acc[2] + acc[6]); /* w = LANES/2, then LANES/4 */
    FN(vec16) s1 = (acc[1] + acc[5]) + (acc[3] + acc[7]);
#else
#error "NADE_VEC_BYTES must be 16, 32 or 64"
#endif
#if NADE_VEC_BYTES == 16
    q = s0 + s1; /* w = LANES/8 */
#else
    FN(vec16) lo16, hi16;
    memcpy(&lo16, &s, 16);
    memcpy(&hi16, (const char *)&s + 16, 16);
    q = lo16 + hi16; /* w = LANES/8 */
#endif
#if NADE_REAL_IS_DOUBLE
    return q[0] + q[1]; /* w = 1 */
#else
    REAL even = q[0] + q[2], odd = q[1] + q[3]; /* w = 2 */
    return even + odd;                           /* w = 1 */
#endif
}

/* z[r * ldz] = ck + v . H[r] for rt rows (rt is a constant once inlined);
   lane l of row r sums j = l mod LANES in increasing j */
NADE_INLINE void FN(dot_rows)(const REAL *restrict v, REAL ck, const REAL *restrict H,
                              ptrdiff_t dp, int rt, REAL *restrict z, ptrdiff_t ldz)
{
    FN(vec) acc[NADE_RT][VECS_PER_LANES];
    const FN(vec) zero = {0};
    for (int r = 0; r < rt; r++)
        for (int q = 0; q < VECS_PER_LANES; q++) acc[r][q] = zero;
    for (ptrdiff_t j = 0; j < dp; j += LANES)
        for (int q = 0; q < VECS_PER_LANES; q++) {
            FN(vec) vq;
            memcpy(&vq, v + j + q * VEC_LANES, NADE_VEC_BYTES);
            for (int r = 0; r < rt; r++) {
                FN(vec) hq;
                memcpy(&hq, H + r * dp + j + q * VEC_LANES, NADE_VEC_BYTES);
                acc[r][q] = FN(vmadd)(vq, hq, acc[r][q]);
            }
        }
    for (int r = 0; r < rt; r++) z[r * ldz] = ck + FN(hsum)(acc[r]);
}

/* Z[r][k] = c_k + V[k] . h_r for every row of the block */
static void FN(logits_at)(const PARAMS *p, ptrdiff_t k, const REAL *H, ptrdiff_t nrows, REAL *Z,
                          ptrdiff_t nz)
{
    const ptrdiff_t dp = p->dp;
    const REAL *v = p->V + k * dp;
    const REAL ck = p->c[k];
    ptrdiff_t r = 0;
    for (; r + NADE_RT <= nrows; r += NADE_RT)
        FN(dot_rows)(v, ck, H + r * dp, dp, NADE_RT, Z + r * nz + k, nz);
    for (; r < nrows; r++) FN(dot_rows)(v, ck, H + r * dp, dp, 1, Z + r * nz + k, nz);
}

static ptrdiff_t FN(min_given)(const ptrdiff_t *given, ptrdiff_t nrows)
{
    ptrdiff_t m = given[0];
    for (ptrdiff_t r = 1; r < nrows; r++)
        if (given[r] < m) m = given[r];
    return m;
}

/* The forward sweep: logits of every position into Z.  With noise == NULL
   the inputs are XB; otherwise x_k = [z_k > noise_k] is drawn into XB, except
   at the first given[r] positions of row r (given == NULL: none), whose
   values are already in XB.  Logits are not computed at the positions every
   row of the block has given when nobody needs them (skip_given). */
static void FN(forward)(const PARAMS *p, ptrdiff_t nrows, const double *noise,
                        const ptrdiff_t *given, int skip_given, FN(scratch) * s)
{
    const ptrdiff_t n = p->n, dp = p->dp, nz = s->nz;
    const ptrdiff_t skip = skip_given && given ? FN(min_given)(given, nrows) : 0;
    FN(init_state)(p, nrows, s->A, s->H);
    for (ptrdiff_t k = 0; k < n; k++) {
        if (k >= skip) FN(logits_at)(p, k, s->H, nrows, s->Z, nz);
        const REAL *w = p->Wt + k * dp;
        for (ptrdiff_t r = 0; r < nrows; r++) {
            uint8_t *x = s->XB + r * nz + k;
            if (noise && (given == NULL || k >= given[r]))
                *x = (uint8_t)((double)s->Z[r * nz + k] > noise[r * nz + k]);
            if (*x && k + 1 < n) FN(step_up)(s->A + r * dp, s->H + r * dp, w, dp);
        }
    }
}

/* log p(x) of one row from its logits: sum_k log sigmoid((2 x_k - 1) z_k),
   terms in REAL (left in `terms`), the sum in double with 8 fixed partial sums */
static double FN(row_loglik)(const REAL *restrict z, const uint8_t *restrict x, ptrdiff_t n,
                             REAL *restrict terms)
{
    for (ptrdiff_t k = 0; k < n; k++) {
        REAL sign = (REAL)(2 * (int)x[k] - 1);
        terms[k] = LOGSIG(sign * z[k]);
    }
    double acc[8] = {0, 0, 0, 0, 0, 0, 0, 0};
    ptrdiff_t k = 0;
    for (; k + 8 <= n; k += 8)
        for (int l = 0; l < 8; l++) acc[l] += (double)terms[k + l];
    double total = ((acc[0] + acc[4]) + (acc[2] + acc[6])) + ((acc[1] + acc[5]) + (acc[3] + acc[7]));
    for (; k < n; k++) total += (double)terms[k];
    return total;
}

int FN(score)(const PARAMS *p, const ptrdiff_t *order, const uint8_t *X, ptrdiff_t ldx,
              ptrdiff_t nrows, double *loglik, REAL *cond, ptrdiff_t ldc, double *terms,
              ptrdiff_t ldt, void *work)
{
    if (FN(bad_block)(p, order, X, ldx, nrows, work) || (cond && ldc < p->n) ||
        (terms && ldt < p->n))
        return NADE_EINVAL;
    if (nrows == 0) return NADE_OK;
    FN(scratch) s = FN(carve)(p->n, p->dp, nrows, work);
    const ptrdiff_t n = p->n, nz = s.nz;
    FN(gather)(X, ldx, order, n, nrows, s.XB, nz);
    FN(forward)(p, nrows, NULL, NULL, 0, &s);
    for (ptrdiff_t r = 0; r < nrows; r++) {
        const REAL *z = s.Z + r * nz;
        if (cond) {
            for (ptrdiff_t k = 0; k < n; k++) s.tmp[k] = SIGMOID(z[k]);
            REAL *out = cond + r * ldc;
            for (ptrdiff_t k = 0; k < n; k++) out[order[k]] = s.tmp[k];
        }
        if (loglik || terms) {
            double ll = FN(row_loglik)(z, s.XB + r * nz, n, s.tmp);
            if (loglik) loglik[r] = ll;
            if (terms)
                for (ptrdiff_t k = 0; k < n; k++) terms[r * ldt + k] = (double)s.tmp[k];
        }
    }
    return NADE_OK;
}

/* logistic noise of one row: log(u) - log(1 - u), u = (bits + 1/2) / 2^32 */
static void FN(noise_row)(const uint64_t *key, uint64_t row, ptrdiff_t n, uint32_t *restrict bits,
                          double *restrict out)
{
    nade_uniform_bits_row(key, row, n, bits);
    for (ptrdiff_t k = 0; k < n; k++) {
        /* signed conversion vectorises everywhere; the offset restores the unsigned value */
        double u = ((double)(int32_t)(bits[k] ^ 0x80000000u) + 2147483648.5) * 0x1p-32;
        out[k] = nade_logpos_f64(u) - nade_logpos_f64(1.0 - u); /* 1 - u is exact */
    }
}

#if NADE_REAL_IS_DOUBLE
/* nade_logistic_noise: the noise of one row, as the samplers draw it */
int NADE_XPASTE2(logistic_noise, ISA_SFX)(const uint64_t key[2], uint64_t row, ptrdiff_t n,
                                          uint32_t *bits, double *out)
{
    if (key == NULL || n < 0 || bits == NULL || out == NULL) return NADE_EINVAL;
    FN(noise_row)(key, row, n, bits, out);
    return NADE_OK;
}
#endif

int FN(sample)(const PARAMS *p, const ptrdiff_t *order, const uint64_t key[2], uint64_t row0,
               uint8_t *X, ptrdiff_t ldx, ptrdiff_t nrows, const ptrdiff_t *given, int greedy,
               double *loglik, void *work)
{
    if (FN(bad_block)(p, order, X, ldx, nrows, work) || (key == NULL && !greedy) ||
        (given && !nade_indices_within(given, nrows, p->n)))
        return NADE_EINVAL;
    if (nrows == 0) return NADE_OK;
    FN(scratch) s = FN(carve)(p->n, p->dp, nrows, work);
    const ptrdiff_t n = p->n, nz = s.nz;
    if (given) FN(gather)(X, ldx, order, n, nrows, s.XB, nz);
    for (ptrdiff_t r = 0; r < nrows; r++) {
        if (greedy) /* x_k = [z_k > 0]: the most probable value, ties to 0 */
            for (ptrdiff_t k = 0; k < n; k++) s.T[r * nz + k] = 0.0;
        else
            FN(noise_row)(key, row0 + (uint64_t)r, n, s.bits, s.T + r * nz);
    }
    FN(forward)(p, nrows, s.T, given, loglik == NULL, &s);
    for (ptrdiff_t r = 0; r < nrows; r++) {
        const uint8_t *xb = s.XB + r * nz;
        uint8_t *x = X + r * ldx;
        for (ptrdiff_t k = 0; k < n; k++) x[order[k]] = xb[k];
        if (loglik) loglik[r] = FN(row_loglik)(s.Z + r * nz, xb, n, s.tmp);
    }
    return NADE_OK;
}

/*
 * Loss and gradient (docs/fixed_order.md §7-§8), backward sweep k = n-1 .. 0 with
 * two economies:
 *  - h_k is rebuilt from a by subtracting W[:, k] where x_k = 1 (no n x d
 *    buffer per row);
 *  - g_k = (delta_k V[k]) * h_k (1 - h_k) is not formed at every position:
 *    between two ones h is constant, so U = sum delta_k V[k] is accumulated
 *    and folded into G = sum_{m>k} g_m only where x_k = 1, the one place
 *    (besides db) that G is read.
 */
int FN(grad)(const PARAMS *p, const ptrdiff_t *order, const uint8_t *X, ptrdiff_t ldx,
             ptrdiff_t nrows, double *nll, const GRAD *g, const int64_t *prev, int64_t *progress,
             void *work)
{
    if (FN(bad_block)(p, order, X, ldx, nrows, work) || nll == NULL || progress == NULL ||
        g == NULL || g->Wt == NULL || g->V == NULL || g->b == NULL || g->c == NULL) {
        if (progress) nade_post(progress, -1); /* never leave a successor waiting */
        return NADE_EINVAL;
    }
    const ptrdiff_t n = p->n, d = p->d, dp = p->dp;
    if (nrows == 0) {
        nade_wait_for(prev, -1);
        if (progress) nade_post(progress, -1);
        return NADE_OK;
    }
    FN(scratch) s = FN(carve)(p->n, p->dp, nrows, work);
    const ptrdiff_t nz = s.nz;
    FN(gather)(X, ldx, order, n, nrows, s.XB, nz);
    FN(forward)(p, nrows, NULL, NULL, 0, &s);

    for (ptrdiff_t r = 0; r < nrows; r++) {
        REAL *z = s.Z + r * nz;
        const uint8_t *x = s.XB + r * nz;
        nll[r] = -FN(row_loglik)(z, x, n, s.tmp);
        for (ptrdiff_t k = 0; k < n; k++) z[k] = SIGMOID(z[k]) - (REAL)x[k]; /* delta */
        REAL *h = s.H + r * dp, *sd = s.S + r * dp, *u = s.U + r * dp, *gr = s.G + r * dp;
        for (ptrdiff_t j = 0; j < dp; j++) {
            sd[j] = h[j] * ((REAL)1 - h[j]);
            u[j] = (REAL)0;
            gr[j] = (REAL)0;
        }
    }

    for (ptrdiff_t k = n - 1; k >= 0; k--) {
        const REAL *w = p->Wt + k * dp;
        int any_one = 0;
        if (k + 1 < n) {
            for (ptrdiff_t r = 0; r < nrows; r++) {
                if (!s.XB[r * nz + k]) continue;
                any_one = 1;
                REAL *u = s.U + r * dp, *gr = s.G + r * dp, *sd = s.S + r * dp;
                for (ptrdiff_t j = 0; j < dp; j++) { /* G += U * h(1-h); U = 0 */
                    gr[j] = MADD(u[j], sd[j], gr[j]);
                    u[j] = (REAL)0;
                }
                FN(step_down)(s.A + r * dp, s.H + r * dp, sd, w, dp);
            }
        }

        /* add this block's rows at position k, after the previous block */
        nade_wait_for(prev, k);
        REAL *gv = g->V + k * dp;
        REAL gc = g->c[k];
        for (ptrdiff_t r = 0; r < nrows; r++) {
            const REAL delta = s.Z[r * nz + k];
            const REAL *restrict h = s.H + r * dp;
            gc += delta;
            for (ptrdiff_t j = 0; j < d; j++) gv[j] = MADD(delta, h[j], gv[j]);
        }
        g->c[k] = gc;
        if (any_one) {
            REAL *gw = g->Wt + k * dp;
            for (ptrdiff_t r = 0; r < nrows; r++) {
                if (!s.XB[r * nz + k]) continue;
                const REAL *restrict gr = s.G + r * dp;
                for (ptrdiff_t j = 0; j < dp; j++) gw[j] += gr[j];
            }
        }
        nade_post(progress, k);

        /* U += delta_k V[k] */
        const REAL *restrict v = p->V + k * dp;
        for (ptrdiff_t r = 0; r < nrows; r++) {
            const REAL delta = s.Z[r * nz + k];
            REAL *restrict u = s.U + r * dp;
            for (ptrdiff_t j = 0; j < dp; j++) u[j] = MADD(delta, v[j], u[j]);
        }
    }

    for (ptrdiff_t r = 0; r < nrows; r++) {
        REAL *u = s.U + r * dp, *gr = s.G + r * dp, *sd = s.S + r * dp;
        for (ptrdiff_t j = 0; j < dp; j++) gr[j] = MADD(u[j], sd[j], gr[j]);
    }
    nade_wait_for(prev, -1);
    for (ptrdiff_t r = 0; r < nrows; r++) {
        const REAL *restrict gr = s.G + r * dp;
        for (ptrdiff_t j = 0; j < dp; j++) g->b[j] += gr[j];
    }
    nade_post(progress, -1);
    return NADE_OK;
}

int FN(hidden)(const PARAMS *p, const ptrdiff_t *order, const uint8_t *X, ptrdiff_t ldx,
               ptrdiff_t nrows, REAL *out, void *work)
{
    if (FN(bad_block)(p, order, X, ldx, nrows, work) || out == NULL) return NADE_EINVAL;
    if (nrows == 0) return NADE_OK;
    FN(scratch) s = FN(carve)(p->n, p->dp, nrows, work);
    const ptrdiff_t n = p->n, d = p->d, dp = p->dp, nz = s.nz;
    FN(gather)(X, ldx, order, n, nrows, s.XB, nz);
    for (ptrdiff_t r = 0; r < nrows; r++) {
        FN(init_state)(p, 1, s.A, s.H);
        const uint8_t *x = s.XB + r * nz;
        for (ptrdiff_t k = 0; k < n; k++) {
            memcpy(out + (r * n + k) * d, s.H, sizeof(REAL) * (size_t)d);
            if (x[k] && k + 1 < n) FN(step_up)(s.A, s.H, p->Wt + k * dp, dp);
        }
    }
    return NADE_OK;
}

/* the macros above stay defined for oa_impl.h, oa_train_impl.h and adam_impl.h;
   nade_isa.h undefines them */
