/*
 * ops.h - the element-wise and row-wise steps of a transformer layer, on f32
 * rows. Each follows ggml's CPU arithmetic where that changes results
 * measurably (sum of squares in double for RMS norm, RoPE angles built by
 * repeated multiplication in float and the rotation fused as GCC fuses it,
 * SiLU through ggml's vector exp, GELU through an f16 table, the Hadamard
 * rotation in either of the two orders llama.cpp has used), so that our
 * results are llama.cpp's bit for bit.
 */
#ifndef QL_KERNELS_OPS_H
#define QL_KERNELS_OPS_H

#include <stdbool.h>
#include <stdint.h>

/* y = x / sqrt(mean(x^2) + eps) * w   (w may be NULL: no weight). y may alias x. */
void ql_rms_norm(float *y, const float *x, const float *w, int64_t n, float eps);

/* ql_rms_norm on each of n_rows rows of width floats. */
void ql_rms_norm_rows(float *y, const float *x, const float *w, int64_t n_rows, int64_t width,
                      float eps);

/*
 * RoPE tables for one position: cs[2i] = cos(theta_i), cs[2i+1] = sin(theta_i)
 * for i < n_dims/2, theta_i = freq_scale * pos * base^(-2i/n_dims) / freq_factor[i]
 * (freq_factors may be NULL; freq_scale < 1 is linear context scaling).
 */
void ql_rope_cache(float *cs, int64_t pos, int n_dims, float freq_base, float freq_scale,
                   const float *freq_factors);

/*
 * Rotates one head vector of head_dim floats in place with a cache from
 * ql_rope_cache. neox pairs (i, i + n_dims/2); normal pairs (2i, 2i+1).
 * Dimensions past n_dims are left unchanged.
 */
void ql_rope_apply(float *x, const float *cs, int n_dims, bool neox);

/* g = silu(g) * u on each of n_rows rows of width floats (ggml's vector SiLU, row by row) */
void ql_swiglu(float *g, const float *u, int64_t n_rows, int64_t width);
/* g = gelu_tanh(g) * u, GELU looked up in an f16 table as ggml does */
void ql_geglu(float *g, const float *u, int64_t n_rows, int64_t width);

/* y[i] += x[i] */
void ql_add(float *y, const float *x, int64_t n);
/* y[i] *= s */
void ql_scale(float *y, float s, int64_t n);

/*
 * In-place Walsh-Hadamard rotation of consecutive blocks of `block` floats
 * (a power of two, at most 4096) in x[0..n), scaled by 1/sqrt(block):
 * x <- H_block x per block, where H is the Sylvester (natural-order)
 * Hadamard matrix. H is symmetric and H*H = I, so applying it twice
 * restores x (up to rounding). The two compute the same product with
 * different roundings, each as one version of llama.cpp does on CPU:
 * ql_hadamard_dense as a dense f32 matrix product in tinyBLAS's order
 * (llama.cpp until May 2026), ql_hadamard_fwht as ggml's fast
 * Walsh-Hadamard transform (since).
 */
void ql_hadamard_dense(float *x, int64_t n, int block);
void ql_hadamard_fwht(float *x, int64_t n, int block);

#endif
