/*
 * iq4.c - the non-linear 4-bit formats. A 4-bit code selects one of 16
 * fixed levels (ql_kvalues_iq4nl, denser near zero) that a block scale
 * multiplies. iq4_nl has one f16 scale per 32 values and is dotted with
 * q8_0; iq4_xs groups eight such blocks into a 256-value super-block with
 * an f16 scale and a 6-bit scale per block, and is dotted with q8_K.
 *
 * The quantizers are ggml's, reproduced bit for bit (same float operations
 * in the same order): pick a block scale by least squares, then try nearby
 * scales and keep the one that explains the block best; iq4_xs then rounds
 * each block scale to 6 bits of the super-block's and re-picks the codes.
 * Without an importance matrix every value is weighted by its square.
 * iq4_nl also has ggml's run-time quantizer (its KV cache goes through it),
 * which keeps the first least-squares scale and searches nothing.
 */
#include <math.h>
#include <string.h>

#include "blocks.h"
#include "quant_impl.h"

/* A block this quiet gets scale 0: ggml's threshold for "all zeros". */
#define IQ4_SILENT_BLOCK_MAX 1e-15f

/* How many scales around the first guess the search tries on each side. */
#define IQ4_SCALE_SEARCH_STEPS 7

/* The level index nearest to x; the lower one on a tie between two levels. */
static int nearest_level(float x) {
    const int8_t *levels = ql_kvalues_iq4nl;
    if (x <= levels[0]) return 0;
    if (x >= levels[15]) return 15;
    int lo = 0, hi = 15;
    while (hi - lo > 1) {
        int mid = (lo + hi) / 2;
        if (x < levels[mid])
            hi = mid;
        else
            lo = mid;
    }
    return x - levels[hi - 1] < levels[hi] - x ? hi - 1 : hi;
}

/*
 * Sums of w*q*x and w*q*q over a block when each value takes the level
 * nearest to inv_scale * x: the least-squares scale for those codes is
 * sum_qx / sum_q2, and it explains sum_qx^2 / sum_q2 of the block's energy.
 */
static void level_sums(const float *x, const float *weight, int n, float inv_scale,
                       uint8_t *codes_out, float *sum_qx, float *sum_q2) {
    float qx = 0.0f, q2 = 0.0f;
    for (int j = 0; j < n; j++) {
        const int l = nearest_level(inv_scale * x[j]);
        if (codes_out) codes_out[j] = (uint8_t)l;
        const float q = ql_kvalues_iq4nl[l];
        const float w = weight[j];
        qx += w * q * x[j];
        q2 += w * q * q;
    }
    *sum_qx = qx;
    *sum_q2 = q2;
}

/*
 * The scale of one 32-value block, and its codes for the first-guess scale.
 * search_steps > 0: the first guess maps the largest-magnitude value to the
 * top level 113 (same sign), then the scales that map it to -127 + k for
 * k = -steps..steps are tried. search_steps < 0: ggml's run-time quantizer,
 * which maps it to -127 and searches nothing. Returns 0 for a silent block
 * and leaves codes untouched.
 */
static float iq4_block_scale(const float *x, int n, int search_steps, uint8_t *codes) {
    float weight[QL_QK4_NL];
    float amax = 0.0f, max = 0.0f;
    for (int j = 0; j < n; j++) {
        weight[j] = x[j] * x[j];
        const float ax = fabsf(x[j]);
        if (ax > amax) {
            amax = ax;
            max = x[j];
        }
    }
    if (amax < IQ4_SILENT_BLOCK_MAX) return 0.0f;

    const float lowest = ql_kvalues_iq4nl[0];
    float d = search_steps > 0 ? -max / lowest : max / lowest;
    float sum_qx, sum_q2;
    level_sums(x, weight, n, 1.0f / d, codes, &sum_qx, &sum_q2);
    d = sum_q2 > 0.0f ? sum_qx / sum_q2 : 0.0f;
    float best = d * sum_qx;
    for (int step = -search_steps; step <= search_steps; step++) {
        const float inv_scale = (float)(step + ql_kvalues_iq4nl[0]) / max;
        level_sums(x, weight, n, inv_scale, NULL, &sum_qx, &sum_q2);
        /* compare sum_qx^2 / sum_q2 against best without dividing */
        if (sum_q2 > 0.0f && sum_qx * sum_qx > best * sum_q2) {
            d = sum_qx / sum_q2;
            best = d * sum_qx;
        }
    }
    return d;
}

/* Two 4-bit codes per byte: element j in the low nibble, j + 16 in the high one. */
static void pack_codes32(const uint8_t codes[32], uint8_t qs[16]) {
    for (int j = 0; j < 16; j++) qs[j] = (uint8_t)(codes[j] | codes[j + 16] << 4);
}

/* ---------------------------------------------------------------- iq4_nl */

/*
 * With a search, the codes are re-picked for the final scale; without one
 * they stay those of the first guess, and a silent block keeps the codes of
 * the block before it, as ggml's run-time quantizer does (it never writes
 * them). Its scale is 0, so those codes decode to zeros either way.
 */
static void quantize_row_iq4_nl(const float *restrict x, block_iq4_nl *restrict y, int64_t n,
                                int search_steps) {
    uint8_t codes[QL_QK4_NL];
    memset(codes, 8, sizeof codes); /* level 8 (+1) is what the search gives zeros */
    for (int64_t b = 0; b < n / QL_QK4_NL; b++, x += QL_QK4_NL) {
        const float d = iq4_block_scale(x, QL_QK4_NL, search_steps, codes);
        y[b].d = ql_fp32_to_fp16(d);
        if (search_steps > 0) {
            const float id = d != 0.0f ? 1.0f / d : 0.0f;
            for (int j = 0; j < QL_QK4_NL; j++) codes[j] = (uint8_t)nearest_level(id * x[j]);
        }
        pack_codes32(codes, y[b].qs);
    }
}

void ql_quantize_row_iq4_nl_ref(const float *restrict x, void *restrict dst, int64_t n) {
    quantize_row_iq4_nl(x, dst, n, IQ4_SCALE_SEARCH_STEPS);
}

void ql_quantize_row_iq4_nl(const float *restrict x, void *restrict dst, int64_t n) {
    quantize_row_iq4_nl(x, dst, n, -1);
}

void ql_dequantize_row_iq4_nl(const void *restrict src, float *restrict y, int64_t n) {
    const block_iq4_nl *x = src;
    for (int64_t b = 0; b < n / QL_QK4_NL; b++, y += QL_QK4_NL) {
        const float d = ql_fp16_to_fp32(x[b].d);
        for (int j = 0; j < QL_QK4_NL / 2; j++) {
            y[j] = d * (float)ql_kvalues_iq4nl[x[b].qs[j] & 0x0f];
            y[j + QL_QK4_NL / 2] = d * (float)ql_kvalues_iq4nl[x[b].qs[j] >> 4];
        }
    }
}

void ql_vec_dot_iq4_nl_q8_0(int64_t n, float *restrict out, const void *restrict vx,
                            const void *restrict vy) {
    const block_iq4_nl *x = vx;
    const block_q8_0 *y = vy;
    float sum = 0.0f;
    for (int64_t b = 0; b < n / QL_QK4_NL; b++) {
        const float d = ql_fp16_to_fp32(y[b].d) * ql_fp16_to_fp32(x[b].d);
        int32_t isum = 0;
        for (int j = 0; j < QL_QK4_NL / 2; j++) {
            isum += y[b].qs[j] * ql_kvalues_iq4nl[x[b].qs[j] & 0x0f];
            isum += y[b].qs[j + QL_QK4_NL / 2] * ql_kvalues_iq4nl[x[b].qs[j] >> 4];
        }
        sum += d * (float)isum;
    }
    *out = sum;
}

/* ---------------------------------------------------------------- iq4_xs */

#define IQ4_XS_BLOCKS (QL_QK_K / 32)

void ql_quantize_row_iq4_xs_ref(const float *restrict x, void *restrict dst, int64_t n) {
    block_iq4_xs *y = dst;
    for (int64_t sb = 0; sb < n / QL_QK_K; sb++, x += QL_QK_K) {
        float scales[IQ4_XS_BLOCKS];
        uint8_t codes[QL_QK_K];
        float max_scale = 0.0f, amax_scale = 0.0f;
        for (int ib = 0; ib < IQ4_XS_BLOCKS; ib++) {
            scales[ib] = iq4_block_scale(x + 32 * ib, 32, IQ4_SCALE_SEARCH_STEPS, codes + 32 * ib);
            if (fabsf(scales[ib]) > amax_scale) {
                amax_scale = fabsf(scales[ib]);
                max_scale = scales[ib];
            }
        }

        /*
         * Block scales become 6-bit multiples l in [-32, 31] of d; the
         * largest one maps to -32, which has no positive twin. An all-zero
         * super-block gets d = -0.0, as in ggml.
         */
        const float d = -max_scale / 32.0f;
        const float id = d != 0.0f ? 1.0f / d : 0.0f;
        y[sb].d = ql_fp32_to_fp16(d);
        y[sb].scales_h = 0;
        memset(y[sb].scales_l, 0, sizeof y[sb].scales_l);
        for (int ib = 0; ib < IQ4_XS_BLOCKS; ib++) {
            int l = ql_nearest_int(id * scales[ib]);
            l = l < -32 ? -32 : l > 31 ? 31 : l;
            const float dl = d * (float)l;
            const float idl = dl != 0.0f ? 1.0f / dl : 0.0f;
            for (int j = 0; j < 32; j++)
                codes[32 * ib + j] = (uint8_t)nearest_level(idl * x[32 * ib + j]);
            const unsigned biased = (unsigned)(l + 32);
            y[sb].scales_l[ib / 2] |= (uint8_t)((biased & 0x0f) << 4 * (ib % 2));
            y[sb].scales_h |= (uint16_t)((biased >> 4) << 2 * ib);
        }
        for (int ib = 0; ib < IQ4_XS_BLOCKS; ib++)
            pack_codes32(codes + 32 * ib, y[sb].qs + 16 * ib);
    }
}

/* The 6-bit scale of block ib, with its bias of 32 removed. */
static inline int iq4_xs_block_scale(const block_iq4_xs *x, int ib) {
    const int low = x->scales_l[ib / 2] >> 4 * (ib % 2) & 0x0f;
    const int high = x->scales_h >> 2 * ib & 3;
    return (low | high << 4) - 32;
}

void ql_dequantize_row_iq4_xs(const void *restrict src, float *restrict y, int64_t n) {
    const block_iq4_xs *x = src;
    for (int64_t sb = 0; sb < n / QL_QK_K; sb++) {
        const float d = ql_fp16_to_fp32(x[sb].d);
        for (int ib = 0; ib < IQ4_XS_BLOCKS; ib++, y += 32) {
            const float dl = d * (float)iq4_xs_block_scale(&x[sb], ib);
            const uint8_t *qs = x[sb].qs + 16 * ib;
            for (int j = 0; j < 16; j++) {
                y[j] = dl * (float)ql_kvalues_iq4nl[qs[j] & 0x0f];
                y[j + 16] = dl * (float)ql_kvalues_iq4nl[qs[j] >> 4];
            }
        }
    }
}

void ql_vec_dot_iq4_xs_q8_K(int64_t n, float *restrict out, const void *restrict vx,
                            const void *restrict vy) {
    const block_iq4_xs *x = vx;
    const block_q8_K *y = vy;
    float sum = 0.0f;
    for (int64_t sb = 0; sb < n / QL_QK_K; sb++) {
        const float d = ql_fp16_to_fp32(x[sb].d) * y[sb].d;
        for (int ib = 0; ib < IQ4_XS_BLOCKS; ib++) {
            const uint8_t *qs = x[sb].qs + 16 * ib;
            const int8_t *q8 = y[sb].qs + 32 * ib;
            int32_t isum = 0;
            for (int j = 0; j < 16; j++) {
                isum += q8[j] * ql_kvalues_iq4nl[qs[j] & 0x0f];
                isum += q8[j + 16] * ql_kvalues_iq4nl[qs[j] >> 4];
            }
            sum += d * (float)iq4_xs_block_scale(&x[sb], ib) * (float)isum;
        }
    }
    *out = sum;
}
