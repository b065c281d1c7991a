/*
 * q8k.c - q8_K, the activation format the k-quants and iq4_xs are dotted
 * with. One f32 scale per 256 values (not f16: activations need the range),
 * and exact per-16 sums so that a partner's min terms cost one multiply.
 */
#include <math.h>
#include <string.h>

#include "blocks.h"
#include "quant_impl.h"

void ql_quantize_row_q8_K_ref(const float *restrict x, void *restrict dst, int64_t n) {
    block_q8_K *y = dst;
    for (int64_t b = 0; b < n / QL_QK_K; b++, x += QL_QK_K) {
        /* the scale is set by the signed value of largest magnitude, mapped to -127 */
        float amax = 0.0f, max = 0.0f;
        for (int j = 0; j < QL_QK_K; j++) {
            float ax = fabsf(x[j]);
            if (ax > amax) amax = ax, max = x[j];
        }
        if (amax == 0.0f) {
            memset(&y[b], 0, sizeof y[b]);
            continue;
        }
        const float iscale = -127.0f / max;
        for (int j = 0; j < QL_QK_K; j++) {
            int v = ql_nearest_int(iscale * x[j]);
            y[b].qs[j] = (int8_t)(v < 127 ? v : 127);
        }
        for (int g = 0; g < QL_QK_K / 16; g++) {
            int sum = 0;
            for (int j = 0; j < 16; j++) sum += y[b].qs[g * 16 + j];
            y[b].bsums[g] = (int16_t)sum;
        }
        y[b].d = 1.0f / iscale;
    }
}

void ql_dequantize_row_q8_K(const void *restrict src, float *restrict y, int64_t n) {
    const block_q8_K *x = src;
    for (int64_t b = 0; b < n / QL_QK_K; b++)
        for (int j = 0; j < QL_QK_K; j++) *y++ = x[b].d * x[b].qs[j];
}

void ql_vec_dot_q8_K_q8_K(int64_t n, float *restrict out, const void *restrict vx,
                          const void *restrict vy) {
    const block_q8_K *x = vx, *y = vy;
    float sum = 0.0f;
    for (int64_t b = 0; b < n / QL_QK_K; b++) {
        int32_t isum = 0;
        for (int j = 0; j < QL_QK_K; j++) isum += x[b].qs[j] * y[b].qs[j];
        sum += x[b].d * y[b].d * (float)isum;
    }
    *out = sum;
}
