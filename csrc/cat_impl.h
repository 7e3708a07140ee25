/*
 * cat_impl.h -- NADE with categorical outputs (nade.h, "Categorical outputs"): the
 * fixed-order kernels (score, sample, grad, hidden) and the order-agnostic ones along
 * orderings (score, sample), for one real type and one instruction set.  Included by
 * nade_isa.h after nade_impl.h and oa_impl.h, whose helpers it shares: the canonical dot
 * products (dot_rows), the state steps (step_up, step_down), the deeper layers (oa_top)
 * and the gradient hand-off.  Every kernel has the shape of its Bernoulli counterpart:
 * blocks of rows, chain positions outer, a state that changes only where a value v >= 1
 * adds its input row.  A variable's K logits are K dot products of the same canonical
 * arithmetic; its softmax (cat_logp, cat_probs) is scalar, O(K) per row and position.
 */

#define CATPARAMS NADE_XPASTE2(nade_cat_params, RSFX)
#define OACATPARAMS NADE_XPASTE2(nade_oa_cat_params, RSFX)
#define OAPARAMS_ NADE_XPASTE2(nade_oa_params, RSFX)

#if NADE_REAL_IS_DOUBLE
#define EXPNEG(x) nade_expcore_f64(nade_clamp708_f64(x)) /* e^x for x <= 0 */
#define LOGPOS nade_logpos_f64
#else
#define EXPNEG(x) nade_expcore_f32(nade_clamp87_f32(x))
#define LOGPOS nade_logpos_f32
#endif

/* the scratch of one categorical call (nade_cat_layout) */
typedef struct {
    REAL *A, *H, *S, *U, *G, *Z, *tmp, *P;
    double *T;
    uint32_t *bits;
    int32_t *XB;
    ptrdiff_t nz, nzo;
} FN(cscratch);

static FN(cscratch) FN(cat_carve)(ptrdiff_t n, ptrdiff_t n_out, ptrdiff_t dp, ptrdiff_t nrows,
                                  void *work)
{
    nade_cat_layout L = nade_cat_work_layout(n, n_out, dp, sizeof(REAL), nrows);
    char *base = nade_align_base(work);
    FN(cscratch) s;
    s.A = (REAL *)(base + L.A);
    s.H = (REAL *)(base + L.H);
    s.S = (REAL *)(base + L.S);
    s.U = (REAL *)(base + L.U);
    s.G = (REAL *)(base + L.G);
    s.Z = (REAL *)(base + L.Z);
    s.T = (double *)(base + L.T);
    s.tmp = (REAL *)(base + L.tmp);
    s.P = (REAL *)(base + L.P);
    s.bits = (uint32_t *)(base + L.bits);
    s.XB = (int32_t *)(base + L.XB);
    s.nz = L.nz;
    s.nzo = L.nzo;
    return s;
}

/* ---- one variable's softmax (nade.h): z its K logits ------------------------------ */

/* the first maximum of z */
static inline ptrdiff_t FN(cat_argmax)(const REAL *z, ptrdiff_t K)
{
    ptrdiff_t t = 0;
    for (ptrdiff_t v = 1; v < K; v++)
        if (z[v] > z[t]) t = v;
    return t;
}

/* log p(x) = (z_x - m) - log1p(s), s = sum_{v != t} e^{z_v - m}.  With K = 2 and z_0 = 0
   this is, operation for operation, LOGSIG((2x - 1) z_1) of nade_math.h. */
static REAL FN(cat_logp)(const REAL *z, ptrdiff_t K, ptrdiff_t x)
{
    if (K == 1) return (REAL)0;
    const ptrdiff_t t = FN(cat_argmax)(z, K);
    const REAL m = z[t];
    REAL s = (REAL)0;
    for (ptrdiff_t v = 0; v < K; v++)
        if (v != t) s += EXPNEG(z[v] - m);
    const REAL u = (REAL)1 + s;
    const REAL l1p = LOGPOS(u) + (s - (u - (REAL)1)) / u;
    return (z[x] - m) - l1p;
}

/* P[v] = p(v), v < K.  K = 2: sigmoids of the logit difference (with z_0 = 0, P[1] is the
   Bernoulli kernels' SIGMOID(z_1)). */
static void FN(cat_probs)(const REAL *z, ptrdiff_t K, REAL *P)
{
    if (K == 1) {
        P[0] = (REAL)1;
        return;
    }
    if (K == 2) {
        P[0] = SIGMOID(z[0] - z[1]);
        P[1] = SIGMOID(z[1] - z[0]);
        return;
    }
    const ptrdiff_t t = FN(cat_argmax)(z, K);
    const REAL m = z[t];
    REAL s = (REAL)0;
    for (ptrdiff_t v = 0; v < K; v++)
        if (v != t) {
            P[v] = EXPNEG(z[v] - m);
            s += P[v];
        }
    const REAL u = (REAL)1 + s;
    for (ptrdiff_t v = 0; v < K; v++) P[v] = v == t ? (REAL)1 / u : P[v] / u;
}

/* x drawn by the inverse CDF with the uniform u (u < 0: greedy, the first maximum);
   P: K reals of scratch */
static int32_t FN(cat_draw)(const REAL *z, ptrdiff_t K, double u, REAL *P)
{
    if (K == 1) return 0;
    if (u < 0.0) return (int32_t)FN(cat_argmax)(z, K);
    FN(cat_probs)(z, K, P);
    double cdf = 0.0;
    for (ptrdiff_t v = 0; v + 1 < K; v++) {
        cdf += (double)P[v];
        if (u < cdf) return (int32_t)v;
    }
    return (int32_t)(K - 1);
}

/* sum of a row's n terms in double with 8 fixed partial sums (as row_loglik of nade_impl.h) */
static double FN(cat_sum_terms)(const REAL *restrict terms, ptrdiff_t n)
{
    double acc[8] = {0, 0, 0, 0, 0, 0, 0, 0};
    ptrdiff_t k = 0;
    for (; k + 8 <= n; k += 8)
        for (int l = 0; l < 8; l++) acc[l] += (double)terms[k + l];
    double total =
        ((acc[0] + acc[4]) + (acc[2] + acc[6])) + ((acc[1] + acc[5]) + (acc[3] + acc[7]));
    for (; k < n; k++) total += (double)terms[k];
    return total;
}

/* the sampler's uniforms of one row: u = (bits + 1/2) / 2^32, as noise_row forms them */
static void FN(uniforms_row)(const uint64_t *key, uint64_t row, ptrdiff_t n,
                             uint32_t *restrict bits, double *restrict out)
{
    nade_uniform_bits_row(key, row, n, bits);
    for (ptrdiff_t k = 0; k < n; k++)
        out[k] = ((double)(int32_t)(bits[k] ^ 0x80000000u) + 2147483648.5) * 0x1p-32;
}

/* every row starts at a = b, h = act(b): the sigmoid (relu = 0) or the ReLU (relu = 1) */
static void FN(cat_init)(const REAL *b, ptrdiff_t dp, ptrdiff_t nrows, int relu,
                         REAL *restrict A, REAL *restrict H)
{
    for (ptrdiff_t j = 0; j < dp; j++) {
        A[j] = b[j];
        H[j] = relu ? FN(relu)(b[j]) : SIGMOID(b[j]);
    }
    for (ptrdiff_t r = 1; r < nrows; r++) {
        memcpy(A + r * dp, A, sizeof(REAL) * (size_t)dp);
        memcpy(H + r * dp, H, sizeof(REAL) * (size_t)dp);
    }
}

/* ---- fixed-order --------------------------------------------------------------------- */

static int FN(cat_bad_params)(const CATPARAMS *p)
{
    return p == NULL || p->n < 1 || p->d < 1 || p->dp < p->d || p->dp % LANES != 0 ||
           !nade_cat_offsets_ok(p->in_off, p->out_off, p->n) ||
           (p->Wt == NULL && p->in_off[p->n] > 0) || p->V == NULL || p->b == NULL ||
           p->c == NULL;
}

static int FN(cat_bad_block)(const CATPARAMS *p, const ptrdiff_t *order, const int32_t *X,
                             ptrdiff_t ldx, ptrdiff_t nrows, const void *work)
{
    return FN(cat_bad_params)(p) || !nade_block_ok(nrows) || order == NULL || X == NULL ||
           work == NULL || ldx < p->n || !nade_indices_within(order, p->n, p->n - 1);
}

/* XB[r][k] = X[r][order[k]] for k < upto[r] (upto NULL: all n); returns whether a code
   lies outside 0 .. K_k - 1 */
static int FN(cat_gather)(const int32_t *X, ptrdiff_t ldx, const ptrdiff_t *order,
                          const ptrdiff_t *out_off, ptrdiff_t n, ptrdiff_t nrows,
                          const ptrdiff_t *upto, int32_t *XB, ptrdiff_t nz)
{
    int bad = 0;
    for (ptrdiff_t r = 0; r < nrows; r++) {
        const int32_t *x = X + r * ldx;
        int32_t *xb = XB + r * nz;
        const ptrdiff_t m = upto ? upto[r] : n;
        for (ptrdiff_t k = 0; k < m; k++) {
            const int32_t v = x[order[k]];
            bad |= (v < 0) | ((ptrdiff_t)v >= out_off[k + 1] - out_off[k]);
            xb[k] = v;
        }
    }
    return bad;
}

/* Z[r][out_off[k] + v] = c + V . h_r for the K_k values of position k, every row */
static void FN(cat_logits_at)(const CATPARAMS *p, ptrdiff_t k, const REAL *H, ptrdiff_t nrows,
                              REAL *Z, ptrdiff_t nzo)
{
    const ptrdiff_t dp = p->dp, o0 = p->out_off[k], K = p->out_off[k + 1] - o0;
    for (ptrdiff_t v = 0; v < K; v++) {
        const REAL *vv = p->V + (o0 + v) * dp;
        const REAL cv = p->c[o0 + v];
        ptrdiff_t r = 0;
        for (; r + NADE_RT <= nrows; r += NADE_RT)
            FN(dot_rows)(vv, cv, H + r * dp, dp, NADE_RT, Z + r * nzo + o0 + v, nzo);
        for (; r < nrows; r++) FN(dot_rows)(vv, cv, H + r * dp, dp, 1, Z + r * nzo + o0 + v, nzo);
    }
}

/* The forward sweep: the logits of every position with K >= 2 into Z.  draw = 0: the
   inputs are XB.  draw = 1: x_k is drawn into XB (uniforms T; greedy: the mode), except at
   the first given[r] positions of row r, whose values XB already holds.  Logits are not
   computed at the positions every row has given when nobody needs them (skip_given). */
static void FN(cat_forward)(const CATPARAMS *p, ptrdiff_t nrows, int draw, int greedy,
                            const ptrdiff_t *given, int skip_given, FN(cscratch) * s)
{
    const ptrdiff_t n = p->n, dp = p->dp, nz = s->nz, nzo = s->nzo;
    const ptrdiff_t skip = skip_given && given ? FN(min_given)(given, nrows) : 0;
    FN(cat_init)(p->b, dp, nrows, 0, s->A, s->H);
    for (ptrdiff_t k = 0; k < n; k++) {
        const ptrdiff_t o0 = p->out_off[k], K = p->out_off[k + 1] - o0;
        if (k >= skip && K > 1) FN(cat_logits_at)(p, k, s->H, nrows, s->Z, nzo);
        for (ptrdiff_t r = 0; r < nrows; r++) {
            int32_t *x = s->XB + r * nz + k;
            if (draw && (given == NULL || k >= given[r]))
                *x = FN(cat_draw)(s->Z + r * nzo + o0, K, greedy ? -1.0 : s->T[r * nz + k], s->P);
            if (*x > 0 && k + 1 < n)
                FN(step_up)(s->A + r * dp, s->H + r * dp, p->Wt + (p->in_off[k] + *x - 1) * dp, dp);
        }
    }
}

/* the terms log p(x_k | x_<k) of row r into tmp (chain order); returns their sum */
static double FN(cat_row_terms)(const CATPARAMS *p, const REAL *z, const int32_t *x, REAL *tmp)
{
    for (ptrdiff_t k = 0; k < p->n; k++) {
        const ptrdiff_t o0 = p->out_off[k];
        tmp[k] = FN(cat_logp)(z + o0, p->out_off[k + 1] - o0, x[k]);
    }
    return FN(cat_sum_terms)(tmp, p->n);
}

int FN(cat_score)(const CATPARAMS *p, const ptrdiff_t *order, const int32_t *X, ptrdiff_t ldx,
                  ptrdiff_t nrows, double *loglik, REAL *cond, ptrdiff_t ldc,
                  const ptrdiff_t *feat_off, double *terms, ptrdiff_t ldt, void *work)
{
    if (FN(cat_bad_block)(p, order, X, ldx, nrows, work) ||
        (cond && !nade_cat_feature_offsets_ok(feat_off, order, p->out_off, p->n, ldc)) ||
        (terms && ldt < p->n))
        return NADE_EINVAL;
    if (nrows == 0) return NADE_OK;
    const ptrdiff_t n = p->n;
    FN(cscratch) s = FN(cat_carve)(n, p->out_off[n], p->dp, nrows, work);
    const ptrdiff_t nz = s.nz, nzo = s.nzo;
    if (FN(cat_gather)(X, ldx, order, p->out_off, n, nrows, NULL, s.XB, nz)) return NADE_EINVAL;
    FN(cat_forward)(p, nrows, 0, 0, NULL, 0, &s);
    for (ptrdiff_t r = 0; r < nrows; r++) {
        const REAL *z = s.Z + r * nzo;
        if (cond) {
            REAL *out = cond + r * ldc;
            for (ptrdiff_t k = 0; k < n; k++) {
                const ptrdiff_t o0 = p->out_off[k], K = p->out_off[k + 1] - o0;
                REAL *c = out + feat_off[order[k]];
                FN(cat_probs)(z + o0, K, c);
            }
        }
        if (loglik || terms) {
            double ll = FN(cat_row_terms)(p, z, s.XB + r * nz, s.tmp);
            if (loglik) loglik[r] = ll;
            if (terms)
                for (ptrdiff_t k = 0; k < n; k++) terms[r * ldt + k] = (double)s.tmp[k];
        }
    }
    return NADE_OK;
}

int FN(cat_sample)(const CATPARAMS *p, const ptrdiff_t *order, const uint64_t key[2],
                   uint64_t row0, int32_t *X, ptrdiff_t ldx, ptrdiff_t nrows,
                   const ptrdiff_t *given, int greedy, double *loglik, void *work)
{
    if (FN(cat_bad_block)(p, order, X, ldx, nrows, work) || (key == NULL && !greedy) ||
        (given && !nade_indices_within(given, nrows, p->n)))
        return NADE_EINVAL;
    if (nrows == 0) return NADE_OK;
    const ptrdiff_t n = p->n;
    FN(cscratch) s = FN(cat_carve)(n, p->out_off[n], p->dp, nrows, work);
    const ptrdiff_t nz = s.nz, nzo = s.nzo;
    if (given && FN(cat_gather)(X, ldx, order, p->out_off, n, nrows, given, s.XB, nz))
        return NADE_EINVAL;
    if (!greedy)
        for (ptrdiff_t r = 0; r < nrows; r++)
            FN(uniforms_row)(key, row0 + (uint64_t)r, n, s.bits, s.T + r * nz);
    FN(cat_forward)(p, nrows, 1, greedy, given, loglik == NULL, &s);
    for (ptrdiff_t r = 0; r < nrows; r++) {
        const int32_t *xb = s.XB + r * nz;
        int32_t *x = X + r * ldx;
        for (ptrdiff_t k = 0; k < n; k++) x[order[k]] = xb[k];
        if (loglik) loglik[r] = FN(cat_row_terms)(p, s.Z + r * nzo, xb, s.tmp);
    }
    return NADE_OK;
}

/* Loss and gradient: the backward sweep of nade_impl.h's grad, with K deltas per position
   (Z holds them after the forward sweep) and the input row of the value x_k >= 1. */
int FN(cat_grad)(const CATPARAMS *p, const ptrdiff_t *order, const int32_t *X, ptrdiff_t ldx,
                 ptrdiff_t nrows, double *nll, const GRAD *g, const int64_t *prev,
                 int64_t *progress, void *work)
{
    if (FN(cat_bad_block)(p, order, X, ldx, nrows, work) || nll == NULL || progress == NULL ||
        g == NULL || (g->Wt == NULL && p->in_off[p->n] > 0) || g->V == NULL || g->b == NULL ||
        g->c == NULL) {
        if (progress) nade_post(progress, -1); /* never leave a successor waiting */
        return NADE_EINVAL;
    }
    const ptrdiff_t n = p->n, d = p->d, dp = p->dp;
    if (nrows == 0) {
        nade_wait_for(prev, -1);
        nade_post(progress, -1);
        return NADE_OK;
    }
    FN(cscratch) s = FN(cat_carve)(n, p->out_off[n], dp, nrows, work);
    const ptrdiff_t nz = s.nz, nzo = s.nzo;
    if (FN(cat_gather)(X, ldx, order, p->out_off, n, nrows, NULL, s.XB, nz)) {
        nade_post(progress, -1);
        return NADE_EINVAL;
    }
    FN(cat_forward)(p, nrows, 0, 0, NULL, 0, &s);

    for (ptrdiff_t r = 0; r < nrows; r++) {
        REAL *z = s.Z + r * nzo;
        const int32_t *x = s.XB + r * nz;
        nll[r] = -FN(cat_row_terms)(p, z, x, s.tmp);
        for (ptrdiff_t k = 0; k < n; k++) { /* delta = softmax(z_k) - onehot(x_k) */
            const ptrdiff_t o0 = p->out_off[k], K = p->out_off[k + 1] - o0;
            if (K == 1) continue; /* delta = 0: position k is skipped below */
            FN(cat_probs)(z + o0, K, s.P);
            for (ptrdiff_t v = 0; v < K; v++) z[o0 + v] = s.P[v] - (REAL)(v == x[k]);
        }
        REAL *h = s.H + r * dp, *sd = s.S + r * dp, *u = s.U + r * dp, *gr = s.G + r * dp;
        for (ptrdiff_t j = 0; j < dp; j++) {
            sd[j] = h[j] * ((REAL)1 - h[j]);
            u[j] = (REAL)0;
            gr[j] = (REAL)0;
        }
    }

    for (ptrdiff_t k = n - 1; k >= 0; k--) {
        const ptrdiff_t o0 = p->out_off[k], K = p->out_off[k + 1] - o0;
        int any_one = 0;
        if (k + 1 < n) {
            for (ptrdiff_t r = 0; r < nrows; r++) {
                const int32_t xk = s.XB[r * nz + k];
                if (xk < 1) continue;
                any_one = 1;
                REAL *u = s.U + r * dp, *gr = s.G + r * dp, *sd = s.S + r * dp;
                for (ptrdiff_t j = 0; j < dp; j++) { /* G += U * h(1-h); U = 0 */
                    gr[j] = MADD(u[j], sd[j], gr[j]);
                    u[j] = (REAL)0;
                }
                FN(step_down)(s.A + r * dp, s.H + r * dp, sd, p->Wt + (p->in_off[k] + xk - 1) * dp,
                              dp);
            }
        }

        /* add this block's rows at position k, after the previous block */
        nade_wait_for(prev, k);
        if (K > 1)
            for (ptrdiff_t v = 0; v < K; v++) {
                REAL *gv = g->V + (o0 + v) * dp;
                REAL gc = g->c[o0 + v];
                for (ptrdiff_t r = 0; r < nrows; r++) {
                    const REAL delta = s.Z[r * nzo + o0 + v];
                    const REAL *restrict h = s.H + r * dp;
                    gc += delta;
                    for (ptrdiff_t j = 0; j < d; j++) gv[j] = MADD(delta, h[j], gv[j]);
                }
                g->c[o0 + v] = gc;
            }
        if (any_one)
            for (ptrdiff_t r = 0; r < nrows; r++) {
                const int32_t xk = s.XB[r * nz + k];
                if (xk < 1) continue;
                REAL *gw = g->Wt + (p->in_off[k] + xk - 1) * dp;
                const REAL *restrict gr = s.G + r * dp;
                for (ptrdiff_t j = 0; j < dp; j++) gw[j] += gr[j];
            }
        nade_post(progress, k);

        /* U += sum_v delta_v V[out_off[k] + v] */
        if (K > 1)
            for (ptrdiff_t r = 0; r < nrows; r++) {
                REAL *restrict u = s.U + r * dp;
                for (ptrdiff_t v = 0; v < K; v++) {
                    const REAL delta = s.Z[r * nzo + o0 + v];
                    const REAL *restrict vv = p->V + (o0 + v) * dp;
                    for (ptrdiff_t j = 0; j < dp; j++) u[j] = MADD(delta, vv[j], u[j]);
                }
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

int FN(cat_hidden)(const CATPARAMS *p, const ptrdiff_t *order, const int32_t *X, ptrdiff_t ldx,
                   ptrdiff_t nrows, REAL *out, void *work)
{
    if (FN(cat_bad_block)(p, order, X, ldx, nrows, work) || out == NULL) return NADE_EINVAL;
    if (nrows == 0) return NADE_OK;
    const ptrdiff_t n = p->n, d = p->d, dp = p->dp;
    FN(cscratch) s = FN(cat_carve)(n, p->out_off[n], dp, nrows, work);
    const ptrdiff_t nz = s.nz;
    if (FN(cat_gather)(X, ldx, order, p->out_off, n, nrows, NULL, s.XB, nz)) return NADE_EINVAL;
    for (ptrdiff_t r = 0; r < nrows; r++) {
        FN(cat_init)(p->b, dp, 1, 0, s.A, s.H);
        const int32_t *x = s.XB + r * nz;
        for (ptrdiff_t k = 0; k < n; k++) {
            memcpy(out + (r * n + k) * d, s.H, sizeof(REAL) * (size_t)d);
            if (x[k] > 0 && k + 1 < n)
                FN(step_up)(s.A, s.H, p->Wt + (p->in_off[k] + x[k] - 1) * dp, dp);
        }
    }
    return NADE_OK;
}

/* ---- order-agnostic, along orderings --------------------------------------------------- */

static int FN(oa_cat_bad_params)(const OACATPARAMS *p)
{
    return p == NULL || p->n < 1 || p->d < 1 || p->dp < p->d || p->dp % LANES != 0 ||
           p->layers < 1 || !nade_cat_offsets_ok(p->in_off, p->out_off, p->n) ||
           (p->Win == NULL && p->in_off[p->n] > 0) || p->Wmask == NULL || p->b1 == NULL ||
           p->V == NULL || p->c == NULL ||
           (p->layers > 1 && (p->Wdeep == NULL || p->bdeep == NULL));
}

static int FN(oa_cat_bad_block)(const OACATPARAMS *p, const ptrdiff_t *order, ptrdiff_t ldo,
                                const int32_t *X, ptrdiff_t ldx, ptrdiff_t nrows,
                                const void *work)
{
    if (FN(oa_cat_bad_params)(p) || !nade_block_ok(nrows) || order == NULL || X == NULL ||
        work == NULL || ldx < p->n || ldo < 0 || (ldo > 0 && ldo < p->n))
        return 1;
    const ptrdiff_t orderings = ldo == 0 ? 1 : nrows;
    for (ptrdiff_t r = 0; r < orderings; r++)
        if (!nade_indices_within(order + r * ldo, p->n, p->n - 1)) return 1;
    return 0;
}

/* XB[r][k] = X[r][order_r[k]] for k < upto[r] (NULL: all n); whether a code is out of range */
static int FN(oa_cat_gather)(const int32_t *X, ptrdiff_t ldx, const ptrdiff_t *order,
                             ptrdiff_t ldo, const ptrdiff_t *out_off, ptrdiff_t n,
                             ptrdiff_t nrows, const ptrdiff_t *upto, int32_t *XB, ptrdiff_t nz)
{
    int bad = 0;
    for (ptrdiff_t r = 0; r < nrows; r++) {
        const int32_t *x = X + r * ldx;
        const ptrdiff_t *o = order + r * ldo;
        int32_t *xb = XB + r * nz;
        const ptrdiff_t m = upto ? upto[r] : n;
        for (ptrdiff_t k = 0; k < m; k++) {
            const ptrdiff_t j = o[k];
            const int32_t v = x[j];
            bad |= (v < 0) | ((ptrdiff_t)v >= out_off[j + 1] - out_off[j]);
            xb[k] = v;
        }
    }
    return bad;
}

/* the logits of feature j for rt rows (rows of top at stride dp, Z rows at stride nzo) */
static void FN(oa_cat_logits)(const OACATPARAMS *p, ptrdiff_t j, const REAL *top, int rt,
                              REAL *Z, ptrdiff_t nzo)
{
    const ptrdiff_t dp = p->dp, o0 = p->out_off[j], K = p->out_off[j + 1] - o0;
    for (ptrdiff_t v = 0; v < K; v++)
        FN(dot_rows)(p->V + (o0 + v) * dp, p->c[o0 + v], top, dp, rt, Z + o0 + v, nzo);
}

/* The forward sweep along each row's ordering (order + r * ldo), positions 0 .. stop[r] - 1
   (stop NULL: all n), as oa_forward of oa_impl.h: logits of feature j (K_j >= 2) into
   Z[r][out_off[j] ..].  draw, greedy, given, skip_given as cat_forward.  The deeper layers
   are skipped at positions where no row needs logits. */
static void FN(oa_cat_forward)(const OACATPARAMS *p, const ptrdiff_t *order, ptrdiff_t ldo,
                               ptrdiff_t nrows, const ptrdiff_t *stop, int draw, int greedy,
                               const ptrdiff_t *given, int skip_given, FN(cscratch) * s)
{
    const ptrdiff_t n = p->n, dp = p->dp, nz = s->nz, nzo = s->nzo;
    const OAPARAMS_ base = {p->n, p->d, p->dp, p->layers, p->Win, p->Wmask, p->b1,
                            p->Wdeep, p->bdeep, p->V, p->c};
    ptrdiff_t last = 0;
    for (ptrdiff_t r = 0; r < nrows; r++) {
        ptrdiff_t st = stop ? stop[r] : n;
        if (st > last) last = st;
    }
    const ptrdiff_t skip = skip_given && given ? FN(min_given)(given, nrows) : 0;
    FN(cat_init)(p->b1, dp, nrows, 1, s->A, s->H);
    for (ptrdiff_t k = 0; k < last; k++) {
        int need = 0; /* whether some row needs the logits of its feature at k */
        if (k >= skip)
            for (ptrdiff_t r = 0; r < (ldo == 0 ? 1 : nrows) && !need; r++) {
                const ptrdiff_t j = order[r * ldo + k];
                need = (!stop || ldo == 0 || k < stop[r]) && p->out_off[j + 1] - p->out_off[j] > 1;
            }
        if (need) {
            const REAL *top = FN(oa_top)(&base, nrows, s->H, s->S, s->U);
            if (ldo == 0) { /* one ordering: tiles of rows share V's rows */
                const ptrdiff_t j = order[k];
                ptrdiff_t r = 0;
                for (; r + NADE_RT <= nrows; r += NADE_RT)
                    FN(oa_cat_logits)(p, j, top + r * dp, NADE_RT, s->Z + r * nzo, nzo);
                for (; r < nrows; r++)
                    FN(oa_cat_logits)(p, j, top + r * dp, 1, s->Z + r * nzo, nzo);
            } else {
                for (ptrdiff_t r = 0; r < nrows; r++) {
                    if (stop && k >= stop[r]) continue;
                    const ptrdiff_t j = order[r * ldo + k];
                    if (p->out_off[j + 1] - p->out_off[j] > 1)
                        FN(oa_cat_logits)(p, j, top + r * dp, 1, s->Z + r * nzo, nzo);
                }
            }
        }
        for (ptrdiff_t r = 0; r < nrows; r++) {
            if (stop && k >= stop[r]) continue;
            const ptrdiff_t j = order[r * ldo + k];
            const ptrdiff_t o0 = p->out_off[j], K = p->out_off[j + 1] - o0;
            int32_t *x = s->XB + r * nz + k;
            if (draw && (given == NULL || k >= given[r]))
                *x = FN(cat_draw)(s->Z + r * nzo + o0, K, greedy ? -1.0 : s->T[r * nz + k], s->P);
            if (k + 1 == n) continue; /* the last value changes no state */
            REAL *restrict a = s->A + r * dp, *restrict h = s->H + r * dp;
            const REAL *restrict wm = p->Wmask + j * dp;
            if (*x > 0) {
                const REAL *restrict wi = p->Win + (p->in_off[j] + *x - 1) * dp;
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
}

/* the terms of row r's first m positions into tmp; returns their sum */
static double FN(oa_cat_row_terms)(const OACATPARAMS *p, const ptrdiff_t *o, ptrdiff_t m,
                                   const REAL *z, const int32_t *x, REAL *tmp)
{
    for (ptrdiff_t k = 0; k < m; k++) {
        const ptrdiff_t j = o[k], o0 = p->out_off[j];
        tmp[k] = FN(cat_logp)(z + o0, p->out_off[j + 1] - o0, x[k]);
    }
    return FN(cat_sum_terms)(tmp, m);
}

int FN(oa_cat_score)(const OACATPARAMS *p, const ptrdiff_t *order, ptrdiff_t ldo,
                     const int32_t *X, ptrdiff_t ldx, ptrdiff_t nrows, const ptrdiff_t *stop,
                     double *loglik, REAL *cond, ptrdiff_t ldc, double *terms, ptrdiff_t ldt,
                     void *work)
{
    if (FN(oa_cat_bad_block)(p, order, ldo, X, ldx, nrows, work) ||
        (stop && !nade_indices_within(stop, nrows, p->n)) ||
        (cond && ldc < p->out_off[p->n]) || (terms && ldt < p->n))
        return NADE_EINVAL;
    if (nrows == 0) return NADE_OK;
    const ptrdiff_t n = p->n;
    FN(cscratch) s = FN(cat_carve)(n, p->out_off[n], p->dp, nrows, work);
    const ptrdiff_t nz = s.nz, nzo = s.nzo;
    if (FN(oa_cat_gather)(X, ldx, order, ldo, p->out_off, n, nrows, stop, s.XB, nz))
        return NADE_EINVAL;
    FN(oa_cat_forward)(p, order, ldo, nrows, stop, 0, 0, NULL, 0, &s);
    for (ptrdiff_t r = 0; r < nrows; r++) {
        const ptrdiff_t m = stop ? stop[r] : n;
        const REAL *z = s.Z + r * nzo;
        const ptrdiff_t *o = order + r * ldo;
        if (cond)
            for (ptrdiff_t k = 0; k < m; k++) {
                const ptrdiff_t j = o[k], o0 = p->out_off[j];
                FN(cat_probs)(z + o0, p->out_off[j + 1] - o0, cond + r * ldc + o0);
            }
        if (loglik || terms) {
            double ll = FN(oa_cat_row_terms)(p, o, m, z, s.XB + r * nz, s.tmp);
            if (loglik) loglik[r] = ll;
            if (terms)
                for (ptrdiff_t k = 0; k < m; k++) terms[r * ldt + k] = (double)s.tmp[k];
        }
    }
    return NADE_OK;
}

int FN(oa_cat_sample)(const OACATPARAMS *p, const ptrdiff_t *order, ptrdiff_t ldo,
                      const uint64_t key[2], uint64_t row0, int32_t *X, ptrdiff_t ldx,
                      ptrdiff_t nrows, const ptrdiff_t *given, int greedy, double *loglik,
                      void *work)
{
    if (FN(oa_cat_bad_block)(p, order, ldo, X, ldx, nrows, work) || (key == NULL && !greedy) ||
        (given && !nade_indices_within(given, nrows, p->n)))
        return NADE_EINVAL;
    if (nrows == 0) return NADE_OK;
    const ptrdiff_t n = p->n;
    FN(cscratch) s = FN(cat_carve)(n, p->out_off[n], p->dp, nrows, work);
    const ptrdiff_t nz = s.nz, nzo = s.nzo;
    if (given && FN(oa_cat_gather)(X, ldx, order, ldo, p->out_off, n, nrows, given, s.XB, nz))
        return NADE_EINVAL;
    if (!greedy)
        for (ptrdiff_t r = 0; r < nrows; r++)
            FN(uniforms_row)(key, row0 + (uint64_t)r, n, s.bits, s.T + r * nz);
    FN(oa_cat_forward)(p, order, ldo, nrows, NULL, 1, greedy, given, loglik == NULL, &s);
    for (ptrdiff_t r = 0; r < nrows; r++) {
        const int32_t *xb = s.XB + r * nz;
        const ptrdiff_t *o = order + r * ldo;
        int32_t *x = X + r * ldx;
        for (ptrdiff_t k = 0; k < n; k++) x[o[k]] = xb[k];
        if (loglik) loglik[r] = FN(oa_cat_row_terms)(p, o, n, s.Z + r * nzo, xb, s.tmp);
    }
    return NADE_OK;
}

#undef CATPARAMS
#undef OACATPARAMS
#undef OAPARAMS_
#undef EXPNEG
#undef LOGPOS
