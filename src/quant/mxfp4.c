/*
 * mxfp4.c - the OCP microscaling FP4 format: 32 values share one E8M0
 * exponent (a power of two) and each keeps a 4-bit E2M1 float (sign, two
 * exponent bits, one mantissa bit: magnitudes 0, 0.5, 1, 1.5, 2, 3, 4, 6).
 * Dotted with q8_0.
 *
 * The quantizer is ggml's: the shared exponent puts the block's largest
 * magnitude in the top binade of E2M1 ([4, 8)), and each value takes the
 * nearest level. ggml works with the levels doubled (integers) and half the
 * scale; so do we, which keeps every product exact.
 */
#include <math.h>

#include "blocks.h"
#include "quant_common.h"
#include "quant_impl.h"

/* The code whose level times half_scale is nearest to x; the lowest code on a tie. */
static uint8_t nearest_fp4_code(float x, float half_scale) {
    int best = 0;
    float best_err = fabsf((float)ql_kvalues_mxfp4[0] * half_scale - x);
    for (int c = 1; c < 16; c++) {
        const float err = fabsf((float)ql_kvalues_mxfp4[c] * half_scale - x);
        if (err < best_err) {
            best = c;
            best_err = err;
        }
    }
    return (uint8_t)best;
}

/*
 * floor(log2(amax)) - 2 is the exponent that puts amax in [4, 8) times the
 * scale, and 127 is the E8M0 bias. log2f, not frexpf, because ggml uses it:
 * just below a power of two log2f rounds up to the integer, and the exponent
 * follows. The conversion to a byte wraps like ggml's cast on x86 (an
 * amax below 2^-125 gives a wrapped exponent there too).
 */
static uint8_t shared_exponent(float amax) {
    if (!(amax > 0.0f)) return 0;
    const float biased = floorf(log2f(amax)) - 2.0f + 127.0f;
    return (uint8_t)ql_low_byte_i8(ql_truncate_to_int32(biased));
}

void ql_quantize_row_mxfp4_ref(const float *restrict x, void *restrict dst, int64_t n) {
    block_mxfp4 *y = dst;
    for (int64_t b = 0; b < n / QL_QK_MXFP4; b++, x += QL_QK_MXFP4) {
        float amax = 0.0f;
        for (int j = 0; j < QL_QK_MXFP4; j++)
            if (amax < fabsf(x[j])) amax = fabsf(x[j]);
        y[b].e = shared_exponent(amax);
        const float half_scale = ql_e8m0_to_fp32_half(y[b].e);
        for (int j = 0; j < QL_QK_MXFP4 / 2; j++) {
            const uint8_t c0 = nearest_fp4_code(x[j], half_scale);
            const uint8_t c1 = nearest_fp4_code(x[j + QL_QK_MXFP4 / 2], half_scale);
            y[b].qs[j] = (uint8_t)(c0 | c1 << 4);
        }
    }
}

void ql_dequantize_row_mxfp4(const void *restrict src, float *restrict y, int64_t n) {
    const block_mxfp4 *x = src;
    for (int64_t b = 0; b < n / QL_QK_MXFP4; b++, y += QL_QK_MXFP4) {
        const float half_scale = ql_e8m0_to_fp32_half(x[b].e);
        for (int j = 0; j < QL_QK_MXFP4 / 2; j++) {
            y[j] = (float)ql_kvalues_mxfp4[x[b].qs[j] & 0x0f] * half_scale;
            y[j + QL_QK_MXFP4 / 2] = (float)ql_kvalues_mxfp4[x[b].qs[j] >> 4] * half_scale;
        }
    }
}

void ql_vec_dot_mxfp4_q8_0(int64_t n, float *restrict out, const void *restrict vx,
                           const void *restrict vy) {
    const block_mxfp4 *x = vx;
    const block_q8_0 *y = vy;
    float sum = 0.0f;
    for (int64_t b = 0; b < n / QL_QK_MXFP4; b++) {
        const float d = ql_fp16_to_fp32(y[b].d) * ql_e8m0_to_fp32_half(x[b].e);
        int32_t isum = 0;
        for (int j = 0; j < QL_QK_MXFP4 / 2; j++) {
            isum += y[b].qs[j] * ql_kvalues_mxfp4[x[b].qs[j] & 0x0f];
            isum += y[b].qs[j + QL_QK_MXFP4 / 2] * ql_kvalues_mxfp4[x[b].qs[j] >> 4];
        }
        sum += d * (float)isum;
    }
    *out = sum;
}
