/*
 * fp16.h - IEEE binary16 and bfloat16 conversions.
 *
 * Conversions from f32 round to nearest, ties to even, and keep NaN and Inf
 * (a NaN stays a NaN: its payload is truncated but forced quiet). These are
 * the semantics of ggml's reference conversions and of the F16C / AVX512-BF16
 * instructions, so row helpers may use either and get identical bits.
 */
#ifndef QL_CORE_FP16_H
#define QL_CORE_FP16_H

#include <stdint.h>
#include <string.h>

typedef uint16_t ql_fp16;
typedef uint16_t ql_bf16;

static inline uint32_t ql_f32_bits(float f) {
    uint32_t u;
    memcpy(&u, &f, sizeof u);
    return u;
}

static inline float ql_bits_f32(uint32_t u) {
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
}

float ql_fp16_to_fp32(ql_fp16 h);
ql_fp16 ql_fp32_to_fp16(float f);

static inline float ql_bf16_to_fp32(ql_bf16 h) {
    return ql_bits_f32((uint32_t)h << 16);
}

static inline ql_bf16 ql_fp32_to_bf16(float f) {
    uint32_t u = ql_f32_bits(f);
    if ((u & 0x7fffffffu) > 0x7f800000u) return (ql_bf16)((u >> 16) | 64); /* quiet NaN */
    return (ql_bf16)((u + (0x7fffu + ((u >> 16) & 1u))) >> 16);
}

/* f32 -> f16 -> f32: the value an f16 store would keep. */
static inline float ql_round_fp16(float f) {
    return ql_fp16_to_fp32(ql_fp32_to_fp16(f));
}

void ql_fp16_to_fp32_row(const ql_fp16 *src, float *dst, int64_t n);
void ql_fp32_to_fp16_row(const float *src, ql_fp16 *dst, int64_t n);
void ql_bf16_to_fp32_row(const ql_bf16 *src, float *dst, int64_t n);
void ql_fp32_to_bf16_row(const float *src, ql_bf16 *dst, int64_t n);

/* Fast lookup for f16 -> f32, filled once by ql_fp16_init (idempotent, thread-safe). */
extern float ql_fp16_table[65536];
void ql_fp16_init(void);

#endif
