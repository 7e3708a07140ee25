/* isa_avx2.c -- the kernels for x86-64-v3 (AVX2 + FMA), chosen at run time
   by dispatch.c; empty elsewhere. */
#include <math.h>
#include <string.h>

#include "nade_internal.h" /* system headers before the target switch */
#if defined(NADE_X86_DISPATCH)
#include <immintrin.h>
#endif
#if defined(NADE_X86_DISPATCH)
#if defined(__clang__)
#pragma clang attribute push(__attribute__((target("avx2,fma,bmi,bmi2,lzcnt,movbe,popcnt,f16c"))), \
                             apply_to = function)
#else
#pragma GCC target("avx2,fma,bmi,bmi2,lzcnt,movbe,popcnt,f16c")
#endif
#define ISA_SFX avx2
#define NADE_ISA_NAME "avx2"
#define NADE_FMA 1
#define NADE_RT 3 /* 16 ymm registers: three rows of 4 accumulators */
#define NADE_VEC_BYTES 32
#define NADE_VFMA_F32(a, b, c) _mm256_fmadd_ps((a), (b), (c))
#define NADE_VFMA_F64(a, b, c) _mm256_fmadd_pd((a), (b), (c))
#include "nade_isa.h"
#if defined(__clang__)
#pragma clang attribute pop
#endif
#endif
