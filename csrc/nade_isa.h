/*
 * nade_isa.h -- one instruction set's copy of every kernel, float and
 * double, from the single sources nade_impl.h (fixed-order NADE),
 * oa_impl.h (order-agnostic, deep NADE), cat_impl.h (categorical outputs of
 * both), mix_impl.h (real-valued outputs of both: mixtures of Gaussians),
 * oa_train_impl.h (its training objective's element-wise parts) and
 * adam_impl.h (the optimizer's step), plus its kernel table.  Which kernels exist, and their signatures, comes
 * from the one list nade_kernels.def.
 * Included by isa_*.c after they set the target; expects ISA_SFX,
 * NADE_ISA_NAME, NADE_FMA, NADE_RT and NADE_VEC_BYTES (the vector width of
 * the dot products), and optionally NADE_VFMA_F32/F64(a, b, c): a fused
 * a * b + c on such vectors (an intrinsic; otherwise lane by lane).
 */
#include <float.h>
#include <string.h>

#include "nade_internal.h"
#include "nade_math.h"
#include "philox.h"

/* name_sfx, name_rsfx_sfx (after expanding the arguments): kernel names */
#define NADE_PASTE3(a, b, c) a##_##b##_##c
#define NADE_XPASTE3(a, b, c) NADE_PASTE3(a, b, c)
#define NADE_PASTE2(a, b) a##_##b
#define NADE_XPASTE2(a, b) NADE_PASTE2(a, b)

/* This instruction set's kernels, declared from the list before their bodies:
   a body whose signature differs from its entry is a compile error
   (conflicting types), a missing body a link error. */
#define NADE_KERNEL(kname, params, args) int NADE_XPASTE2(kname, ISA_SFX) params;
#include "nade_kernels.def"

#define REAL float
#define RSFX f32
#define NADE_REAL_IS_DOUBLE 0
#if defined(NADE_VFMA_F32)
#define VFMA NADE_VFMA_F32
#endif
#include "nade_impl.h"
#include "oa_impl.h"
#include "cat_impl.h"
#include "mix_impl.h"
#include "oa_train_impl.h"
#include "adam_impl.h"
#undef FN
#undef PARAMS
#undef GRAD
#undef LANES
#undef MADD
#undef SIGMOID
#undef LOGSIG
#undef REAL
#undef RSFX
#undef NADE_REAL_IS_DOUBLE
#undef VFMA
#undef VEC_LANES
#undef VECS_PER_LANES

#define REAL double
#define RSFX f64
#define NADE_REAL_IS_DOUBLE 1
#if defined(NADE_VFMA_F64)
#define VFMA NADE_VFMA_F64
#endif
#include "nade_impl.h"
#include "oa_impl.h"
#include "cat_impl.h"
#include "mix_impl.h"
#include "oa_train_impl.h"
#include "adam_impl.h"
#undef FN
#undef PARAMS
#undef GRAD
#undef LANES
#undef MADD
#undef SIGMOID
#undef LOGSIG
#undef REAL
#undef RSFX
#undef NADE_REAL_IS_DOUBLE
#undef VFMA
#undef VEC_LANES
#undef VECS_PER_LANES

/* the table of this instruction set: the entry `name` of the list is name_<ISA_SFX> */
const nade_table NADE_XPASTE2(nade_table, ISA_SFX) = {
    .name = NADE_ISA_NAME,
#define NADE_KERNEL(kname, params, args) .kname = NADE_XPASTE2(kname, ISA_SFX),
#include "nade_kernels.def"
};
