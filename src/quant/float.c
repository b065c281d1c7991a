/*
 * float.c - the unquantized element types: f32, f16, bf16. Their "quantizer"
 * is a rounding conversion (nearest even); their vec_dot partner is the type
 * itself, as in ggml. Dot products accumulate in double so the scalar path is
 * an accurate reference for the SIMD kernels.
 */
#include <string.h>

#include "../core/fp16.h"
#include "quant_impl.h"

void ql_dequantize_row_f32(const void *restrict src, float *restrict dst, int64_t n) {
    memcpy(dst, src, (size_t)n * sizeof(float));
}

void ql_quantize_row_f32_ref(const float *restrict src, void *restrict dst, int64_t n) {
    memcpy(dst, src, (size_t)n * sizeof(float));
}

void ql_vec_dot_f32_f32(int64_t n, float *restrict out, const void *restrict x,
                        const void *restrict y) {
    const float *a = x, *b = y;
    double sum = 0.0;
    for (int64_t i = 0; i < n; i++) sum += (double)a[i] * b[i];
    *out = (float)sum;
}

void ql_dequantize_row_f16(const void *restrict src, float *restrict dst, int64_t n) {
    ql_fp16_to_fp32_row(src, dst, n);
}

void ql_quantize_row_f16_ref(const float *restrict src, void *restrict dst, int64_t n) {
    ql_fp32_to_fp16_row(src, dst, n);
}

void ql_vec_dot_f16_f16(int64_t n, float *restrict out, const void *restrict x,
                        const void *restrict y) {
    const ql_fp16 *a = x, *b = y;
    double sum = 0.0;
    for (int64_t i = 0; i < n; i++) sum += (double)ql_fp16_to_fp32(a[i]) * ql_fp16_to_fp32(b[i]);
    *out = (float)sum;
}

void ql_dequantize_row_bf16(const void *restrict src, float *restrict dst, int64_t n) {
    ql_bf16_to_fp32_row(src, dst, n);
}

void ql_quantize_row_bf16_ref(const float *restrict src, void *restrict dst, int64_t n) {
    ql_fp32_to_bf16_row(src, dst, n);
}

void ql_vec_dot_bf16_bf16(int64_t n, float *restrict out, const void *restrict x,
                          const void *restrict y) {
    const ql_bf16 *a = x, *b = y;
    double sum = 0.0;
    for (int64_t i = 0; i < n; i++) sum += (double)ql_bf16_to_fp32(a[i]) * ql_bf16_to_fp32(b[i]);
    *out = (float)sum;
}
