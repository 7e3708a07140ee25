/*
 * mix_math.h -- one variable's mixture of C Gaussians (docs/mixture.md §2-§6), in double:
 * the per-variable mathematics of nadefast/_mixture.py (GaussianMixture).  The kernels of
 * mix_impl.h compute a variable's 3C output units in their real type, convert them to
 * double and call these.
 *
 * Speed.  At the sizes RNADE is used at (d = 50-500 hidden units, C = 10) this work is not
 * small beside the 3C dot products of length d: with libm's scalar exp/log it took 4C
 * (score) to 6C (gradient) calls per row and position and dominated the kernels at d ~ 100.
 * So the work per component is written as loops over c that GCC vectorises, with the
 * branch-free polynomial exp and log of nade_math.h (nade_expcore_f64: Cody-Waite
 * reduction and a degree-11 polynomial, nade_logpos_f64: fdlibm's polynomial; both within
 * 1.3 ulp of the exact value, under 1 ulp with FMA, measured on 2e7 random arguments
 * against long double), and each transcendental is taken once:
 *   - the mixing weights alpha_c = e^{y_c - max} / (1 + s) from the exponentials of the
 *     log-softmax, kept (no exp(log alpha) afterwards);
 *   - the per-component constant log alpha_c - log sqrt(2 pi) - log sigma_c, kept;
 *   - the responsibilities pi_c = e^{l_c - max} / (1 + s) from the exponentials of the
 *     log-sum-exp of nade_mix_logp (no exp(l_c - log p) afterwards).
 * That leaves 4C exponentials/logarithms (vectorised) and two scalar logarithms per row and
 * position, for the score as for the gradient.  Sums over components stay in index order
 * (sequential loops), so results do not depend on the vector width; scalar and vector code
 * agree bit for bit (-ffp-contract=off, fma only where NADE_FMA asks for it), so a
 * component's value does not depend on whether it falls in a vector or in the remainder
 * loop, and a row's results do not depend on its batch or the thread count.
 * Between instruction sets the last bits may differ (the baseline has no fma), as for every
 * other kernel (README, "Guarantees").  Box-Muller's sqrt, log and cos (one each per draw)
 * are libm's.
 *
 * Never NaN or infinite from finite arguments: the 3C units are clamped to +-1e300 (a
 * float32 dot product can overflow to infinity), a scale pre-activation to at most
 * NADE_MIX_MAX_LOG_SIGMA (so sigma, 1 / sigma^2 and log sigma stay finite and normal), a
 * standardised distance (x - mu) / sigma to +-1e150 (so its square stays finite) and a value
 * entering the hidden layer to +-1e15 (nade_mix_input).  The clamps only act on values no
 * fitted model reaches.  Exponentials are of arguments <= 300 and are 0 below -708, where
 * the exact value is below 3.1e-308 (nade_mix_exp).
 *
 * Included once per instruction-set unit (nade_isa.h, through mix_impl.h); no REAL.
 */
#ifndef NADE_MIX_MATH_H
#define NADE_MIX_MATH_H

#include <math.h>
#include <stddef.h>

#include "nade_math.h"

#define NADE_SIGMA_FLOOR 1e-3 /* the smallest scale, standardised units (_mixture.py) */
#define NADE_HALF_LOG_2PI 0.91893853320467274178 /* log sqrt(2 pi) */
#define NADE_MIX_MAX_LOG_SIGMA 300.0
#define NADE_MIX_MODE_STEPS 50 /* mean-shift iterations from each component's mean */
#define NADE_TWO_PI 6.283185307179586 /* 2 pi rounded, as NumPy's 2.0 * np.pi */

/* a variable's mixture, unpacked: C doubles each */
typedef struct {
    ptrdiff_t C;
    double *lc;  /* log alpha_c - log sqrt(2 pi) - log sigma_c: a component term's constant */
    double *al;  /* alpha_c, the mixing weights (softmax of the weight logits) */
    double *mu;  /* means */
    double *sg;  /* sigma_c = exp(s_c) + floor */
    double *dsg; /* d log sigma_c / d s_c = (sigma_c - floor) / sigma_c (0 where clamped) */
    double *lt;  /* component terms of the last nade_mix_logp, then e^{term - max} */
    double *t;   /* standardised distances of the last nade_mix_logp */
    double norm; /* sum_c e^{term_c - max} of the last nade_mix_logp: pi_c = lt[c] / norm */
} nade_mix;

/* scratch doubles nade_mix_on needs for C components */
#define NADE_MIX_DOUBLES(C) (7 * (C))

static inline nade_mix nade_mix_on(double *buf, ptrdiff_t C)
{
    nade_mix m = {C, buf, buf + C, buf + 2 * C, buf + 3 * C, buf + 4 * C, buf + 5 * C,
                  buf + 6 * C, 1.0};
    return m;
}

static inline double nade_mix_clamp(double v, double lim)
{
    return v > lim ? lim : (v < -lim ? -lim : v);
}

/* what a value adds to the hidden layer is x times its weights, x clamped to +-1e15: the
   states of a float32 model stay finite, so the gradient's backward sweep, which subtracts
   what the forward one added, never meets inf - inf */
static inline double nade_mix_input(double x) { return nade_mix_clamp(x, 1e15); }

/* e^z for z <= 708 (any z below, -inf included): nade_expcore_f64 on [-708, 708], 0 below
   (where e^z < 3.1e-308: nothing here adds such a value to anything smaller than 1e-3).
   Branch-free, so loops calling it vectorise. */
NADE_INLINE double nade_mix_exp(double z)
{
    const double e = nade_expcore_f64(nade_clamp708_f64(z));
    return z < -708.0 ? 0.0 : e;
}

/* log(1 + s) for finite s >= 0: log of u = 1 + s, corrected by the rounding of u */
NADE_INLINE double nade_mix_log1p(double s)
{
    const double u = 1.0 + s;
    return nade_logpos_f64(u) + (s - (u - 1.0)) / u;
}

/* the index of the largest of v[0..C), the first of equals */
static inline ptrdiff_t nade_mix_argmax(const double *v, ptrdiff_t C)
{
    ptrdiff_t top = 0;
    for (ptrdiff_t c = 1; c < C; c++)
        if (v[c] > v[top]) top = c;
    return top;
}

/* sum_{c != top} v[c], in index order */
static inline double nade_mix_sum_but(const double *v, ptrdiff_t C, ptrdiff_t top)
{
    double s = 0.0;
    for (ptrdiff_t c = 0; c < C; c++)
        if (c != top) s += v[c];
    return s;
}

/* The 3C units y (weight logits, means, scale pre-activations) -> m.  Log-softmax:
   log alpha_c = (y_c - max) - log(1 + s), s = sum_{c != top} e^{y_c - max}, and
   alpha_c = e^{y_c - max} / (1 + s) from the same exponentials.  Uses m->t as scratch. */
static void nade_mix_unpack(const double *restrict y, nade_mix *m)
{
    const ptrdiff_t C = m->C;
    double *restrict ly = m->t, *restrict al = m->al;
    for (ptrdiff_t c = 0; c < C; c++) ly[c] = nade_mix_clamp(y[c], 1e300);
    const ptrdiff_t top = nade_mix_argmax(ly, C);
    const double peak = ly[top];
    for (ptrdiff_t c = 0; c < C; c++) { /* e^0 = 1 exactly at the top */
        ly[c] -= peak;
        al[c] = nade_mix_exp(ly[c]);
    }
    const double s = nade_mix_sum_but(al, C, top), u = 1.0 + s, l1p = nade_mix_log1p(s);
    double *restrict lc = m->lc, *restrict mu = m->mu, *restrict sg = m->sg,
                     *restrict dsg = m->dsg;
    for (ptrdiff_t c = 0; c < C; c++) {
        al[c] /= u;
        mu[c] = nade_mix_clamp(y[C + c], 1e300);
    }
    for (ptrdiff_t c = 0; c < C; c++) {
        const double pre = y[2 * C + c];
        const int clamped = pre > NADE_MIX_MAX_LOG_SIGMA;
        const double sig = nade_mix_exp(clamped ? NADE_MIX_MAX_LOG_SIGMA : pre) + NADE_SIGMA_FLOOR;
        sg[c] = sig;
        dsg[c] = clamped ? 0.0 : (sig - NADE_SIGMA_FLOOR) / sig;
    }
    for (ptrdiff_t c = 0; c < C; c++)
        lc[c] = ((ly[c] - l1p) - NADE_HALF_LOG_2PI) - nade_logpos_f64(sg[c]);
}

/* log p(x) = logsumexp_c [log alpha_c - log sqrt(2 pi) - log sigma_c - t_c^2 / 2]; the
   distances t_c stay in m->t, e^{term_c - max} in m->lt and their sum in m->norm */
static double nade_mix_logp(nade_mix *m, double x)
{
    const ptrdiff_t C = m->C;
    const double *restrict lc = m->lc, *restrict mu = m->mu, *restrict sg = m->sg;
    double *restrict lt = m->lt, *restrict tt = m->t;
    for (ptrdiff_t c = 0; c < C; c++) {
        const double t = nade_mix_clamp((x - mu[c]) / sg[c], 1e150);
        tt[c] = t;
        lt[c] = lc[c] - (0.5 * t) * t;
    }
    const ptrdiff_t top = nade_mix_argmax(lt, C);
    const double peak = lt[top];
    for (ptrdiff_t c = 0; c < C; c++) lt[c] = nade_mix_exp(lt[c] - peak);
    const double s = nade_mix_sum_but(lt, C, top);
    m->norm = 1.0 + s;
    return peak + nade_mix_log1p(s);
}

/* d(-log p(x)) / d(the 3C units) into g (docs/mixture.md §3), after nade_mix_logp(m, x):
   alpha_c - pi_c, -pi_c t_c / sigma_c, pi_c (1 - t_c^2) dsigma_c, with the responsibilities
   pi_c = e^{term_c - max} / sum_c' e^{term_c' - max}.  g may be the units nade_mix_unpack
   read. */
static void nade_mix_grad(const nade_mix *m, double *restrict g)
{
    const ptrdiff_t C = m->C;
    const double norm = m->norm;
    for (ptrdiff_t c = 0; c < C; c++) {
        const double pi = m->lt[c] / norm, t = m->t[c];
        g[c] = m->al[c] - pi;
        g[C + c] = (-pi * t) / m->sg[c];
        g[2 * C + c] = (pi * (1.0 - t * t)) * m->dsg[c];
    }
}

/* A draw with the uniforms u[0..2] (docs/mixture.md §5): the component by inverse
   transform of u[0] over the cumulative weights (the last when rounding leaves the sum at
   or below u[0]), a standard normal by Box-Muller from u[1], u[2]. */
static double nade_mix_draw(const nade_mix *m, const double *u)
{
    const ptrdiff_t C = m->C;
    ptrdiff_t k = C - 1;
    double cdf = 0.0;
    for (ptrdiff_t c = 0; c + 1 < C; c++) {
        cdf += m->al[c];
        if (u[0] < cdf) {
            k = c;
            break;
        }
    }
    const double normal = sqrt(-2.0 * log(u[1])) * cos(NADE_TWO_PI * u[2]);
    return m->mu[k] + m->sg[k] * normal;
}

/* The highest point (GaussianMixture.mode): NADE_MIX_MODE_STEPS mean-shift steps
   z <- sum_c w_c mu_c / sum_c w_c, w_c = alpha_c N(z; mu_c, sigma_c) / sigma_c^2, from
   every component's mean; the end point of highest density, the first of equals.
   Overwrites m->lt, m->t and m->norm. */
static double nade_mix_mode(nade_mix *m)
{
    const ptrdiff_t C = m->C;
    const double *restrict lc = m->lc, *restrict mu = m->mu, *restrict sg = m->sg;
    double *restrict lw = m->lt, *restrict prec = m->t;
    double best = -HUGE_VAL, arg = mu[0];
    for (ptrdiff_t start = 0; start < C; start++) {
        for (ptrdiff_t c = 0; c < C; c++) prec[c] = 1.0 / (sg[c] * sg[c]); /* (logp reuses t) */
        double z = mu[start];
        for (int step = 0; step < NADE_MIX_MODE_STEPS; step++) {
            for (ptrdiff_t c = 0; c < C; c++) { /* log w_c, up to a constant */
                const double t = nade_mix_clamp((z - mu[c]) / sg[c], 1e150);
                lw[c] = lc[c] - (0.5 * t) * t;
            }
            const double peak = lw[nade_mix_argmax(lw, C)];
            for (ptrdiff_t c = 0; c < C; c++) lw[c] = nade_mix_exp(lw[c] - peak) * prec[c];
            double num = 0.0, den = 0.0;
            for (ptrdiff_t c = 0; c < C; c++) {
                num += lw[c] * mu[c];
                den += lw[c]; /* > 0: the top component's weight is 1 / sigma^2 */
            }
            const double next = num / den;
            if (next == z) break; /* a fixed point: the remaining steps would stay there */
            z = next;
        }
        const double lp = nade_mix_logp(m, z);
        if (lp > best) {
            best = lp;
            arg = z;
        }
    }
    return arg;
}

#endif /* NADE_MIX_MATH_H */
