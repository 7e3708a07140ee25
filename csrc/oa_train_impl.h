/*
 * oa_train_impl.h -- the element-wise parts of the order-agnostic training
 * objective (docs/order_agnostic.md §3, §5, §6) that sit between its matrix products: the
 * output layer's loss and logit gradient, and the sparse observed inputs of
 * the first layer.  The products themselves are BLAS calls made by
 * nadefast/orderless.py.  Included after nade_impl.h for the same REAL and
 * instruction set (it uses its SIGMOID, LOGSIG and FN).
 */

/* number of observed features of one row */
static ptrdiff_t FN(oa_count)(const uint8_t *restrict m, ptrdiff_t n)
{
    ptrdiff_t s = 0;
    for (ptrdiff_t j = 0; j < n; j++) s += m[j] != 0;
    return s;
}

int FN(oa_output)(REAL *Z, ptrdiff_t ldz, const uint8_t *X, ptrdiff_t ldx, const uint8_t *mask,
                  ptrdiff_t ldm, ptrdiff_t n, ptrdiff_t nrows, double scale, double *loss)
{
    enum { CHUNK = 256 }; /* terms per pass: the loops below vectorise, the sum follows */
    if (n < 1 || nrows < 0 || Z == NULL || X == NULL || mask == NULL || loss == NULL ||
        ldz < n || ldx < n || ldm < n)
        return NADE_EINVAL;
    for (ptrdiff_t r = 0; r < nrows; r++) {
        REAL *restrict z = Z + r * ldz;
        const uint8_t *restrict x = X + r * ldx, *restrict m = mask + r * ldm;
        const ptrdiff_t s = FN(oa_count)(m, n);
        if (s >= n) return NADE_EINVAL;
        const double w = (double)n / (double)(n - s); /* the objective's rescaling */
        const REAL coef = (REAL)(scale * w);
        /* -log p of the unobserved features, summed in double with 8 fixed
           partial sums (the order does not depend on the chunking) */
        double acc[8] = {0, 0, 0, 0, 0, 0, 0, 0}, total = 0.0;
        REAL terms[CHUNK];
        for (ptrdiff_t j0 = 0; j0 < n; j0 += CHUNK) {
            const ptrdiff_t len = n - j0 < CHUNK ? n - j0 : CHUNK;
            for (ptrdiff_t j = 0; j < len; j++) {
                const REAL free = (REAL)(m[j0 + j] == 0);
                const REAL zj = z[j0 + j], xj = (REAL)x[j0 + j];
                terms[j] = free * LOGSIG(((REAL)2 * xj - (REAL)1) * zj);
                z[j0 + j] = free * (coef * (SIGMOID(zj) - xj));
            }
            ptrdiff_t j = 0;
            for (; j + 8 <= len; j += 8)
                for (int l = 0; l < 8; l++) acc[l] -= (double)terms[j + l];
            for (; j < len; j++) total -= (double)terms[j]; /* only in the last chunk */
        }
        total += ((acc[0] + acc[4]) + (acc[2] + acc[6])) + ((acc[1] + acc[5]) + (acc[3] + acc[7]));
        loss[r] = w * total;
    }
    return NADE_OK;
}

int FN(oa_input_add)(const REAL *Win, ptrdiff_t dp, const uint8_t *X, ptrdiff_t ldx,
                     const uint8_t *mask, ptrdiff_t ldm, ptrdiff_t n, ptrdiff_t nrows, REAL *A,
                     ptrdiff_t lda)
{
    if (n < 1 || nrows < 0 || dp < 1 || Win == NULL || X == NULL || mask == NULL || A == NULL ||
        ldx < n || ldm < n || lda < dp)
        return NADE_EINVAL;
    for (ptrdiff_t r = 0; r < nrows; r++) {
        const uint8_t *x = X + r * ldx, *m = mask + r * ldm;
        REAL *restrict a = A + r * lda;
        for (ptrdiff_t j = 0; j < n; j++) {
            if (!(x[j] & m[j])) continue;
            const REAL *restrict w = Win + j * dp;
            for (ptrdiff_t i = 0; i < dp; i++) a[i] += w[i];
        }
    }
    return NADE_OK;
}

int FN(oa_input_grad)(const REAL *dA, ptrdiff_t lda, const uint8_t *X, ptrdiff_t ldx,
                      const uint8_t *mask, ptrdiff_t ldm, ptrdiff_t nrows, ptrdiff_t j0,
                      ptrdiff_t j1, REAL *gWin, ptrdiff_t dp)
{
    /* the features j0 .. j1-1 are columns of X and mask, within their strides */
    if (nrows < 0 || dp < 1 || j0 < 0 || j1 < j0 || j1 > ldx || j1 > ldm || lda < dp ||
        dA == NULL || X == NULL || mask == NULL || gWin == NULL)
        return NADE_EINVAL;
    for (ptrdiff_t j = j0; j < j1; j++) {
        REAL *restrict g = gWin + j * dp;
        for (ptrdiff_t i = 0; i < dp; i++) g[i] = (REAL)0;
        for (ptrdiff_t r = 0; r < nrows; r++) {
            if (!(X[r * ldx + j] & mask[r * ldm + j])) continue;
            const REAL *restrict d = dA + r * lda;
            for (ptrdiff_t i = 0; i < dp; i++) g[i] += d[i];
        }
    }
    return NADE_OK;
}
