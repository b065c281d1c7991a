/*
 * quant_common.h - float-to-integer conversions shared by the quantizers,
 * defined for every input.
 *
 * ggml's quantizers convert with C casts and SSE/AVX conversions. For the
 * inputs real data produces these agree with plain C, but a NaN, an Inf or
 * a scale that overflows (a block of values near FLT_MIN gives 1/d = Inf)
 * makes a C cast undefined, while the x86 instructions return the "integer
 * indefinite" 0x80000000. Reproducing that keeps our bytes equal to ggml's
 * on x86 for such blocks and keeps the sanitizer builds quiet.
 */
#ifndef QL_QUANT_COMMON_H
#define QL_QUANT_COMMON_H

#include <math.h>
#include <stdint.h>

/* (int32_t)v, truncating toward zero, as cvttss2si does it. */
static inline int32_t ql_truncate_to_int32(float v) {
    if (v > -2147483648.0f && v < 2147483648.0f) return (int32_t)v;
    return INT32_MIN;
}

/* Round to nearest, ties to even, as cvtps2dq does it in the default mode. */
static inline int32_t ql_round_even_to_int32(float v) {
    if (v > -2147483648.0f && v < 2147483648.0f) return (int32_t)rintf(v);
    return INT32_MIN;
}

/* The low byte of an int32 read as int8: what a float-to-int8_t cast compiles to on x86. */
static inline int8_t ql_low_byte_i8(int32_t v) {
    int low = (int)((uint32_t)v & 0xffu);
    return (int8_t)(low < 128 ? low : low - 256);
}

/* Signed saturation to int8, what _mm_packs_epi16 applies. */
static inline int8_t ql_saturate_i8(int32_t v) {
    return (int8_t)(v < -128 ? -128 : v > 127 ? 127 : v);
}

#endif
