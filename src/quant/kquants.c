/*
 * kquants.c - the k-quants q2_K, q3_K, q4_K, q5_K and q6_K: 256-value
 * super-blocks split into sub-blocks of 16 or 32 values, each sub-block with
 * its own scale (and, for q2_K, q4_K, q5_K, its own min) quantized against
 * one f16 super-block scale.
 *
 * The quantizers reproduce ggml's reference quantizers (no importance
 * weights) bit for bit. That fixes more than the algorithm: every float
 * expression below keeps ggml's operand order and its float/int conversions,
 * the search loops keep its step counts and strict comparisons (which decide
 * ties), and a sub-block whose rounded scale is zero keeps the levels of the
 * first fit, as ggml's does. Changing any of these changes bytes.
 *
 * The dot products against q8_K sum exact integer products per sub-block and
 * take the min terms from q8_K's per-16 sums, so a block costs two float
 * multiplies; they are the accuracy reference for the SIMD kernels.
 */
#include <math.h>
#include <string.h>

#include "blocks.h"
#include "quant_impl.h"

/* ggml treats a group whose largest magnitude is below this as all zero. */
#define GROUP_MAX_EPS 1e-15f

static inline int clamp_int(int v, int lo, int hi) {
    return v < lo ? lo : v > hi ? hi : v;
}

/* ----------------------------------------------------------------------------
 * Level fitting: choose integer levels L[i] and a scale (and min) for one
 * sub-block.
 * ------------------------------------------------------------------------- */

/*
 * Asymmetric fit x ~ scale * L - min_out with L in [0, nmax] and min_out >= 0,
 * minimizing sum w |error| (use_abs_error) or sum w error^2. Starts from the
 * plain min/max grid, then tries nstep+1 stretched grids (nmax + first_step +
 * step*k levels over the range) and, for each, the weighted least-squares
 * scale and min of those levels. scratch holds n levels.
 */
static float fit_scale_and_min(int n, int nmax, const float *restrict x,
                               const float *restrict weights, uint8_t *restrict L,
                               float *restrict min_out, uint8_t *restrict scratch, float first_step,
                               float step, int nstep, bool use_abs_error) {
    float min = x[0], max = x[0];
    float sum_w = weights[0];
    float sum_x = sum_w * x[0];
    for (int i = 1; i < n; i++) {
        if (x[i] < min) min = x[i];
        if (x[i] > max) max = x[i];
        float w = weights[i];
        sum_w += w;
        sum_x += w * x[i];
    }
    /* the min is only ever subtracted: a positive sub-block starts its grid at 0 */
    if (min > 0) min = 0;
    if (max == min) {
        for (int i = 0; i < n; i++) L[i] = 0;
        *min_out = -min;
        return 0.0f;
    }
    float iscale = nmax / (max - min);
    float scale = 1 / iscale;
    float best_error = 0;
    for (int i = 0; i < n; i++) {
        int l = ql_nearest_int(iscale * (x[i] - min));
        L[i] = (uint8_t)clamp_int(l, 0, nmax);
        float diff = scale * L[i] + min - x[i];
        diff = use_abs_error ? fabsf(diff) : diff * diff;
        best_error += weights[i] * diff;
    }
    for (int k = 0; k <= nstep; k++) {
        iscale = (first_step + step * k + nmax) / (max - min);
        float sum_l = 0, sum_l2 = 0, sum_xl = 0;
        for (int i = 0; i < n; i++) {
            int l = clamp_int(ql_nearest_int(iscale * (x[i] - min)), 0, nmax);
            scratch[i] = (uint8_t)l;
            float w = weights[i];
            sum_l += w * l;
            sum_l2 += w * l * l;
            sum_xl += w * l * x[i];
        }
        float det = sum_w * sum_l2 - sum_l * sum_l;
        if (det > 0) {
            float this_scale = (sum_w * sum_xl - sum_x * sum_l) / det;
            float this_min = (sum_l2 * sum_x - sum_l * sum_xl) / det;
            if (this_min > 0) {
                /* a positive offset is not representable: refit the scale through 0 */
                this_min = 0;
                this_scale = sum_xl / sum_l2;
            }
            float error = 0;
            for (int i = 0; i < n; i++) {
                float diff = this_scale * scratch[i] + this_min - x[i];
                diff = use_abs_error ? fabsf(diff) : diff * diff;
                error += weights[i] * diff;
            }
            if (error < best_error) {
                memcpy(L, scratch, (size_t)n);
                best_error = error;
                scale = this_scale;
                min = this_min;
            }
        }
    }
    *min_out = -min;
    return scale;
}

/*
 * Symmetric fit x ~ scale * (L - nmax), L - nmax in [-nmax, nmax - 1], for
 * q3_K. The scale's sign follows the value of largest magnitude so that it
 * maps to -nmax, the level with no positive twin. The levels are then
 * improved one at a time (up to 5 sweeps) while the x^2-weighted fit
 * sumlx^2 / suml2 grows.
 */
static float fit_q3_levels(int n, int nmax, const float *restrict x, int8_t *restrict L) {
    float max = 0, amax = 0;
    for (int i = 0; i < n; i++) {
        float ax = fabsf(x[i]);
        if (ax > amax) amax = ax, max = x[i];
    }
    if (amax < GROUP_MAX_EPS) {
        for (int i = 0; i < n; i++) L[i] = 0;
        return 0.0f;
    }
    float iscale = -nmax / max;
    float sumlx = 0, suml2 = 0;
    for (int i = 0; i < n; i++) {
        int l = clamp_int(ql_nearest_int(iscale * x[i]), -nmax, nmax - 1);
        L[i] = (int8_t)l;
        float w = x[i] * x[i];
        sumlx += w * x[i] * l;
        suml2 += w * l * l;
    }
    for (int sweep = 0; sweep < 5; sweep++) {
        int n_changed = 0;
        for (int i = 0; i < n; i++) {
            float w = x[i] * x[i];
            float slx = sumlx - w * x[i] * L[i];
            if (slx > 0) {
                float sl2 = suml2 - w * L[i] * L[i];
                int new_l = clamp_int(ql_nearest_int(x[i] * sl2 / slx), -nmax, nmax - 1);
                if (new_l != L[i]) {
                    slx += w * x[i] * new_l;
                    sl2 += w * new_l * new_l;
                    if (sl2 > 0 && slx * slx * suml2 > sumlx * sumlx * sl2) {
                        L[i] = (int8_t)new_l;
                        sumlx = slx;
                        suml2 = sl2;
                        n_changed++;
                    }
                }
            }
        }
        if (!n_changed) break;
    }
    for (int i = 0; i < n; i++) L[i] = (int8_t)(L[i] + nmax);
    return suml2 > 0.0f ? sumlx / suml2 : 0.0f;
}

/*
 * Symmetric fit for q6_K, levels L - nmax in [-nmax, nmax - 1], weighted by
 * x^2: the least-squares scale of the plain grid, then 18 grids stretched by
 * -0.9 .. +0.9 levels, keeping the one with the largest sumlx^2 / suml2.
 */
static float fit_symmetric_levels(int n, int nmax, const float *restrict x, int8_t *restrict L) {
    float max = 0, amax = 0;
    for (int i = 0; i < n; i++) {
        float ax = fabsf(x[i]);
        if (ax > amax) amax = ax, max = x[i];
    }
    if (amax < GROUP_MAX_EPS) {
        for (int i = 0; i < n; i++) L[i] = 0;
        return 0.0f;
    }
    float iscale = -nmax / max;
    float sumlx = 0, suml2 = 0;
    for (int i = 0; i < n; i++) {
        int l = clamp_int(ql_nearest_int(iscale * x[i]), -nmax, nmax - 1);
        L[i] = (int8_t)(l + nmax);
        float w = x[i] * x[i];
        sumlx += w * x[i] * l;
        suml2 += w * l * l;
    }
    float scale = suml2 ? sumlx / suml2 : 0.0f;
    float best = scale * sumlx;
    for (int k = -9; k <= 9; k++) {
        if (k == 0) continue;
        iscale = -(nmax + 0.1f * k) / max;
        sumlx = suml2 = 0;
        for (int i = 0; i < n; i++) {
            int l = clamp_int(ql_nearest_int(iscale * x[i]), -nmax, nmax - 1);
            float w = x[i] * x[i];
            sumlx += w * x[i] * l;
            suml2 += w * l * l;
        }
        if (suml2 > 0 && sumlx * sumlx > best * suml2) {
            for (int i = 0; i < n; i++)
                L[i] = (int8_t)(nmax + clamp_int(ql_nearest_int(iscale * x[i]), -nmax, nmax - 1));
            scale = sumlx / suml2;
            best = scale * sumlx;
        }
    }
    return scale;
}

/* ----------------------------------------------------------------------------
 * The 12-byte scale/min packing of q4_K and q5_K: eight 6-bit scales and
 * eight 6-bit mins. Sub-blocks 0-3 keep both whole in bytes 0-7; sub-blocks
 * 4-7 keep their low nibbles in bytes 8-11 and their top two bits in the
 * spare top bits of bytes 0-7.
 * ------------------------------------------------------------------------- */

static void pack_scales_mins_k4(uint8_t packed[QL_K_SCALE_SIZE], const uint8_t scales[8],
                                const uint8_t mins[8]) {
    for (int j = 0; j < 4; j++) {
        packed[j] = scales[j];
        packed[j + 4] = mins[j];
    }
    for (int j = 4; j < 8; j++) {
        packed[j + 4] = (uint8_t)((scales[j] & 0xF) | ((mins[j] & 0xF) << 4));
        packed[j - 4] |= (uint8_t)((scales[j] >> 4) << 6);
        packed[j] |= (uint8_t)((mins[j] >> 4) << 6);
    }
}

static inline void unpack_scale_min_k4(int j, const uint8_t packed[QL_K_SCALE_SIZE], uint8_t *scale,
                                       uint8_t *min) {
    if (j < 4) {
        *scale = packed[j] & 63;
        *min = packed[j + 4] & 63;
    } else {
        *scale = (uint8_t)((packed[j + 4] & 0xF) | ((packed[j - 4] >> 6) << 4));
        *min = (uint8_t)((packed[j + 4] >> 4) | ((packed[j] >> 6) << 4));
    }
}

/* ----------------------------------------------------------------------------
 * Where element e (0..255) of a super-block keeps its bits. The layouts
 * interleave so that SIMD code unpacks 32 consecutive values with one shift:
 * 2-bit formats put elements e, e+32, e+64, e+96 of each 128 in one byte,
 * 4-bit formats put e and e+32 of each 64 in one byte, and high-bit planes
 * put element e at bit e/32 of byte e%32.
 * ------------------------------------------------------------------------- */

static inline int crumb_at(const uint8_t *qs, int e) {
    return (qs[(e / 128) * 32 + e % 32] >> (2 * ((e % 128) / 32))) & 3;
}

static inline void crumb_set(uint8_t *qs, int e, int v) {
    qs[(e / 128) * 32 + e % 32] |= (uint8_t)(v << (2 * ((e % 128) / 32)));
}

static inline int nibble_at(const uint8_t *qs, int e) {
    uint8_t byte = qs[(e / 64) * 32 + e % 32];
    return (e % 64) < 32 ? byte & 0xF : byte >> 4;
}

static inline void nibble_set(uint8_t *qs, int e, int v) {
    qs[(e / 64) * 32 + e % 32] |= (uint8_t)((e % 64) < 32 ? v : v << 4);
}

static inline int high_bit_at(const uint8_t *plane, int e) {
    return (plane[e % 32] >> (e / 32)) & 1;
}

static inline void high_bit_set(uint8_t *plane, int e) {
    plane[e % 32] |= (uint8_t)(1u << (e / 32));
}

/* q3_K's 16 six-bit scales, biased by 32: low nibbles in bytes 0-7, top bits in 8-11. */
static inline int q3_K_scale(const uint8_t packed[12], int j) {
    int low = j < 8 ? packed[j] & 0xF : packed[j - 8] >> 4;
    int high = (packed[8 + j % 4] >> (2 * (j / 4))) & 3;
    return (low | (high << 4)) - 32;
}

/* q6_K: low 4 bits in ql (e and e+64 of each 128 share a byte), high 2 bits in qh. */
static inline int q6_K_level(const block_q6_K *b, int e) {
    int half = e / 128, quarter = (e % 128) / 32, l = e % 32;
    uint8_t low_byte = b->ql[half * 64 + (quarter & 1) * 32 + l];
    int low = quarter < 2 ? low_byte & 0xF : low_byte >> 4;
    int high = (b->qh[half * 32 + l] >> (2 * quarter)) & 3;
    return (low | (high << 4)) - 32;
}

/* ----------------------------------------------------------------------------
 * q2_K: 16 sub-blocks of 16, x = d*sc * q - dmin*m, q in 0..3, sc and m 4-bit.
 * ------------------------------------------------------------------------- */

void ql_quantize_row_q2_K_ref(const float *restrict x, void *restrict dst, int64_t n) {
    block_q2_K *y = dst;
    const float q4scale = 15.0f;
    uint8_t L[QL_QK_K], scratch[16];
    float weights[16], mins[QL_QK_K / 16], scales[QL_QK_K / 16];

    for (int64_t b = 0; b < n / QL_QK_K; b++, x += QL_QK_K) {
        float max_scale = 0, max_min = 0;
        for (int j = 0; j < QL_QK_K / 16; j++) {
            for (int l = 0; l < 16; l++) weights[l] = fabsf(x[16 * j + l]);
            scales[j] = fit_scale_and_min(16, 3, x + 16 * j, weights, L + 16 * j, &mins[j], scratch,
                                          -0.5f, 0.1f, 15, true);
            if (scales[j] > max_scale) max_scale = scales[j];
            if (mins[j] > max_min) max_min = mins[j];
        }

        if (max_scale > 0) {
            float iscale = q4scale / max_scale;
            for (int j = 0; j < QL_QK_K / 16; j++)
                y[b].scales[j] = (uint8_t)ql_nearest_int(iscale * scales[j]);
            y[b].d = ql_fp32_to_fp16(max_scale / q4scale);
        } else {
            memset(y[b].scales, 0, sizeof y[b].scales);
            y[b].d = ql_fp32_to_fp16(0.0f);
        }
        if (max_min > 0) {
            float iscale = q4scale / max_min;
            for (int j = 0; j < QL_QK_K / 16; j++)
                y[b].scales[j] |= (uint8_t)(ql_nearest_int(iscale * mins[j]) << 4);
            y[b].dmin = ql_fp32_to_fp16(max_min / q4scale);
        } else {
            y[b].dmin = ql_fp32_to_fp16(0.0f);
        }

        /* requantize against the scales as stored, so the levels match what decodes */
        for (int j = 0; j < QL_QK_K / 16; j++) {
            const float d = ql_fp16_to_fp32(y[b].d) * (y[b].scales[j] & 0xF);
            if (!d) continue;
            const float dm = ql_fp16_to_fp32(y[b].dmin) * (y[b].scales[j] >> 4);
            for (int i = 0; i < 16; i++) {
                int l = ql_nearest_int((x[16 * j + i] + dm) / d);
                L[16 * j + i] = (uint8_t)clamp_int(l, 0, 3);
            }
        }

        memset(y[b].qs, 0, sizeof y[b].qs);
        for (int e = 0; e < QL_QK_K; e++) crumb_set(y[b].qs, e, L[e]);
    }
}

void ql_dequantize_row_q2_K(const void *restrict src, float *restrict y, int64_t n) {
    const block_q2_K *x = src;
    for (int64_t b = 0; b < n / QL_QK_K; b++) {
        const float d = ql_fp16_to_fp32(x[b].d), dmin = ql_fp16_to_fp32(x[b].dmin);
        for (int j = 0; j < QL_QK_K / 16; j++) {
            const uint8_t sc = x[b].scales[j];
            const float dl = d * (sc & 0xF), ml = dmin * (sc >> 4);
            for (int e = 16 * j; e < 16 * j + 16; e++) *y++ = dl * crumb_at(x[b].qs, e) - ml;
        }
    }
}

void ql_vec_dot_q2_K_q8_K(int64_t n, float *restrict out, const void *restrict vx,
                          const void *restrict vy) {
    const block_q2_K *x = vx;
    const block_q8_K *y = vy;
    float sum = 0.0f;
    for (int64_t b = 0; b < n / QL_QK_K; b++) {
        int32_t scaled = 0, mins = 0;
        for (int j = 0; j < QL_QK_K / 16; j++) {
            int32_t dot = 0;
            for (int e = 16 * j; e < 16 * j + 16; e++) dot += crumb_at(x[b].qs, e) * y[b].qs[e];
            scaled += (x[b].scales[j] & 0xF) * dot;
            mins += (x[b].scales[j] >> 4) * y[b].bsums[j];
        }
        const float d = y[b].d * ql_fp16_to_fp32(x[b].d);
        const float dmin = y[b].d * ql_fp16_to_fp32(x[b].dmin);
        sum += d * (float)scaled - dmin * (float)mins;
    }
    *out = sum;
}

/* ----------------------------------------------------------------------------
 * q3_K: 16 sub-blocks of 16, x = d*sc * q, q in -4..3 (2 low bits + a high
 * bit plane), sc a signed 6-bit scale.
 * ------------------------------------------------------------------------- */

void ql_quantize_row_q3_K_ref(const float *restrict x, void *restrict dst, int64_t n) {
    block_q3_K *y = dst;
    int8_t L[QL_QK_K];
    float scales[QL_QK_K / 16];

    for (int64_t b = 0; b < n / QL_QK_K; b++, x += QL_QK_K) {
        float max_scale = 0, amax = 0;
        for (int j = 0; j < QL_QK_K / 16; j++) {
            scales[j] = fit_q3_levels(16, 4, x + 16 * j, L + 16 * j);
            float a = fabsf(scales[j]);
            if (a > amax) amax = a, max_scale = scales[j];
        }

        memset(y[b].scales, 0, sizeof y[b].scales);
        if (max_scale) {
            /* the largest scale maps to -32, the 6-bit level with no positive twin */
            float iscale = -32.0f / max_scale;
            for (int j = 0; j < QL_QK_K / 16; j++) {
                /* ggml narrows to int8 before clamping; |iscale*scale| <= 32 keeps that exact */
                int8_t rounded = (int8_t)ql_nearest_int(iscale * scales[j]);
                int l = clamp_int(rounded, -32, 31) + 32;
                if (j < 8)
                    y[b].scales[j] = (uint8_t)(l & 0xF);
                else
                    y[b].scales[j - 8] |= (uint8_t)((l & 0xF) << 4);
                y[b].scales[8 + j % 4] |= (uint8_t)((l >> 4) << (2 * (j / 4)));
            }
            y[b].d = ql_fp32_to_fp16(1 / iscale);
        } else {
            y[b].d = ql_fp32_to_fp16(0.0f);
        }

        for (int j = 0; j < QL_QK_K / 16; j++) {
            const float d = ql_fp16_to_fp32(y[b].d) * q3_K_scale(y[b].scales, j);
            if (!d) continue;
            for (int i = 0; i < 16; i++) {
                int l = ql_nearest_int(x[16 * j + i] / d);
                L[16 * j + i] = (int8_t)(clamp_int(l, -4, 3) + 4);
            }
        }

        memset(y[b].hmask, 0, sizeof y[b].hmask);
        memset(y[b].qs, 0, sizeof y[b].qs);
        for (int e = 0; e < QL_QK_K; e++) {
            int l = L[e];
            if (l > 3) {
                high_bit_set(y[b].hmask, e);
                l -= 4;
            }
            crumb_set(y[b].qs, e, l);
        }
    }
}

/* The high bit is stored set for non-negative levels: q = low - 4 when it is clear. */
static inline int q3_K_level(const block_q3_K *b, int e) {
    return crumb_at(b->qs, e) - (high_bit_at(b->hmask, e) ? 0 : 4);
}

void ql_dequantize_row_q3_K(const void *restrict src, float *restrict y, int64_t n) {
    const block_q3_K *x = src;
    for (int64_t b = 0; b < n / QL_QK_K; b++) {
        const float d = ql_fp16_to_fp32(x[b].d);
        for (int j = 0; j < QL_QK_K / 16; j++) {
            const float dl = d * q3_K_scale(x[b].scales, j);
            for (int e = 16 * j; e < 16 * j + 16; e++) *y++ = dl * q3_K_level(&x[b], e);
        }
    }
}

void ql_vec_dot_q3_K_q8_K(int64_t n, float *restrict out, const void *restrict vx,
                          const void *restrict vy) {
    const block_q3_K *x = vx;
    const block_q8_K *y = vy;
    float sum = 0.0f;
    for (int64_t b = 0; b < n / QL_QK_K; b++) {
        int32_t scaled = 0;
        for (int j = 0; j < QL_QK_K / 16; j++) {
            int32_t dot = 0;
            for (int e = 16 * j; e < 16 * j + 16; e++) dot += q3_K_level(&x[b], e) * y[b].qs[e];
            scaled += q3_K_scale(x[b].scales, j) * dot;
        }
        sum += ql_fp16_to_fp32(x[b].d) * y[b].d * (float)scaled;
    }
    *out = sum;
}

/* ----------------------------------------------------------------------------
 * q4_K and q5_K: 8 sub-blocks of 32, x = d*sc * q - dmin*m, sc and m 6-bit,
 * q 4-bit (q4_K) or 4-bit plus a high bit plane (q5_K). Their quantizers
 * differ only in nmax, the search grid and the packing of q.
 * ------------------------------------------------------------------------- */

typedef struct {
    ql_fp16 d, dmin;
    uint8_t scales[QL_K_SCALE_SIZE];
} k4_header;

/* Fills hdr and L[256] (levels 0..nmax) for one super-block of q4_K or q5_K. */
static void quantize_superblock_k4(const float *restrict x, int nmax, float first_step, int nstep,
                                   k4_header *hdr, uint8_t *restrict L) {
    float weights[32], mins[8], scales[8];
    uint8_t scratch[32], scale_levels[8], min_levels[8];
    float max_scale = 0, max_min = 0;
    for (int j = 0; j < QL_QK_K / 32; j++) {
        const float *xs = x + 32 * j;
        /* weight each value by its magnitude plus the sub-block's rms */
        float sum_x2 = 0;
        for (int l = 0; l < 32; l++) sum_x2 += xs[l] * xs[l];
        float av_x = sqrtf(sum_x2 / 32);
        for (int l = 0; l < 32; l++) weights[l] = av_x + fabsf(xs[l]);
        scales[j] = fit_scale_and_min(32, nmax, xs, weights, L + 32 * j, &mins[j], scratch,
                                      first_step, 0.1f, nstep, false);
        if (scales[j] > max_scale) max_scale = scales[j];
        if (mins[j] > max_min) max_min = mins[j];
    }

    float inv_scale = max_scale > 0 ? 63.0f / max_scale : 0.0f;
    float inv_min = max_min > 0 ? 63.0f / max_min : 0.0f;
    for (int j = 0; j < QL_QK_K / 32; j++) {
        /* narrowed to uint8 before the clamp, as in ggml: a level below 0 would become 63 */
        uint8_t ls = (uint8_t)ql_nearest_int(inv_scale * scales[j]);
        uint8_t lm = (uint8_t)ql_nearest_int(inv_min * mins[j]);
        scale_levels[j] = ls < 63 ? ls : 63;
        min_levels[j] = lm < 63 ? lm : 63;
    }
    pack_scales_mins_k4(hdr->scales, scale_levels, min_levels);
    hdr->d = ql_fp32_to_fp16(max_scale / 63.0f);
    hdr->dmin = ql_fp32_to_fp16(max_min / 63.0f);

    for (int j = 0; j < QL_QK_K / 32; j++) {
        uint8_t sc, m;
        unpack_scale_min_k4(j, hdr->scales, &sc, &m);
        const float d = ql_fp16_to_fp32(hdr->d) * sc;
        if (!d) continue;
        const float dm = ql_fp16_to_fp32(hdr->dmin) * m;
        for (int i = 0; i < 32; i++) {
            int l = ql_nearest_int((x[32 * j + i] + dm) / d);
            L[32 * j + i] = (uint8_t)clamp_int(l, 0, nmax);
        }
    }
}

void ql_quantize_row_q4_K_ref(const float *restrict x, void *restrict dst, int64_t n) {
    block_q4_K *y = dst;
    uint8_t L[QL_QK_K];
    for (int64_t b = 0; b < n / QL_QK_K; b++, x += QL_QK_K) {
        k4_header hdr;
        quantize_superblock_k4(x, 15, -1.0f, 20, &hdr, L);
        y[b].d = hdr.d;
        y[b].dmin = hdr.dmin;
        memcpy(y[b].scales, hdr.scales, sizeof hdr.scales);
        memset(y[b].qs, 0, sizeof y[b].qs);
        for (int e = 0; e < QL_QK_K; e++) nibble_set(y[b].qs, e, L[e]);
    }
}

void ql_quantize_row_q5_K_ref(const float *restrict x, void *restrict dst, int64_t n) {
    block_q5_K *y = dst;
    uint8_t L[QL_QK_K];
    for (int64_t b = 0; b < n / QL_QK_K; b++, x += QL_QK_K) {
        k4_header hdr;
        quantize_superblock_k4(x, 31, -0.5f, 15, &hdr, L);
        y[b].d = hdr.d;
        y[b].dmin = hdr.dmin;
        memcpy(y[b].scales, hdr.scales, sizeof hdr.scales);
        memset(y[b].qs, 0, sizeof y[b].qs);
        memset(y[b].qh, 0, sizeof y[b].qh);
        for (int e = 0; e < QL_QK_K; e++) {
            nibble_set(y[b].qs, e, L[e] & 0xF);
            if (L[e] > 15) high_bit_set(y[b].qh, e);
        }
    }
}

void ql_dequantize_row_q4_K(const void *restrict src, float *restrict y, int64_t n) {
    const block_q4_K *x = src;
    for (int64_t b = 0; b < n / QL_QK_K; b++) {
        const float d = ql_fp16_to_fp32(x[b].d), dmin = ql_fp16_to_fp32(x[b].dmin);
        for (int j = 0; j < QL_QK_K / 32; j++) {
            uint8_t sc, m;
            unpack_scale_min_k4(j, x[b].scales, &sc, &m);
            const float dl = d * sc, ml = dmin * m;
            for (int e = 32 * j; e < 32 * j + 32; e++) *y++ = dl * nibble_at(x[b].qs, e) - ml;
        }
    }
}

static inline int q5_K_level(const block_q5_K *b, int e) {
    return nibble_at(b->qs, e) + (high_bit_at(b->qh, e) << 4);
}

void ql_dequantize_row_q5_K(const void *restrict src, float *restrict y, int64_t n) {
    const block_q5_K *x = src;
    for (int64_t b = 0; b < n / QL_QK_K; b++) {
        const float d = ql_fp16_to_fp32(x[b].d), dmin = ql_fp16_to_fp32(x[b].dmin);
        for (int j = 0; j < QL_QK_K / 32; j++) {
            uint8_t sc, m;
            unpack_scale_min_k4(j, x[b].scales, &sc, &m);
            const float dl = d * sc, ml = dmin * m;
            for (int e = 32 * j; e < 32 * j + 32; e++) *y++ = dl * q5_K_level(&x[b], e) - ml;
        }
    }
}

/* The min term of a q4_K/q5_K block: sum over sub-blocks of m_j * sum of its q8 values. */
static inline int32_t k4_min_term(const uint8_t packed[QL_K_SCALE_SIZE], const block_q8_K *y) {
    int32_t mins = 0;
    for (int j = 0; j < QL_QK_K / 32; j++) {
        uint8_t sc, m;
        unpack_scale_min_k4(j, packed, &sc, &m);
        mins += m * (y->bsums[2 * j] + y->bsums[2 * j + 1]);
    }
    return mins;
}

void ql_vec_dot_q4_K_q8_K(int64_t n, float *restrict out, const void *restrict vx,
                          const void *restrict vy) {
    const block_q4_K *x = vx;
    const block_q8_K *y = vy;
    float sum = 0.0f;
    for (int64_t b = 0; b < n / QL_QK_K; b++) {
        int32_t scaled = 0;
        for (int j = 0; j < QL_QK_K / 32; j++) {
            uint8_t sc, m;
            unpack_scale_min_k4(j, x[b].scales, &sc, &m);
            int32_t dot = 0;
            for (int e = 32 * j; e < 32 * j + 32; e++) dot += nibble_at(x[b].qs, e) * y[b].qs[e];
            scaled += sc * dot;
        }
        const float d = ql_fp16_to_fp32(x[b].d) * y[b].d;
        const float dmin = ql_fp16_to_fp32(x[b].dmin) * y[b].d;
        sum += d * (float)scaled - dmin * (float)k4_min_term(x[b].scales, &y[b]);
    }
    *out = sum;
}

void ql_vec_dot_q5_K_q8_K(int64_t n, float *restrict out, const void *restrict vx,
                          const void *restrict vy) {
    const block_q5_K *x = vx;
    const block_q8_K *y = vy;
    float sum = 0.0f;
    for (int64_t b = 0; b < n / QL_QK_K; b++) {
        int32_t scaled = 0;
        for (int j = 0; j < QL_QK_K / 32; j++) {
            uint8_t sc, m;
            unpack_scale_min_k4(j, x[b].scales, &sc, &m);
            int32_t dot = 0;
            for (int e = 32 * j; e < 32 * j + 32; e++) dot += q5_K_level(&x[b], e) * y[b].qs[e];
            scaled += sc * dot;
        }
        const float d = ql_fp16_to_fp32(x[b].d) * y[b].d;
        const float dmin = ql_fp16_to_fp32(x[b].dmin) * y[b].d;
        sum += d * (float)scaled - dmin * (float)k4_min_term(x[b].scales, &y[b]);
    }
    *out = sum;
}

/* ----------------------------------------------------------------------------
 * q6_K: 16 sub-blocks of 16, x = d*sc * q, q in -32..31, sc a signed 8-bit
 * scale.
 * ------------------------------------------------------------------------- */

void ql_quantize_row_q6_K_ref(const float *restrict x, void *restrict dst, int64_t n) {
    block_q6_K *y = dst;
    int8_t L[QL_QK_K];
    float scales[QL_QK_K / 16];

    for (int64_t b = 0; b < n / QL_QK_K; b++, x += QL_QK_K) {
        float max_scale = 0, max_abs_scale = 0;
        for (int j = 0; j < QL_QK_K / 16; j++) {
            scales[j] = fit_symmetric_levels(16, 32, x + 16 * j, L + 16 * j);
            float a = fabsf(scales[j]);
            if (a > max_abs_scale) max_abs_scale = a, max_scale = scales[j];
        }

        if (max_abs_scale < GROUP_MAX_EPS) {
            memset(&y[b], 0, sizeof y[b]);
            continue;
        }

        /* the largest scale maps to -128, the int8 level with no positive twin */
        float iscale = -128.0f / max_scale;
        y[b].d = ql_fp32_to_fp16(1 / iscale);
        for (int j = 0; j < QL_QK_K / 16; j++) {
            int l = ql_nearest_int(iscale * scales[j]);
            y[b].scales[j] = (int8_t)(l < 127 ? l : 127);
        }

        for (int j = 0; j < QL_QK_K / 16; j++) {
            const float d = ql_fp16_to_fp32(y[b].d) * y[b].scales[j];
            if (!d) continue;
            for (int i = 0; i < 16; i++) {
                int l = ql_nearest_int(x[16 * j + i] / d);
                L[16 * j + i] = (int8_t)(clamp_int(l, -32, 31) + 32);
            }
        }

        memset(y[b].ql, 0, sizeof y[b].ql);
        memset(y[b].qh, 0, sizeof y[b].qh);
        for (int e = 0; e < QL_QK_K; e++) {
            int half = e / 128, quarter = (e % 128) / 32, l = e % 32;
            int v = L[e];
            y[b].ql[half * 64 + (quarter & 1) * 32 + l] |=
                (uint8_t)(quarter < 2 ? v & 0xF : (v & 0xF) << 4);
            y[b].qh[half * 32 + l] |= (uint8_t)((v >> 4) << (2 * quarter));
        }
    }
}

void ql_dequantize_row_q6_K(const void *restrict src, float *restrict y, int64_t n) {
    const block_q6_K *x = src;
    for (int64_t b = 0; b < n / QL_QK_K; b++) {
        const float d = ql_fp16_to_fp32(x[b].d);
        for (int e = 0; e < QL_QK_K; e++) *y++ = d * x[b].scales[e / 16] * q6_K_level(&x[b], e);
    }
}

void ql_vec_dot_q6_K_q8_K(int64_t n, float *restrict out, const void *restrict vx,
                          const void *restrict vy) {
    const block_q6_K *x = vx;
    const block_q8_K *y = vy;
    float sum = 0.0f;
    for (int64_t b = 0; b < n / QL_QK_K; b++) {
        int32_t scaled = 0;
        for (int j = 0; j < QL_QK_K / 16; j++) {
            int32_t dot = 0;
            for (int e = 16 * j; e < 16 * j + 16; e++) dot += q6_K_level(&x[b], e) * y[b].qs[e];
            scaled += x[b].scales[j] * dot;
        }
        sum += ql_fp16_to_fp32(x[b].d) * y[b].d * (float)scaled;
    }
    *out = sum;
}
