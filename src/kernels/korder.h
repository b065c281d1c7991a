/*
 * korder.h - scalar statements of the float orders of llama.cpp's x86 CPU
 * kernels that no other kernel here shares. Each gives, bit for bit, what
 * that ggml kernel computes for one output element; the SIMD kernels are
 * tested against them.
 *
 *   _vec     ggml_vec_dot_*_q8_K in its AVX2 form (AVX-512 builds use it):
 *            products of fewer than 8 activation rows
 *   _tiled   ggml's tiled k-quant product: 8 or more rows
 *   _gemm    the repacked 8x8 tiles (q4_K; q2_K on AVX-512), the rows of a
 *            batch in groups of four
 *   _gemv    their one-row form, the last n % 4 rows of a batch
 *   _repack  the repacked q4_0 / iq4_nl tiles (both forms)
 */
#ifndef QL_KERNELS_KORDER_H
#define QL_KERNELS_KORDER_H

#include <stdint.h>

#include "../quant/quant.h"

/*
 * The integers of a k-quant super-block as every kernel sees them: level
 * v[e] = code[e] - bias (code the unsigned value the tiled kernels
 * multiply), n_sub sub-blocks of sub elements with their scales and mins,
 * d and dmin as f32.
 */
typedef struct {
    int v[256], code[256];
    int bias, n_sub, sub;
    int sc[16], mn[16];
    float d, dmin;
} ql_kblock;

/* Decodes one super-block of q2_K, q3_K, q4_K, q5_K, q6_K or iq4_xs. */
void ql_kblock_decode(ql_type t, const void *block, ql_kblock *k);

#define QL_KORDER_DECLARE(T)                                                                       \
    void ql_korder_##T##_vec(int64_t n, float *out, const void *x, const void *y);                 \
    void ql_korder_##T##_tiled(int64_t n, float *out, const void *x, const void *y);
QL_KORDER_DECLARE(q2_K)
QL_KORDER_DECLARE(q3_K)
QL_KORDER_DECLARE(q4_K)
QL_KORDER_DECLARE(q5_K)
QL_KORDER_DECLARE(q6_K)
QL_KORDER_DECLARE(iq4_xs)
#undef QL_KORDER_DECLARE

void ql_korder_q4_K_gemm(int64_t n, float *out, const void *x, const void *y);
void ql_korder_q4_K_gemv(int64_t n, float *out, const void *x, const void *y);
void ql_korder_q2_K_gemm(int64_t n, float *out, const void *x, const void *y);
void ql_korder_q2_K_gemv(int64_t n, float *out, const void *x, const void *y);
void ql_korder_q4_0_repack(int64_t n, float *out, const void *x, const void *y);
void ql_korder_iq4_nl_repack(int64_t n, float *out, const void *x, const void *y);

#endif
