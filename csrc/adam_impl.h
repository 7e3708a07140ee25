/*
 * adam_impl.h -- the optimizer's element-wise step for one real type and one
 * instruction set.  Not a model kernel: it sits beside them only so that it
 * is compiled (and dispatched) per instruction set like they are.  Included
 * twice (float, double) by nade_isa.h after nade_impl.h, whose REAL and FN
 * it uses; its own macros are undefined at the end.
 */

#if NADE_REAL_IS_DOUBLE
#define SQRT sqrt
#define FABS fabs
#define REAL_MIN_NORMAL DBL_MIN
#define ADAM_TINY_GRAD 0x1p-500 /* (2^-500)^2 / 1000 is still normal */
#else
#define SQRT sqrtf
#define FABS fabsf
#define REAL_MIN_NORMAL FLT_MIN
#define ADAM_TINY_GRAD 0x1p-56f /* (2^-56)^2 / 1000 is still normal */
#endif

/* One Adam step on len parameters (docs/training.md §3-§4; nadefast/optim.py): m = b1 m + (1 - b1) g; v = b2 v + (1 - b2) g^2;
   p -= lr_t m / (sqrt(v) + eps_t), bias corrections folded into lr_t, eps_t;
   c1 = 1 - b1 and c2 = 1 - b2 as rounded by the caller. */
/* x, or 0 when |x| < lim */
NADE_INLINE REAL FN(zero_below)(REAL x, REAL lim) { return FABS(x) < lim ? (REAL)0 : x; }

int FN(adam)(REAL *restrict p, const REAL *restrict g, REAL *restrict m, REAL *restrict v,
             ptrdiff_t len, REAL b1, REAL c1, REAL b2, REAL c2, REAL lr_t, REAL eps_t)
{
    if (len < 0 || p == NULL || g == NULL || m == NULL || v == NULL) return NADE_EINVAL;
    /* Moments that decay towards zero (a weight whose gradient stays 0, as
       for a dead ReLU unit or an always-0 pixel) would spend thousands of
       steps as subnormal numbers, each costing a microcode assist (7x slower
       steps seen in a long fit).  Moments below the smallest normal number
       and gradients too small for their square to be normal count as 0. */
    for (ptrdiff_t i = 0; i < len; i++) {
        REAL gi = FN(zero_below)(g[i], ADAM_TINY_GRAD);
        REAL mi = FN(zero_below)(b1 * m[i] + c1 * gi, REAL_MIN_NORMAL);
        REAL vi = FN(zero_below)(b2 * v[i] + c2 * (gi * gi), REAL_MIN_NORMAL);
        m[i] = mi;
        v[i] = vi;
        p[i] -= lr_t * (mi / (SQRT(vi) + eps_t));
    }
    return NADE_OK;
}

#undef SQRT
#undef FABS
#undef REAL_MIN_NORMAL
#undef ADAM_TINY_GRAD
