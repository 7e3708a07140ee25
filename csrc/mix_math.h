/*
 * mix_math.h -- one variable's mixture of C Gaussians (docs/mixture.md §2-§6), in double:
 * the per-variable mathematics of nadefast/_mixture.py (GaussianMixture), written in the
 * same order of operations.  The kernels of mix_impl.h compute a variable's 3C output
 * units in their real type, convert them to double and call these; the work is O(C) per
 * variable and row (O(50 C^2) for the mode), small beside the 3C dot products of length d.
 * Transcendentals come from libm (exp, log, log1p, sqrt, cos): accuracy matters more here
 * than vectorising, and the reference computes with NumPy's double-precision functions.
 *
 * Never NaN or infinite from finite arguments: the 3C units are clamped to +-1e300 (a
 * float32 dot product can overflow to infinity), a scale pre-activation to at most
 * NADE_MIX_MAX_LOG_SIGMA (so sigma, 1 / sigma^2 and log sigma stay finite and normal), a
 * standardised distance (x - mu) / sigma to +-1e150 (so its square stays finite) and a value
 * entering the hidden layer to +-1e15 (nade_mix_input).  The clamps only act on values no
 * fitted model reaches.
 *
 * Included once per instruction-set unit (nade_isa.h, through mix_impl.h); no REAL.
 */
#ifndef NADE_MIX_MATH_H
#define NADE_MIX_MATH_H

#include <math.h>
#include <stddef.h>

#define NADE_SIGMA_FLOOR 1e-3 /* the smallest scale, standardised units (_mixture.py) */
#define NADE_HALF_LOG_2PI 0.91893853320467274178 /* log sqrt(2 pi) */
#define NADE_MIX_MAX_LOG_SIGMA 300.0
#define NADE_MIX_MODE_STEPS 50 /* mean-shift iterations from each component's mean */
#define NADE_TWO_PI 6.283185307179586 /* 2 pi rounded, as NumPy's 2.0 * np.pi */

/* a variable's mixture, unpacked: C doubles each */
typedef struct {
    ptrdiff_t C;
    double *la;  /* log alpha_c, log-softmax of the weight logits */
    double *mu;  /* means */
    double *sg;  /* sigma_c = exp(s_c) + floor */
    double *lsg; /* log sigma_c */
    double *dsg; /* d log sigma_c / d s_c = (sigma_c - floor) / sigma_c (0 where clamped) */
    double *lt;  /* component terms of the last nade_mix_logp, then responsibilities */
    double *t;   /* standardised distances of the last nade_mix_logp */
} nade_mix;

/* scratch doubles nade_mix_on needs for C components */
#define NADE_MIX_DOUBLES(C) (7 * (C))

static inline nade_mix nade_mix_on(double *buf, ptrdiff_t C)
{
    nade_mix m = {C, buf, buf + C, buf + 2 * C, buf + 3 * C, buf + 4 * C, buf + 5 * C,
                  buf + 6 * C};
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

/* the 3C units y (weight logits, means, scale pre-activations) -> m */
static void nade_mix_unpack(const double *y, nade_mix *m)
{
    const ptrdiff_t C = m->C;
    ptrdiff_t top = 0;
    for (ptrdiff_t c = 0; c < C; c++) {
        m->la[c] = nade_mix_clamp(y[c], 1e300);
        if (m->la[c] > m->la[top]) top = c;
    }
    /* log-softmax: (y_c - max) - log(1 + sum_{c != top} e^{y_c - max}) */
    const double peak = m->la[top];
    double s = 0.0;
    for (ptrdiff_t c = 0; c < C; c++) {
        m->la[c] -= peak;
        if (c != top) s += exp(m->la[c]);
    }
    const double l1p = log1p(s);
    for (ptrdiff_t c = 0; c < C; c++) {
        m->la[c] -= l1p;
        m->mu[c] = nade_mix_clamp(y[C + c], 1e300);
        const double pre = y[2 * C + c];
        const int clamped = pre > NADE_MIX_MAX_LOG_SIGMA;
        const double e = exp(clamped ? NADE_MIX_MAX_LOG_SIGMA : pre);
        m->sg[c] = e + NADE_SIGMA_FLOOR;
        m->lsg[c] = log(m->sg[c]);
        m->dsg[c] = clamped ? 0.0 : (m->sg[c] - NADE_SIGMA_FLOOR) / m->sg[c];
    }
}

/* log p(x) = logsumexp_c [log alpha_c - log sqrt(2 pi) - log sigma_c - t_c^2 / 2]; the
   component terms stay in m->lt, the distances t_c in m->t */
static double nade_mix_logp(nade_mix *m, double x)
{
    const ptrdiff_t C = m->C;
    ptrdiff_t top = 0;
    for (ptrdiff_t c = 0; c < C; c++) {
        const double t = nade_mix_clamp((x - m->mu[c]) / m->sg[c], 1e150);
        m->t[c] = t;
        m->lt[c] = ((m->la[c] - NADE_HALF_LOG_2PI) - m->lsg[c]) - (0.5 * t) * t;
        if (m->lt[c] > m->lt[top]) top = c;
    }
    double s = 0.0;
    for (ptrdiff_t c = 0; c < C; c++)
        if (c != top) s += exp(m->lt[c] - m->lt[top]);
    return m->lt[top] + log1p(s);
}

/* d(-log p(x)) / d(the 3C units) into g (docs/mixture.md §3), after nade_mix_logp(m, x)
   returned lp: alpha_c - pi_c, -pi_c t_c / sigma_c, pi_c (1 - t_c^2) dsigma_c */
static void nade_mix_grad(nade_mix *m, double lp, double *g)
{
    const ptrdiff_t C = m->C;
    for (ptrdiff_t c = 0; c < C; c++) {
        const double pi = exp(m->lt[c] - lp), t = m->t[c];
        g[c] = exp(m->la[c]) - pi;
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
        cdf += exp(m->la[c]);
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
   Overwrites m->lt and m->t. */
static double nade_mix_mode(nade_mix *m)
{
    const ptrdiff_t C = m->C;
    double best = -HUGE_VAL, arg = m->mu[0];
    for (ptrdiff_t start = 0; start < C; start++) {
        double z = m->mu[start];
        for (int step = 0; step < NADE_MIX_MODE_STEPS; step++) {
            ptrdiff_t top = 0;
            for (ptrdiff_t c = 0; c < C; c++) { /* log w_c, up to a constant */
                const double t = nade_mix_clamp((z - m->mu[c]) / m->sg[c], 1e150);
                m->lt[c] = (m->la[c] - m->lsg[c]) - (0.5 * t) * t;
                if (m->lt[c] > m->lt[top]) top = c;
            }
            double num = 0.0, den = 0.0;
            for (ptrdiff_t c = 0; c < C; c++) {
                const double w = exp(m->lt[c] - m->lt[top]) * (1.0 / (m->sg[c] * m->sg[c]));
                num += w * m->mu[c];
                den += w; /* > 0: the top component's weight is 1 / sigma^2 */
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
