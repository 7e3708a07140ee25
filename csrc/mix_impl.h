/*
 * mix_impl.h -- NADE with real-valued outputs, a mixture of C Gaussians per variable (RNADE;
 * nade.h, "Real-valued outputs"; docs/mixture.md): the fixed-order kernels (score, sample,
 * grad, hidden), the order-agnostic ones along orderings (score, sample) and the output layer
 * of the order-agnostic objective (oa_mix_output), for one real type and one instruction
 * set.  Included by nade_isa.h after nade_impl.h, oa_impl.h and cat_impl.h, whose helpers it
 * shares: the canonical dot products (dot_rows), the deeper layers (oa_top), the first state
 * (cat_init), the sampler's uniforms (uniforms_row) and the gradient hand-off.
 *
 * The kernels have the shape of their categorical counterparts (blocks of rows, chain
 * positions outer, 3C output units per variable as 3C dot products of the canonical
 * arithmetic), with two differences that real values bring: every value moves the state
 * (a += x_k W[:, k] at every position, so the fixed-order hidden layer is recomputed at
 * every position, h_k = act(rho_k a_k), the sigmoid or the ReLU as p->act asks), and a
 * variable's mixture is evaluated in double by mix_math.h from its units in the model's type.
 */

#include "mix_math.h"

#define MIXPARAMS NADE_XPASTE2(nade_mix_params, RSFX)
#define MIXGRAD NADE_XPASTE2(nade_mix_gradsum, RSFX)
#define OAMIXPARAMS NADE_XPASTE2(nade_oa_mix_params, RSFX)
#define OAPARAMS_ NADE_XPASTE2(nade_oa_params, RSFX)
#if NADE_REAL_IS_DOUBLE
#define MIX_REAL_MAX DBL_MAX
#else
#define MIX_REAL_MAX FLT_MAX
#endif

/* the scratch of one mixture call (nade_mix_layout) */
typedef struct {
    REAL *A, *H, *S, *U, *G, *Z;
    double *T, *XB, *tmp, *M;
    uint32_t *bits;
    ptrdiff_t nz, nzo, nu;
} FN(mscratch);

static FN(mscratch) FN(mix_carve)(ptrdiff_t n, ptrdiff_t C, ptrdiff_t dp, ptrdiff_t nrows,
                                  void *work)
{
    nade_mix_layout L = nade_mix_work_layout(n, C, dp, sizeof(REAL), nrows);
    char *base = nade_align_base(work);
    FN(mscratch) s;
    s.A = (REAL *)(base + L.A);
    s.H = (REAL *)(base + L.H);
    s.S = (REAL *)(base + L.S);
    s.U = (REAL *)(base + L.U);
    s.G = (REAL *)(base + L.G);
    s.Z = (REAL *)(base + L.Z);
    s.T = (double *)(base + L.T);
    s.XB = (double *)(base + L.XB);
    s.tmp = (double *)(base + L.tmp);
    s.M = (double *)(base + L.M);
    s.bits = (uint32_t *)(base + L.bits);
    s.nz = L.nz;
    s.nzo = L.nzo;
    s.nu = L.nu;
    return s;
}

/* ---- one variable ------------------------------------------------------------------ */

/* the mixture of the 3C units z, in double (M: the call's 10 C doubles) */
static nade_mix FN(mix_at)(const REAL *z, ptrdiff_t C, double *M)
{
    for (ptrdiff_t i = 0; i < 3 * C; i++) M[i] = (double)z[i];
    nade_mix m = nade_mix_on(M + 3 * C, C);
    nade_mix_unpack(M, &m);
    return m;
}

/* sum of a row's n terms with 8 fixed partial sums (as row_loglik of nade_impl.h) */
static double FN(mix_sum_terms)(const double *restrict terms, ptrdiff_t n)
{
    double acc[8] = {0, 0, 0, 0, 0, 0, 0, 0};
    ptrdiff_t k = 0;
    for (; k + 8 <= n; k += 8)
        for (int l = 0; l < 8; l++) acc[l] += terms[k + l];
    double total =
        ((acc[0] + acc[4]) + (acc[2] + acc[6])) + ((acc[1] + acc[5]) + (acc[3] + acc[7]));
    for (; k < n; k++) total += terms[k];
    return total;
}

/* The terms log p(x_k | .) of one row's first m positions into tmp; returns their sum.
   o: the row's features in chain order; the units of position k are at z + 3C k (chain
   order, fixed-order) or z + 3C o[k] (by feature, order-agnostic).  out (or NULL): each
   position's weights, means and scales at out + 3C o[k]. */
static double FN(mix_row)(ptrdiff_t C, ptrdiff_t m, const ptrdiff_t *o, int by_feature,
                          const REAL *z, const double *x, REAL *out, double *tmp, double *M)
{
    const ptrdiff_t W3 = 3 * C;
    for (ptrdiff_t k = 0; k < m; k++) {
        const ptrdiff_t j = o[k];
        nade_mix mx = FN(mix_at)(z + (by_feature ? j : k) * W3, C, M);
        tmp[k] = nade_mix_logp(&mx, x[k]);
        if (out) {
            REAL *c = out + j * W3;
            for (ptrdiff_t i = 0; i < C; i++) { /* (means and scales within REAL's range) */
                c[i] = (REAL)mx.al[i];
                c[C + i] = (REAL)nade_mix_clamp(mx.mu[i], MIX_REAL_MAX);
                c[2 * C + i] = (REAL)nade_mix_clamp(mx.sg[i], MIX_REAL_MAX);
            }
        }
    }
    return FN(mix_sum_terms)(tmp, m);
}

/* x_k of one row: drawn with its three uniforms u, or (u NULL) the mode */
static double FN(mix_value)(const REAL *z, ptrdiff_t C, const double *u, double *M)
{
    nade_mix mx = FN(mix_at)(z, C, M);
    return u ? nade_mix_draw(&mx, u) : nade_mix_mode(&mx);
}

/* Z[r][o0 + v] = c[o0 + v] + V[o0 + v] . H[r] for the units v < W3 of one variable, rows
   of H at stride dp; tiles of rows share each load of V */
static void FN(mix_units)(const REAL *V, const REAL *c, ptrdiff_t o0, ptrdiff_t W3,
                          const REAL *H, ptrdiff_t dp, ptrdiff_t nrows, REAL *Z, ptrdiff_t nzo)
{
    for (ptrdiff_t v = 0; v < W3; v++) {
        const REAL *vv = V + (o0 + v) * dp;
        const REAL cv = c[o0 + v];
        ptrdiff_t r = 0;
        for (; r + NADE_RT <= nrows; r += NADE_RT)
            FN(dot_rows)(vv, cv, H + r * dp, dp, NADE_RT, Z + r * nzo + o0 + v, nzo);
        for (; r < nrows; r++) FN(dot_rows)(vv, cv, H + r * dp, dp, 1, Z + r * nzo + o0 + v, nzo);
    }
}

/* XB[r][k] = X[r][order_r[k]] for k < upto[r] (upto NULL: all n), order_r = order + r * ldo;
   returns whether a value is not finite */
static int FN(mix_gather)(const double *X, ptrdiff_t ldx, const ptrdiff_t *order, ptrdiff_t ldo,
                          ptrdiff_t n, ptrdiff_t nrows, const ptrdiff_t *upto, double *XB,
                          ptrdiff_t nz)
{
    int bad = 0;
    for (ptrdiff_t r = 0; r < nrows; r++) {
        const double *x = X + r * ldx;
        const ptrdiff_t *o = order + r * ldo;
        double *xb = XB + r * nz;
        const ptrdiff_t m = upto ? upto[r] : n;
        for (ptrdiff_t k = 0; k < m; k++) {
            const double v = x[o[k]];
            bad |= !isfinite(v);
            xb[k] = v;
        }
    }
    return bad;
}

/* ---- fixed-order --------------------------------------------------------------------- */

static int FN(mix_bad_params)(const MIXPARAMS *p)
{
    return p == NULL || p->n < 1 || p->d < 1 || p->dp < p->d || p->dp % LANES != 0 ||
           p->C < 1 || p->C > (PTRDIFF_MAX / 2048) / p->n || p->Wt == NULL || p->V == NULL ||
           p->b == NULL || p->c == NULL || p->rho == NULL ||
           (p->act != NADE_ACT_SIGMOID && p->act != NADE_ACT_RELU);
}

static int FN(mix_bad_block)(const MIXPARAMS *p, const ptrdiff_t *order, const double *X,
                             ptrdiff_t ldx, ptrdiff_t nrows, const void *work)
{
    return FN(mix_bad_params)(p) || !nade_block_ok(nrows) || order == NULL || X == NULL ||
           work == NULL || ldx < p->n || !nade_indices_within(order, p->n, p->n - 1);
}

/* every row starts at a = b */
static void FN(mix_init)(const REAL *b, ptrdiff_t dp, ptrdiff_t nrows, REAL *A)
{
    for (ptrdiff_t r = 0; r < nrows; r++) memcpy(A + r * dp, b, sizeof(REAL) * (size_t)dp);
}

/* H = act(rho A), len entries: sigmoid(rho A), or (act NADE_ACT_RELU) max(rho A, 0).  The
   choice is made once per call, outside the loops, so each stays a plain vector loop. */
static void FN(mix_activate)(const REAL *restrict A, REAL rho, int act, ptrdiff_t len,
                             REAL *restrict H)
{
    if (act == NADE_ACT_RELU)
        for (ptrdiff_t i = 0; i < len; i++) H[i] = FN(relu)(rho * A[i]);
    else
        for (ptrdiff_t i = 0; i < len; i++) H[i] = SIGMOID(rho * A[i]);
}

/* e *= act'(rho a) in terms of h = act(rho a): h (1 - h) for the sigmoid, [h > 0] for the
   ReLU (its derivative at the kink taken as 0, so a unit that is off, padding included,
   passes nothing back), dp entries */
static void FN(mix_act_grad)(const REAL *restrict h, int act, ptrdiff_t dp, REAL *restrict e)
{
    if (act == NADE_ACT_RELU)
        for (ptrdiff_t j = 0; j < dp; j++) e[j] = h[j] > (REAL)0 ? e[j] : (REAL)0;
    else
        for (ptrdiff_t j = 0; j < dp; j++) e[j] = (e[j] * h[j]) * ((REAL)1 - h[j]);
}

/* a += x w: the state after a value */
static inline void FN(mix_step)(REAL *restrict a, const REAL *restrict w, REAL x, ptrdiff_t dp)
{
    for (ptrdiff_t j = 0; j < dp; j++) a[j] = MADD(x, w[j], a[j]);
}

/* The forward sweep: the units of every position into Z (chain order).  draw = 0: the
   values are XB's.  draw = 1: x_k is drawn into XB (uniforms T; greedy: the mode), except
   at the first given[r] positions of row r, whose values XB already holds.  Neither the
   hidden layer nor the units are computed at the positions every row has given when nobody
   needs them (skip_given). */
static void FN(mix_forward)(const MIXPARAMS *p, ptrdiff_t nrows, int draw, int greedy,
                            const ptrdiff_t *given, int skip_given, FN(mscratch) * s)
{
    const ptrdiff_t n = p->n, dp = p->dp, C = p->C, W3 = 3 * C;
    const ptrdiff_t nz = s->nz, nzo = s->nzo, nu = s->nu;
    const ptrdiff_t skip = skip_given && given ? FN(min_given)(given, nrows) : 0;
    FN(mix_init)(p->b, dp, nrows, s->A);
    for (ptrdiff_t k = 0; k < n; k++) {
        if (k >= skip) {
            FN(mix_activate)(s->A, p->rho[k], p->act, nrows * dp, s->H);
            FN(mix_units)(p->V, p->c, k * W3, W3, s->H, dp, nrows, s->Z, nzo);
        }
        const REAL *w = p->Wt + k * dp;
        for (ptrdiff_t r = 0; r < nrows; r++) {
            double *x = s->XB + r * nz + k;
            if (draw && (given == NULL || k >= given[r]))
                *x = FN(mix_value)(s->Z + r * nzo + k * W3, C,
                                   greedy ? NULL : s->T + r * nu + 3 * k, s->M);
            if (k + 1 < n) FN(mix_step)(s->A + r * dp, w, (REAL)nade_mix_input(*x), dp);
        }
    }
}

int FN(mix_score)(const MIXPARAMS *p, const ptrdiff_t *order, const double *X, ptrdiff_t ldx,
                  ptrdiff_t nrows, double *loglik, REAL *cond, ptrdiff_t ldc, double *terms,
                  ptrdiff_t ldt, void *work)
{
    if (FN(mix_bad_block)(p, order, X, ldx, nrows, work) || (cond && ldc < 3 * p->C * p->n) ||
        (terms && ldt < p->n))
        return NADE_EINVAL;
    if (nrows == 0) return NADE_OK;
    const ptrdiff_t n = p->n;
    FN(mscratch) s = FN(mix_carve)(n, p->C, p->dp, nrows, work);
    if (FN(mix_gather)(X, ldx, order, 0, n, nrows, NULL, s.XB, s.nz)) return NADE_EINVAL;
    FN(mix_forward)(p, nrows, 0, 0, NULL, 0, &s);
    for (ptrdiff_t r = 0; r < nrows; r++) {
        double ll = FN(mix_row)(p->C, n, order, 0, s.Z + r * s.nzo, s.XB + r * s.nz,
                                cond ? cond + r * ldc : NULL, s.tmp, s.M);
        if (loglik) loglik[r] = ll;
        if (terms)
            for (ptrdiff_t k = 0; k < n; k++) terms[r * ldt + k] = s.tmp[k];
    }
    return NADE_OK;
}

int FN(mix_sample)(const MIXPARAMS *p, const ptrdiff_t *order, const uint64_t key[2],
                   uint64_t row0, double *X, ptrdiff_t ldx, ptrdiff_t nrows,
                   const ptrdiff_t *given, int greedy, double *loglik, void *work)
{
    if (FN(mix_bad_block)(p, order, X, ldx, nrows, work) || (key == NULL && !greedy) ||
        (given && !nade_indices_within(given, nrows, p->n)))
        return NADE_EINVAL;
    if (nrows == 0) return NADE_OK;
    const ptrdiff_t n = p->n;
    FN(mscratch) s = FN(mix_carve)(n, p->C, p->dp, nrows, work);
    const ptrdiff_t nz = s.nz;
    if (given && FN(mix_gather)(X, ldx, order, 0, n, nrows, given, s.XB, nz)) return NADE_EINVAL;
    if (!greedy)
        for (ptrdiff_t r = 0; r < nrows; r++)
            FN(uniforms_row)(key, row0 + (uint64_t)r, 3 * n, s.bits, s.T + r * s.nu);
    FN(mix_forward)(p, nrows, 1, greedy, given, loglik == NULL, &s);
    for (ptrdiff_t r = 0; r < nrows; r++) {
        const double *xb = s.XB + r * nz;
        double *x = X + r * ldx;
        for (ptrdiff_t k = 0; k < n; k++) x[order[k]] = xb[k];
        if (loglik)
            loglik[r] = FN(mix_row)(p->C, n, order, 0, s.Z + r * s.nzo, xb, NULL, s.tmp, s.M);
    }
    return NADE_OK;
}

/* e = V^T delta for one row and one position's W3 rows of V (stride dp): e[j] = the sum
   over v = 0, 1, ... of delta[v] V[v][j], a multiply-add at a time.  Columns go by tiles
   of LANES held in registers while the W3 rows stream past, so e is written once instead
   of read and written W3 times (the order of each sum, hence the bits, is that of a
   v-outer loop). */
static void FN(mix_back_units)(const REAL *restrict V, const REAL *restrict delta,
                               ptrdiff_t W3, ptrdiff_t dp, REAL *restrict e)
{
    for (ptrdiff_t j0 = 0; j0 < dp; j0 += LANES) {
        REAL acc[LANES];
        for (int l = 0; l < LANES; l++) acc[l] = (REAL)0;
        for (ptrdiff_t v = 0; v < W3; v++) {
            const REAL dv = delta[v];
            const REAL *restrict vv = V + v * dp + j0;
            for (int l = 0; l < LANES; l++) acc[l] = MADD(dv, vv[l], acc[l]);
        }
        for (int l = 0; l < LANES; l++) e[j0 + l] = acc[l];
    }
}

/* gv[j] += delta_r h_r[j] for j < d over the rows r = 0, 1, ... in order (delta_r at
   delta[r * nzo], h_r at H + r * dp): one row of V's gradient.  As mix_back_units, tiles
   of LANES columns stay in registers across the rows; the padding (j >= d) is computed in
   the tile but never stored, so it keeps its zeros. */
static void FN(mix_back_weights)(const REAL *restrict delta, ptrdiff_t nzo,
                                 const REAL *restrict H, ptrdiff_t dp, ptrdiff_t d,
                                 ptrdiff_t nrows, REAL *restrict gv)
{
    for (ptrdiff_t j0 = 0; j0 < d; j0 += LANES) {
        REAL acc[LANES];
        for (int l = 0; l < LANES; l++) acc[l] = gv[j0 + l]; /* j0 + LANES <= dp */
        for (ptrdiff_t r = 0; r < nrows; r++) {
            const REAL dr = delta[r * nzo];
            const REAL *restrict h = H + r * dp + j0;
            for (int l = 0; l < LANES; l++) acc[l] = MADD(dr, h[l], acc[l]);
        }
        const ptrdiff_t w = d - j0 < LANES ? d - j0 : LANES;
        for (ptrdiff_t l = 0; l < w; l++) gv[j0 + l] = acc[l];
    }
}

/*
 * Loss and gradient (docs/mixture.md §3): the forward sweep, the 3C deltas of every
 * position into Z, then the backward sweep k = n-1 .. 0.  a_k is rebuilt from a_{k+1} by
 * subtracting x_k W[:, k] (as the binary kernels subtract W[:, k]: no n x d buffer per row;
 * a_0 = b is copied) and h_k = act(rho_k a_k) recomputed; the error at a_k is e_k = rho_k u_k
 * with u_k = (V_k^T delta_k) act'(rho_k a_k) (h_k (1 - h_k) for the sigmoid, [h_k > 0] for
 * the ReLU), d rho_k = u_k . a_k, and G = sum_{m>k} e_m is what W[:, k] gets times x_k.
 * Sums into g in row order (nade_internal.h's hand-off).
 */
int FN(mix_grad)(const MIXPARAMS *p, const ptrdiff_t *order, const double *X, ptrdiff_t ldx,
                 ptrdiff_t nrows, double *nll, const MIXGRAD *g, const int64_t *prev,
                 int64_t *progress, void *work)
{
    if (FN(mix_bad_block)(p, order, X, ldx, nrows, work) || nll == NULL || progress == NULL ||
        g == NULL || g->Wt == NULL || g->V == NULL || g->b == NULL || g->c == NULL ||
        g->rho == NULL) {
        if (progress) nade_post(progress, -1); /* never leave a successor waiting */
        return NADE_EINVAL;
    }
    const ptrdiff_t n = p->n, d = p->d, dp = p->dp, C = p->C, W3 = 3 * C;
    if (nrows == 0) {
        nade_wait_for(prev, -1);
        nade_post(progress, -1);
        return NADE_OK;
    }
    FN(mscratch) s = FN(mix_carve)(n, C, dp, nrows, work);
    const ptrdiff_t nz = s.nz, nzo = s.nzo;
    if (FN(mix_gather)(X, ldx, order, 0, n, nrows, NULL, s.XB, nz)) {
        nade_post(progress, -1);
        return NADE_EINVAL;
    }
    FN(mix_forward)(p, nrows, 0, 0, NULL, 0, &s); /* A holds a_{n-1} */

    for (ptrdiff_t r = 0; r < nrows; r++) {
        REAL *z = s.Z + r * nzo;
        const double *x = s.XB + r * nz;
        for (ptrdiff_t k = 0; k < n; k++) { /* the units become their deltas */
            nade_mix mx = FN(mix_at)(z + k * W3, C, s.M);
            s.tmp[k] = nade_mix_logp(&mx, x[k]);
            nade_mix_grad(&mx, s.M); /* the units' doubles are free after mix_at */
            for (ptrdiff_t i = 0; i < W3; i++) z[k * W3 + i] = (REAL)s.M[i];
        }
        nll[r] = -FN(mix_sum_terms)(s.tmp, n);
        memset(s.G + r * dp, 0, sizeof(REAL) * (size_t)dp);
    }

    REAL drho[NADE_MAX_BLOCK_ROWS];
    for (ptrdiff_t k = n - 1; k >= 0; k--) {
        const REAL rho = p->rho[k];
        const REAL *w = p->Wt + k * dp;
        for (ptrdiff_t r = 0; r < nrows; r++) {
            REAL *restrict a = s.A + r * dp, *restrict h = s.H + r * dp, *restrict e = s.U + r * dp;
            const REAL *delta = s.Z + r * nzo + k * W3;
            /* a_k; a_0 is b itself: rebuilt by subtraction it would be b plus the
               rounding of x_0 w, and ReLU units at b = 0 (their start) would take the
               kink's derivative by chance */
            if (k == 0 && n > 1)
                memcpy(a, p->b, sizeof(REAL) * (size_t)dp);
            else if (k + 1 < n)
                FN(mix_step)(a, w, -(REAL)nade_mix_input(s.XB[r * nz + k]), dp);
            FN(mix_activate)(a, rho, p->act, dp, h);
            FN(mix_back_units)(p->V + k * W3 * dp, delta, W3, dp, e); /* e = V_k^T delta */
            FN(mix_act_grad)(h, p->act, dp, e);
            FN(dot_rows)(e, (REAL)0, a, dp, 1, drho + r, 1); /* u . a_k, canonical order */
            for (ptrdiff_t j = 0; j < dp; j++) e[j] = rho * e[j];
        }

        /* add this block's rows at position k, after the previous block */
        nade_wait_for(prev, k);
        for (ptrdiff_t v = 0; v < W3; v++) {
            const REAL *delta = s.Z + k * W3 + v; /* row r's at delta[r * nzo] */
            REAL gc = g->c[k * W3 + v];
            for (ptrdiff_t r = 0; r < nrows; r++) gc += delta[r * nzo];
            g->c[k * W3 + v] = gc;
            FN(mix_back_weights)(delta, nzo, s.H, dp, d, nrows, g->V + (k * W3 + v) * dp);
        }
        if (k + 1 < n) { /* x_{n-1} enters no state */
            REAL *gw = g->Wt + k * dp;
            for (ptrdiff_t r = 0; r < nrows; r++) {
                const REAL xk = (REAL)nade_mix_input(s.XB[r * nz + k]);
                const REAL *restrict gr = s.G + r * dp;
                for (ptrdiff_t j = 0; j < dp; j++) gw[j] = MADD(xk, gr[j], gw[j]);
            }
        }
        REAL grho = g->rho[k];
        for (ptrdiff_t r = 0; r < nrows; r++) grho += drho[r];
        g->rho[k] = grho;
        nade_post(progress, k);

        for (ptrdiff_t r = 0; r < nrows; r++) { /* G += e_k */
            REAL *restrict gr = s.G + r * dp;
            const REAL *restrict e = s.U + r * dp;
            for (ptrdiff_t j = 0; j < dp; j++) gr[j] += e[j];
        }
    }

    nade_wait_for(prev, -1);
    for (ptrdiff_t r = 0; r < nrows; r++) {
        const REAL *restrict gr = s.G + r * dp;
        for (ptrdiff_t j = 0; j < dp; j++) g->b[j] += gr[j];
    }
    nade_post(progress, -1);
    return NADE_OK;
}

int FN(mix_hidden)(const MIXPARAMS *p, const ptrdiff_t *order, const double *X, ptrdiff_t ldx,
                   ptrdiff_t nrows, REAL *out, void *work)
{
    if (FN(mix_bad_block)(p, order, X, ldx, nrows, work) || out == NULL) return NADE_EINVAL;
    if (nrows == 0) return NADE_OK;
    const ptrdiff_t n = p->n, d = p->d, dp = p->dp;
    FN(mscratch) s = FN(mix_carve)(n, p->C, dp, nrows, work);
    if (FN(mix_gather)(X, ldx, order, 0, n, nrows, NULL, s.XB, s.nz)) return NADE_EINVAL;
    for (ptrdiff_t r = 0; r < nrows; r++) {
        FN(mix_init)(p->b, dp, 1, s.A);
        const double *x = s.XB + r * s.nz;
        for (ptrdiff_t k = 0; k < n; k++) {
            FN(mix_activate)(s.A, p->rho[k], p->act, dp, s.H);
            memcpy(out + (r * n + k) * d, s.H, sizeof(REAL) * (size_t)d);
            if (k + 1 < n) FN(mix_step)(s.A, p->Wt + k * dp, (REAL)nade_mix_input(x[k]), dp);
        }
    }
    return NADE_OK;
}

/* ---- order-agnostic, along orderings --------------------------------------------------- */

static int FN(oa_mix_bad_params)(const OAMIXPARAMS *p)
{
    return p == NULL || p->n < 1 || p->d < 1 || p->dp < p->d || p->dp % LANES != 0 ||
           p->layers < 1 || p->C < 1 || p->C > (PTRDIFF_MAX / 2048) / p->n || p->Win == NULL ||
           p->Wmask == NULL || p->b1 == NULL || p->V == NULL || p->c == NULL ||
           (p->layers > 1 && (p->Wdeep == NULL || p->bdeep == NULL));
}

static int FN(oa_mix_bad_block)(const OAMIXPARAMS *p, const ptrdiff_t *order, ptrdiff_t ldo,
                                const double *X, ptrdiff_t ldx, ptrdiff_t nrows,
                                const void *work)
{
    if (FN(oa_mix_bad_params)(p) || !nade_block_ok(nrows) || order == NULL || X == NULL ||
        work == NULL || ldx < p->n || ldo < 0 || (ldo > 0 && ldo < p->n))
        return 1;
    const ptrdiff_t orderings = ldo == 0 ? 1 : nrows;
    for (ptrdiff_t r = 0; r < orderings; r++)
        if (!nade_indices_within(order + r * ldo, p->n, p->n - 1)) return 1;
    return 0;
}

/* The forward sweep along each row's ordering (order + r * ldo), positions 0 .. stop[r] - 1
   (stop NULL: all n), as oa_cat_forward of cat_impl.h: the units of feature j into
   Z[r][3C j ..].  draw, greedy, given, skip_given as mix_forward. */
static void FN(oa_mix_forward)(const OAMIXPARAMS *p, const ptrdiff_t *order, ptrdiff_t ldo,
                               ptrdiff_t nrows, const ptrdiff_t *stop, int draw, int greedy,
                               const ptrdiff_t *given, int skip_given, FN(mscratch) * s)
{
    const ptrdiff_t n = p->n, dp = p->dp, C = p->C, W3 = 3 * C;
    const ptrdiff_t nz = s->nz, nzo = s->nzo, nu = s->nu;
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
        if (k >= skip) { /* else every row is still in its given prefix: no units needed */
            const REAL *top = FN(oa_top)(&base, nrows, s->H, s->S, s->U);
            if (ldo == 0) /* one ordering: tiles of rows share V's rows */
                FN(mix_units)(p->V, p->c, order[k] * W3, W3, top, dp, nrows, s->Z, nzo);
            else
                for (ptrdiff_t r = 0; r < nrows; r++) {
                    if (stop && k >= stop[r]) continue;
                    FN(mix_units)(p->V, p->c, order[r * ldo + k] * W3, W3, top + r * dp, dp, 1,
                                  s->Z + r * nzo, nzo);
                }
        }
        for (ptrdiff_t r = 0; r < nrows; r++) {
            if (stop && k >= stop[r]) continue;
            const ptrdiff_t j = order[r * ldo + k];
            double *x = s->XB + r * nz + k;
            if (draw && (given == NULL || k >= given[r]))
                *x = FN(mix_value)(s->Z + r * nzo + j * W3, C,
                                   greedy ? NULL : s->T + r * nu + 3 * k, s->M);
            if (k + 1 == n) continue; /* the last value changes no state */
            REAL *restrict a = s->A + r * dp, *restrict h = s->H + r * dp;
            const REAL *restrict wm = p->Wmask + j * dp, *restrict wi = p->Win + j * dp;
            const REAL xr = (REAL)nade_mix_input(*x);
            for (ptrdiff_t i = 0; i < dp; i++) {
                REAL t = MADD(xr, wi[i], a[i] + wm[i]);
                a[i] = t;
                h[i] = FN(relu)(t);
            }
        }
    }
}

int FN(oa_mix_score)(const OAMIXPARAMS *p, const ptrdiff_t *order, ptrdiff_t ldo,
                     const double *X, ptrdiff_t ldx, ptrdiff_t nrows, const ptrdiff_t *stop,
                     double *loglik, REAL *cond, ptrdiff_t ldc, double *terms, ptrdiff_t ldt,
                     void *work)
{
    if (FN(oa_mix_bad_block)(p, order, ldo, X, ldx, nrows, work) ||
        (stop && !nade_indices_within(stop, nrows, p->n)) ||
        (cond && ldc < 3 * p->C * p->n) || (terms && ldt < p->n))
        return NADE_EINVAL;
    if (nrows == 0) return NADE_OK;
    const ptrdiff_t n = p->n;
    FN(mscratch) s = FN(mix_carve)(n, p->C, p->dp, nrows, work);
    if (FN(mix_gather)(X, ldx, order, ldo, n, nrows, stop, s.XB, s.nz)) return NADE_EINVAL;
    FN(oa_mix_forward)(p, order, ldo, nrows, stop, 0, 0, NULL, 0, &s);
    for (ptrdiff_t r = 0; r < nrows; r++) {
        const ptrdiff_t m = stop ? stop[r] : n;
        double ll = FN(mix_row)(p->C, m, order + r * ldo, 1, s.Z + r * s.nzo, s.XB + r * s.nz,
                                cond ? cond + r * ldc : NULL, s.tmp, s.M);
        if (loglik) loglik[r] = ll;
        if (terms)
            for (ptrdiff_t k = 0; k < m; k++) terms[r * ldt + k] = s.tmp[k];
    }
    return NADE_OK;
}

int FN(oa_mix_sample)(const OAMIXPARAMS *p, const ptrdiff_t *order, ptrdiff_t ldo,
                      const uint64_t key[2], uint64_t row0, double *X, ptrdiff_t ldx,
                      ptrdiff_t nrows, const ptrdiff_t *given, int greedy, double *loglik,
                      void *work)
{
    if (FN(oa_mix_bad_block)(p, order, ldo, X, ldx, nrows, work) || (key == NULL && !greedy) ||
        (given && !nade_indices_within(given, nrows, p->n)))
        return NADE_EINVAL;
    if (nrows == 0) return NADE_OK;
    const ptrdiff_t n = p->n;
    FN(mscratch) s = FN(mix_carve)(n, p->C, p->dp, nrows, work);
    const ptrdiff_t nz = s.nz;
    if (given && FN(mix_gather)(X, ldx, order, ldo, n, nrows, given, s.XB, nz))
        return NADE_EINVAL;
    if (!greedy)
        for (ptrdiff_t r = 0; r < nrows; r++)
            FN(uniforms_row)(key, row0 + (uint64_t)r, 3 * n, s.bits, s.T + r * s.nu);
    FN(oa_mix_forward)(p, order, ldo, nrows, NULL, 1, greedy, given, loglik == NULL, &s);
    for (ptrdiff_t r = 0; r < nrows; r++) {
        const double *xb = s.XB + r * nz;
        const ptrdiff_t *o = order + r * ldo;
        double *x = X + r * ldx;
        for (ptrdiff_t k = 0; k < n; k++) x[o[k]] = xb[k];
        if (loglik)
            loglik[r] = FN(mix_row)(p->C, n, o, 1, s.Z + r * s.nzo, xb, NULL, s.tmp, s.M);
    }
    return NADE_OK;
}

/* ---- the order-agnostic objective's output layer (oa_train_impl.h's oa_output) ---------- */

int FN(oa_mix_output)(REAL *Z, ptrdiff_t ldz, const double *X, ptrdiff_t ldx,
                      const uint8_t *mask, ptrdiff_t ldm, ptrdiff_t n, ptrdiff_t C,
                      ptrdiff_t nrows, double scale, double *loss, double *work)
{
    if (n < 1 || C < 1 || C > (PTRDIFF_MAX / 2048) / n || nrows < 0 || Z == NULL ||
        X == NULL || mask == NULL || loss == NULL || work == NULL || ldz < 3 * C * n ||
        ldx < n || ldm < n)
        return NADE_EINVAL;
    const ptrdiff_t W3 = 3 * C;
    for (ptrdiff_t r = 0; r < nrows; r++) {
        REAL *z = Z + r * ldz;
        const double *x = X + r * ldx;
        const uint8_t *m = mask + r * ldm;
        ptrdiff_t s = 0;
        for (ptrdiff_t j = 0; j < n; j++) s += m[j] != 0;
        if (s >= n) return NADE_EINVAL;
        const double w = (double)n / (double)(n - s); /* the objective's rescaling */
        const double coef = scale * w;
        double total = 0.0;
        for (ptrdiff_t j = 0; j < n; j++) {
            REAL *zj = z + j * W3;
            if (m[j] != 0) {
                for (ptrdiff_t i = 0; i < W3; i++) zj[i] = (REAL)0;
                continue;
            }
            if (!isfinite(x[j])) return NADE_EINVAL;
            nade_mix mx = FN(mix_at)(zj, C, work);
            const double lp = nade_mix_logp(&mx, x[j]);
            total -= lp;
            nade_mix_grad(&mx, work); /* the units' doubles are free after mix_at */
            for (ptrdiff_t i = 0; i < W3; i++) zj[i] = (REAL)(coef * work[i]);
        }
        loss[r] = w * total;
    }
    return NADE_OK;
}

#undef MIXPARAMS
#undef MIXGRAD
#undef OAMIXPARAMS
#undef OAPARAMS_
#undef MIX_REAL_MAX
