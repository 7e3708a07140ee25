/* isa_baseline.c -- the kernels for the compiler's default target (SSE2 on
   x86-64, NEON on aarch64): what runs on any CPU of the architecture. */
#define ISA_SFX baseline
#define NADE_ISA_NAME "baseline"
#if defined(__FMA__) || defined(__ARM_FEATURE_FMA)
#define NADE_FMA 1
#else
#define NADE_FMA 0
#endif
#if defined(__aarch64__)
#define NADE_RT 3 /* 32 vector registers: three rows of 8 accumulators */
#else
#define NADE_RT 1 /* 16 SSE registers: one row's 8 accumulators */
#endif
#define NADE_VEC_BYTES 16 /* SSE2 / NEON registers */
#include "nade_isa.h"
