/*
 * dispatch.c -- the public entry points of nade.h: pick the kernel table of
 * the best instruction set the CPU supports (or the one asked for), and
 * forward every kernel of the list nade_kernels.def to it.  Also the
 * ISA-independent helpers.
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

size_t nade_cat_work_bytes(ptrdiff_t n, ptrdiff_t n_out, ptrdiff_t dp, size_t real_size,
                           ptrdiff_t block_rows)
{
    if (n < 1 || n_out < n || dp < 1 || nade_lanes(real_size) == 0 || !nade_block_ok(block_rows))
        return 0;
    return nade_cat_work_layout(n, n_out, dp, real_size, block_rows).total;
}

size_t nade_mix_work_bytes(ptrdiff_t n, ptrdiff_t C, ptrdiff_t dp, size_t real_size,
                           ptrdiff_t block_rows)
{
    /* C and n bounded so that 3 C n and the scratch's sizes cannot overflow */
    if (n < 1 || C < 1 || dp < 1 || C > (PTRDIFF_MAX / 2048) / n || nade_lanes(real_size) == 0 ||
        !nade_block_ok(block_rows))
        return 0;
    return nade_mix_work_layout(n, C, dp, real_size, block_rows).total;
}

/* the public kernels: nade_<name> calls the active table's entry, for every
   entry NADE_KERNEL(name, (parameters), (arguments)) of nade_kernels.def */
#define NADE_KERNEL(name, params, args)                                                            \
    int nade_##name params { return nade_active->name args; }
#include "nade_kernels.def"

int nade_uniform_bits(const uint64_t key[2], uint64_t row, ptrdiff_t n, uint32_t *out)
{
    if (key == NULL || n < 0 || out == NULL) return NADE_EINVAL;
    nade_uniform_bits_row(key, row, n, out);
    return NADE_OK;
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
