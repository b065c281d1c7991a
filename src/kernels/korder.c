/*
 * korder.c - the float accumulation orders of llama.cpp's x86 CPU kernels,
 * written as plain scalar code (see korder.h).
 *
 * The integer parts of these products are exact in any order, so each
 * function first forms the integers ggml's kernel holds in one register
 * lane (or one output lane) and then repeats its float operations on them:
 * which products of two scales are rounded, which sums are fused into a
 * multiply-add (GCC fuses a multiply feeding an add, intrinsics included,
 * as ggml is compiled), and in which order lanes are added at the end.
 */
#include "korder.h"

#include <math.h>
#include <string.h>

#include "../quant/blocks.h"

/* ---- one k-quant super-block, decoded ---- */

typedef ql_kblock kblock;

static void scale_min_k4(int j, const uint8_t *q, int *scale, int *min) {
    if (j < 4) {
        *scale = q[j] & 63;
        *min = q[j + 4] & 63;
    } else {
        *scale = (q[j + 4] & 0xF) | ((q[j - 4] >> 6) << 4);
        *min = (q[j + 4] >> 4) | ((q[j] >> 6) << 4);
    }
}

static void set_sub(kblock *k, int n_sub) {
    k->n_sub = n_sub;
    k->sub = QL_QK_K / n_sub;
}

static void finish_levels(kblock *k, int bias) {
    k->bias = bias;
    for (int e = 0; e < QL_QK_K; e++) k->v[e] = k->code[e] - bias;
}

static void decode_q2_K(const block_q2_K *x, kblock *k) {
    set_sub(k, 16);
    for (int e = 0; e < QL_QK_K; e++) {
        const int half = e / 128, group = (e % 128) / 32, l = e % 32;
        k->code[e] = (x->qs[32 * half + l] >> (2 * group)) & 3;
    }
    finish_levels(k, 0);
    for (int s = 0; s < 16; s++) {
        k->sc[s] = x->scales[s] & 0xF;
        k->mn[s] = x->scales[s] >> 4;
    }
    k->d = ql_fp16_to_fp32(x->d);
    k->dmin = ql_fp16_to_fp32(x->dmin);
}

static void decode_q3_K(const block_q3_K *x, kblock *k) {
    set_sub(k, 16);
    for (int e = 0; e < QL_QK_K; e++) {
        const int half = e / 128, group = (e % 128) / 32, l = e % 32;
        const int low = (x->qs[32 * half + l] >> (2 * group)) & 3;
        const int high = (x->hmask[l] >> (4 * half + group)) & 1;
        k->code[e] = low | (high << 2);
    }
    finish_levels(k, 4);
    uint32_t aux[4];
    memcpy(aux, x->scales, 12);
    const uint32_t m1 = 0x03030303, m2 = 0x0f0f0f0f, tmp = aux[2];
    aux[2] = ((aux[0] >> 4) & m2) | (((tmp >> 4) & m1) << 4);
    aux[3] = ((aux[1] >> 4) & m2) | (((tmp >> 6) & m1) << 4);
    aux[0] = (aux[0] & m2) | (((tmp >> 0) & m1) << 4);
    aux[1] = (aux[1] & m2) | (((tmp >> 2) & m1) << 4);
    int8_t sc[16];
    memcpy(sc, aux, 16);
    for (int s = 0; s < 16; s++) {
        k->sc[s] = sc[s] - 32;
        k->mn[s] = 0;
    }
    k->d = ql_fp16_to_fp32(x->d);
    k->dmin = 0.0f;
}

static void decode_q4_K(const block_q4_K *x, kblock *k) {
    set_sub(k, 8);
    for (int e = 0; e < QL_QK_K; e++) {
        const uint8_t byte = x->qs[(e / 64) * 32 + e % 32];
        k->code[e] = e % 64 < 32 ? byte & 0xF : byte >> 4;
    }
    finish_levels(k, 0);
    for (int s = 0; s < 8; s++) scale_min_k4(s, x->scales, &k->sc[s], &k->mn[s]);
    k->d = ql_fp16_to_fp32(x->d);
    k->dmin = ql_fp16_to_fp32(x->dmin);
}

static void decode_q5_K(const block_q5_K *x, kblock *k) {
    set_sub(k, 8);
    for (int e = 0; e < QL_QK_K; e++) {
        const int chunk = e / 64, hi = e % 64 >= 32, l = e % 32;
        const uint8_t byte = x->qs[chunk * 32 + l];
        const int low = hi ? byte >> 4 : byte & 0xF;
        k->code[e] = low | (((x->qh[l] >> (2 * chunk + hi)) & 1) << 4);
    }
    finish_levels(k, 0);
    for (int s = 0; s < 8; s++) scale_min_k4(s, x->scales, &k->sc[s], &k->mn[s]);
    k->d = ql_fp16_to_fp32(x->d);
    k->dmin = ql_fp16_to_fp32(x->dmin);
}

static void decode_q6_K(const block_q6_K *x, kblock *k) {
    set_sub(k, 16);
    for (int e = 0; e < QL_QK_K; e++) {
        const int half = e / 128, quarter = (e % 128) / 32, l = e % 32;
        const uint8_t lo = x->ql[half * 64 + (quarter & 1) * 32 + l];
        const int low = quarter < 2 ? lo & 0xF : lo >> 4;
        const int high = (x->qh[half * 32 + l] >> (2 * quarter)) & 3;
        k->code[e] = low | (high << 4);
    }
    finish_levels(k, 32);
    for (int s = 0; s < 16; s++) {
        k->sc[s] = x->scales[s];
        k->mn[s] = 0;
    }
    k->d = ql_fp16_to_fp32(x->d);
    k->dmin = 0.0f;
}

static void decode_iq4_xs(const block_iq4_xs *x, kblock *k) {
    set_sub(k, 8);
    for (int e = 0; e < QL_QK_K; e++) {
        const int ib = e / 32, j = e % 32;
        const uint8_t byte = x->qs[16 * ib + j % 16];
        k->code[e] = ql_kvalues_iq4nl[j < 16 ? byte & 0xF : byte >> 4] + 128;
    }
    finish_levels(k, 128);
    for (int s = 0; s < 8; s++) {
        const int ls =
            ((x->scales_l[s / 2] >> (4 * (s % 2))) & 0xF) | (((x->scales_h >> (2 * s)) & 3) << 4);
        k->sc[s] = ls - 32;
        k->mn[s] = 0;
    }
    k->d = ql_fp16_to_fp32(x->d);
    k->dmin = 0.0f;
}

static size_t kblock_bytes(ql_type t) {
    return ql_row_size(t, QL_QK_K);
}

void ql_kblock_decode(ql_type t, const void *blk, ql_kblock *k) {
    switch (t) {
    case QL_TYPE_Q2_K:
        decode_q2_K(blk, k);
        break;
    case QL_TYPE_Q3_K:
        decode_q3_K(blk, k);
        break;
    case QL_TYPE_Q4_K:
        decode_q4_K(blk, k);
        break;
    case QL_TYPE_Q5_K:
        decode_q5_K(blk, k);
        break;
    case QL_TYPE_Q6_K:
        decode_q6_K(blk, k);
        break;
    default:
        decode_iq4_xs(blk, k);
        break;
    }
}

/* The q8 sum of sub-block s (of k->sub elements) from the per-16 sums. */
static int32_t bsum_sub(const kblock *k, const block_q8_K *y, int s) {
    int32_t sum = 0;
    for (int u = 0; u < k->sub / 16; u++) sum += y->bsums[s * (k->sub / 16) + u];
    return sum;
}

/* sum of level x activation over elements [e0, e0 + n) */
static int32_t dot_levels(const kblock *k, const block_q8_K *y, int e0, int n) {
    int32_t s = 0;
    for (int e = e0; e < e0 + n; e++) s += k->v[e] * y->qs[e];
    return s;
}

/* ggml's hsum_float_8: lanes i + i+4, then (0+2, 1+3), then their sum. */
static float hsum8(const float a[8]) {
    const float r0 = a[0] + a[4], r1 = a[1] + a[5], r2 = a[2] + a[6], r3 = a[3] + a[7];
    return (r0 + r2) + (r1 + r3);
}

/* ---- ggml_vec_dot_*_q8_K (AVX2 form) ---- */

/*
 * Lane l of the AVX2 dots sums elements 4l..4l+3 of every 32-element chunk
 * c, times the scale of the sub-block they fall in (for 16-element
 * sub-blocks, 2c + l / 4).
 */
static int32_t vec_lane(const kblock *k, const block_q8_K *y, int l) {
    int32_t s = 0;
    for (int c = 0; c < 8; c++) {
        const int e0 = 32 * c + 4 * l;
        s += k->sc[e0 / k->sub] * dot_levels(k, y, e0, 4);
    }
    return s;
}

/* The codes (not the levels) in the lanes: q6_K takes its 32 back through the bsums. */
static int32_t vec_lane_codes(const kblock *k, const block_q8_K *y, int l) {
    int32_t s = 0;
    for (int c = 0; c < 8; c++) {
        int32_t t = 0;
        for (int e = 32 * c + 4 * l; e < 32 * c + 4 * l + 4; e++) t += k->code[e] * y->qs[e];
        s += k->sc[(32 * c + 4 * l) / k->sub] * t;
    }
    return s;
}

static void vec_dot(ql_type t, int64_t n, float *out, const void *vx, const void *vy) {
    const block_q8_K *y = vy;
    const size_t bytes = kblock_bytes(t);
    float acc[8] = {0}, acc_m[4] = {0}, summs = 0.0f;
    for (int64_t b = 0; b < n / QL_QK_K; b++) {
        kblock k;
        ql_kblock_decode(t, (const uint8_t *)vx + (size_t)b * bytes, &k);
        const float yd = y[b].d;
        switch (t) {
        case QL_TYPE_Q2_K: {
            const float d = yd * k.d, dmin = -yd * k.dmin;
            for (int l = 0; l < 8; l++) {
                const int32_t p =
                    k.mn[2 * l] * y[b].bsums[2 * l] + k.mn[2 * l + 1] * y[b].bsums[2 * l + 1];
                acc[l] = fmaf(dmin, (float)p, acc[l]);
            }
            for (int l = 0; l < 8; l++) acc[l] = fmaf(d, (float)vec_lane(&k, &y[b], l), acc[l]);
            break;
        }
        case QL_TYPE_Q4_K:
        case QL_TYPE_Q5_K: {
            const float d = yd * k.d, dmin = -yd * k.dmin;
            for (int l = 0; l < 8; l++) acc[l] = fmaf(d, (float)vec_lane(&k, &y[b], l), acc[l]);
            int32_t p[4];
            for (int i = 0; i < 4; i++)
                p[i] = k.mn[2 * i] * bsum_sub(&k, &y[b], 2 * i) +
                       k.mn[2 * i + 1] * bsum_sub(&k, &y[b], 2 * i + 1);
            if (t == QL_TYPE_Q4_K)
                for (int i = 0; i < 4; i++) acc_m[i] = fmaf(dmin, (float)p[i], acc_m[i]);
            else
                summs = fmaf(dmin, (float)(p[0] + p[1] + p[2] + p[3]), summs);
            break;
        }
        case QL_TYPE_Q6_K: {
            const float d = yd * k.d;
            for (int l = 0; l < 8; l++) {
                const int32_t corr = 32 * (y[b].bsums[2 * l] * k.sc[2 * l] +
                                           y[b].bsums[2 * l + 1] * k.sc[2 * l + 1]);
                acc[l] = fmaf(d, (float)(vec_lane_codes(&k, &y[b], l) - corr), acc[l]);
            }
            break;
        }
        case QL_TYPE_IQ4_XS: {
            const float d = k.d * yd;
            for (int l = 0; l < 8; l++) acc[l] = fmaf(d, (float)vec_lane(&k, &y[b], l), acc[l]);
            break;
        }
        default: { /* q3_K */
            const float d = yd * k.d;
            for (int l = 0; l < 8; l++) acc[l] = fmaf(d, (float)vec_lane(&k, &y[b], l), acc[l]);
            break;
        }
        }
    }
    float sum = hsum8(acc);
    if (t == QL_TYPE_Q4_K) sum += (acc_m[0] + acc_m[2]) + (acc_m[1] + acc_m[3]);
    if (t == QL_TYPE_Q5_K) sum += summs;
    *out = sum;
}

/* ---- ggml's tiled k-quant product (batches of 8 rows or more) ---- */

static void tiled_dot(ql_type t, int64_t n, float *out, const void *vx, const void *vy) {
    const block_q8_K *y = vy;
    const size_t bytes = kblock_bytes(t);
    const bool has_min = t == QL_TYPE_Q2_K || t == QL_TYPE_Q4_K || t == QL_TYPE_Q5_K;
    float acc = 0.0f;
    for (int64_t b = 0; b < n / QL_QK_K; b++) {
        kblock k;
        ql_kblock_decode(t, (const uint8_t *)vx + (size_t)b * bytes, &k);
        int32_t s1 = 0, s2 = 0;
        for (int s = 0; s < k.n_sub; s++) {
            s1 += k.sc[s] * dot_levels(&k, &y[b], s * k.sub, k.sub);
            s2 += k.mn[s] * bsum_sub(&k, &y[b], s);
        }
        float r = (float)s1 * k.d;
        if (has_min) r = fmaf(-k.dmin, (float)s2, r);
        acc = fmaf(r, y[b].d, acc);
    }
    *out = acc;
}

/* ---- the repacked tiles (q4_K, q2_K): one chain per output ---- */

/* units: sub-blocks per multiply-add (the whole super-block for the one-row form) */
static void repack_dot(ql_type t, int units, int64_t n, float *out, const void *vx,
                       const void *vy) {
    const block_q8_K *y = vy;
    const size_t bytes = kblock_bytes(t);
    float acc = 0.0f, acc_m = 0.0f;
    for (int64_t b = 0; b < n / QL_QK_K; b++) {
        kblock k;
        ql_kblock_decode(t, (const uint8_t *)vx + (size_t)b * bytes, &k);
        const float dd = k.d * y[b].d, dm = k.dmin * y[b].d;
        for (int s0 = 0; s0 < k.n_sub; s0 += units) {
            int32_t i = 0, m = 0;
            for (int s = s0; s < s0 + units; s++) {
                i += k.sc[s] * dot_levels(&k, &y[b], s * k.sub, k.sub);
                m += k.mn[s] * bsum_sub(&k, &y[b], s);
            }
            acc = fmaf((float)i, dd, acc);
            acc_m = fmaf((float)m, dm, acc_m);
        }
    }
    *out = acc - acc_m;
}

#define KORDER(T, TYPE)                                                                            \
    void ql_korder_##T##_vec(int64_t n, float *out, const void *x, const void *y) {                \
        vec_dot(TYPE, n, out, x, y);                                                               \
    }                                                                                              \
    void ql_korder_##T##_tiled(int64_t n, float *out, const void *x, const void *y) {              \
        tiled_dot(TYPE, n, out, x, y);                                                             \
    }
KORDER(q2_K, QL_TYPE_Q2_K)
KORDER(q3_K, QL_TYPE_Q3_K)
KORDER(q4_K, QL_TYPE_Q4_K)
KORDER(q5_K, QL_TYPE_Q5_K)
KORDER(q6_K, QL_TYPE_Q6_K)
KORDER(iq4_xs, QL_TYPE_IQ4_XS)

void ql_korder_q4_K_gemm(int64_t n, float *out, const void *x, const void *y) {
    repack_dot(QL_TYPE_Q4_K, 2, n, out, x, y);
}
void ql_korder_q4_K_gemv(int64_t n, float *out, const void *x, const void *y) {
    repack_dot(QL_TYPE_Q4_K, 8, n, out, x, y);
}
void ql_korder_q2_K_gemm(int64_t n, float *out, const void *x, const void *y) {
    repack_dot(QL_TYPE_Q2_K, 8, n, out, x, y);
}
void ql_korder_q2_K_gemv(int64_t n, float *out, const void *x, const void *y) {
    repack_dot(QL_TYPE_Q2_K, 16, n, out, x, y);
}

/* ---- repacked 32-element formats against q8_0: a multiply-add per block ---- */

static void legacy_repack_dot(const int8_t *levels, float dx, const block_q8_0 *y, float *acc) {
    int32_t s = 0;
    for (int e = 0; e < 32; e++) s += levels[e] * y->qs[e];
    *acc = fmaf((float)s, dx * ql_fp16_to_fp32(y->d), *acc);
}

void ql_korder_q4_0_repack(int64_t n, float *out, const void *vx, const void *vy) {
    const block_q4_0 *x = vx;
    const block_q8_0 *y = vy;
    float acc = 0.0f;
    for (int64_t b = 0; b < n / 32; b++) {
        int8_t q[32];
        for (int j = 0; j < 16; j++) {
            q[j] = (int8_t)((x[b].qs[j] & 0xF) - 8);
            q[j + 16] = (int8_t)((x[b].qs[j] >> 4) - 8);
        }
        legacy_repack_dot(q, ql_fp16_to_fp32(x[b].d), &y[b], &acc);
    }
    *out = acc;
}

void ql_korder_iq4_nl_repack(int64_t n, float *out, const void *vx, const void *vy) {
    const block_iq4_nl *x = vx;
    const block_q8_0 *y = vy;
    float acc = 0.0f;
    for (int64_t b = 0; b < n / 32; b++) {
        int8_t q[32];
        for (int j = 0; j < 16; j++) {
            q[j] = ql_kvalues_iq4nl[x[b].qs[j] & 0xF];
            q[j + 16] = ql_kvalues_iq4nl[x[b].qs[j] >> 4];
        }
        legacy_repack_dot(q, ql_fp16_to_fp32(x[b].d), &y[b], &acc);
    }
    *out = acc;
}
