/*
 * quant_impl.h - the per-family functions the traits table points at.
 * Only traits.c and the family files include this; everything else reaches
 * these functions through ql_type_traits_get().
 *
 * Naming: ql_dequantize_row_T (to_float), ql_quantize_row_T_ref (ggml's
 * reference quantizer), ql_quantize_row_T (ggml's CPU run-time quantizer,
 * only where it differs from the reference), ql_vec_dot_T_U (scalar dot of a
 * row of T with a row of its vec_dot_type U).
 */
#ifndef QL_QUANT_IMPL_H
#define QL_QUANT_IMPL_H

#include "quant.h"

#define QL_DECLARE_ROW_FNS(T)                                                                      \
    void ql_dequantize_row_##T(const void *restrict src, float *restrict dst, int64_t n);          \
    void ql_quantize_row_##T##_ref(const float *restrict src, void *restrict dst, int64_t n);

#define QL_DECLARE_VEC_DOT(T, U)                                                                   \
    void ql_vec_dot_##T##_##U(int64_t n, float *restrict out, const void *restrict x,              \
                              const void *restrict y);

/* float.c */
QL_DECLARE_ROW_FNS(f32)
QL_DECLARE_ROW_FNS(f16)
QL_DECLARE_ROW_FNS(bf16)
QL_DECLARE_VEC_DOT(f32, f32)
QL_DECLARE_VEC_DOT(f16, f16)
QL_DECLARE_VEC_DOT(bf16, bf16)

/* legacy.c */
QL_DECLARE_ROW_FNS(q4_0)
QL_DECLARE_ROW_FNS(q4_1)
QL_DECLARE_ROW_FNS(q5_0)
QL_DECLARE_ROW_FNS(q5_1)
QL_DECLARE_ROW_FNS(q8_0)
QL_DECLARE_ROW_FNS(q8_1)
void ql_quantize_row_q8_0(const float *restrict src, void *restrict dst, int64_t n);
void ql_quantize_row_q8_1(const float *restrict src, void *restrict dst, int64_t n);
QL_DECLARE_VEC_DOT(q4_0, q8_0)
QL_DECLARE_VEC_DOT(q4_1, q8_1)
QL_DECLARE_VEC_DOT(q5_0, q8_0)
QL_DECLARE_VEC_DOT(q5_1, q8_1)
QL_DECLARE_VEC_DOT(q8_0, q8_0)
QL_DECLARE_VEC_DOT(q8_1, q8_1)

/* kquants.c */
QL_DECLARE_ROW_FNS(q2_K)
QL_DECLARE_ROW_FNS(q3_K)
QL_DECLARE_ROW_FNS(q4_K)
QL_DECLARE_ROW_FNS(q5_K)
QL_DECLARE_ROW_FNS(q6_K)
QL_DECLARE_VEC_DOT(q2_K, q8_K)
QL_DECLARE_VEC_DOT(q3_K, q8_K)
QL_DECLARE_VEC_DOT(q4_K, q8_K)
QL_DECLARE_VEC_DOT(q5_K, q8_K)
QL_DECLARE_VEC_DOT(q6_K, q8_K)

/* q8k.c */
QL_DECLARE_ROW_FNS(q8_K)
QL_DECLARE_VEC_DOT(q8_K, q8_K)

/* iq4.c */
QL_DECLARE_ROW_FNS(iq4_nl)
QL_DECLARE_ROW_FNS(iq4_xs)
/* ggml's KV-cache quantizer for iq4_nl skips the reference's scale search */
void ql_quantize_row_iq4_nl(const float *restrict src, void *restrict dst, int64_t n);
QL_DECLARE_VEC_DOT(iq4_nl, q8_0)
QL_DECLARE_VEC_DOT(iq4_xs, q8_K)

/* mxfp4.c */
QL_DECLARE_ROW_FNS(mxfp4)
QL_DECLARE_VEC_DOT(mxfp4, q8_0)

#endif
