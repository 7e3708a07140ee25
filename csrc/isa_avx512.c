/* isa_avx512.c -- the kernels for x86-64-v4 (AVX-512 F/BW/CD/DQ/VL), chosen
   at run time by dispatch.c; empty elsewhere. */
#include <math.h>
#include <string.h>

#include "nade_internal.h" /* system headers before the target switch */
#if defined(NADE_X86_DISPATCH)
#include <immintrin.h>
#endif
#if defined(NADE_X86_DISPATCH)
#if defined(__clang__)
#pragma clang attribute push(                                                                      \
    __attribute__((target("avx512f,avx512bw,avx512cd,avx512dq,avx512vl,avx2,fma,bmi,bmi2,"         \
                          "lzcnt,movbe,popcnt,f16c"))),                                            \
    apply_to = function)
#else
#pragma GCC target("avx512f,avx512bw,avx512cd,avx512dq,avx512vl,avx2,fma,bmi,bmi2,lzcnt,movbe,popcnt,f16c")
#endif
#define ISA_SFX avx512
#define NADE_ISA_NAME "avx512"
#define NADE_FMA 1
#define NADE_RT 6 /* 32 vector registers: six rows of 2 zmm accumulators */
#define NADE_VEC_BYTES 64
#define NADE_VFMA_F32(a, b, c) _mm512_fmadd_ps((a), (b), (c))
#define NADE_VFMA_F64(a, b, c) _mm512_fmadd_pd((a), (b), (c))
#include "nade_isa.h"
#if defined(__clang__)
#pragma clang attribute pop
#endif
#endif
