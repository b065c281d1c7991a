/*
 * vecmath.h - the float primitives of ggml's CPU kernels whose rounding
 * reaches our results: its vector exponential (ggml_v_expf, used by SiLU
 * and by flash attention's softmax), the horizontal sums of a 16-lane and
 * an 8-lane register (the trees GCC emits for _mm512_reduce_add_ps and
 * ggml's hsum_float_8), half-precision arithmetic as AVX512-FP16 does it,
 * SiLU-gated rows and the exp-and-sum of a softmax tile.
 *
 * A quantized KV cache turns last-bit differences into different rounding
 * decisions, so "the same function" is not enough: these perform the same
 * float operations as ggml's AVX-512 build, in the same order. Each has an
 * AVX-512 form and a portable form that does the same operations lane by
 * lane (fmaf where ggml fuses); tests check the two are bit-identical.
 */
#ifndef QL_KERNELS_VECMATH_H
#define QL_KERNELS_VECMATH_H

#include <stdint.h>
#include <stdbool.h>

/*
 * Sum of 16 lanes in the order of _mm512_reduce_add_ps as GCC expands it:
 * upper half + lower half, then again on 8 and 4 lanes, then the last two.
 */
static inline float ql_reduce16(const float v[16]) {
    float h8[8], h4[4];
    for (int i = 0; i < 8; i++) h8[i] = v[8 + i] + v[i];
    for (int i = 0; i < 4; i++) h4[i] = h8[4 + i] + h8[i];
    return (h4[0] + h4[2]) + (h4[1] + h4[3]);
}

/* ggml's hsum_float_8: the same tree on 8 lanes. */
static inline float ql_reduce8(const float v[8]) {
    float h4[4];
    for (int i = 0; i < 4; i++) h4[i] = v[4 + i] + v[i];
    return (h4[0] + h4[2]) + (h4[1] + h4[3]);
}

/*
 * Half-precision arithmetic of ggml's F16 vectors on CPUs with AVX512-FP16
 * (where llama.cpp's reference numbers were measured): each operation on
 * f16 values rounds once to f16. Operands and results are f16 values held
 * in floats. Without the instructions we compute in f32, which is exact for
 * a product of two f16 values, and correct the one case where rounding the
 * f32 sum to f16 would round twice (an f32 result on an f16 midpoint).
 */
float ql_h_add(float a, float b);          /* f16(a + b) */
float ql_h_fma(float a, float b, float c); /* f16(a * b + c), one rounding */
float ql_h_mul(float a, float b);          /* f16(a * b) */

/* One lane of ggml_v_expf (AVX-512 form): a degree-5 polynomial on a reduced
 * argument, scaled by 2^n; |n| > 192 gives 0 or +inf. Max error ~1.5 ulp. */
float ql_vexpf(float x);

/* y[i] = ql_vexpf(x[i]) for 16 lanes. */
void ql_vexpf16(float *y, const float *x);

/*
 * g[i] = silu(g[i]) * u[i] over one row, as ggml_vec_swiglu_f32: blocks of
 * 16 use x / (1 + ql_vexpf(-x)), a tail of n % 16 uses libm's expf.
 */
void ql_swiglu_row(float *g, const float *u, int64_t n);
/* The same through ql_vexpf lane by lane: the specification, for tests. */
void ql_swiglu_row_portable(float *g, const float *u, int64_t n);

/* y[i] = silu(x[i]) as ggml_vec_silu_f32: the blocks and the tail of ql_swiglu_row, no product. */
void ql_silu_row(float *y, const float *x, int64_t n);
void ql_silu_row_portable(float *y, const float *x, int64_t n);

/*
 * p[i] = exp(s[i] - max) and their sum, as ggml_vec_soft_max_f32: groups of
 * 16 through ql_vexpf, each group reduced with ql_reduce16 and added in
 * double; a tail of n % 16 uses expf. Returns the double sum.
 */
double ql_exp_sum(float *p, const float *s, int64_t n, float max);

/*
 * y[i] = expf(x[i]) with the bits of the C library's expf, several at a time.
 * llama.cpp's attention over a quantized cache calls libm's expf once per
 * key. glibc's expf (the FMA variant that x86-64 CPUs with AVX2 get) is a
 * table-driven computation in double, which this repeats in vectors. The
 * first call checks the vector form against the library's expf on a spread
 * of inputs, edges included, and where any differs (another C library or
 * variant) every later call uses the library's expf instead.
 */
void ql_expf_row(const float *x, float *y, int64_t n);
/* Whether ql_expf_row uses its vector form on this machine (for tests). */
bool ql_expf_row_is_vector(void);

#endif
