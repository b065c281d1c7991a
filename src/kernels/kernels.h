/*
 * kernels.h - the CPU back end's per-type table, the second half of the
 * type traits (like ggml's CPU traits): for each weight type, how a row of
 * activations is prepared for it and which dot products consume the pair.
 *
 * Float weights (f32, f16, bf16) take activations as f32 rows that hold the
 * values rounded to the weight's precision - exactly the numbers ggml's
 * f16/bf16 dot products see - so the kernel converts only the weight side.
 * Quantized weights take activations quantized to their vec_dot_type with
 * the run-time quantizer.
 *
 * Every dot follows the accumulation order of the ggml kernel that computes
 * the same product in llama.cpp's AVX-512 build (see kernels.c), with a
 * SIMD form where written and a portable form that does the same float
 * operations; both give the same bits, so results do not depend on the
 * build's SIMD level or on the thread count.
 */
#ifndef QL_KERNELS_KERNELS_H
#define QL_KERNELS_KERNELS_H

#include <stddef.h>
#include <stdint.h>

#include "../core/fp16.h"
#include "../quant/quant.h"

#include <stdbool.h>

typedef void (*ql_act_convert_fn)(const float *restrict x, void *restrict dst, int64_t n);

/*
 * Which of llama.cpp's CPU code paths and which arithmetic the kernels
 * follow (docs/numerics.md). Everything else about a product's order
 * follows from its shape and this build's instruction set, as in ggml.
 */
typedef struct {
    bool f16_half;     /* F16 vector operations (vec_mad_f16, vec_scale_f16) in half precision,
                          as ggml on AVX512-FP16 CPUs; else widened to f32 lanes */
    bool f16_dot_half; /* vec_dot_f16 in half precision too: the older llama.cpp on such CPUs */
    bool repack;       /* weights repacked where llama.cpp's CPU backend repacks them (its
                          default); false: its --no-repack */
} ql_kernel_profile;

/* How ggml computes f16 vector operations: f16 or f32 arithmetic; AUTO: as on this CPU. */
typedef enum { QL_NUMERICS_AUTO = 0, QL_NUMERICS_FP16, QL_NUMERICS_F32 } ql_numerics;

/* "auto", "fp16" or "f32"; false for anything else. */
bool ql_numerics_from_name(const char *name, ql_numerics *n);
/* The name of a resolved mode ("fp16" or "f32"). */
const char *ql_numerics_name(ql_numerics n);
/* AUTO resolved for the running CPU: FP16 where it has AVX512-FP16. */
ql_numerics ql_numerics_resolve(ql_numerics n);

/* The profile of current llama.cpp with its defaults on this CPU. */
ql_kernel_profile ql_kernel_profile_default(void);

/*
 * y[c * y_stride + o] = dot(weight row o, activation row c) for o < n_w,
 * c < n_x: a register-blocked set of dots with the same per-element
 * operations as the kernel's single dot (faster, same bits).
 */
typedef void (*ql_tile_fn)(int64_t n, const void *w, size_t w_row_bytes, int n_w, const float *x,
                           int64_t x_stride, int n_x, float *y, int64_t y_stride);

typedef struct {
    ql_type act_type;              /* storage type of prepared activations */
    ql_act_convert_fn convert;     /* f32 row -> prepared row */
    ql_vec_dot_fn dot;             /* order of ggml's batched kernel (tinyBLAS) */
    ql_vec_dot_fn dot_single;      /* order of ggml's per-row vec_dot, where tinyBLAS declines */
    ql_vec_dot_fn dot_single_half; /* the same with f16 dots in half precision (f16_dot_half) */
    int tile_k;                    /* tinyBLAS applies only when n_in % tile_k == 0; 0: never */
    const char *dot_impl;          /* "avx512", "avx2", "portable" or "scalar", for reports */
    ql_tile_fn tile, tile_single, tile_single_half;   /* blocked forms of the dots, or NULL */
    int tile_w, tile_x, tile_single_w, tile_single_x; /* their full tile shapes */
    int tile_single_half_w, tile_single_half_x;
} ql_matmul_kernel;

/* NULL if the weight type cannot be multiplied. */
const ql_matmul_kernel *ql_kernel_get(ql_type weight_type);

/* Bytes of one prepared activation row of n elements. */
size_t ql_kernel_act_row_size(const ql_matmul_kernel *k, int64_t n);

/*
 * Whether ggml computes a product of an n_out x n_in weight matrix with
 * batch_rows activation rows with llamafile's tinyBLAS (then dot/tile give
 * its order) or with its per-row vec_dot (dot_single/tile_single).
 */
bool ql_kernel_batched(const ql_matmul_kernel *k, int64_t n_out, int64_t n_in, int64_t batch_rows);

/*
 * Dot of a KV-cache row of a block type with a query row in its vec_dot_type,
 * in ggml's x86 order (NULL for types without one). The portable form is the
 * specification the SIMD form is tested against.
 */
ql_vec_dot_fn ql_kernel_kv_dot(ql_type type_k);
ql_vec_dot_fn ql_kernel_portable_dot(ql_type type_k);

/*
 * ggml_vec_dot_f16 with both rows in f16 (the KV dot of an f16 cache):
 * f32 accumulation as current ggml computes it, or (half) in half
 * precision as the older ggml did on AVX512-FP16 CPUs.
 */
float ql_dot_f16_f16(const ql_fp16 *x, const ql_fp16 *y, int64_t n, bool half);

/* tinyBLAS's f32 order (n % 16 == 0): the dense Hadamard product of a KV rotation. */
float ql_dot_f32_tinyblas(const float *x, const float *y, int64_t n);

/*
 * ggml_vec_dot_f32's order (four 16-lane FMA accumulators over steps of 64,
 * folded 0+2, 1+3, 0+1 and reduced, the tail fused into the sum): the dots
 * of the gated delta rule. The portable form is the specification.
 */
float ql_dot_f32_vec(const float *x, const float *y, int64_t n);
float ql_dot_f32_vec_portable(const float *x, const float *y, int64_t n);

/*
 * One token of the gated delta rule on one value head's state, as ggml's
 * fused GATED_DELTA_NET computes it: m is the s x s state stored transposed
 * (row r is column r of S); m *= decay; delta = beta (v - m k); m += delta
 * k^T (one FMA per element); out = (m q) * scale, every dot in
 * ql_dot_f32_vec's order. delta is s floats of scratch. The portable form
 * is the specification.
 */
void ql_delta_rule_token(float *m, int64_t s, const float *q, const float *k, const float *v,
                         float beta, float decay, float scale, float *out, float *delta);
void ql_delta_rule_token_portable(float *m, int64_t s, const float *q, const float *k,
                                  const float *v, float beta, float decay, float scale, float *out,
                                  float *delta);

/* The float dots by order, this build's fastest form or the portable one (for tests). */
typedef enum {
    QL_FDOT_F16_TINYBLAS, /* f16 weights x f32 row, tinyBLAS (n % 16 == 0) */
    QL_FDOT_F16_VEC,      /* f16 weights x f32 row, ggml_vec_dot_f16 in half precision */
    QL_FDOT_F16_F16,      /* f16 x f16, ggml_vec_dot_f16 in half precision */
    QL_FDOT_F16_VEC32,    /* f16 weights x f32 row, ggml_vec_dot_f16 with f32 accumulation */
    QL_FDOT_F16_F16_32,   /* f16 x f16, ggml_vec_dot_f16 with f32 accumulation */
    QL_FDOT_F32_TINYBLAS, /* f32 x f32, tinyBLAS (n % 16 == 0) */
} ql_float_dot_kind;
ql_vec_dot_fn ql_kernel_float_dot(ql_float_dot_kind kind, bool portable);

/* SIMD dots exposed for tests (NULL where this build has none). */
ql_vec_dot_fn ql_kernel_simd_dot(ql_type weight_type);

#endif
