/*
 * sigmoid_cost.c -- nanoseconds per element of the kernels' sigmoid
 * (csrc/nade_math.h) in float and double, over a hidden-state-sized array
 * held in L1: what the float64 / float32 speed ratio of NADE is made of
 * once the dot products are equal (see benchmarks/README.md).
 *
 *   gcc -O3 -ffp-contract=off -fno-math-errno -fno-trapping-math -march=native \
 *       -Icsrc benchmarks/sigmoid_cost.c -o /tmp/sigmoid_cost -lm && /tmp/sigmoid_cost
 *
 * On AVX-512 it also times double with the division replaced by rcp14 and
 * two Newton steps, to tell whether the divider or the exp polynomial
 * bounds the double sigmoid.  Reports the minimum over 60 rounds.
 */
#include <math.h>
#include <stdio.h>
#include <time.h>
#if defined(__AVX512F__)
#include <immintrin.h>
#endif
#if defined(__FMA__)
#define NADE_FMA 1
#else
#define NADE_FMA 0
#endif
#include "nade_math.h"

#define D 512
#define REPS 20000

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + 1e-9 * t.tv_nsec;
}

__attribute__((noinline)) static void sig_f32(const float *a, float *h)
{
    for (int j = 0; j < D; j++) h[j] = nade_sigmoid_f32(a[j]);
}

__attribute__((noinline)) static void sig_f64(const double *a, double *h)
{
    for (int j = 0; j < D; j++) h[j] = nade_sigmoid_f64(a[j]);
}

#if defined(__AVX512F__)
__attribute__((noinline)) static void sig_f64_newton(const double *a, double *h)
{
    double u[D];
    for (int j = 0; j < D; j++) u[j] = 1.0 + nade_expcore_f64(nade_clamp708_f64(-a[j]));
    const __m512d one = _mm512_set1_pd(1.0);
    for (int j = 0; j < D; j += 8) {
        __m512d x = _mm512_loadu_pd(u + j), r = _mm512_rcp14_pd(x);
        r = _mm512_fmadd_pd(r, _mm512_fnmadd_pd(x, r, one), r);
        r = _mm512_fmadd_pd(r, _mm512_fnmadd_pd(x, r, one), r);
        _mm512_storeu_pd(h + j, r);
    }
}
#endif

#define TIME(call, best)                                                                           \
    do {                                                                                           \
        double t0 = now();                                                                         \
        for (int r = 0; r < REPS; r++) {                                                           \
            call;                                                                                  \
            __asm__ volatile("" ::: "memory");                                                     \
        }                                                                                          \
        double t = now() - t0;                                                                     \
        if (t < best) best = t;                                                                    \
    } while (0)

int main(void)
{
    static float af[D], hf[D];
    static double ad[D], hd[D], hn[D];
    for (int j = 0; j < D; j++) af[j] = (float)(ad[j] = (j - D / 2) * 0.05);
    double b32 = 1e9, b64 = 1e9, bn = 1e9;
    for (int round = 0; round < 60; round++) {
        TIME(sig_f32(af, hf), b32);
        TIME(sig_f64(ad, hd), b64);
#if defined(__AVX512F__)
        TIME(sig_f64_newton(ad, hn), bn);
#endif
    }
    const double scale = 1e9 / ((double)REPS * D);
    printf("sigmoid, ns per element: float %.3f  double %.3f  (double / float %.2f)\n", b32 * scale,
           b64 * scale, b64 / b32);
#if defined(__AVX512F__)
    double worst = 0;
    for (int j = 0; j < D; j++) worst = fmax(worst, fabs(hn[j] - hd[j]) / hd[j]);
    printf("double with rcp14 + 2 Newton steps instead of the division: %.3f ns (double / float "
           "%.2f; max relative difference %.1e)\n", bn * scale, bn / b32, worst);
#endif
    return 0;
}
