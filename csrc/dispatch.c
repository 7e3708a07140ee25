/*
 * dispatch.c -- the public entry points of nade.h: pick the kernel table of
 * the best instruction set the CPU supports (or the one asked for), and
 * forward every call to it.  Also the ISA-independent helpers.
 */
#include <string.h>

#include "nade_internal.h"
#include "philox.h"

#ifdef _OPENMP
#include <omp.h>
#endif

static const nade_table *const nade_tables[] = {
#if defined(NADE_X86_DISPATCH)
    &nade_table_avx512,
    &nade_table_avx2,
#endif
    &nade_table_baseline,
};
#define NADE_NTABLES (sizeof nade_tables / sizeof nade_tables[0])

static const nade_table *nade_active = &nade_table_baseline;

static int cpu_supports(const nade_table *t)
{
#if defined(NADE_X86_DISPATCH)
    __builtin_cpu_init();
    if (t == &nade_table_avx2)
        return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") &&
               __builtin_cpu_supports("bmi") && __builtin_cpu_supports("bmi2") &&
               __builtin_cpu_supports("popcnt") && __builtin_cpu_supports("f16c");
    if (t == &nade_table_avx512)
        return cpu_supports(&nade_table_avx2) && __builtin_cpu_supports("avx512f") &&
               __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512cd") &&
               __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("avx512vl");
#endif
    return t == &nade_table_baseline;
}

static const nade_table *find_table(const char *name)
{
    for (size_t i = 0; i < NADE_NTABLES; i++)
        if (strcmp(nade_tables[i]->name, name) == 0) return nade_tables[i];
    return NULL;
}

int nade_isa_supported(const char *name)
{
    const nade_table *t = name ? find_table(name) : NULL;
    return t != NULL && cpu_supports(t);
}

int nade_select_isa(const char *name)
{
    if (name == NULL || strcmp(name, "auto") == 0) {
        for (size_t i = 0; i < NADE_NTABLES; i++) /* tables are listed best first */
            if (cpu_supports(nade_tables[i])) {
                nade_active = nade_tables[i];
                return NADE_OK;
            }
        return NADE_EISA; /* unreachable: baseline is always supported */
    }
    const nade_table *t = find_table(name);
    if (t == NULL || !cpu_supports(t)) return NADE_EISA;
    nade_active = t;
    return NADE_OK;
}

const char *nade_active_isa(void) { return nade_active->name; }

ptrdiff_t nade_lanes(size_t real_size)
{
    if (real_size != sizeof(float) && real_size != sizeof(double)) return 0;
    return (ptrdiff_t)(NADE_LANE_BYTES / real_size);
}

ptrdiff_t nade_block_rows(ptrdiff_t dp, size_t real_size)
{
    if (dp < 1 || nade_lanes(real_size) == 0) return 0;
    const size_t budget = 36 * 1024;
    ptrdiff_t rows = (ptrdiff_t)(budget / ((size_t)dp * real_size));
    if (rows > NADE_MAX_BLOCK_ROWS) rows = NADE_MAX_BLOCK_ROWS;
    if (rows >= 6) return rows - rows % 6; /* whole register tiles (3 or 6 rows) */
    if (rows >= 3) return rows - rows % 3;
    return rows < 1 ? 1 : rows;
}

size_t nade_work_bytes(ptrdiff_t n, ptrdiff_t dp, size_t real_size, ptrdiff_t block_rows)
{
    if (n < 1 || dp < 1 || nade_lanes(real_size) == 0 || !nade_block_ok(block_rows)) return 0;
    return nade_work_layout(n, dp, real_size, block_rows).total;
}

int nade_score_f32(const nade_params_f32 *p, const ptrdiff_t *order, const uint8_t *X,
                   ptrdiff_t ldx, ptrdiff_t nrows, double *loglik, float *cond, ptrdiff_t ldc,
                   double *terms, ptrdiff_t ldt, void *work)
{
    return nade_active->score_f32(p, order, X, ldx, nrows, loglik, cond, ldc, terms, ldt, work);
}

int nade_score_f64(const nade_params_f64 *p, const ptrdiff_t *order, const uint8_t *X,
                   ptrdiff_t ldx, ptrdiff_t nrows, double *loglik, double *cond, ptrdiff_t ldc,
                   double *terms, ptrdiff_t ldt, void *work)
{
    return nade_active->score_f64(p, order, X, ldx, nrows, loglik, cond, ldc, terms, ldt, work);
}

int nade_sample_f32(const nade_params_f32 *p, const ptrdiff_t *order, const uint64_t key[2],
                    uint64_t row0, uint8_t *X, ptrdiff_t ldx, ptrdiff_t nrows,
                    const ptrdiff_t *given, int greedy, double *loglik, void *work)
{
    return nade_active->sample_f32(p, order, key, row0, X, ldx, nrows, given, greedy, loglik,
                                   work);
}

int nade_sample_f64(const nade_params_f64 *p, const ptrdiff_t *order, const uint64_t key[2],
                    uint64_t row0, uint8_t *X, ptrdiff_t ldx, ptrdiff_t nrows,
                    const ptrdiff_t *given, int greedy, double *loglik, void *work)
{
    return nade_active->sample_f64(p, order, key, row0, X, ldx, nrows, given, greedy, loglik,
                                   work);
}

int nade_grad_f32(const nade_params_f32 *p, const ptrdiff_t *order, const uint8_t *X,
                  ptrdiff_t ldx, ptrdiff_t nrows, double *nll, const nade_gradsum_f32 *g,
                  const int64_t *prev, int64_t *progress, void *work)
{
    return nade_active->grad_f32(p, order, X, ldx, nrows, nll, g, prev, progress, work);
}

int nade_grad_f64(const nade_params_f64 *p, const ptrdiff_t *order, const uint8_t *X,
                  ptrdiff_t ldx, ptrdiff_t nrows, double *nll, const nade_gradsum_f64 *g,
                  const int64_t *prev, int64_t *progress, void *work)
{
    return nade_active->grad_f64(p, order, X, ldx, nrows, nll, g, prev, progress, work);
}

int nade_hidden_f32(const nade_params_f32 *p, const ptrdiff_t *order, const uint8_t *X,
                    ptrdiff_t ldx, ptrdiff_t nrows, float *out, void *work)
{
    return nade_active->hidden_f32(p, order, X, ldx, nrows, out, work);
}

int nade_hidden_f64(const nade_params_f64 *p, const ptrdiff_t *order, const uint8_t *X,
                    ptrdiff_t ldx, ptrdiff_t nrows, double *out, void *work)
{
    return nade_active->hidden_f64(p, order, X, ldx, nrows, out, work);
}

int nade_oa_score_f32(const nade_oa_params_f32 *p, const ptrdiff_t *order, ptrdiff_t ldo,
                      const uint8_t *X, ptrdiff_t ldx, ptrdiff_t nrows, const ptrdiff_t *stop,
                      double *loglik, float *cond, ptrdiff_t ldc, double *terms, ptrdiff_t ldt,
                      void *work)
{
    return nade_active->oa_score_f32(p, order, ldo, X, ldx, nrows, stop, loglik, cond, ldc, terms,
                                     ldt, work);
}

int nade_oa_score_f64(const nade_oa_params_f64 *p, const ptrdiff_t *order, ptrdiff_t ldo,
                      const uint8_t *X, ptrdiff_t ldx, ptrdiff_t nrows, const ptrdiff_t *stop,
                      double *loglik, double *cond, ptrdiff_t ldc, double *terms, ptrdiff_t ldt,
                      void *work)
{
    return nade_active->oa_score_f64(p, order, ldo, X, ldx, nrows, stop, loglik, cond, ldc, terms,
                                     ldt, work);
}

int nade_oa_sample_f32(const nade_oa_params_f32 *p, const ptrdiff_t *order, ptrdiff_t ldo,
                       const uint64_t key[2], uint64_t row0, uint8_t *X, ptrdiff_t ldx,
                       ptrdiff_t nrows, const ptrdiff_t *given, int greedy, double *loglik,
                       void *work)
{
    return nade_active->oa_sample_f32(p, order, ldo, key, row0, X, ldx, nrows, given, greedy,
                                      loglik, work);
}

int nade_oa_sample_f64(const nade_oa_params_f64 *p, const ptrdiff_t *order, ptrdiff_t ldo,
                       const uint64_t key[2], uint64_t row0, uint8_t *X, ptrdiff_t ldx,
                       ptrdiff_t nrows, const ptrdiff_t *given, int greedy, double *loglik,
                       void *work)
{
    return nade_active->oa_sample_f64(p, order, ldo, key, row0, X, ldx, nrows, given, greedy,
                                      loglik, work);
}

int nade_adam_f32(float *p, const float *g, float *m, float *v, ptrdiff_t len, float b1,
                  float c1, float b2, float c2, float lr_t, float eps_t)
{
    return nade_active->adam_f32(p, g, m, v, len, b1, c1, b2, c2, lr_t, eps_t);
}

int nade_adam_f64(double *p, const double *g, double *m, double *v, ptrdiff_t len, double b1,
                  double c1, double b2, double c2, double lr_t, double eps_t)
{
    return nade_active->adam_f64(p, g, m, v, len, b1, c1, b2, c2, lr_t, eps_t);
}

int nade_oa_output_f32(float *Z, ptrdiff_t ldz, const uint8_t *X, ptrdiff_t ldx,
                       const uint8_t *mask, ptrdiff_t ldm, ptrdiff_t n, ptrdiff_t nrows,
                       double scale, double *loss)
{
    return nade_active->oa_output_f32(Z, ldz, X, ldx, mask, ldm, n, nrows, scale, loss);
}

int nade_oa_output_f64(double *Z, ptrdiff_t ldz, const uint8_t *X, ptrdiff_t ldx,
                       const uint8_t *mask, ptrdiff_t ldm, ptrdiff_t n, ptrdiff_t nrows,
                       double scale, double *loss)
{
    return nade_active->oa_output_f64(Z, ldz, X, ldx, mask, ldm, n, nrows, scale, loss);
}

int nade_oa_input_add_f32(const float *Win, ptrdiff_t dp, const uint8_t *X, ptrdiff_t ldx,
                           const uint8_t *mask, ptrdiff_t ldm, ptrdiff_t n, ptrdiff_t nrows,
                           float *A, ptrdiff_t lda)
{
    return nade_active->oa_input_add_f32(Win, dp, X, ldx, mask, ldm, n, nrows, A, lda);
}

int nade_oa_input_add_f64(const double *Win, ptrdiff_t dp, const uint8_t *X, ptrdiff_t ldx,
                           const uint8_t *mask, ptrdiff_t ldm, ptrdiff_t n, ptrdiff_t nrows,
                           double *A, ptrdiff_t lda)
{
    return nade_active->oa_input_add_f64(Win, dp, X, ldx, mask, ldm, n, nrows, A, lda);
}

int nade_oa_input_grad_f32(const float *dA, ptrdiff_t lda, const uint8_t *X, ptrdiff_t ldx,
                            const uint8_t *mask, ptrdiff_t ldm, ptrdiff_t nrows, ptrdiff_t j0,
                            ptrdiff_t j1, float *gWin, ptrdiff_t dp)
{
    return nade_active->oa_input_grad_f32(dA, lda, X, ldx, mask, ldm, nrows, j0, j1, gWin, dp);
}

int nade_oa_input_grad_f64(const double *dA, ptrdiff_t lda, const uint8_t *X, ptrdiff_t ldx,
                            const uint8_t *mask, ptrdiff_t ldm, ptrdiff_t nrows, ptrdiff_t j0,
                            ptrdiff_t j1, double *gWin, ptrdiff_t dp)
{
    return nade_active->oa_input_grad_f64(dA, lda, X, ldx, mask, ldm, nrows, j0, j1, gWin, dp);
}

int nade_uniform_bits(const uint64_t key[2], uint64_t row, ptrdiff_t n, uint32_t *out)
{
    if (key == NULL || n < 0 || out == NULL) return NADE_EINVAL;
    nade_uniform_bits_row(key, row, n, out);
    return NADE_OK;
}

int nade_logistic_noise(const uint64_t key[2], uint64_t row, ptrdiff_t n, uint32_t *bits,
                        double *out)
{
    return nade_active->logistic_noise(key, row, n, bits, out);
}

int nade_openmp_enabled(void)
{
#ifdef _OPENMP
    return 1;
#else
    return 0;
#endif
}

int nade_openmp_max_threads(void)
{
#ifdef _OPENMP
    return omp_get_max_threads();
#else
    return 1;
#endif
}
