/*
 * kernels.h - the CPU back end's per-type table, the second half of the
 * type traits (like ggml's CPU traits): for each weight type, how a row of
 * activations is prepared for it and which dot product consumes the pair.
 *
 * Float weights (f32, f16, bf16) take activations as f32 rows that hold the
 * values rounded to the weight's precision - exactly the numbers ggml's
 * f16/bf16 dot products see - so the kernel converts only the weight side.
 * Quantized weights take activations quantized to their vec_dot_type with
 * the run-time quantizer. The dot is the fastest implementation this build
 * has (AVX-512/AVX2 where written, else the scalar one from src/quant);
 * tests check every SIMD dot against the scalar one.
 */
#ifndef QL_KERNELS_KERNELS_H
#define QL_KERNELS_KERNELS_H

#include <stddef.h>
#include <stdint.h>

#include "../quant/quant.h"

typedef void (*ql_act_convert_fn)(const float *restrict x, void *restrict dst, int64_t n);

typedef struct {
    ql_type act_type;              /* storage type of prepared activations */
    ql_act_convert_fn convert;     /* f32 row -> prepared row */
    ql_vec_dot_fn dot;             /* weight row . prepared activation row */
    const char *dot_impl;          /* "avx512", "avx2" or "scalar", for reports */
} ql_matmul_kernel;

/* NULL if the weight type cannot be multiplied. */
const ql_matmul_kernel *ql_kernel_get(ql_type weight_type);

/* Bytes of one prepared activation row of n elements. */
size_t ql_kernel_act_row_size(const ql_matmul_kernel *k, int64_t n);

/* SIMD dots exposed for tests (NULL where this build has none). */
ql_vec_dot_fn ql_kernel_simd_dot(ql_type weight_type);

#endif
