/*
 * nade_isa.h -- one instruction set's copy of every kernel, float and
 * double, from the single sources nade_impl.h (fixed-order NADE),
 * oa_impl.h (order-agnostic, deep NADE), oa_train_impl.h (its training
 * objective's element-wise parts) and adam_impl.h (the optimizer's step),
 * plus its kernel table.
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

#define REAL float
#define RSFX f32
#define NADE_REAL_IS_DOUBLE 0
#if defined(NADE_VFMA_F32)
#define VFMA NADE_VFMA_F32
#endif
#include "nade_impl.h"
#include "oa_impl.h"
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

#define NADE_K(name, rs) NADE_XPASTE3(name, rs, ISA_SFX)
const nade_table NADE_XPASTE2(nade_table, ISA_SFX) = {
    NADE_ISA_NAME,
    NADE_K(score, f32),  NADE_K(score, f64),  NADE_K(sample, f32), NADE_K(sample, f64),
    NADE_K(grad, f32),   NADE_K(grad, f64),   NADE_K(hidden, f32), NADE_K(hidden, f64),
    NADE_XPASTE2(logistic_noise, ISA_SFX),
    NADE_K(oa_score, f32), NADE_K(oa_score, f64), NADE_K(oa_sample, f32), NADE_K(oa_sample, f64),
    NADE_K(adam, f32),   NADE_K(adam, f64),
    NADE_K(oa_output, f32), NADE_K(oa_output, f64), NADE_K(oa_input_add, f32),
    NADE_K(oa_input_add, f64), NADE_K(oa_input_grad, f32), NADE_K(oa_input_grad, f64),
};
#undef NADE_K
