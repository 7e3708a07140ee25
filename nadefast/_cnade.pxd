# The C kernels of csrc/nade.h, for the Cython layer (nadefast/_core.pyx).
# Every kernel returns a status code (NADE_OK, NADE_EINVAL, NADE_EISA);
# _core.pyx turns non-zero codes into exceptions after the nogil block.
# Cython does not read C headers: a kernel added to csrc/nade_kernels.def is
# declared here by hand, as it appears in nade.h.

from libc.stdint cimport uint8_t, int32_t, uint32_t, int64_t, uint64_t


cdef extern from "nade.h" nogil:
    enum:
        NADE_OK
        NADE_EINVAL
        NADE_EISA
        NADE_MAX_BLOCK_ROWS
        NADE_LANE_BYTES
        NADE_ALIGN
        NADE_ACT_SIGMOID
        NADE_ACT_RELU

    ctypedef struct nade_params_f32:
        Py_ssize_t n, d, dp
        const float *Wt
        const float *V
        const float *b
        const float *c

    ctypedef struct nade_params_f64:
        Py_ssize_t n, d, dp
        const double *Wt
        const double *V
        const double *b
        const double *c

    ctypedef struct nade_oa_params_f32:
        Py_ssize_t n, d, dp, layers
        const float *Win
        const float *Wmask
        const float *b1
        const float *Wdeep
        const float *bdeep
        const float *V
        const float *c

    ctypedef struct nade_oa_params_f64:
        Py_ssize_t n, d, dp, layers
        const double *Win
        const double *Wmask
        const double *b1
        const double *Wdeep
        const double *bdeep
        const double *V
        const double *c

    ctypedef struct nade_gradsum_f32:
        float *Wt
        float *V
        float *b
        float *c

    ctypedef struct nade_gradsum_f64:
        double *Wt
        double *V
        double *b
        double *c

    ctypedef struct nade_cat_params_f32:
        Py_ssize_t n, d, dp
        const float *Wt
        const float *V
        const float *b
        const float *c
        const Py_ssize_t *in_off
        const Py_ssize_t *out_off

    ctypedef struct nade_cat_params_f64:
        Py_ssize_t n, d, dp
        const double *Wt
        const double *V
        const double *b
        const double *c
        const Py_ssize_t *in_off
        const Py_ssize_t *out_off

    ctypedef struct nade_oa_cat_params_f32:
        Py_ssize_t n, d, dp, layers
        const float *Win
        const float *Wmask
        const float *b1
        const float *Wdeep
        const float *bdeep
        const float *V
        const float *c
        const Py_ssize_t *in_off
        const Py_ssize_t *out_off

    ctypedef struct nade_oa_cat_params_f64:
        Py_ssize_t n, d, dp, layers
        const double *Win
        const double *Wmask
        const double *b1
        const double *Wdeep
        const double *bdeep
        const double *V
        const double *c
        const Py_ssize_t *in_off
        const Py_ssize_t *out_off

    ctypedef struct nade_mix_params_f32:
        Py_ssize_t n, d, dp, C
        const float *Wt
        const float *V
        const float *b
        const float *c
        const float *rho
        int act

    ctypedef struct nade_mix_params_f64:
        Py_ssize_t n, d, dp, C
        const double *Wt
        const double *V
        const double *b
        const double *c
        const double *rho
        int act

    ctypedef struct nade_mix_gradsum_f32:
        float *Wt
        float *V
        float *b
        float *c
        float *rho

    ctypedef struct nade_mix_gradsum_f64:
        double *Wt
        double *V
        double *b
        double *c
        double *rho

    ctypedef struct nade_oa_mix_params_f32:
        Py_ssize_t n, d, dp, layers, C
        const float *Win
        const float *Wmask
        const float *b1
        const float *Wdeep
        const float *bdeep
        const float *V
        const float *c

    ctypedef struct nade_oa_mix_params_f64:
        Py_ssize_t n, d, dp, layers, C
        const double *Win
        const double *Wmask
        const double *b1
        const double *Wdeep
        const double *bdeep
        const double *V
        const double *c

    Py_ssize_t nade_lanes(size_t real_size)
    Py_ssize_t nade_block_rows(Py_ssize_t dp, size_t real_size)
    size_t nade_work_bytes(Py_ssize_t n, Py_ssize_t dp, size_t real_size, Py_ssize_t block_rows)

    int nade_score_f32(const nade_params_f32 *p, const Py_ssize_t *order, const uint8_t *X,
                       Py_ssize_t ldx, Py_ssize_t nrows, double *loglik, float *cond,
                       Py_ssize_t ldc, double *terms, Py_ssize_t ldt, void *work)
    int nade_score_f64(const nade_params_f64 *p, const Py_ssize_t *order, const uint8_t *X,
                       Py_ssize_t ldx, Py_ssize_t nrows, double *loglik, double *cond,
                       Py_ssize_t ldc, double *terms, Py_ssize_t ldt, void *work)

    int nade_sample_f32(const nade_params_f32 *p, const Py_ssize_t *order, const uint64_t *key,
                        uint64_t row0, uint8_t *X, Py_ssize_t ldx, Py_ssize_t nrows,
                        const Py_ssize_t *given, int greedy, double *loglik, void *work)
    int nade_sample_f64(const nade_params_f64 *p, const Py_ssize_t *order, const uint64_t *key,
                        uint64_t row0, uint8_t *X, Py_ssize_t ldx, Py_ssize_t nrows,
                        const Py_ssize_t *given, int greedy, double *loglik, void *work)

    int nade_grad_f32(const nade_params_f32 *p, const Py_ssize_t *order, const uint8_t *X,
                      Py_ssize_t ldx, Py_ssize_t nrows, double *nll, const nade_gradsum_f32 *g,
                      const int64_t *prev, int64_t *progress, void *work)
    int nade_grad_f64(const nade_params_f64 *p, const Py_ssize_t *order, const uint8_t *X,
                      Py_ssize_t ldx, Py_ssize_t nrows, double *nll, const nade_gradsum_f64 *g,
                      const int64_t *prev, int64_t *progress, void *work)

    int nade_oa_score_f32(const nade_oa_params_f32 *p, const Py_ssize_t *order, Py_ssize_t ldo,
                          const uint8_t *X, Py_ssize_t ldx, Py_ssize_t nrows,
                          const Py_ssize_t *stop, double *loglik, float *cond, Py_ssize_t ldc,
                          double *terms, Py_ssize_t ldt, void *work)
    int nade_oa_score_f64(const nade_oa_params_f64 *p, const Py_ssize_t *order, Py_ssize_t ldo,
                          const uint8_t *X, Py_ssize_t ldx, Py_ssize_t nrows,
                          const Py_ssize_t *stop, double *loglik, double *cond, Py_ssize_t ldc,
                          double *terms, Py_ssize_t ldt, void *work)
    int nade_oa_sample_f32(const nade_oa_params_f32 *p, const Py_ssize_t *order, Py_ssize_t ldo,
                           const uint64_t *key, uint64_t row0, uint8_t *X, Py_ssize_t ldx,
                           Py_ssize_t nrows, const Py_ssize_t *given, int greedy,
                           double *loglik, void *work)
    int nade_oa_sample_f64(const nade_oa_params_f64 *p, const Py_ssize_t *order, Py_ssize_t ldo,
                           const uint64_t *key, uint64_t row0, uint8_t *X, Py_ssize_t ldx,
                           Py_ssize_t nrows, const Py_ssize_t *given, int greedy,
                           double *loglik, void *work)

    int nade_hidden_f32(const nade_params_f32 *p, const Py_ssize_t *order, const uint8_t *X,
                        Py_ssize_t ldx, Py_ssize_t nrows, float *out, void *work)
    int nade_hidden_f64(const nade_params_f64 *p, const Py_ssize_t *order, const uint8_t *X,
                        Py_ssize_t ldx, Py_ssize_t nrows, double *out, void *work)

    int nade_cat_score_f32(const nade_cat_params_f32 *p, const Py_ssize_t *order, const int32_t *X,
                           Py_ssize_t ldx, Py_ssize_t nrows, double *loglik, float *cond,
                           Py_ssize_t ldc, const Py_ssize_t *feat_off, double *terms,
                           Py_ssize_t ldt, void *work)
    int nade_cat_score_f64(const nade_cat_params_f64 *p, const Py_ssize_t *order, const int32_t *X,
                           Py_ssize_t ldx, Py_ssize_t nrows, double *loglik, double *cond,
                           Py_ssize_t ldc, const Py_ssize_t *feat_off, double *terms,
                           Py_ssize_t ldt, void *work)
    int nade_cat_sample_f32(const nade_cat_params_f32 *p, const Py_ssize_t *order,
                            const uint64_t *key, uint64_t row0, int32_t *X, Py_ssize_t ldx,
                            Py_ssize_t nrows, const Py_ssize_t *given, int greedy,
                            double *loglik, void *work)
    int nade_cat_sample_f64(const nade_cat_params_f64 *p, const Py_ssize_t *order,
                            const uint64_t *key, uint64_t row0, int32_t *X, Py_ssize_t ldx,
                            Py_ssize_t nrows, const Py_ssize_t *given, int greedy,
                            double *loglik, void *work)
    int nade_cat_grad_f32(const nade_cat_params_f32 *p, const Py_ssize_t *order, const int32_t *X,
                          Py_ssize_t ldx, Py_ssize_t nrows, double *nll, const nade_gradsum_f32 *g,
                          const int64_t *prev, int64_t *progress, void *work)
    int nade_cat_grad_f64(const nade_cat_params_f64 *p, const Py_ssize_t *order, const int32_t *X,
                          Py_ssize_t ldx, Py_ssize_t nrows, double *nll, const nade_gradsum_f64 *g,
                          const int64_t *prev, int64_t *progress, void *work)
    int nade_cat_hidden_f32(const nade_cat_params_f32 *p, const Py_ssize_t *order,
                            const int32_t *X, Py_ssize_t ldx, Py_ssize_t nrows, float *out,
                            void *work)
    int nade_cat_hidden_f64(const nade_cat_params_f64 *p, const Py_ssize_t *order,
                            const int32_t *X, Py_ssize_t ldx, Py_ssize_t nrows, double *out,
                            void *work)
    int nade_oa_cat_score_f32(const nade_oa_cat_params_f32 *p, const Py_ssize_t *order,
                              Py_ssize_t ldo, const int32_t *X, Py_ssize_t ldx, Py_ssize_t nrows,
                              const Py_ssize_t *stop, double *loglik, float *cond, Py_ssize_t ldc,
                              double *terms, Py_ssize_t ldt, void *work)
    int nade_oa_cat_score_f64(const nade_oa_cat_params_f64 *p, const Py_ssize_t *order,
                              Py_ssize_t ldo, const int32_t *X, Py_ssize_t ldx, Py_ssize_t nrows,
                              const Py_ssize_t *stop, double *loglik, double *cond, Py_ssize_t ldc,
                              double *terms, Py_ssize_t ldt, void *work)
    int nade_oa_cat_sample_f32(const nade_oa_cat_params_f32 *p, const Py_ssize_t *order,
                               Py_ssize_t ldo, const uint64_t *key, uint64_t row0, int32_t *X,
                               Py_ssize_t ldx, Py_ssize_t nrows, const Py_ssize_t *given,
                               int greedy, double *loglik, void *work)
    int nade_oa_cat_sample_f64(const nade_oa_cat_params_f64 *p, const Py_ssize_t *order,
                               Py_ssize_t ldo, const uint64_t *key, uint64_t row0, int32_t *X,
                               Py_ssize_t ldx, Py_ssize_t nrows, const Py_ssize_t *given,
                               int greedy, double *loglik, void *work)
    size_t nade_cat_work_bytes(Py_ssize_t n, Py_ssize_t n_out, Py_ssize_t dp, size_t real_size,
                               Py_ssize_t block_rows)

    int nade_mix_score_f32(const nade_mix_params_f32 *p, const Py_ssize_t *order, const double *X,
                           Py_ssize_t ldx, Py_ssize_t nrows, double *loglik, float *cond,
                           Py_ssize_t ldc, double *terms, Py_ssize_t ldt, void *work)
    int nade_mix_score_f64(const nade_mix_params_f64 *p, const Py_ssize_t *order, const double *X,
                           Py_ssize_t ldx, Py_ssize_t nrows, double *loglik, double *cond,
                           Py_ssize_t ldc, double *terms, Py_ssize_t ldt, void *work)
    int nade_mix_sample_f32(const nade_mix_params_f32 *p, const Py_ssize_t *order,
                            const uint64_t *key, uint64_t row0, double *X, Py_ssize_t ldx,
                            Py_ssize_t nrows, const Py_ssize_t *given, int greedy,
                            double *loglik, void *work)
    int nade_mix_sample_f64(const nade_mix_params_f64 *p, const Py_ssize_t *order,
                            const uint64_t *key, uint64_t row0, double *X, Py_ssize_t ldx,
                            Py_ssize_t nrows, const Py_ssize_t *given, int greedy,
                            double *loglik, void *work)
    int nade_mix_grad_f32(const nade_mix_params_f32 *p, const Py_ssize_t *order, const double *X,
                          Py_ssize_t ldx, Py_ssize_t nrows, double *nll,
                          const nade_mix_gradsum_f32 *g, const int64_t *prev, int64_t *progress,
                          void *work)
    int nade_mix_grad_f64(const nade_mix_params_f64 *p, const Py_ssize_t *order, const double *X,
                          Py_ssize_t ldx, Py_ssize_t nrows, double *nll,
                          const nade_mix_gradsum_f64 *g, const int64_t *prev, int64_t *progress,
                          void *work)
    int nade_mix_hidden_f32(const nade_mix_params_f32 *p, const Py_ssize_t *order,
                            const double *X, Py_ssize_t ldx, Py_ssize_t nrows, float *out,
                            void *work)
    int nade_mix_hidden_f64(const nade_mix_params_f64 *p, const Py_ssize_t *order,
                            const double *X, Py_ssize_t ldx, Py_ssize_t nrows, double *out,
                            void *work)
    int nade_oa_mix_score_f32(const nade_oa_mix_params_f32 *p, const Py_ssize_t *order,
                              Py_ssize_t ldo, const double *X, Py_ssize_t ldx, Py_ssize_t nrows,
                              const Py_ssize_t *stop, double *loglik, float *cond, Py_ssize_t ldc,
                              double *terms, Py_ssize_t ldt, void *work)
    int nade_oa_mix_score_f64(const nade_oa_mix_params_f64 *p, const Py_ssize_t *order,
                              Py_ssize_t ldo, const double *X, Py_ssize_t ldx, Py_ssize_t nrows,
                              const Py_ssize_t *stop, double *loglik, double *cond,
                              Py_ssize_t ldc, double *terms, Py_ssize_t ldt, void *work)
    int nade_oa_mix_sample_f32(const nade_oa_mix_params_f32 *p, const Py_ssize_t *order,
                               Py_ssize_t ldo, const uint64_t *key, uint64_t row0, double *X,
                               Py_ssize_t ldx, Py_ssize_t nrows, const Py_ssize_t *given,
                               int greedy, double *loglik, void *work)
    int nade_oa_mix_sample_f64(const nade_oa_mix_params_f64 *p, const Py_ssize_t *order,
                               Py_ssize_t ldo, const uint64_t *key, uint64_t row0, double *X,
                               Py_ssize_t ldx, Py_ssize_t nrows, const Py_ssize_t *given,
                               int greedy, double *loglik, void *work)
    int nade_oa_mix_output_f32(float *Z, Py_ssize_t ldz, const double *X, Py_ssize_t ldx,
                               const uint8_t *mask, Py_ssize_t ldm, Py_ssize_t n, Py_ssize_t C,
                               Py_ssize_t nrows, double scale, double *loss, double *work)
    int nade_oa_mix_output_f64(double *Z, Py_ssize_t ldz, const double *X, Py_ssize_t ldx,
                               const uint8_t *mask, Py_ssize_t ldm, Py_ssize_t n, Py_ssize_t C,
                               Py_ssize_t nrows, double scale, double *loss, double *work)
    size_t nade_mix_work_bytes(Py_ssize_t n, Py_ssize_t C, Py_ssize_t dp, size_t real_size,
                               Py_ssize_t block_rows)

    int nade_adam_f32(float *p, const float *g, float *m, float *v, Py_ssize_t length,
                      float b1, float c1, float b2, float c2, float lr_t, float eps_t)
    int nade_adam_f64(double *p, const double *g, double *m, double *v, Py_ssize_t length,
                      double b1, double c1, double b2, double c2, double lr_t, double eps_t)

    int nade_oa_masks(const uint64_t *key, uint64_t row0, Py_ssize_t n, Py_ssize_t nrows,
                      uint8_t *mask, Py_ssize_t ldm, Py_ssize_t *perm)
    int nade_oa_output_f32(float *Z, Py_ssize_t ldz, const uint8_t *X, Py_ssize_t ldx,
                           const uint8_t *mask, Py_ssize_t ldm, Py_ssize_t n, Py_ssize_t nrows,
                           double scale, double *loss)
    int nade_oa_output_f64(double *Z, Py_ssize_t ldz, const uint8_t *X, Py_ssize_t ldx,
                           const uint8_t *mask, Py_ssize_t ldm, Py_ssize_t n, Py_ssize_t nrows,
                           double scale, double *loss)
    int nade_oa_input_add_f32(const float *Win, Py_ssize_t dp, const uint8_t *X, Py_ssize_t ldx,
                              const uint8_t *mask, Py_ssize_t ldm, Py_ssize_t n,
                              Py_ssize_t nrows, float *A, Py_ssize_t lda)
    int nade_oa_input_add_f64(const double *Win, Py_ssize_t dp, const uint8_t *X,
                              Py_ssize_t ldx, const uint8_t *mask, Py_ssize_t ldm, Py_ssize_t n,
                              Py_ssize_t nrows, double *A, Py_ssize_t lda)
    int nade_oa_input_grad_f32(const float *dA, Py_ssize_t lda, const uint8_t *X,
                               Py_ssize_t ldx, const uint8_t *mask, Py_ssize_t ldm,
                               Py_ssize_t nrows, Py_ssize_t j0, Py_ssize_t j1, float *gWin,
                               Py_ssize_t dp)
    int nade_oa_input_grad_f64(const double *dA, Py_ssize_t lda, const uint8_t *X,
                               Py_ssize_t ldx, const uint8_t *mask, Py_ssize_t ldm,
                               Py_ssize_t nrows, Py_ssize_t j0, Py_ssize_t j1, double *gWin,
                               Py_ssize_t dp)

    int nade_uniform_bits(const uint64_t *key, uint64_t row, Py_ssize_t n, uint32_t *out)
    int nade_logistic_noise(const uint64_t *key, uint64_t row, Py_ssize_t n, uint32_t *bits,
                            double *out)

    int nade_select_isa(const char *name)
    const char *nade_active_isa()
    int nade_isa_supported(const char *name)

    int nade_openmp_enabled()
    int nade_openmp_max_threads()
