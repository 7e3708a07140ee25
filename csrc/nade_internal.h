/*
 * nade_internal.h -- what the instruction-set units and the dispatcher
 * share: the kernel table, the argument checks, the scratch layout and the
 * block hand-off used by the gradient.  Not part of the public API.
 */
#ifndef NADE_INTERNAL_H
#define NADE_INTERNAL_H

#include "nade.h"

/* x86-64 with GCC or Clang: compile per-ISA kernels and pick one at run time */
#if (defined(__x86_64__) || defined(_M_X64)) && defined(__GNUC__) && !defined(NADE_NO_DISPATCH)
#define NADE_X86_DISPATCH 1
#endif

#if defined(_WIN32)
#include <windows.h>
#define nade_yield() SwitchToThread()
#else
#include <sched.h>
#define nade_yield() sched_yield()
#endif

/* The kernel table: the ISA's name, then one pointer per entry of the kernel
   list nade_kernels.def, in its order.  Each instruction-set unit exports
   one, filled by nade_isa.h; dispatch.c forwards every public kernel through
   the active one. */
typedef struct {
    const char *name;
#define NADE_KERNEL(kname, params, args) int (*kname) params;
#include "nade_kernels.def"
} nade_table;

extern const nade_table nade_table_baseline;
#if defined(NADE_X86_DISPATCH)
extern const nade_table nade_table_avx2;
extern const nade_table nade_table_avx512;
#endif

/* ---- argument checks ---------------------------------------------------------
 * Every public entry point returns NADE_EINVAL when a size, a stride, an index
 * or a pointer breaks its contract in nade.h: a bug in the caller (the Python
 * layer validates user input first), never a property of the data values.
 * The checks cost O(1), or one pass over an index vector (an ordering, the
 * rows' given or stop counts), never O(n d). */

/* whether nrows rows fit one kernel call */
static inline int nade_block_ok(ptrdiff_t nrows)
{
    return nrows >= 0 && nrows <= NADE_MAX_BLOCK_ROWS;
}

/* whether idx[0 .. len-1] all lie in [0, hi] */
static inline int nade_indices_within(const ptrdiff_t *idx, ptrdiff_t len, ptrdiff_t hi)
{
    int bad = 0;
    for (ptrdiff_t i = 0; i < len; i++) bad |= (idx[i] < 0) | (idx[i] > hi);
    return !bad;
}

/* ---- scratch layout: byte offsets from a NADE_ALIGN-aligned base -------- */

typedef struct {
    size_t A, H, S, U, G; /* rows x dp reals each: state, sigmoid', pending, gradient */
    size_t Z;             /* rows x nz reals: logits, then deltas */
    size_t T;             /* rows x nz doubles: logistic noise */
    size_t tmp;           /* nz reals: one row's per-position terms */
    size_t bits;          /* nz uint32: one row's random bits */
    size_t XB;            /* rows x nz bytes: x in chain order */
    size_t total;         /* bytes, including slack to align the base */
    ptrdiff_t nz;         /* n rounded up to a multiple of 16 */
} nade_layout;

static inline size_t nade_round_up(size_t x, size_t to) { return (x + to - 1) / to * to; }

/* the layout for `rows` rows; it only grows with rows, so scratch sized
   for a block also serves any smaller call */
static inline nade_layout nade_work_layout(ptrdiff_t n, ptrdiff_t dp, size_t real_size,
                                           ptrdiff_t rows)
{
    nade_layout L;
    const size_t B = (size_t)rows;
    size_t off = 0;
    L.nz = (ptrdiff_t)nade_round_up((size_t)n, 16);
#define NADE_TAKE(field, bytes)                                                                    \
    do {                                                                                           \
        L.field = off;                                                                             \
        off += nade_round_up((bytes), NADE_ALIGN);                                                 \
    } while (0)
    NADE_TAKE(A, B * (size_t)dp * real_size);
    NADE_TAKE(H, B * (size_t)dp * real_size);
    NADE_TAKE(S, B * (size_t)dp * real_size);
    NADE_TAKE(U, B * (size_t)dp * real_size);
    NADE_TAKE(G, B * (size_t)dp * real_size);
    NADE_TAKE(Z, B * (size_t)L.nz * real_size);
    NADE_TAKE(T, B * (size_t)L.nz * sizeof(double));
    NADE_TAKE(tmp, (size_t)L.nz * real_size);
    NADE_TAKE(bits, (size_t)L.nz * sizeof(uint32_t));
    NADE_TAKE(XB, B * (size_t)L.nz);
#undef NADE_TAKE
    L.total = off + NADE_ALIGN;
    return L;
}

/* the categorical kernels' scratch (cat_impl.h): as nade_layout, with logits by output
   unit and the codes as int32 */
typedef struct {
    size_t A, H, S, U, G; /* rows x dp reals each: state, sigmoid' (or deeper layers), ... */
    size_t Z;             /* rows x nzo reals: logits, then deltas */
    size_t T;             /* rows x nz doubles: the uniforms of the sampler */
    size_t tmp;           /* nz reals: one row's per-position terms */
    size_t P;             /* nzo reals: one variable's probabilities */
    size_t bits;          /* nz uint32: one row's random bits */
    size_t XB;            /* rows x nz int32: x in chain order */
    size_t total;         /* bytes, including slack to align the base */
    ptrdiff_t nz, nzo;    /* n and n_out rounded up to a multiple of 16 */
} nade_cat_layout;

static inline nade_cat_layout nade_cat_work_layout(ptrdiff_t n, ptrdiff_t n_out, ptrdiff_t dp,
                                                   size_t real_size, ptrdiff_t rows)
{
    nade_cat_layout L;
    const size_t B = (size_t)rows;
    size_t off = 0;
    L.nz = (ptrdiff_t)nade_round_up((size_t)n, 16);
    L.nzo = (ptrdiff_t)nade_round_up((size_t)n_out, 16);
#define NADE_TAKE(field, bytes)                                                                    \
    do {                                                                                           \
        L.field = off;                                                                             \
        off += nade_round_up((bytes), NADE_ALIGN);                                                 \
    } while (0)
    NADE_TAKE(A, B * (size_t)dp * real_size);
    NADE_TAKE(H, B * (size_t)dp * real_size);
    NADE_TAKE(S, B * (size_t)dp * real_size);
    NADE_TAKE(U, B * (size_t)dp * real_size);
    NADE_TAKE(G, B * (size_t)dp * real_size);
    NADE_TAKE(Z, B * (size_t)L.nzo * real_size);
    NADE_TAKE(T, B * (size_t)L.nz * sizeof(double));
    NADE_TAKE(tmp, (size_t)L.nz * real_size);
    NADE_TAKE(P, (size_t)L.nzo * real_size);
    NADE_TAKE(bits, (size_t)L.nz * sizeof(uint32_t));
    NADE_TAKE(XB, B * (size_t)L.nz * sizeof(int32_t));
#undef NADE_TAKE
    L.total = off + NADE_ALIGN;
    return L;
}

/* the mixture kernels' scratch (mix_impl.h): as nade_cat_layout, with real values (x in
   chain order, per-position terms) in double, three uniforms per position and one
   variable's mixture in double (its 3C units, then NADE_MIX_DOUBLES(C) of mix_math.h) */
typedef struct {
    size_t A, H, S, U, G; /* rows x dp reals each: state, hidden (or deeper layers), ... */
    size_t Z;             /* rows x nzo reals: the 3C output units of every variable, deltas */
    size_t T;             /* rows x nu doubles: the sampler's uniforms, 3 per position */
    size_t XB;            /* rows x nz doubles: x in chain order */
    size_t tmp;           /* nz doubles: one row's per-position terms */
    size_t M;             /* 10 C doubles: one variable's units and its mixture */
    size_t bits;          /* nu uint32: one row's random bits */
    size_t total;         /* bytes, including slack to align the base */
    ptrdiff_t nz, nzo, nu; /* n, 3 C n and 3 n rounded up to a multiple of 16 */
} nade_mix_layout;

static inline nade_mix_layout nade_mix_work_layout(ptrdiff_t n, ptrdiff_t C, ptrdiff_t dp,
                                                   size_t real_size, ptrdiff_t rows)
{
    nade_mix_layout L;
    const size_t B = (size_t)rows;
    size_t off = 0;
    L.nz = (ptrdiff_t)nade_round_up((size_t)n, 16);
    L.nzo = (ptrdiff_t)nade_round_up(3 * (size_t)C * (size_t)n, 16);
    L.nu = (ptrdiff_t)nade_round_up(3 * (size_t)n, 16);
#define NADE_TAKE(field, bytes)                                                                    \
    do {                                                                                           \
        L.field = off;                                                                             \
        off += nade_round_up((bytes), NADE_ALIGN);                                                 \
    } while (0)
    NADE_TAKE(A, B * (size_t)dp * real_size);
    NADE_TAKE(H, B * (size_t)dp * real_size);
    NADE_TAKE(S, B * (size_t)dp * real_size);
    NADE_TAKE(U, B * (size_t)dp * real_size);
    NADE_TAKE(G, B * (size_t)dp * real_size);
    NADE_TAKE(Z, B * (size_t)L.nzo * real_size);
    NADE_TAKE(T, B * (size_t)L.nu * sizeof(double));
    NADE_TAKE(XB, B * (size_t)L.nz * sizeof(double));
    NADE_TAKE(tmp, (size_t)L.nz * sizeof(double));
    NADE_TAKE(M, 10 * (size_t)C * sizeof(double));
    NADE_TAKE(bits, (size_t)L.nu * sizeof(uint32_t));
#undef NADE_TAKE
    L.total = off + NADE_ALIGN;
    return L;
}

/* whether the categorical blocks are well formed (nade.h): in_off[0] = out_off[0] = 0,
   every K = out_off[k+1] - out_off[k] >= 1 and in_off[k+1] - in_off[k] = K - 1.
   (Both sequences start at 0 and increase, so no difference overflows.) */
static inline int nade_cat_offsets_ok(const ptrdiff_t *in_off, const ptrdiff_t *out_off,
                                      ptrdiff_t n)
{
    if (in_off == NULL || out_off == NULL || n < 1 || in_off[0] != 0 || out_off[0] != 0)
        return 0;
    for (ptrdiff_t k = 0; k < n; k++) {
        if (out_off[k + 1] <= out_off[k] || in_off[k + 1] < in_off[k]) return 0;
        if (in_off[k + 1] - in_off[k] != out_off[k + 1] - out_off[k] - 1) return 0;
    }
    return 1;
}

/* whether feat_off (n + 1, by feature) gives feature order[k] the K of chain position k
   (out_off) and fits rows of ldc; order must already lie in [0, n) */
static inline int nade_cat_feature_offsets_ok(const ptrdiff_t *feat_off, const ptrdiff_t *order,
                                              const ptrdiff_t *out_off, ptrdiff_t n,
                                              ptrdiff_t ldc)
{
    if (feat_off == NULL || feat_off[0] != 0) return 0;
    for (ptrdiff_t j = 0; j < n; j++)
        if (feat_off[j + 1] <= feat_off[j]) return 0;
    if (feat_off[n] > ldc) return 0;
    for (ptrdiff_t k = 0; k < n; k++) {
        const ptrdiff_t j = order[k];
        if (feat_off[j + 1] - feat_off[j] != out_off[k + 1] - out_off[k]) return 0;
    }
    return 1;
}

static inline char *nade_align_base(void *work)
{
    uintptr_t p = (uintptr_t)work;
    return (char *)((p + NADE_ALIGN - 1) & ~(uintptr_t)(NADE_ALIGN - 1));
}

/* ---- gradient hand-off between consecutive blocks --------------------------
 * progress counts down: n before the block starts adding, k once it has
 * added its rows at chain position k, -1 once it has added its bias term.
 * A block adds at position k only after its predecessor reached k, so the
 * sums see rows in row order.  Blocks are handed to threads round-robin in
 * increasing order (schedule(static, 1)), so the lowest unfinished block
 * never waits and the chain always progresses. */
static inline void nade_wait_for(const int64_t *prev, int64_t k)
{
    if (!prev) return;
    unsigned spins = 0;
    while (__atomic_load_n(prev, __ATOMIC_ACQUIRE) > k) {
        if (++spins < 2048) {
#if defined(__x86_64__) || defined(__i386__)
            __builtin_ia32_pause();
#endif
        } else {
            spins = 0;
            nade_yield(); /* more threads than cores: let the predecessor run */
        }
    }
}

static inline void nade_post(int64_t *progress, int64_t k)
{
    __atomic_store_n(progress, k, __ATOMIC_RELEASE);
}

#endif /* NADE_INTERNAL_H */
