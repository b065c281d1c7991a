/*
 * legacy.c - ggml's first block formats, 32 values per block: q4_0 and q5_0
 * (symmetric, one f16 scale), q4_1 and q5_1 (an f16 scale and an f16
 * minimum), and q8_0 / q8_1, the 8-bit formats activations are quantized to
 * before a dot product with them.
 *
 * The reference quantizers reproduce ggml-quants.c bit for bit: same scale
 * formula, same float operations in the same order, same truncating casts.
 * q8_0 and q8_1 also have the run-time quantizers of ggml's x86 CPU backend,
 * which compute the scale differently (127/amax instead of 1/(amax/127)) and
 * round half to even instead of away from zero, so their bytes can differ
 * from the reference's; activations and KV caches in ggml go through those.
 *
 * The scalar dot products follow ggml's generic kernels: exact integer sums
 * per block, combined in float in the same order.
 */
#include <float.h>
#include <math.h>
#include <string.h>

#include "blocks.h"
#include "quant_common.h"
#include "quant_impl.h"

/* ggml's casts of a scaled value to a small unsigned code, e.g. (int8_t)(x + 8.5f). */
static inline int truncate_to_code(float v) {
    return ql_low_byte_i8(ql_truncate_to_int32(v));
}

/* The fifth bits of a q5 block are one little-endian 32-bit word, element j at bit j. */
static inline uint32_t load_high_bits(const uint8_t qh[4]) {
    return (uint32_t)qh[0] | (uint32_t)qh[1] << 8 | (uint32_t)qh[2] << 16 | (uint32_t)qh[3] << 24;
}

static inline void store_high_bits(uint8_t qh[4], uint32_t bits) {
    for (int k = 0; k < 4; k++) qh[k] = (uint8_t)(bits >> (8 * k));
}

/*
 * The value of largest magnitude, sign kept, first one on a tie: the
 * symmetric formats map it to their most negative code (-8 or -16), which
 * uses the one code that has no positive twin.
 */
static float signed_absmax(const float *x, int n) {
    float amax = 0.0f, max = 0.0f;
    for (int j = 0; j < n; j++) {
        if (amax < fabsf(x[j])) {
            amax = fabsf(x[j]);
            max = x[j];
        }
    }
    return max;
}

static void min_and_max(const float *x, int n, float *min_out, float *max_out) {
    float min = FLT_MAX, max = -FLT_MAX;
    for (int j = 0; j < n; j++) {
        if (x[j] < min) min = x[j];
        if (x[j] > max) max = x[j];
    }
    *min_out = min;
    *max_out = max;
}

/* ------------------------------------------------------------------ q4_0 */

void ql_quantize_row_q4_0_ref(const float *restrict x, void *restrict dst, int64_t n) {
    block_q4_0 *y = dst;
    for (int64_t b = 0; b < n / QL_QK4_0; b++, x += QL_QK4_0) {
        const float max = signed_absmax(x, QL_QK4_0);
        const float d = max / -8.0f;
        const float id = d != 0.0f ? 1.0f / d : 0.0f;
        y[b].d = ql_fp32_to_fp16(d);
        for (int j = 0; j < QL_QK4_0 / 2; j++) {
            const float v0 = x[j] * id;
            const float v1 = x[j + QL_QK4_0 / 2] * id;
            const int c0 = truncate_to_code(v0 + 8.5f);
            const int c1 = truncate_to_code(v1 + 8.5f);
            const uint8_t q0 = (uint8_t)(c0 < 15 ? c0 : 15);
            const uint8_t q1 = (uint8_t)(c1 < 15 ? c1 : 15);
            y[b].qs[j] = (uint8_t)(q0 | q1 << 4);
        }
    }
}

void ql_dequantize_row_q4_0(const void *restrict src, float *restrict y, int64_t n) {
    const block_q4_0 *x = src;
    for (int64_t b = 0; b < n / QL_QK4_0; b++, y += QL_QK4_0) {
        const float d = ql_fp16_to_fp32(x[b].d);
        for (int j = 0; j < QL_QK4_0 / 2; j++) {
            y[j] = (float)((x[b].qs[j] & 0x0f) - 8) * d;
            y[j + QL_QK4_0 / 2] = (float)((x[b].qs[j] >> 4) - 8) * d;
        }
    }
}

void ql_vec_dot_q4_0_q8_0(int64_t n, float *restrict out, const void *restrict vx,
                          const void *restrict vy) {
    const block_q4_0 *x = vx;
    const block_q8_0 *y = vy;
    float sum = 0.0f;
    for (int64_t b = 0; b < n / QL_QK8_0; b++) {
        int32_t isum = 0;
        for (int j = 0; j < QL_QK8_0 / 2; j++) {
            isum += ((x[b].qs[j] & 0x0f) - 8) * y[b].qs[j];
            isum += ((x[b].qs[j] >> 4) - 8) * y[b].qs[j + QL_QK8_0 / 2];
        }
        sum += (float)isum * ql_fp16_to_fp32(x[b].d) * ql_fp16_to_fp32(y[b].d);
    }
    *out = sum;
}

/* ------------------------------------------------------------------ q4_1 */

void ql_quantize_row_q4_1_ref(const float *restrict x, void *restrict dst, int64_t n) {
    block_q4_1 *y = dst;
    for (int64_t b = 0; b < n / QL_QK4_1; b++, x += QL_QK4_1) {
        float min, max;
        min_and_max(x, QL_QK4_1, &min, &max);
        const float d = (max - min) / 15.0f;
        const float id = d != 0.0f ? 1.0f / d : 0.0f;
        y[b].d = ql_fp32_to_fp16(d);
        y[b].m = ql_fp32_to_fp16(min);
        for (int j = 0; j < QL_QK4_1 / 2; j++) {
            const float v0 = (x[j] - min) * id;
            const float v1 = (x[j + QL_QK4_1 / 2] - min) * id;
            const int c0 = truncate_to_code(v0 + 0.5f);
            const int c1 = truncate_to_code(v1 + 0.5f);
            const uint8_t q0 = (uint8_t)(c0 < 15 ? c0 : 15);
            const uint8_t q1 = (uint8_t)(c1 < 15 ? c1 : 15);
            y[b].qs[j] = (uint8_t)(q0 | q1 << 4);
        }
    }
}

void ql_dequantize_row_q4_1(const void *restrict src, float *restrict y, int64_t n) {
    const block_q4_1 *x = src;
    for (int64_t b = 0; b < n / QL_QK4_1; b++, y += QL_QK4_1) {
        const float d = ql_fp16_to_fp32(x[b].d);
        const float m = ql_fp16_to_fp32(x[b].m);
        for (int j = 0; j < QL_QK4_1 / 2; j++) {
            y[j] = (float)(x[b].qs[j] & 0x0f) * d + m;
            y[j + QL_QK4_1 / 2] = (float)(x[b].qs[j] >> 4) * d + m;
        }
    }
}

void ql_vec_dot_q4_1_q8_1(int64_t n, float *restrict out, const void *restrict vx,
                          const void *restrict vy) {
    const block_q4_1 *x = vx;
    const block_q8_1 *y = vy;
    float sum = 0.0f;
    for (int64_t b = 0; b < n / QL_QK8_1; b++) {
        int32_t isum = 0;
        for (int j = 0; j < QL_QK8_1 / 2; j++) {
            isum += (x[b].qs[j] & 0x0f) * y[b].qs[j];
            isum += (x[b].qs[j] >> 4) * y[b].qs[j + QL_QK8_1 / 2];
        }
        /* the minimum times the partner's stored block sum stands for sum(m * y) */
        sum += ql_fp16_to_fp32(x[b].d) * ql_fp16_to_fp32(y[b].d) * (float)isum +
               ql_fp16_to_fp32(x[b].m) * ql_fp16_to_fp32(y[b].s);
    }
    *out = sum;
}

/* ------------------------------------------------------------------ q5_0 */

void ql_quantize_row_q5_0_ref(const float *restrict x, void *restrict dst, int64_t n) {
    block_q5_0 *y = dst;
    for (int64_t b = 0; b < n / QL_QK5_0; b++, x += QL_QK5_0) {
        const float max = signed_absmax(x, QL_QK5_0);
        const float d = max / -16.0f;
        const float id = d != 0.0f ? 1.0f / d : 0.0f;
        y[b].d = ql_fp32_to_fp16(d);
        uint32_t high_bits = 0;
        for (int j = 0; j < QL_QK5_0 / 2; j++) {
            const float v0 = x[j] * id;
            const float v1 = x[j + QL_QK5_0 / 2] * id;
            const int c0 = truncate_to_code(v0 + 16.5f);
            const int c1 = truncate_to_code(v1 + 16.5f);
            const uint8_t q0 = (uint8_t)(c0 < 31 ? c0 : 31);
            const uint8_t q1 = (uint8_t)(c1 < 31 ? c1 : 31);
            y[b].qs[j] = (uint8_t)((q0 & 0x0f) | (q1 & 0x0f) << 4);
            high_bits |= (uint32_t)(q0 >> 4 & 1) << j;
            high_bits |= (uint32_t)(q1 >> 4 & 1) << (j + QL_QK5_0 / 2);
        }
        store_high_bits(y[b].qh, high_bits);
    }
}

void ql_dequantize_row_q5_0(const void *restrict src, float *restrict y, int64_t n) {
    const block_q5_0 *x = src;
    for (int64_t b = 0; b < n / QL_QK5_0; b++, y += QL_QK5_0) {
        const float d = ql_fp16_to_fp32(x[b].d);
        const uint32_t high_bits = load_high_bits(x[b].qh);
        for (int j = 0; j < QL_QK5_0 / 2; j++) {
            const int q0 = (x[b].qs[j] & 0x0f) | (int)(high_bits >> j & 1) << 4;
            const int q1 = (x[b].qs[j] >> 4) | (int)(high_bits >> (j + QL_QK5_0 / 2) & 1) << 4;
            y[j] = (float)(q0 - 16) * d;
            y[j + QL_QK5_0 / 2] = (float)(q1 - 16) * d;
        }
    }
}

void ql_vec_dot_q5_0_q8_0(int64_t n, float *restrict out, const void *restrict vx,
                          const void *restrict vy) {
    const block_q5_0 *x = vx;
    const block_q8_0 *y = vy;
    float sum = 0.0f;
    for (int64_t b = 0; b < n / QL_QK8_0; b++) {
        const uint32_t high_bits = load_high_bits(x[b].qh);
        int32_t isum = 0;
        for (int j = 0; j < QL_QK8_0 / 2; j++) {
            const int q0 = (x[b].qs[j] & 0x0f) | (int)(high_bits >> j & 1) << 4;
            const int q1 = (x[b].qs[j] >> 4) | (int)(high_bits >> (j + QL_QK8_0 / 2) & 1) << 4;
            isum += (q0 - 16) * y[b].qs[j];
            isum += (q1 - 16) * y[b].qs[j + QL_QK8_0 / 2];
        }
        sum += ql_fp16_to_fp32(x[b].d) * ql_fp16_to_fp32(y[b].d) * (float)isum;
    }
    *out = sum;
}

/* ------------------------------------------------------------------ q5_1 */

void ql_quantize_row_q5_1_ref(const float *restrict x, void *restrict dst, int64_t n) {
    block_q5_1 *y = dst;
    for (int64_t b = 0; b < n / QL_QK5_1; b++, x += QL_QK5_1) {
        float min, max;
        min_and_max(x, QL_QK5_1, &min, &max);
        const float d = (max - min) / 31.0f;
        const float id = d != 0.0f ? 1.0f / d : 0.0f;
        y[b].d = ql_fp32_to_fp16(d);
        y[b].m = ql_fp32_to_fp16(min);
        uint32_t high_bits = 0;
        for (int j = 0; j < QL_QK5_1 / 2; j++) {
            const float v0 = (x[j] - min) * id;
            const float v1 = (x[j + QL_QK5_1 / 2] - min) * id;
            /* no clamp at 31, as in ggml: (max - min) * id never rounds past 31.5 */
            const uint8_t q0 = (uint8_t)truncate_to_code(v0 + 0.5f);
            const uint8_t q1 = (uint8_t)truncate_to_code(v1 + 0.5f);
            y[b].qs[j] = (uint8_t)((q0 & 0x0f) | (q1 & 0x0f) << 4);
            high_bits |= (uint32_t)(q0 >> 4 & 1) << j;
            high_bits |= (uint32_t)(q1 >> 4 & 1) << (j + QL_QK5_1 / 2);
        }
        store_high_bits(y[b].qh, high_bits);
    }
}

void ql_dequantize_row_q5_1(const void *restrict src, float *restrict y, int64_t n) {
    const block_q5_1 *x = src;
    for (int64_t b = 0; b < n / QL_QK5_1; b++, y += QL_QK5_1) {
        const float d = ql_fp16_to_fp32(x[b].d);
        const float m = ql_fp16_to_fp32(x[b].m);
        const uint32_t high_bits = load_high_bits(x[b].qh);
        for (int j = 0; j < QL_QK5_1 / 2; j++) {
            const int q0 = (x[b].qs[j] & 0x0f) | (int)(high_bits >> j & 1) << 4;
            const int q1 = (x[b].qs[j] >> 4) | (int)(high_bits >> (j + QL_QK5_1 / 2) & 1) << 4;
            y[j] = (float)q0 * d + m;
            y[j + QL_QK5_1 / 2] = (float)q1 * d + m;
        }
    }
}

void ql_vec_dot_q5_1_q8_1(int64_t n, float *restrict out, const void *restrict vx,
                          const void *restrict vy) {
    const block_q5_1 *x = vx;
    const block_q8_1 *y = vy;
    float sum = 0.0f;
    for (int64_t b = 0; b < n / QL_QK8_1; b++) {
        const uint32_t high_bits = load_high_bits(x[b].qh);
        int32_t isum = 0;
        for (int j = 0; j < QL_QK8_1 / 2; j++) {
            const int q0 = (x[b].qs[j] & 0x0f) | (int)(high_bits >> j & 1) << 4;
            const int q1 = (x[b].qs[j] >> 4) | (int)(high_bits >> (j + QL_QK8_1 / 2) & 1) << 4;
            isum += q0 * y[b].qs[j];
            isum += q1 * y[b].qs[j + QL_QK8_1 / 2];
        }
        sum += ql_fp16_to_fp32(x[b].d) * ql_fp16_to_fp32(y[b].d) * (float)isum +
               ql_fp16_to_fp32(x[b].m) * ql_fp16_to_fp32(y[b].s);
    }
    *out = sum;
}

/* ------------------------------------------------------------ q8_0, q8_1 */

/* The reference's max(|x|): a NaN is kept only if it comes last, as with ggml's MAX macro. */
static float reference_absmax(const float *x, int n) {
    float amax = 0.0f;
    for (int j = 0; j < n; j++) {
        const float a = fabsf(x[j]);
        amax = amax > a ? amax : a;
    }
    return amax;
}

/* One lane of maxps: the first operand only if it is larger, so a NaN in either yields b. */
static inline float maxps_lane(float a, float b) {
    return a > b ? a : b;
}

/*
 * max(|x|) over 32 values the way ggml's AVX code reduces it: 8 lanes, then
 * halves folded together. Since maxps is not symmetric in NaN, the shape of
 * the tree decides what a block holding a NaN gets; for any other block
 * this is simply the maximum.
 */
static float simd_absmax32(const float *x) {
    float lane[8];
    for (int l = 0; l < 8; l++) {
        lane[l] = fabsf(x[l]);
        for (int r = 1; r < 4; r++) lane[l] = maxps_lane(lane[l], fabsf(x[8 * r + l]));
    }
    float quad[4];
    for (int l = 0; l < 4; l++) quad[l] = maxps_lane(lane[4 + l], lane[l]);
    const float pair0 = maxps_lane(quad[0], quad[2]);
    const float pair1 = maxps_lane(quad[1], quad[3]);
    return maxps_lane(pair0, pair1);
}

void ql_quantize_row_q8_0_ref(const float *restrict x, void *restrict dst, int64_t n) {
    block_q8_0 *y = dst;
    for (int64_t b = 0; b < n / QL_QK8_0; b++, x += QL_QK8_0) {
        const float amax = reference_absmax(x, QL_QK8_0);
        const float d = amax / 127.0f;
        const float id = d != 0.0f ? 1.0f / d : 0.0f;
        y[b].d = ql_fp32_to_fp16(d);
        for (int j = 0; j < QL_QK8_0; j++) {
            const float v = x[j] * id;
            y[b].qs[j] = ql_low_byte_i8(ql_truncate_to_int32(roundf(v)));
        }
    }
}

void ql_quantize_row_q8_0(const float *restrict x, void *restrict dst, int64_t n) {
    block_q8_0 *y = dst;
    for (int64_t b = 0; b < n / QL_QK8_0; b++, x += QL_QK8_0) {
        const float amax = simd_absmax32(x);
        const float d = amax / 127.0f;
        const float id = amax != 0.0f ? 127.0f / amax : 0.0f;
        y[b].d = ql_fp32_to_fp16(d);
        for (int j = 0; j < QL_QK8_0; j++) {
            const float v = x[j] * id;
            y[b].qs[j] = ql_saturate_i8(ql_round_even_to_int32(v));
        }
    }
}

void ql_dequantize_row_q8_0(const void *restrict src, float *restrict y, int64_t n) {
    const block_q8_0 *x = src;
    for (int64_t b = 0; b < n / QL_QK8_0; b++, y += QL_QK8_0) {
        const float d = ql_fp16_to_fp32(x[b].d);
        for (int j = 0; j < QL_QK8_0; j++) y[j] = (float)x[b].qs[j] * d;
    }
}

void ql_vec_dot_q8_0_q8_0(int64_t n, float *restrict out, const void *restrict vx,
                          const void *restrict vy) {
    const block_q8_0 *x = vx, *y = vy;
    float sum = 0.0f;
    for (int64_t b = 0; b < n / QL_QK8_0; b++) {
        int32_t isum = 0;
        for (int j = 0; j < QL_QK8_0; j++) isum += x[b].qs[j] * y[b].qs[j];
        sum += (float)isum * (ql_fp16_to_fp32(x[b].d) * ql_fp16_to_fp32(y[b].d));
    }
    *out = sum;
}

void ql_quantize_row_q8_1_ref(const float *restrict x, void *restrict dst, int64_t n) {
    block_q8_1 *y = dst;
    for (int64_t b = 0; b < n / QL_QK8_1; b++, x += QL_QK8_1) {
        const float amax = reference_absmax(x, QL_QK8_1);
        const float d = amax / 127.0f;
        const float id = d != 0.0f ? 1.0f / d : 0.0f;
        y[b].d = ql_fp32_to_fp16(d);
        int32_t sum = 0;
        for (int j = 0; j < QL_QK8_1; j++) {
            const float v = x[j] * id;
            y[b].qs[j] = ql_low_byte_i8(ql_truncate_to_int32(roundf(v)));
            sum += y[b].qs[j];
        }
        y[b].s = ql_fp32_to_fp16((float)sum * d);
    }
}

void ql_quantize_row_q8_1(const float *restrict x, void *restrict dst, int64_t n) {
    block_q8_1 *y = dst;
    for (int64_t b = 0; b < n / QL_QK8_1; b++, x += QL_QK8_1) {
        const float amax = simd_absmax32(x);
        const float d = amax / 127.0f;
        const float id = amax != 0.0f ? 127.0f / amax : 0.0f;
        y[b].d = ql_fp32_to_fp16(d);
        /*
         * ggml sums the 32-bit integers before they are saturated to 8 bits,
         * with wrap-around; only a NaN or Inf input makes the two differ.
         */
        uint32_t wrapped_sum = 0;
        for (int j = 0; j < QL_QK8_1; j++) {
            const int32_t q = ql_round_even_to_int32(x[j] * id);
            wrapped_sum += (uint32_t)q;
            y[b].qs[j] = ql_saturate_i8(q);
        }
        const int64_t sum =
            wrapped_sum <= INT32_MAX ? (int64_t)wrapped_sum : (int64_t)wrapped_sum - 4294967296LL;
        y[b].s = ql_fp32_to_fp16(d * (float)sum);
    }
}

void ql_dequantize_row_q8_1(const void *restrict src, float *restrict y, int64_t n) {
    const block_q8_1 *x = src;
    for (int64_t b = 0; b < n / QL_QK8_1; b++, y += QL_QK8_1) {
        const float d = ql_fp16_to_fp32(x[b].d);
        for (int j = 0; j < QL_QK8_1; j++) y[j] = (float)x[b].qs[j] * d;
    }
}

void ql_vec_dot_q8_1_q8_1(int64_t n, float *restrict out, const void *restrict vx,
                          const void *restrict vy) {
    const block_q8_1 *x = vx, *y = vy;
    float sum = 0.0f;
    for (int64_t b = 0; b < n / QL_QK8_1; b++) {
        int32_t isum = 0;
        for (int j = 0; j < QL_QK8_1; j++) isum += x[b].qs[j] * y[b].qs[j];
        sum += (float)isum * (ql_fp16_to_fp32(x[b].d) * ql_fp16_to_fp32(y[b].d));
    }
    *out = sum;
}
