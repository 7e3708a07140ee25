/*
 * nade.h -- the C kernels of nadefast: NADE for binary data, for categorical data (the
 * nade_cat_* kernels below) and for real values (the nade_mix_* kernels, mixtures of
 * Gaussians); docs/README.md has the notation and layouts, docs/fixed_order.md,
 * docs/order_agnostic.md and docs/mixture.md the mathematics).
 *
 * Every kernel works on one block of at most NADE_MAX_BLOCK_ROWS rows (the
 * caller picks nade_block_rows(), sized so the block's hidden states stay in
 * L1), uses only the caller's scratch memory (nade_work_bytes), calls no
 * Python and allocates nothing.  The Cython layer runs blocks in parallel.
 *
 * Conventions
 *   n    number of features = chain positions
 *   d    hidden units;  dp = d rounded up to a multiple of nade_lanes(size)
 *   Wt   (n, dp)  row k = W[:, k], the input weights of chain position k
 *   V    (n, dp)  row k = output weights of chain position k
 *   b    (dp)     hidden bias;  c (n) output biases
 *   Padding columns d..dp-1 of Wt, V and b must be zero.
 *   order[k]     the feature (column of X) at chain position k
 *   X            (rows, ldx) uint8 holding 0/1 in the caller's feature order
 *
 * Arithmetic is defined per row: the logit of a row at a position is the
 * same sequence of floating-point operations whichever kernel, block size
 * or thread count computes it (a dot product over dp with nade_lanes()
 * partial sums, lane l taking j = l mod lanes, then a fixed pairwise tree).
 * Results can differ in the last bits between instruction sets only
 * through fused multiply-add (baseline x86-64 has none).
 *
 * Status
 *   Every entry point that takes arrays returns NADE_OK, or NADE_EINVAL --
 *   having done nothing, except where noted -- when an argument breaks its
 *   contract: n < 1, d < 1, dp < d, dp not a multiple of
 *   nade_lanes(), nrows outside [0, NADE_MAX_BLOCK_ROWS] (block kernels) or
 *   negative, a leading dimension shorter than its row (ldx, ldm, ldz >= n;
 *   ldc, ldt >= n for a non-NULL output; ldo 0 or >= n; lda >= dp), an index
 *   out of range (order[k] in [0, n), given[r] and stop[r] in [0, n]), an
 *   unknown activation (nade_mix_params.act), or a NULL pointer that is not
 *   documented as optional.  Such a status is a bug
 *   in the caller, never a property of the values of X or of the parameters.
 *   The checks cost O(1) or one pass over an index vector per call, never
 *   O(n d).  The size queries below return 0 instead.
 */
#ifndef NADE_H
#define NADE_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* status codes */
enum {
    NADE_OK = 0,
    NADE_EINVAL = 1, /* a size or layout precondition does not hold (a caller bug) */
    NADE_EISA = 2    /* the requested instruction set is unknown or unsupported */
};

#define NADE_MAX_BLOCK_ROWS 48 /* rows per kernel call, at most */
#define NADE_LANE_BYTES 128 /* partial sums per dot product: 32 float / 16 double */
#define NADE_ALIGN 64

typedef struct {
    ptrdiff_t n, d, dp;
    const float *Wt, *V, *b, *c;
} nade_params_f32;

typedef struct {
    ptrdiff_t n, d, dp;
    const double *Wt, *V, *b, *c;
} nade_params_f64;

/* Gradient accumulators (sums over rows, not means), layout as the params. */
typedef struct {
    float *Wt, *V, *b, *c;
} nade_gradsum_f32;

typedef struct {
    double *Wt, *V, *b, *c;
} nade_gradsum_f64;

/* Order-agnostic / deep NADE (docs/order_agnostic.md §2; layout: docs/README.md §5):
 *   Win, Wmask (n, dp)   row j = the input / mask weights of feature j (first layer)
 *   b1 (dp)              first-layer bias
 *   Wdeep (layers-1, d, dp), bdeep (layers-1, d)   layer l row i = W_l[i, :]
 *   V (n, dp), c (n)     row j = the output weights of feature j
 * Hidden units use ReLU.  Padding columns must be zero. */
typedef struct {
    ptrdiff_t n, d, dp, layers;
    const float *Win, *Wmask, *b1, *Wdeep, *bdeep, *V, *c;
} nade_oa_params_f32;

typedef struct {
    ptrdiff_t n, d, dp, layers;
    const double *Win, *Wmask, *b1, *Wdeep, *bdeep, *V, *c;
} nade_oa_params_f64;

/* Categorical outputs (the nade_cat_* and nade_oa_cat_* kernels; docs/README.md §3-§4):
 * variable k takes codes 0 .. K_k - 1 (K_k >= 1).  A value v >= 1 adds input row
 * in_off[k] + v - 1 (value 0 adds nothing, so K = 2 is the Bernoulli case) and the
 * variable has the K_k output rows out_off[k] .. out_off[k+1] - 1 of V and entries of c:
 *   in_off, out_off (n + 1)   in_off[0] = out_off[0] = 0, out_off[k+1] - out_off[k] = K_k
 *                             >= 1 and in_off[k+1] - in_off[k] = K_k - 1
 *   Wt (n_in, dp), V (n_out, dp), b (dp), c (n_out); n_in = in_off[n], n_out = out_off[n]
 *   (Wt may be NULL when n_in = 0)
 * Fixed-order (nade_cat_params): k is a chain position, the blocks follow the chain.
 * Order-agnostic (nade_oa_cat_params): k is a feature (the blocks of Win, V and c follow
 * the features; Wmask, b1, Wdeep, bdeep as nade_oa_params).
 * X holds int32 codes.  A code is an index, so it is checked like one: a code outside
 * 0 .. K - 1 where the kernel reads it (every entry it scores, the given prefix it keeps
 * when sampling) is NADE_EINVAL, the kernel having written nothing but its scratch.
 *
 * The softmax of a variable's logits z (K of them), with m = z[t] the first maximum,
 * e_v = exp(z_v - m) and s = sum_{v != t} e_v in increasing v:
 *   log p(x) = (z_x - m) - log1p(s)     (log1p(s) = log(1 + s) + (s - ((1 + s) - 1)) / (1 + s))
 *   p_v = e_v / (1 + s)                 (K >= 3)
 *   p_v = sigmoid(z_v - z_{1-v})        (K = 2)
 *   K = 1: no logit is computed, log p = 0, p_0 = 1.
 * With z_0 = 0 (V and c zero at value 0) K = 2 computes exactly what the Bernoulli kernels
 * compute of the logit z_1: the same log p, conditionals, hidden states and gradients.
 * Sampling: u = (bits_k + 1/2) / 2^32 with the 32-bit draw k of the row's stream (as the
 * Bernoulli samplers, nade_uniform_bits); x = the smallest v with u < p_0 + ... + p_v
 * (summed in double), K - 1 when rounding leaves the sum at or below u.  greedy: the first
 * maximum of z.  (So a K = 2 variable's draw is 0 for small u, where a Bernoulli draw is 1:
 * the same distribution, other samples.)
 */
typedef struct {
    ptrdiff_t n, d, dp;
    const float *Wt, *V, *b, *c;
    const ptrdiff_t *in_off, *out_off;
} nade_cat_params_f32;

typedef struct {
    ptrdiff_t n, d, dp;
    const double *Wt, *V, *b, *c;
    const ptrdiff_t *in_off, *out_off;
} nade_cat_params_f64;

typedef struct {
    ptrdiff_t n, d, dp, layers;
    const float *Win, *Wmask, *b1, *Wdeep, *bdeep, *V, *c;
    const ptrdiff_t *in_off, *out_off;
} nade_oa_cat_params_f32;

typedef struct {
    ptrdiff_t n, d, dp, layers;
    const double *Win, *Wmask, *b1, *Wdeep, *bdeep, *V, *c;
    const ptrdiff_t *in_off, *out_off;
} nade_oa_cat_params_f64;

/* Real-valued outputs, a mixture of C Gaussians per variable (RNADE; the nade_mix_* and
 * nade_oa_mix_* kernels; docs/mixture.md): x_k is a real number, in the model's
 * standardised units (the caller standardises and maps back).  Variable k adds x_k times
 * its input row to the state and owns the 3C output rows 3Ck .. 3C(k+1) - 1 of V and
 * entries of c, in this order: C weight logits, C means, C scale pre-activations:
 *   Wt (n, dp), V (3 C n, dp), b (dp), c (3 C n); C >= 1
 *   rho (n)   fixed-order only: RNADE's activation rescaling, h_k = act(rho_k a_k)
 *   act       fixed-order only: the hidden units' activation (Uria et al. 2013 use both),
 *             NADE_ACT_SIGMOID: act(t) = sigmoid(t), or NADE_ACT_RELU: act(t) = max(t, 0);
 *             any other value is NADE_EINVAL.  (ReLU units are unbounded, so the "never
 *             NaN" below also needs rho_k a_k and the units' dot products within REAL's
 *             range, as fitted models have them.)
 * Fixed-order (nade_mix_params): k is a chain position, a_{k+1} = a_k + x_k Wt[k].
 * Order-agnostic (nade_oa_mix_params): k is a feature; revealing feature j adds
 * Wmask[j] + x_j Win[j] to the first layer (ReLU layers as nade_oa_params; no rho).
 * X holds doubles.  A value the kernel reads (every entry it scores, the given prefix it
 * keeps when sampling) that is not finite is NADE_EINVAL, the kernel having written
 * nothing but its scratch.
 *
 * One variable's conditional (mix_math.h; computed in double from the units y of the
 * model's type, whatever REAL is):
 *   log alpha = log-softmax(y[0:C]) (log1p of the sum of the others), mu = y[C:2C],
 *   sigma = exp(y[2C:3C]) + 1e-3,
 *   log p(x) = logsumexp_c [log alpha_c - log sqrt(2 pi) - log sigma_c - t_c^2 / 2],
 *   t_c = (x - mu_c) / sigma_c (log1p of the sum of the others after the largest).
 * Never NaN or infinite from finite parameters and values: units are clamped to +-1e300,
 * scale pre-activations to at most 300, t to +-1e150 (beyond what any fitted model reaches).
 * Sampling: three uniforms per chain position, u_i = (bits_{3k+i} + 1/2) / 2^32 with the
 * 32-bit draws 3k, 3k+1, 3k+2 of the row's stream (nade_uniform_bits): the component is
 * the smallest c with u_0 < alpha_0 + ... + alpha_c (summed in double; C - 1 when rounding
 * leaves the sum at or below u_0), x = mu_c + sigma_c sqrt(-2 log u_1) cos(2 pi u_2).
 * greedy: the highest point of the mixture, 50 mean-shift steps from every component's
 * mean, the end point of highest density (the first of equals).
 */
/* the fixed-order mixture kernels' hidden activations (nade_mix_params.act) */
enum {
    NADE_ACT_SIGMOID = 0, /* h = sigmoid(rho a): RNADE's default, and the binary kernels' */
    NADE_ACT_RELU = 1     /* h = max(rho a, 0) */
};

typedef struct {
    ptrdiff_t n, d, dp, C;
    const float *Wt, *V, *b, *c, *rho;
    int act; /* NADE_ACT_SIGMOID or NADE_ACT_RELU */
} nade_mix_params_f32;

typedef struct {
    ptrdiff_t n, d, dp, C;
    const double *Wt, *V, *b, *c, *rho;
    int act;
} nade_mix_params_f64;

/* the fixed-order mixture gradient's sums (over rows), layout as nade_mix_params */
typedef struct {
    float *Wt, *V, *b, *c, *rho;
} nade_mix_gradsum_f32;

typedef struct {
    double *Wt, *V, *b, *c, *rho;
} nade_mix_gradsum_f64;

typedef struct {
    ptrdiff_t n, d, dp, layers, C;
    const float *Win, *Wmask, *b1, *Wdeep, *bdeep, *V, *c;
} nade_oa_mix_params_f32;

typedef struct {
    ptrdiff_t n, d, dp, layers, C;
    const double *Win, *Wmask, *b1, *Wdeep, *bdeep, *V, *c;
} nade_oa_mix_params_f64;

/* Size queries: they return a size, and 0 for sizes no kernel accepts.
   real_size is sizeof(float) or sizeof(double). */

/* dp must be a multiple of this */
ptrdiff_t nade_lanes(size_t real_size);

/* rows per block for this width (dp >= 1): as many as keep the block's hidden
   states within 36 KiB (an L1 cache with room for V[k]), a multiple of the
   register tile, between 1 and NADE_MAX_BLOCK_ROWS.  Results do not depend on it. */
ptrdiff_t nade_block_rows(ptrdiff_t dp, size_t real_size);

/* scratch bytes of one kernel call on up to block_rows rows (any kernel);
   n, dp >= 1, block_rows in [0, NADE_MAX_BLOCK_ROWS] */
size_t nade_work_bytes(ptrdiff_t n, ptrdiff_t dp, size_t real_size, ptrdiff_t block_rows);

/* scratch bytes of one categorical kernel call on up to block_rows rows, for n variables
   with n_out output units in all (n_out >= n >= 1, dp >= 1) */
size_t nade_cat_work_bytes(ptrdiff_t n, ptrdiff_t n_out, ptrdiff_t dp, size_t real_size,
                           ptrdiff_t block_rows);

/* scratch bytes of one mixture kernel call on up to block_rows rows, for n variables of
   C components (n, C, dp >= 1) */
size_t nade_mix_work_bytes(ptrdiff_t n, ptrdiff_t C, ptrdiff_t dp, size_t real_size,
                           ptrdiff_t block_rows);

/* ---- nade_score_f32/f64: log p(x) and, optionally, the conditionals ------
 * loglik[r]              OUT  log p(X[r]) in nats (NULL to skip)
 * cond[r*ldc + order[k]] OUT  p(x_k = 1 | x_<k) (NULL to skip)
 * terms[r*ldt + k]       OUT  log p(x_k | x_<k), chain order (NULL to skip)
 */

/* ---- nade_sample_f32/f64: sampling ---------------------------------------
 * Row r of the block is global row (row0 + r) of the request; position k of
 * that row draws x_k = [logit_k > log(u) - log(1-u)] with u from 32 bits of
 * the Philox4x64-10 stream of key and counter (0, row0 + r, 0, 0) (see
 * nade_uniform_bits).  X OUT: the rows, in feature order.
 * given (or NULL): row r keeps the values X already holds at its first
 * given[r] chain positions and draws the rest (conditional sampling).
 * greedy: instead of drawing, take x_k = [logit_k > 0], the most probable
 * value (key may then be NULL).
 * loglik OUT (or NULL): log p of each finished row.
 */

/* ---- nade_grad_f32/f64: loss and gradient --------------------------------
 * nll[r] OUT: -log p(X[r]).  g IN/OUT: the block's gradient sums are added
 * to g, row after row in row order, so the result is the same for every
 * block size and thread count.  Blocks run concurrently: a block adds its
 * rows to g only after the previous block has added its own.  `prev` is the
 * previous block's progress counter (NULL for the first block), `progress`
 * this block's; both start at n before the parallel loop.  A block refused
 * with NADE_EINVAL still posts -1 to its counter, so no successor waits.
 */

/* ---- nade_oa_score_f32/f64, nade_oa_sample_f32/f64: order-agnostic NADE
 * along orderings.  Row r follows order + r * ldo (ldo = 0: one ordering for
 * every row); order lists features, chain position first.  Scoring evaluates positions
 * 0 .. stop[r] - 1 (stop = NULL: all), giving log p of that prefix; the
 * other arguments are as for nade_score / nade_sample (terms and the
 * positions of given are in each row's chain order). */

/* ---- order-agnostic training (docs/order_agnostic.md §3-§6) -----------------
 * nade_oa_masks, the objective's masks: row r (global row row0 + r of the
 * request) observes a split s uniform in {0, ..., n-1} and then a uniformly
 * random set of s features, both drawn from the Philox4x64-10 stream of (key, row0 + r) --
 * the stream of nade_uniform_bits, 32-bit draws in the same order.  Draw 0
 * gives s, the following ones a partial Fisher-Yates shuffle of 0..n-1
 * whose first s entries are the observed features.  Bounded integers use
 * Lemire's multiply-and-reject, so every (s, set) is exactly as likely as
 * the objective requires.  mask[r * ldm + j] OUT: 1 if feature j is
 * observed, else 0.  perm: n ptrdiff_t of scratch.  Rows depend on the key
 * and their global row only, never on the thread that draws them.
 * 1 <= n <= 2^32 - 1, ldm >= n.
 */
int nade_oa_masks(const uint64_t key[2], uint64_t row0, ptrdiff_t n, ptrdiff_t nrows,
                  uint8_t *mask, ptrdiff_t ldm, ptrdiff_t *perm);

/* nade_oa_output_f32/f64: the output layer of the order-agnostic objective
 * on rows of logits Z (nrows, ldz), in place: for row r with s_r < n observed features (mask 1)
 * and w_r = n / (n - s_r),
 *   loss[r] OUT  = w_r sum_{j unobserved} -log p(x_j | x_observed),
 *                  p(x_j = 1 | .) = sigmoid(Z[r, j])      (nats)
 *   Z[r, j] OUT  = scale w_r (sigmoid(Z[r, j]) - x_j) for unobserved j, 0 for observed
 * NADE_EINVAL if a row observes every feature (rows before it are then done:
 * the check costs no extra pass). */

/* The first layer's observed inputs, sparse: for binary data x * m is
 * mostly 0, and adding the weight rows of its ones beats a dense product.
 *   nade_oa_input_add:  A[r] += sum_{j: x_rj m_rj = 1} Win[j]        (rows of dp)
 *   nade_oa_input_grad: gWin[j] = sum_{r: x_rj m_rj = 1} dA[r], for features
 *                       j0 <= j < j1, rows added in row order (so the sums do
 *                       not depend on how features are split among threads)
 * Win, gWin (n, dp); A, dA (nrows, lda) with lda >= dp >= 1.  nade_oa_input_grad
 * is not told n: it checks 0 <= j0 <= j1 <= ldx, ldm. */

/* ---- nade_hidden_f32/f64: hidden states, out[(r*n + k)*d + j] = h_k[j] of
 * row r (chain order) */

/* ---- the categorical kernels: as their Bernoulli counterparts above, with
 * nade_cat_work_bytes of scratch and these differences:
 * nade_cat_score: cond[r*ldc + feat_off[order[k]] + v] OUT p(x_k = v | x_<k), v < K_k:
 *   feat_off (n + 1) the cumulative K by feature, checked against out_off through order;
 *   ldc >= feat_off[n] (feat_off may be NULL when cond is)
 * nade_cat_grad: g->Wt (n_in, dp), g->V (n_out, dp), g->c (n_out): with
 *   delta = softmax(z_k) - onehot(x_k), row out_off[k] + v of V gets delta_v h_k,
 *   c likewise, row in_off[k] + x_k - 1 of Wt (x_k >= 1, k < n - 1) the sum of
 *   (V_k^T delta) h (1 - h) over the later positions; row order as nade_grad
 * nade_oa_cat_score: cond[r*ldc + out_off[j] + v] for feature j; ldc >= out_off[n]
 * nade_oa_cat_*: revealing feature j adds Wmask[j] and, when x_j >= 1, Win[in_off[j] + x_j - 1]
 */

/* ---- the mixture kernels: as their Bernoulli counterparts above, with
 * nade_mix_work_bytes of scratch, X of doubles, and these differences:
 * nade_mix_score: cond[r*ldc + 3C*order[k] + i] OUT, i < 3C: the C weights alpha_c, the C
 *   means and the C scales sigma_c of position k's conditional (standardised units; the
 *   caller converts); ldc >= 3 C n
 * nade_mix_sample: X INOUT doubles; given values are kept bit for bit
 * nade_mix_grad: with dy_k the 3C derivatives of -log p(x_k | .) (docs/mixture.md §3),
 *   row 3Ck + i of V gets dy_k[i] h_k, c likewise; with u = (V_k^T dy_k) act'(h_k),
 *   act'(h) = h (1 - h) (sigmoid) or [h > 0] (ReLU: 0 at the kink), rho[k] gets u . a_k
 *   and e_k = rho_k u passes back: row k of Wt (k < n - 1) gets x_k times the sum of e
 *   over the later positions, b the sum of e over all; row order as nade_grad
 * nade_mix_hidden: h_k = act(rho_k a_k) as the params' act asks
 * nade_oa_mix_score: cond[r*ldc + 3C*j + i] for feature j; ldc >= 3 C n
 * nade_oa_mix_output_f32/f64: nade_oa_output for mixtures, in place on rows of units
 *   Z (nrows, ldz >= 3 C n), 3C per feature: loss[r] OUT = w_r sum_{j unobserved}
 *   -log p(x_j | .), and Z's block of unobserved j OUT = scale w_r d(-log p) / d(units),
 *   of observed j 0; X (nrows, ldx) doubles (an unobserved one not finite: NADE_EINVAL);
 *   work: 10 C doubles of scratch
 */

/* ---- nade_adam_f32/f64, the optimizer: one Adam step on len parameters, in
 * place (element-wise):
 * m = b1 m + c1 g;  v = b2 v + c2 g^2;  p -= lr_t m / (sqrt(v) + eps_t)
 * (c1 = 1 - b1 and c2 = 1 - b2, passed rounded as the caller wants them) */

/* ---- random numbers -------------------------------------------------------
 * The 32-bit draw of (row, position k): word k/2 of the stream
 * numpy.random.Philox(key=key, counter=[0, row, 0, 0]).random_raw(),
 * low half for even k, high half for odd k.  out[k] for k in [0, n).
 */
int nade_uniform_bits(const uint64_t key[2], uint64_t row, ptrdiff_t n, uint32_t *out);
/* nade_logistic_noise: the logistic noise log(u) - log(1 - u),
   u = (bits + 0.5) / 2^32, that the sampler compares logits with;
   bits: n uint32 of scratch */

/* ---- the kernels above, declared from their one list -----------------------
 * int nade_<name>(parameters) for each entry NADE_KERNEL(name, (parameters),
 * (arguments)) of nade_kernels.def -- nade_score_f32 ... nade_logistic_noise
 * -- each forwarded to the copy of the active instruction set (dispatch.c). */
#define NADE_KERNEL(name, params, args) int nade_##name params;
#include "nade_kernels.def"

/* ---- instruction set dispatch --------------------------------------------
 * Names: "baseline", "avx2", "avx512".  nade_select_isa(NULL or "auto")
 * picks the best one this CPU supports.  Not thread-safe: call it before
 * starting any kernel.
 */
int nade_select_isa(const char *name);
const char *nade_active_isa(void);
int nade_isa_supported(const char *name);

/* ---- OpenMP --------------------------------------------------------------- */
int nade_openmp_enabled(void);
int nade_openmp_max_threads(void);

#ifdef __cplusplus
}
#endif
#endif /* NADE_H */
