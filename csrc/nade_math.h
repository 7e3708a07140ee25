/*
 * nade_math.h -- elementwise exp, log, sigmoid and log-sigmoid in float and
 * double, written so that GCC and Clang vectorise loops calling them
 * without -ffast-math: polynomial kernels, exponent built from bits, no
 * branches, no libm calls.  Included once by every instruction-set unit so
 * that each gets its own compiled copy.
 *
 * Accuracy against double-precision libm.  Measured by the test suite:
 * the sigmoid on 60 001 points of [-30, 30] through hidden states
 * (tests/test_likelihood.py::test_sigmoid_accuracy_through_hidden_states:
 * within 4e-7 relative in float32, 2e-15 in float64), and log_f64 through
 * the sampler's noise (tests/test_sampling.py::
 * test_logistic_noise_is_logit_of_the_uniforms, 1e-14).  By design, not
 * measured by a test: sigmoid_f32 clamps arguments beyond +-87
 * (sigmoid(-87) = 1.6e-38, absolute error below 2e-38); logsig_f32 ~2e-7
 * relative, logsig_f64 a few ulp (docs/fixed_order.md §6).
 *
 * NADE_FMA (0/1) must be defined by the includer: whether a*b+c may use a
 * fused multiply-add.  Builds use -ffp-contract=off, so nothing else is
 * fused behind our back and scalar and vectorised code agree bit for bit.
 */
#ifndef NADE_MATH_H
#define NADE_MATH_H

#include <math.h>
#include <stdint.h>
#include <string.h>

#if defined(__GNUC__)
#define NADE_INLINE static inline __attribute__((always_inline))
#else
#define NADE_INLINE static inline
#endif

#if NADE_FMA
#define MADDF(a, b, c) fmaf((a), (b), (c))
#define MADDD(a, b, c) fma((a), (b), (c))
#else
#define MADDF(a, b, c) ((a) * (b) + (c))
#define MADDD(a, b, c) ((a) * (b) + (c))
#endif

/* ------------------------------------------------------------------ float */

/* e^z for z in [-87, 87] (callers clamp).  z = n ln2 + f, |f| <= ln2/2,
   Cephes degree-5 polynomial, 2^n from bits.  About 1 ulp. */
NADE_INLINE float nade_expcore_f32(float z)
{
    /* round(z log2 e) by truncating a positive number: safe in any rounding mode */
    int32_t ni = (int32_t)MADDF(z, 1.44269504088896341f, 200.5f) - 200;
    float nf = (float)ni;
    float f = MADDF(nf, -0.693359375f, z);
    f = MADDF(nf, 2.12194440e-4f, f);
    float p = 1.9875691500E-4f;
    p = MADDF(p, f, 1.3981999507E-3f);
    p = MADDF(p, f, 8.3334519073E-3f);
    p = MADDF(p, f, 4.1665795894E-2f);
    p = MADDF(p, f, 1.6666665459E-1f);
    p = MADDF(p, f, 5.0000001201E-1f);
    p = MADDF(p, f * f, f + 1.0f);
    uint32_t bits = (uint32_t)(ni + 127) << 23;
    float scale;
    memcpy(&scale, &bits, sizeof scale);
    return p * scale;
}

/* clamp to [-87, 87] on the bit pattern: an integer min, because a float
   compare-and-select is not if-converted under -ftrapping-math and would
   stop the loop vectorising */
NADE_INLINE float nade_clamp87_f32(float z)
{
    uint32_t b;
    memcpy(&b, &z, sizeof b);
    int32_t m = (int32_t)(b & 0x7fffffffu);
    m = m < 0x42ae0000 ? m : 0x42ae0000; /* 87.0f */
    b = (b & 0x80000000u) | (uint32_t)m;
    memcpy(&z, &b, sizeof z);
    return z;
}

NADE_INLINE float nade_sigmoid_f32(float x)
{
    return 1.0f / (1.0f + nade_expcore_f32(nade_clamp87_f32(-x)));
}

/* log x for positive normal x (Cephes logf polynomial) */
NADE_INLINE float nade_logpos_f32(float x)
{
    uint32_t bx;
    memcpy(&bx, &x, sizeof bx);
    int32_t e = (int32_t)(bx >> 23) - 127;
    int32_t bm = (int32_t)((bx & 0x007fffffu) | 0x3f800000u); /* m in [1, 2) */
    int32_t big = bm > 0x3fb504f3;                             /* m > sqrt(2) */
    bm -= big << 23;                                            /* m /= 2 */
    e += big;
    float m;
    memcpy(&m, &bm, sizeof m);
    float f = m - 1.0f;
    float z = f * f;
    float y = 7.0376836292E-2f;
    y = MADDF(y, f, -1.1514610310E-1f);
    y = MADDF(y, f, 1.1676998740E-1f);
    y = MADDF(y, f, -1.2420140846E-1f);
    y = MADDF(y, f, 1.4249322787E-1f);
    y = MADDF(y, f, -1.6668057665E-1f);
    y = MADDF(y, f, 2.0000714765E-1f);
    y = MADDF(y, f, -2.4999993993E-1f);
    y = MADDF(y, f, 3.3333331174E-1f);
    y = y * f * z;
    float ef = (float)e;
    y = MADDF(ef, -2.12194440e-4f, y);
    y = MADDF(z, -0.5f, y);
    float r = f + y;
    return MADDF(ef, 0.693359375f, r);
}

/* log sigmoid(t) = min(t, 0) - log1p(exp(-|t|)), accurate for every finite t */
NADE_INLINE float nade_logsig_f32(float t)
{
    float at = fabsf(t);
    float e = nade_expcore_f32(nade_clamp87_f32(-at)); /* (0, 1] */
    float u = 1.0f + e; /* log1p(e) = log(u) + (e - (u - 1)) / u */
    float l1p = nade_logpos_f32(u) + (e - (u - 1.0f)) / u;
    return 0.5f * (t - at) - l1p;
}

/* ----------------------------------------------------------------- double */

/* e^z for z in [-708, 708] (callers clamp).  n = round(z / ln 2) by the
   1.5 * 2^52 shifter (exact under round-to-nearest; we never use
   -ffast-math), Cody-Waite reduction to |f| <= ln2/2, a degree-11
   polynomial interpolating e^f at the Chebyshev nodes of that interval
   (relative error 1.7e-17 before rounding; coefficients made with
   mpmath at 50 digits), 2^n from bits. */
NADE_INLINE double nade_expcore_f64(double z)
{
    const double shifter = 6755399441055744.0; /* 0x1.8p52 */
    double t = z * 1.4426950408889634 + shifter;
    double nf = t - shifter;
    uint64_t tb;
    memcpy(&tb, &t, sizeof tb); /* low bits of tb hold n in two's complement */
    double f = MADDD(nf, -6.93147180369123816490e-01, z);
    f = MADDD(nf, -1.90821492927058770002e-10, f);
    double p = 2.5110037605963777e-08;
    p = MADDD(p, f, 2.763263963904103e-07);
    p = MADDD(p, f, 2.755724091857897e-06);
    p = MADDD(p, f, 2.4801485482328494e-05);
    p = MADDD(p, f, 0.00019841269890047113);
    p = MADDD(p, f, 0.0013888888952314775);
    p = MADDD(p, f, 0.008333333333319601);
    p = MADDD(p, f, 0.0416666666664881);
    p = MADDD(p, f, 0.1666666666666668);
    p = MADDD(p, f, 0.5000000000000019);
    p = MADDD(p, f, 1.0);
    p = MADDD(p, f, 1.0);
    uint64_t sb = (tb + 1023u) << 52; /* the shifter's own bits shift out */
    double scale;
    memcpy(&scale, &sb, sizeof scale);
    return p * scale;
}

NADE_INLINE double nade_clamp708_f64(double z)
{
    uint64_t b;
    memcpy(&b, &z, sizeof b);
    uint64_t m = b & 0x7fffffffffffffffull;
    const uint64_t lim = 0x4086200000000000ull; /* 708.0 */
    m = m < lim ? m : lim;
    b = (b & 0x8000000000000000ull) | m;
    memcpy(&z, &b, sizeof z);
    return z;
}

NADE_INLINE double nade_sigmoid_f64(double x)
{
    return 1.0 / (1.0 + nade_expcore_f64(nade_clamp708_f64(-x)));
}

/* log x for positive normal x: fdlibm's e_log.c polynomial (< 1 ulp) with
   the exponent split done on the bit pattern */
NADE_INLINE double nade_logpos_f64(double x)
{
    uint64_t bx;
    memcpy(&bx, &x, sizeof bx);
    uint64_t mant = bx & 0x000fffffffffffffull;
    /* 1 when the mantissa exceeds sqrt(2): wraps negative, top bit set */
    uint64_t big = (0x0006a09e667f3bcdull - mant) >> 63;
    uint64_t mb = mant | (0x3ff0000000000000ull - (big << 52)); /* m in [sqrt2/2, sqrt2) */
    uint64_t eb = ((bx >> 52) + big) | 0x4330000000000000ull;  /* 2^52 + biased exponent */
    double m, eplus;
    memcpy(&m, &mb, sizeof m);
    memcpy(&eplus, &eb, sizeof eplus);
    double k = eplus - (4503599627370496.0 + 1023.0);
    double f = m - 1.0;
    double s = f / (2.0 + f);
    double z = s * s;
    double w = z * z;
    double t1 = w * MADDD(w, MADDD(w, 1.531383769920937332e-01, 2.222219843214978396e-01),
                          3.999999999940941908e-01);
    double t2 = z * MADDD(w, MADDD(w, MADDD(w, 1.479819860511658591e-01, 1.818357216161805012e-01),
                                   2.857142874366239149e-01),
                          6.666666666666735130e-01);
    double R = t2 + t1;
    double hfsq = 0.5 * f * f;
    return k * 6.93147180369123816490e-01 -
           ((hfsq - (s * (hfsq + R) + k * 1.90821492927058770002e-10)) - f);
}

NADE_INLINE double nade_logsig_f64(double t)
{
    double at = fabs(t);
    double e = nade_expcore_f64(nade_clamp708_f64(-at));
    double u = 1.0 + e;
    double l1p = nade_logpos_f64(u) + (e - (u - 1.0)) / u;
    return 0.5 * (t - at) - l1p;
}

#endif /* NADE_MATH_H */
