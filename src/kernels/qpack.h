/*
 * qpack.h - the packed step layouts the x86 quantized kernels read (private
 * to pack_x86.c and dot_x86.c), and the packers' declarations.
 *
 * Three families:
 *
 *  "legacy": mxfp4 against q8_0 (and the layout of all q8_0 activations). A step is four
 *  32-element blocks (128 int8 values, element order) and per-lane float
 *  scales. The integer dot of a step yields lanes of partial sums that are
 *  folded together until each lane holds sums of one block only
 *  (ql_lane_block says which), so one conversion, one scale multiply and
 *  one accumulate serve four blocks. A row whose block count is not a
 *  multiple of 4 ends in a step padded with zero blocks (values and
 *  scales), which add exact zeros.
 *
 *  "g0" and "g1": q4_0, q5_0, q8_0, iq4_nl against q8_0 and q4_1, q5_1
 *  against q8_1, in the order of ggml's x86 dots (the kernel table's
 *  order for them, see kernels.c): per block, eight int32 lanes of four
 *  products each, multiplied by d_x * d_y into eight float lanes in one
 *  FMA; q4_1 and q5_1 keep the min terms m * s in a separate fused running
 *  sum, iq4_nl alternates two accumulators between even and odd blocks and
 *  adds an odd last block in scalar code after the lanes; at the end ggml's
 *  hsum_float_8 of the lanes (plus the running sum). A step is four blocks
 *  (128 levels, element order) with their scales (and mins).
 *
 *  "k": q2_K .. q6_K and iq4_xs against q8_K. A step is one 256-element
 *  super-block with the integer sub-block scale already multiplied into
 *  every weight (int16: |q * scale| <= 4096), so one chain of 16-bit
 *  multiply-adds gives the super-block's integer sum; the min term uses
 *  per-16 mins against q8_K's per-16 sums.
 *
 * Legacy weights are signed; they are stored so that no fix-up follows the
 * dot: under AVX-512 VNNI (u8 x s8 products) a weight w is
 * stored as w + 128 and the activation step carries -128 * (sum of the 4
 * activations of each lane) as the lane's starting value, so every lane
 * holds an exact sum of w * y over its 4 elements; under AVX2 (sign trick,
 * no offset) w is stored as is.
 */
#ifndef QL_KERNELS_QPACK_H
#define QL_KERNELS_QPACK_H

#include <stdint.h>

#if defined(__AVX512F__) && defined(__AVX512BW__) && defined(__AVX512VL__) &&                      \
    defined(__AVX512VNNI__)
#define QL_QK_AVX512 1
#endif
#if defined(__AVX2__) && defined(__FMA__) && defined(__F16C__)
#define QL_QK_AVX2 1 /* also set under AVX-512: the packers use AVX2 */
#endif

#if defined(QL_QK_AVX2)

/* Lanes of a float accumulator, and the block (0-3) of a legacy step that lane i sums. */
#if defined(QL_QK_AVX512)
enum { QL_QK_LANES = 16 };
/* two 16-lane VNNI dots (blocks 0-1, 2-3) folded by unpacklo/hi_epi32 + add */
static inline int ql_lane_block(int i) {
    return (i & 1) * 2 + (i >> 3);
}
#else
enum { QL_QK_LANES = 8 };
/* four 8-lane dots (one per block) folded by two rounds of hadd_epi32 */
static inline int ql_lane_block(int i) {
    return i & 3;
}
#endif

/* Legacy weights. */
typedef struct {
    _Alignas(64) int8_t q[128];
    float d[16]; /* block scale, per lane (QL_QK_LANES used) */
} ql_pw_legacy;

/* Legacy (q8_0) activations. */
typedef struct {
    _Alignas(64) int8_t y[128];
    float d[16];
    /* AVX-512 only (beyond the AVX2 step's bytes): */
    int32_t corr[32]; /* -128 * (y[4j] + .. + y[4j+3]), the dots' start values */
    float dh[4];      /* the scales in block order (g0 tiles) */
    uint8_t pad[48];
} ql_pa_legacy;

/* g0 weights (q4_0, q5_0, q8_0, iq4_nl); their activations are ql_pa_legacy. */
typedef struct {
    _Alignas(64) int8_t q[128]; /* as legacy weights: + 128 under AVX-512 */
    float d[4];                 /* iq4_nl: 0 for an odd last block, whose scale is tail_d */
    float tail_d;
    int32_t tail_h;   /* iq4_nl: that block's index in the step, else -1 */
    int32_t n_blocks; /* the row's blocks in this step: 4 but in its last step */
    uint8_t pad[36];
} ql_pw_g0;

/* g1 weights (q4_1, q5_1) and activations (q8_1). */
typedef struct {
    _Alignas(64) uint8_t q[128]; /* levels 0..31 */
    float d[4], m[4];
    uint8_t pad[32];
} ql_pw_g1;

typedef struct {
    _Alignas(64) int8_t y[128];
    float d[4], s[4];
    uint8_t pad[32];
} ql_pa_g1;

/* K weights. */
typedef struct {
    _Alignas(64) int16_t q[256]; /* level * sub-block scale */
    int16_t mins[16];            /* per 16 elements (q2_K, q4_K, q5_K) */
    float d, dmin;
    uint8_t pad[24];
} ql_pw_k;

/* q8_K activations. */
typedef struct {
    _Alignas(64) int16_t y[256];
    int16_t bsums[16];
    float d;
    uint8_t pad[28];
} ql_pa_k;

_Static_assert(sizeof(ql_pw_legacy) == 192, "legacy weight step");
_Static_assert(sizeof(ql_pa_legacy) == 384, "legacy activation step");
_Static_assert(sizeof(ql_pw_g1) == 192 && sizeof(ql_pa_g1) == 192, "g1 steps");
_Static_assert(sizeof(ql_pw_g0) == 192, "g0 weight step");
_Static_assert(sizeof(ql_pw_k) == 576, "k weight step");
_Static_assert(sizeof(ql_pa_k) == 576, "k activation step");

/* Elements of a legacy or g1 step; bytes of a legacy weight step. */
#define QL_LEGACY_STEP     128
#define QL_PW_LEGACY_BYTES 192
/* Bytes of a legacy activation step (the corrections only under AVX-512). */
#if defined(QL_QK_AVX512)
#define QL_PA_Q8_0_BYTES 384
#else
#define QL_PA_Q8_0_BYTES 192
#endif

#define QL_DECLARE_PACK(T)                                                                         \
    void ql_pack_##T(const void *row, int64_t s0, int64_t ns, int64_t n, void *dst);
QL_DECLARE_PACK(q4_0)
QL_DECLARE_PACK(q4_1)
QL_DECLARE_PACK(q5_0)
QL_DECLARE_PACK(q5_1)
QL_DECLARE_PACK(q8_0)
QL_DECLARE_PACK(iq4_nl)
QL_DECLARE_PACK(mxfp4)
QL_DECLARE_PACK(q2_K)
QL_DECLARE_PACK(q3_K)
QL_DECLARE_PACK(q4_K)
QL_DECLARE_PACK(q5_K)
QL_DECLARE_PACK(q6_K)
QL_DECLARE_PACK(iq4_xs)
/* activations */
QL_DECLARE_PACK(act_q8_0)
QL_DECLARE_PACK(act_q8_1)
QL_DECLARE_PACK(act_q8_K)
#undef QL_DECLARE_PACK

/* f32 activations -> packed steps: from_float of the vec_dot_type, then the packer, in one pass. */
void ql_quant_act_q8_0(const float *x, int64_t s0, int64_t ns, int64_t n, void *dst);
void ql_quant_act_q8_1(const float *x, int64_t s0, int64_t ns, int64_t n, void *dst);
void ql_quant_act_q8_K(const float *x, int64_t s0, int64_t ns, int64_t n, void *dst);

#endif
#endif
