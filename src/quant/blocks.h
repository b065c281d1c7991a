/*
 * blocks.h - the byte layouts of ggml's block formats, as they sit in GGUF
 * files and in the KV cache. Only src/quant and the SIMD kernels in
 * src/kernels include this. All fields are little-endian; ql_fp16 fields are
 * IEEE binary16. The _Static_asserts pin the sizes the GGUF format fixes.
 */
#ifndef QL_QUANT_BLOCKS_H
#define QL_QUANT_BLOCKS_H

#include <stdint.h>
#include <string.h>

#include "../core/fp16.h"
#include "quant.h"

#define QL_QK4_0        32
#define QL_QK4_1        32
#define QL_QK5_0        32
#define QL_QK5_1        32
#define QL_QK8_0        32
#define QL_QK8_1        32
#define QL_QK4_NL       32
#define QL_QK_MXFP4     32
#define QL_K_SCALE_SIZE 12

typedef struct {
    ql_fp16 d;
    uint8_t qs[QL_QK4_0 / 2]; /* element j in the low nibble of qs[j], j+16 in the high nibble */
} block_q4_0;

typedef struct {
    ql_fp16 d, m; /* x = d * q + m */
    uint8_t qs[QL_QK4_1 / 2];
} block_q4_1;

typedef struct {
    ql_fp16 d;
    uint8_t qh[4]; /* fifth bits, element j at bit j */
    uint8_t qs[QL_QK5_0 / 2];
} block_q5_0;

typedef struct {
    ql_fp16 d, m;
    uint8_t qh[4];
    uint8_t qs[QL_QK5_1 / 2];
} block_q5_1;

typedef struct {
    ql_fp16 d;
    int8_t qs[QL_QK8_0];
} block_q8_0;

typedef struct {
    ql_fp16 d, s; /* s = d * sum(qs), kept so the partner's min term costs one multiply */
    int8_t qs[QL_QK8_1];
} block_q8_1;

typedef struct {
    uint8_t scales[QL_QK_K / 16]; /* low nibble scale, high nibble min, per 16 elements */
    uint8_t qs[QL_QK_K / 4];
    ql_fp16 d, dmin;
} block_q2_K;

typedef struct {
    uint8_t hmask[QL_QK_K / 8];
    uint8_t qs[QL_QK_K / 4];
    uint8_t scales[12]; /* 16 six-bit scales */
    ql_fp16 d;
} block_q3_K;

typedef struct {
    ql_fp16 d, dmin;
    uint8_t scales[QL_K_SCALE_SIZE]; /* 8 six-bit scales and 8 six-bit mins */
    uint8_t qs[QL_QK_K / 2];
} block_q4_K;

typedef struct {
    ql_fp16 d, dmin;
    uint8_t scales[QL_K_SCALE_SIZE];
    uint8_t qh[QL_QK_K / 8];
    uint8_t qs[QL_QK_K / 2];
} block_q5_K;

typedef struct {
    uint8_t ql[QL_QK_K / 2];
    uint8_t qh[QL_QK_K / 4];
    int8_t scales[QL_QK_K / 16];
    ql_fp16 d;
} block_q6_K;

/* Activations partner of the k-quants: f32 scale, exact int16 sums per 16 quants. */
typedef struct {
    float d;
    int8_t qs[QL_QK_K];
    int16_t bsums[QL_QK_K / 16];
} block_q8_K;

typedef struct {
    ql_fp16 d;
    uint8_t qs[QL_QK4_NL / 2];
} block_iq4_nl;

typedef struct {
    ql_fp16 d;
    uint16_t scales_h;
    uint8_t scales_l[QL_QK_K / 64];
    uint8_t qs[QL_QK_K / 2];
} block_iq4_xs;

typedef struct {
    uint8_t e; /* E8M0 shared exponent */
    uint8_t qs[QL_QK_MXFP4 / 2];
} block_mxfp4;

/*
 * The 16 levels a 4-bit iq4_nl / iq4_xs code selects, before scaling: a
 * non-uniform grid, denser near zero where weights cluster.
 */
static const int8_t ql_kvalues_iq4nl[16] = {-127, -104, -83, -65, -49, -35, -22, -10,
                                            1,    13,   25,  38,  53,  69,  89,  113};

/*
 * The E2M1 values (the FP4 of mxfp4), doubled so every level is an integer:
 * codes 0..7 stand for +{0, 0.5, 1, 1.5, 2, 3, 4, 6}, 8..15 for the same
 * negated. ql_e8m0_to_fp32_half undoes the doubling.
 */
static const int8_t ql_kvalues_mxfp4[16] = {0, 1,  2,  3,  4,  6,  8,  12,
                                            0, -1, -2, -3, -4, -6, -8, -12};

/*
 * Half the value of an E8M0 exponent, 2^(e-128), built from bits so that
 * e = 0 and 1 give the exact subnormals 2^-128 and 2^-127. e = 255 (NaN in
 * the MX spec) decodes as 2^127, as in ggml.
 */
static inline float ql_e8m0_to_fp32_half(uint8_t e) {
    uint32_t bits = e < 2 ? 0x00200000u << e : (uint32_t)(e - 1) << 23;
    return ql_bits_f32(bits);
}

_Static_assert(sizeof(block_q4_0) == 18, "q4_0 block");
_Static_assert(sizeof(block_q4_1) == 20, "q4_1 block");
_Static_assert(sizeof(block_q5_0) == 22, "q5_0 block");
_Static_assert(sizeof(block_q5_1) == 24, "q5_1 block");
_Static_assert(sizeof(block_q8_0) == 34, "q8_0 block");
_Static_assert(sizeof(block_q8_1) == 36, "q8_1 block");
_Static_assert(sizeof(block_q2_K) == 84, "q2_K block");
_Static_assert(sizeof(block_q3_K) == 110, "q3_K block");
_Static_assert(sizeof(block_q4_K) == 144, "q4_K block");
_Static_assert(sizeof(block_q5_K) == 176, "q5_K block");
_Static_assert(sizeof(block_q6_K) == 210, "q6_K block");
_Static_assert(sizeof(block_q8_K) == 292, "q8_K block");
_Static_assert(sizeof(block_iq4_nl) == 18, "iq4_nl block");
_Static_assert(sizeof(block_iq4_xs) == 136, "iq4_xs block");
_Static_assert(sizeof(block_mxfp4) == 17, "mxfp4 block");

/*
 * Round to nearest, ties to even, the way ggml's quantizers do it: adding
 * 1.5 * 2^23 puts the integer in the low mantissa bits. Valid for |x| < 2^22.
 */
static inline int ql_nearest_int(float x) {
    float v = x + 12582912.0f;
    int32_t i;
    memcpy(&i, &v, sizeof i);
    return (i & 0x007fffff) - 0x00400000;
}

#endif
