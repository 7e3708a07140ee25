/* isa_avx512.c -- the kernels for x86-64-v4 (AVX-512 F/BW/CD/DQ/VL), chosen
   at run time by dispatch.c; empty elsewhere. */
#include <math.h>
#include <string.h>

#include "nade_internal.h" /* system headers before the target switch */
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
#define NADE_RT 6 /* 32 vector registers: six rows of 4 ymm accumulators */
#include "nade_isa.h"
#if defined(__clang__)
#pragma clang attribute pop
#endif
#endif
