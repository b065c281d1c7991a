/*
 * kernels.c - the CPU kernel table and its dot products, each in the
 * accumulation order of the ggml kernel that computes the same product in
 * llama.cpp's x86 build on the CPUs its reference numbers come from
 * (AVX-512 with the FP16 and BF16 extensions):
 *
 *   - float weights in a batch: tinyBLAS (llamafile_sgemm), one 16-lane
 *     FMA accumulator per output element, then a halving reduction;
 *   - f16 weights when tinyBLAS declines (one activation row, or a row
 *     count not a multiple of 4, as with a 50257-token vocabulary) and f16
 *     KV rows: ggml_vec_dot_f16, which AVX512-FP16 computes in half
 *     precision - four accumulators of 32 f16 lanes over steps of 128,
 *     every FMA and every addition of the reduction rounded to f16, the
 *     tail added in double;
 *   - bf16: vdpbf16ps pairs (tinyBLAS steps of 32, vec_dot steps of 64);
 *   - legacy block formats: ggml's AVX2 dots, eight float lanes, each the
 *     exact integer sum of four products scaled into an FMA accumulator,
 *     then hsum_float_8.
 *
 * A quantized KV cache amplifies last-bit differences into different
 * rounding decisions, so matching ggml's order is what makes our
 * perplexities llama.cpp's. Every dot has a portable form doing the same
 * operations lane by lane (fmaf where ggml fuses); tests check the SIMD
 * forms against it bit for bit, so a build without AVX-512 gives the same
 * numbers, only slower. Within one build the same dot is always used, which
 * keeps results independent of the thread count.
 */
#include "kernels.h"

#include <math.h>
#include <pthread.h>
#include <string.h>

#include "../core/cpu.h"
#include "../core/fp16.h"
#include "../quant/blocks.h"
#include "half512.h"
#include "qgemm.h"
#include "vecmath.h"

#if defined(__AVX512F__) || defined(__AVX2__)
#include <immintrin.h>
#endif

/* ---- activation preparation for float weights ---- */

static void act_to_f32(const float *restrict x, void *restrict dst, int64_t n) {
    memcpy(dst, x, (size_t)n * sizeof(float));
}

static void act_round_f16(const float *restrict x, void *restrict dst, int64_t n) {
    float *y = dst;
    int64_t i = 0;
#if defined(__F16C__) && defined(__AVX__)
    for (; i + 8 <= n; i += 8) {
        __m128i h = _mm256_cvtps_ph(_mm256_loadu_ps(x + i), _MM_FROUND_TO_NEAREST_INT);
        _mm256_storeu_ps(y + i, _mm256_cvtph_ps(h));
    }
#endif
    for (; i < n; i++) y[i] = ql_round_fp16(x[i]);
}

static void act_round_bf16(const float *restrict x, void *restrict dst, int64_t n) {
    float *y = dst;
    for (int64_t i = 0; i < n; i++) y[i] = ql_bf16_to_fp32(ql_fp32_to_bf16(x[i]));
}

/* ---- float dots: portable forms (the specification) ---- */

/* tinyBLAS: one accumulator of 16 lanes, lane l takes k = l (mod 16), n % 16 == 0 */
static float tinyblas_f16_port(const ql_fp16 *x, const float *y, int64_t n) {
    float acc[16] = {0};
    for (int64_t i = 0; i < n; i += 16)
        for (int l = 0; l < 16; l++) acc[l] = fmaf(ql_fp16_to_fp32(x[i + l]), y[i + l], acc[l]);
    return ql_reduce16(acc);
}

static float tinyblas_f32_port(const float *x, const float *y, int64_t n) {
    float acc[16] = {0};
    for (int64_t i = 0; i < n; i += 16)
        for (int l = 0; l < 16; l++) acc[l] = fmaf(x[i + l], y[i + l], acc[l]);
    return ql_reduce16(acc);
}

/* Folds four 16-lane accumulators as GGML_F32x16_REDUCE does: 0+2, 1+3, then 0+1. */
static inline float fold4(float acc[4][16]) {
    float v[16];
    for (int l = 0; l < 16; l++) v[l] = (acc[0][l] + acc[2][l]) + (acc[1][l] + acc[3][l]);
    return ql_reduce16(v);
}

/* _mm512_reduce_add_ph's tree on 32 f16 lanes, every addition rounded to f16 */
static float reduce_h32(const float v[32]) {
    float t16[16], t8[8], t4[4];
    for (int l = 0; l < 16; l++) t16[l] = ql_h_add(v[l], v[16 + l]);
    for (int l = 0; l < 8; l++) t8[l] = ql_h_add(t16[l], t16[8 + l]);
    for (int l = 0; l < 4; l++) t4[l] = ql_h_add(t8[l], t8[4 + l]);
    return ql_h_add(ql_h_add(t4[0], t4[2]), ql_h_add(t4[1], t4[3]));
}

/*
 * ggml_vec_dot_f16 as ggml's AVX512-FP16 build computes it (the CPUs its
 * reference numbers come from): four accumulators of 32 f16 lanes over
 * steps of 128 elements, each update one f16 FMA; folded 0+2, 1+3, 0+1 and
 * reduced in f16; the tail past the last whole step added in double. y holds
 * f32 values (f16-rounded activations), yh f16 values; one of them is NULL.
 */
static float vecdot_f16_port(const ql_fp16 *x, const float *y, const ql_fp16 *yh, int64_t n) {
    const int64_t np = n & ~(int64_t)127;
    float acc[4][32] = {{0}};
    for (int64_t i = 0; i < np; i += 128)
        for (int j = 0; j < 4; j++)
            for (int l = 0; l < 32; l++) {
                const int64_t e = i + 32 * j + l;
                const float b = y ? y[e] : ql_fp16_to_fp32(yh[e]);
                acc[j][l] = ql_h_fma(ql_fp16_to_fp32(x[e]), b, acc[j][l]);
            }
    float v[32];
    for (int l = 0; l < 32; l++)
        v[l] = ql_h_add(ql_h_add(acc[0][l], acc[2][l]), ql_h_add(acc[1][l], acc[3][l]));
    double sum = (double)reduce_h32(v);
    for (int64_t i = np; i < n; i++)
        sum += (double)(ql_fp16_to_fp32(x[i]) * (y ? y[i] : ql_fp16_to_fp32(yh[i])));
    return (float)sum;
}

/*
 * ggml_vec_dot_f16 as current ggml computes it on x86 (F16_DOT: f32
 * accumulation, with or without AVX512-FP16): four accumulators of 16 f32
 * lanes over steps of 64, each update one FMA of the widened values;
 * folded 0+2, 1+3, 0+1 and reduced; the tail added in double.
 */
static float vecdot_f16_f32_port(const ql_fp16 *x, const float *y, const ql_fp16 *yh, int64_t n) {
    const int64_t np = n & ~(int64_t)63;
    float acc[4][16] = {{0}};
    for (int64_t i = 0; i < np; i += 64)
        for (int j = 0; j < 4; j++)
            for (int l = 0; l < 16; l++) {
                const int64_t e = i + 16 * j + l;
                const float b = y ? y[e] : ql_fp16_to_fp32(yh[e]);
                acc[j][l] = fmaf(ql_fp16_to_fp32(x[e]), b, acc[j][l]);
            }
    double sum = (double)fold4(acc);
    for (int64_t i = np; i < n; i++)
        sum += (double)(ql_fp16_to_fp32(x[i]) * (y ? y[i] : ql_fp16_to_fp32(yh[i])));
    return (float)sum;
}

/* ggml_vec_dot_f32: the same lanes, but the tail is fused into the float sum. */
static float vecdot_f32_port(const float *x, const float *y, int64_t n) {
    const int64_t np = n & ~(int64_t)63;
    float acc[4][16] = {{0}};
    for (int64_t i = 0; i < np; i += 64)
        for (int j = 0; j < 4; j++)
            for (int l = 0; l < 16; l++)
                acc[j][l] = fmaf(x[i + 16 * j + l], y[i + 16 * j + l], acc[j][l]);
    float sum = fold4(acc);
    for (int64_t i = np; i < n; i++) sum = fmaf(x[i], y[i], sum);
    return sum;
}

/* ---- float dots: AVX-512 forms (same operations, lanes in registers) ---- */

#if defined(__AVX512F__)
/* ql_reduce16 in registers: the same additions, pairwise on the same lanes */
static inline float reduce512(__m512 v) {
    const __m256 lo = _mm512_castps512_ps256(v);
    const __m256 hi = _mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(v), 1));
    const __m256 s8 = _mm256_add_ps(hi, lo);
    const __m128 s4 = _mm_add_ps(_mm256_extractf128_ps(s8, 1), _mm256_castps256_ps128(s8));
    const __m128 s2 = _mm_add_ps(s4, _mm_shuffle_ps(s4, s4, _MM_SHUFFLE(1, 0, 3, 2)));
    return _mm_cvtss_f32(s2) + _mm_cvtss_f32(_mm_shuffle_ps(s2, s2, _MM_SHUFFLE(1, 1, 1, 1)));
}

#define LD16(p) _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(p)))

static float tinyblas_f16(const ql_fp16 *x, const float *y, int64_t n) {
    __m512 acc = _mm512_setzero_ps();
    for (int64_t i = 0; i < n; i += 16)
        acc = _mm512_fmadd_ps(LD16(x + i), _mm512_loadu_ps(y + i), acc);
    return reduce512(acc);
}

static float tinyblas_f32(const float *x, const float *y, int64_t n) {
    __m512 acc = _mm512_setzero_ps();
    for (int64_t i = 0; i < n; i += 16)
        acc = _mm512_fmadd_ps(_mm512_loadu_ps(x + i), _mm512_loadu_ps(y + i), acc);
    return reduce512(acc);
}

/* reduce_h32 on lanes 0..15 of lo and hi; a sum of two f16 values never
 * needs the midpoint correction (if it is inexact in f32 the smaller one is
 * too small to move the f16 result) */
static inline float reduce_h32_512(__m512 lo, __m512 hi) {
    __m512 t = h16(_mm512_add_ps(lo, hi));
    t = h16(_mm512_add_ps(t, _mm512_shuffle_f32x4(t, t, _MM_SHUFFLE(3, 2, 3, 2))));
    t = h16(_mm512_add_ps(t, _mm512_shuffle_f32x4(t, t, _MM_SHUFFLE(1, 1, 1, 1))));
    t = h16(_mm512_add_ps(t, _mm512_permute_ps(t, _MM_SHUFFLE(1, 0, 3, 2))));
    t = h16(_mm512_add_ps(t, _mm512_permute_ps(t, _MM_SHUFFLE(0, 0, 0, 1))));
    return _mm512_cvtss_f32(t);
}

/*
 * vecdot_f16_port with the lanes in registers, up to the fold: a<2j+k>
 * holds elements 32j + 16k .. + 15 of each step of 128; *lo and *hi get the
 * 32 folded lanes that _mm512_reduce_add_ph then sums. The weight row is
 * given in f16 (x) or already widened to f32 (xf).
 */
__attribute__((always_inline)) static inline void vecdot_f16_lanes(const ql_fp16 *x,
                                                                   const float *xf, const float *yf,
                                                                   const ql_fp16 *yh, int64_t np,
                                                                   __m512 *lo, __m512 *hi) {
    __m512 a0 = _mm512_setzero_ps(), a1 = a0, a2 = a0, a3 = a0, a4 = a0, a5 = a0, a6 = a0, a7 = a0;
#define WV(e)      (xf ? _mm512_loadu_ps(xf + (e)) : LD16(x + (e)))
#define YV(e)      (yf ? _mm512_loadu_ps(yf + (e)) : LD16(yh + (e)))
#define PROD(e)    _mm512_mul_ps(WV(e), YV(e))
#define STEP(a, e) a = h_fma512(WV(e), YV(e), a)
    if (np > 0) {
        /* first step: the accumulators are zero, so each is one rounded exact product */
        a0 = h16(PROD(0)), a1 = h16(PROD(16)), a2 = h16(PROD(32)), a3 = h16(PROD(48));
        a4 = h16(PROD(64)), a5 = h16(PROD(80)), a6 = h16(PROD(96)), a7 = h16(PROD(112));
    }
    for (int64_t i = 128; i < np; i += 128) {
        STEP(a0, i), STEP(a1, i + 16), STEP(a2, i + 32), STEP(a3, i + 48);
        STEP(a4, i + 64), STEP(a5, i + 80), STEP(a6, i + 96), STEP(a7, i + 112);
    }
#undef WV
#undef YV
#undef STEP
#undef PROD
    /* accumulator j is (a<2j>, a<2j+1>); fold 0+2, 1+3, then 0+1 per half */
    *lo = h16(_mm512_add_ps(h16(_mm512_add_ps(a0, a4)), h16(_mm512_add_ps(a2, a6))));
    *hi = h16(_mm512_add_ps(h16(_mm512_add_ps(a1, a5)), h16(_mm512_add_ps(a3, a7))));
}

static double dot_tail(const ql_fp16 *x, const float *yf, const ql_fp16 *yh, int64_t np,
                       int64_t n) {
    double sum = 0.0;
    for (int64_t i = np; i < n; i++)
        sum += (double)(ql_fp16_to_fp32(x[i]) * (yf ? yf[i] : ql_fp16_to_fp32(yh[i])));
    return sum;
}

static float vecdot_f16_h(const ql_fp16 *x, const float *yf, const ql_fp16 *yh, int64_t n) {
    const int64_t np = n & ~(int64_t)127;
    __m512 lo, hi;
    vecdot_f16_lanes(x, NULL, yf, yh, np, &lo, &hi);
    const double head = (double)reduce_h32_512(lo, hi);
    return (float)(head + dot_tail(x, yf, yh, np, n));
}

static float vecdot_f16(const ql_fp16 *x, const float *y, int64_t n) {
    return vecdot_f16_h(x, y, NULL, n);
}

static float vecdot_f16_f16(const ql_fp16 *x, const ql_fp16 *y, int64_t n) {
    return vecdot_f16_h(x, NULL, y, n);
}

/* h16(a + b) with a's and b's lanes picked by an index over both (permutex2var) */
static inline __m512 h_pair(__m512 u, __m512 v, __m512i ia, __m512i ib) {
    return h16(_mm512_add_ps(_mm512_permutex2var_ps(u, ia, v), _mm512_permutex2var_ps(u, ib, v)));
}

/*
 * Sixteen dots of one activation row with sixteen weight rows (widened to
 * f32 in wf, row stride n), the reduction tree done for all of them at
 * once: each level adds the same lane pairs as _mm512_reduce_add_ph, packed
 * so that every f16 addition works on full registers.
 */
static void vecdot_f16_x16(int64_t n, const void *w, size_t w_row, const float *wf, const float *y,
                           float *out) {
    const int64_t np = n & ~(int64_t)127;
    __m512 t[16];
    for (int d = 0; d < 16; d += 2) {
        /* two dots at a time: independent chains for the out-of-order core */
        __m512 lo0, hi0, lo1, hi1;
        vecdot_f16_lanes(NULL, wf + (size_t)d * (size_t)n, y, NULL, np, &lo0, &hi0);
        vecdot_f16_lanes(NULL, wf + (size_t)(d + 1) * (size_t)n, y, NULL, np, &lo1, &hi1);
        t[d] = h16(_mm512_add_ps(lo0, hi0)); /* lane l + lane l+16 */
        t[d + 1] = h16(_mm512_add_ps(lo1, hi1));
    }
    /* l + l+8: dot 2k in lanes 0-7, dot 2k+1 in lanes 8-15 */
    const __m512i i8a = _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 16, 17, 18, 19, 20, 21, 22, 23);
    const __m512i i8b =
        _mm512_setr_epi32(8, 9, 10, 11, 12, 13, 14, 15, 24, 25, 26, 27, 28, 29, 30, 31);
    __m512 u[8];
    for (int k = 0; k < 8; k++) u[k] = h_pair(t[2 * k], t[2 * k + 1], i8a, i8b);
    /* l + l+4 within each group of 8: four dots per register, four lanes each */
    const __m512i i4a = _mm512_setr_epi32(0, 1, 2, 3, 8, 9, 10, 11, 16, 17, 18, 19, 24, 25, 26, 27);
    const __m512i i4b =
        _mm512_setr_epi32(4, 5, 6, 7, 12, 13, 14, 15, 20, 21, 22, 23, 28, 29, 30, 31);
    __m512 v[4];
    for (int k = 0; k < 4; k++) v[k] = h_pair(u[2 * k], u[2 * k + 1], i4a, i4b);
    /* 0+2 and 1+3 within each group of 4: eight dots, two lanes each */
    const __m512i i2a = _mm512_setr_epi32(0, 1, 4, 5, 8, 9, 12, 13, 16, 17, 20, 21, 24, 25, 28, 29);
    const __m512i i2b =
        _mm512_setr_epi32(2, 3, 6, 7, 10, 11, 14, 15, 18, 19, 22, 23, 26, 27, 30, 31);
    const __m512 w0 = h_pair(v[0], v[1], i2a, i2b), w1 = h_pair(v[2], v[3], i2a, i2b);
    /* the last pair: lane d is dot d */
    const __m512i i1a =
        _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
    const __m512i i1b =
        _mm512_setr_epi32(1, 3, 5, 7, 9, 11, 13, 15, 17, 19, 21, 23, 25, 27, 29, 31);
    float r[16];
    _mm512_storeu_ps(r, h_pair(w0, w1, i1a, i1b));
    for (int d = 0; d < 16; d++) {
        const ql_fp16 *xd = (const ql_fp16 *)((const char *)w + (size_t)d * w_row);
        out[d] = np == n ? r[d] : (float)((double)r[d] + dot_tail(xd, y, NULL, np, n));
    }
}

/* ggml_vec_dot_f16 over a tile; sixteen weight rows are widened to f32 once
 * and used for every activation row of the tile */
static void tile_f16_vec(int64_t n, const void *w, size_t w_row, int n_w, const float *x,
                         int64_t x_stride, int n_x, float *y, int64_t y_stride) {
    if (n_w == 16 && n <= 1024) {
        float wf[16 * 1024];
        for (int d = 0; d < 16; d++)
            ql_fp16_to_fp32_row((const ql_fp16 *)((const char *)w + (size_t)d * w_row),
                                wf + (size_t)d * (size_t)n, n);
        for (int c = 0; c < n_x; c++)
            vecdot_f16_x16(n, w, w_row, wf, x + c * x_stride, y + c * y_stride);
        return;
    }
    for (int c = 0; c < n_x; c++)
        for (int o = 0; o < n_w; o++)
            y[c * y_stride + o] = vecdot_f16_h(
                (const ql_fp16 *)((const char *)w + (size_t)o * w_row), x + c * x_stride, NULL, n);
}

/* vecdot_f16_f32_port in registers */
static float vecdot_f16_f32(const ql_fp16 *x, const float *yf, const ql_fp16 *yh, int64_t n) {
    const int64_t np = n & ~(int64_t)63;
    __m512 a0 = _mm512_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
    for (int64_t i = 0; i < np; i += 64) {
#define YV(e) (yf ? _mm512_loadu_ps(yf + (e)) : LD16(yh + (e)))
        a0 = _mm512_fmadd_ps(LD16(x + i), YV(i), a0);
        a1 = _mm512_fmadd_ps(LD16(x + i + 16), YV(i + 16), a1);
        a2 = _mm512_fmadd_ps(LD16(x + i + 32), YV(i + 32), a2);
        a3 = _mm512_fmadd_ps(LD16(x + i + 48), YV(i + 48), a3);
#undef YV
    }
    const double head =
        (double)reduce512(_mm512_add_ps(_mm512_add_ps(a0, a2), _mm512_add_ps(a1, a3)));
    return (float)(head + dot_tail(x, yf, yh, np, n));
}

/* vecdot_f32_port in registers */
static float vecdot_f32(const float *x, const float *y, int64_t n) {
    const int64_t np = n & ~(int64_t)63;
    __m512 a0 = _mm512_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
    for (int64_t i = 0; i < np; i += 64) {
        a0 = _mm512_fmadd_ps(_mm512_loadu_ps(x + i), _mm512_loadu_ps(y + i), a0);
        a1 = _mm512_fmadd_ps(_mm512_loadu_ps(x + i + 16), _mm512_loadu_ps(y + i + 16), a1);
        a2 = _mm512_fmadd_ps(_mm512_loadu_ps(x + i + 32), _mm512_loadu_ps(y + i + 32), a2);
        a3 = _mm512_fmadd_ps(_mm512_loadu_ps(x + i + 48), _mm512_loadu_ps(y + i + 48), a3);
    }
    float sum = reduce512(_mm512_add_ps(_mm512_add_ps(a0, a2), _mm512_add_ps(a1, a3)));
    for (int64_t i = np; i < n; i++) sum = fmaf(x[i], y[i], sum);
    return sum;
}

static void tile_f16_vec32(int64_t n, const void *w, size_t w_row, int n_w, const float *x,
                           int64_t x_stride, int n_x, float *y, int64_t y_stride) {
    for (int c = 0; c < n_x; c++)
        for (int o = 0; o < n_w; o++)
            y[c * y_stride + o] = vecdot_f16_f32(
                (const ql_fp16 *)((const char *)w + (size_t)o * w_row), x + c * x_stride, NULL, n);
}

#define FLOAT_SIMD 1
#else
static float tinyblas_f16(const ql_fp16 *x, const float *y, int64_t n) {
    return tinyblas_f16_port(x, y, n);
}
static float tinyblas_f32(const float *x, const float *y, int64_t n) {
    return tinyblas_f32_port(x, y, n);
}
static float vecdot_f16(const ql_fp16 *x, const float *y, int64_t n) {
    return vecdot_f16_port(x, y, NULL, n);
}
static float vecdot_f16_f16(const ql_fp16 *x, const ql_fp16 *y, int64_t n) {
    return vecdot_f16_port(x, NULL, y, n);
}
static float vecdot_f16_f32(const ql_fp16 *x, const float *yf, const ql_fp16 *yh, int64_t n) {
    return vecdot_f16_f32_port(x, yf, yh, n);
}
static float vecdot_f32(const float *x, const float *y, int64_t n) {
    return vecdot_f32_port(x, y, n);
}
#endif

float ql_dot_f32_vec(const float *x, const float *y, int64_t n) {
    return vecdot_f32(x, y, n);
}

float ql_dot_f32_vec_portable(const float *x, const float *y, int64_t n) {
    return vecdot_f32_port(x, y, n);
}

/* ---- one token of the gated delta rule (see kernels.h) ---- */

void ql_delta_rule_token_portable(float *m, int64_t s, const float *q, const float *k,
                                  const float *v, float beta, float decay, float scale, float *out,
                                  float *delta) {
    for (int64_t i = 0; i < s * s; i++) m[i] *= decay;
    for (int64_t r = 0; r < s; r++) delta[r] = (v[r] - vecdot_f32_port(m + r * s, k, s)) * beta;
    for (int64_t r = 0; r < s; r++) {
        float *row = m + r * s;
        for (int64_t i = 0; i < s; i++) row[i] = fmaf(k[i], delta[r], row[i]);
        out[r] = vecdot_f32_port(row, q, s) * scale;
    }
}

#if defined(__AVX512F__)
/*
 * The same operations two rows at a time per pass: the decay is applied as
 * a row is loaded for its k dot, the update as it is loaded for its q dot;
 * each dot keeps ggml_vec_dot_f32's four accumulators. s % 64 == 0.
 */
static void delta_rule_token_512(float *m, int64_t s, const float *q, const float *k,
                                 const float *v, float beta, float decay, float scale, float *out,
                                 float *delta) {
    const __m512 vd = _mm512_set1_ps(decay);
    for (int64_t r = 0; r < s; r++) {
        float *row = m + r * s;
        __m512 a0 = _mm512_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
        for (int64_t i = 0; i < s; i += 64) {
            const __m512 x0 = _mm512_mul_ps(_mm512_loadu_ps(row + i), vd);
            const __m512 x1 = _mm512_mul_ps(_mm512_loadu_ps(row + i + 16), vd);
            const __m512 x2 = _mm512_mul_ps(_mm512_loadu_ps(row + i + 32), vd);
            const __m512 x3 = _mm512_mul_ps(_mm512_loadu_ps(row + i + 48), vd);
            _mm512_storeu_ps(row + i, x0), _mm512_storeu_ps(row + i + 16, x1);
            _mm512_storeu_ps(row + i + 32, x2), _mm512_storeu_ps(row + i + 48, x3);
            a0 = _mm512_fmadd_ps(x0, _mm512_loadu_ps(k + i), a0);
            a1 = _mm512_fmadd_ps(x1, _mm512_loadu_ps(k + i + 16), a1);
            a2 = _mm512_fmadd_ps(x2, _mm512_loadu_ps(k + i + 32), a2);
            a3 = _mm512_fmadd_ps(x3, _mm512_loadu_ps(k + i + 48), a3);
        }
        const float dot = reduce512(_mm512_add_ps(_mm512_add_ps(a0, a2), _mm512_add_ps(a1, a3)));
        delta[r] = (v[r] - dot) * beta;
    }
    for (int64_t r = 0; r < s; r++) {
        float *row = m + r * s;
        const __m512 vdel = _mm512_set1_ps(delta[r]);
        __m512 a0 = _mm512_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
        for (int64_t i = 0; i < s; i += 64) {
            const __m512 x0 =
                _mm512_fmadd_ps(_mm512_loadu_ps(k + i), vdel, _mm512_loadu_ps(row + i));
            const __m512 x1 =
                _mm512_fmadd_ps(_mm512_loadu_ps(k + i + 16), vdel, _mm512_loadu_ps(row + i + 16));
            const __m512 x2 =
                _mm512_fmadd_ps(_mm512_loadu_ps(k + i + 32), vdel, _mm512_loadu_ps(row + i + 32));
            const __m512 x3 =
                _mm512_fmadd_ps(_mm512_loadu_ps(k + i + 48), vdel, _mm512_loadu_ps(row + i + 48));
            _mm512_storeu_ps(row + i, x0), _mm512_storeu_ps(row + i + 16, x1);
            _mm512_storeu_ps(row + i + 32, x2), _mm512_storeu_ps(row + i + 48, x3);
            a0 = _mm512_fmadd_ps(x0, _mm512_loadu_ps(q + i), a0);
            a1 = _mm512_fmadd_ps(x1, _mm512_loadu_ps(q + i + 16), a1);
            a2 = _mm512_fmadd_ps(x2, _mm512_loadu_ps(q + i + 32), a2);
            a3 = _mm512_fmadd_ps(x3, _mm512_loadu_ps(q + i + 48), a3);
        }
        out[r] = reduce512(_mm512_add_ps(_mm512_add_ps(a0, a2), _mm512_add_ps(a1, a3))) * scale;
    }
}
#endif

void ql_delta_rule_token(float *m, int64_t s, const float *q, const float *k, const float *v,
                         float beta, float decay, float scale, float *out, float *delta) {
#if defined(__AVX512F__)
    if (s % 64 == 0) {
        delta_rule_token_512(m, s, q, k, v, beta, decay, scale, out, delta);
        return;
    }
#endif
    ql_delta_rule_token_portable(m, s, q, k, v, beta, decay, scale, out, delta);
}

float ql_dot_f16_f16(const ql_fp16 *x, const ql_fp16 *y, int64_t n, bool half) {
    return half ? vecdot_f16_f16(x, y, n) : vecdot_f16_f32(x, NULL, y, n);
}

float ql_dot_f32_tinyblas(const float *x, const float *y, int64_t n) {
    return tinyblas_f32(x, y, n);
}

/* ---- matmul dots of float weights with prepared f32 activations ---- */

static void dot_f16_tinyblas(int64_t n, float *restrict out, const void *restrict vx,
                             const void *restrict vy) {
    *out = tinyblas_f16(vx, vy, n);
}

static void dot_f16_vec(int64_t n, float *restrict out, const void *restrict vx,
                        const void *restrict vy) {
    *out = vecdot_f16(vx, vy, n);
}

static void dot_f16_vec32(int64_t n, float *restrict out, const void *restrict vx,
                          const void *restrict vy) {
    *out = vecdot_f16_f32(vx, vy, NULL, n);
}

static void dot_f16_vec32_port(int64_t n, float *restrict out, const void *restrict vx,
                               const void *restrict vy) {
    *out = vecdot_f16_f32_port(vx, vy, NULL, n);
}

static void dot_f16_f16_32(int64_t n, float *restrict out, const void *restrict vx,
                           const void *restrict vy) {
    *out = vecdot_f16_f32(vx, NULL, vy, n);
}

static void dot_f16_f16_32_port(int64_t n, float *restrict out, const void *restrict vx,
                                const void *restrict vy) {
    *out = vecdot_f16_f32_port(vx, NULL, vy, n);
}

static void dot_f32_tinyblas(int64_t n, float *restrict out, const void *restrict vx,
                             const void *restrict vy) {
    *out = tinyblas_f32(vx, vy, n);
}

static void dot_f32_vec(int64_t n, float *restrict out, const void *restrict vx,
                        const void *restrict vy) {
    *out = vecdot_f32(vx, vy, n);
}

/* portable forms as vec_dot functions, for the tests */
static void dot_f16_tinyblas_port(int64_t n, float *restrict out, const void *restrict vx,
                                  const void *restrict vy) {
    *out = tinyblas_f16_port(vx, vy, n);
}

static void dot_f16_vec_port(int64_t n, float *restrict out, const void *restrict vx,
                             const void *restrict vy) {
    *out = vecdot_f16_port(vx, vy, NULL, n);
}

static void dot_f16_f16_port(int64_t n, float *restrict out, const void *restrict vx,
                             const void *restrict vy) {
    *out = vecdot_f16_port(vx, NULL, vy, n);
}

static void dot_f16_f16(int64_t n, float *restrict out, const void *restrict vx,
                        const void *restrict vy) {
    *out = vecdot_f16_f16(vx, vy, n);
}

static void dot_f32_tinyblas_port(int64_t n, float *restrict out, const void *restrict vx,
                                  const void *restrict vy) {
    *out = tinyblas_f32_port(vx, vy, n);
}

/*
 * bf16: on CPUs with AVX512-BF16, ggml's dots use vdpbf16ps, which adds the
 * odd-indexed product of each pair to a lane and then the even one, each
 * sum rounded (the products of two bf16 values are exact in f32). tinyBLAS
 * takes steps of 32 with one accumulator; ggml_vec_dot_bf16 steps of 64 with
 * two, reduced and added in double, the tail in double. The forms below do
 * those operations; for subnormal or overflowing values the instruction's
 * flush-to-zero behaviour is not reproduced.
 */
static inline void bf16_pairs(float acc[16], const ql_bf16 *x, const float *yf, const ql_bf16 *yh) {
    for (int l = 0; l < 16; l++) {
        const int e0 = 2 * l, e1 = 2 * l + 1;
        const float y0 = yf ? yf[e0] : ql_bf16_to_fp32(yh[e0]);
        const float y1 = yf ? yf[e1] : ql_bf16_to_fp32(yh[e1]);
        const float p1 = ql_bf16_to_fp32(x[e1]) * y1, p0 = ql_bf16_to_fp32(x[e0]) * y0;
        acc[l] = (acc[l] + p1) + p0;
    }
}

static void dot_bf16_tinyblas(int64_t n, float *restrict out, const void *restrict vx,
                              const void *restrict vy) {
    const ql_bf16 *x = vx;
    const float *y = vy;
    float acc[16] = {0};
    for (int64_t i = 0; i < n; i += 32) bf16_pairs(acc, x + i, y + i, NULL);
    *out = ql_reduce16(acc);
}

/* yf: f32 values (bf16-rounded activations) or yh: bf16 values; one is NULL */
static float vecdot_bf16(const ql_bf16 *x, const float *yf, const ql_bf16 *yh, int64_t n) {
    float c1[16] = {0}, c2[16] = {0};
    int64_t i = 0;
    for (; i + 64 <= n; i += 64) {
        bf16_pairs(c1, x + i, yf ? yf + i : NULL, yh ? yh + i : NULL);
        bf16_pairs(c2, x + i + 32, yf ? yf + i + 32 : NULL, yh ? yh + i + 32 : NULL);
    }
    double sum = 0.0;
    sum += (double)ql_reduce16(c1);
    sum += (double)ql_reduce16(c2);
    for (; i < n; i++)
        sum += (double)(ql_bf16_to_fp32(x[i]) * (yf ? yf[i] : ql_bf16_to_fp32(yh[i])));
    return (float)sum;
}

static void dot_bf16_vec(int64_t n, float *restrict out, const void *restrict vx,
                         const void *restrict vy) {
    *out = vecdot_bf16(vx, vy, NULL, n);
}

static void dot_bf16_bf16_port(int64_t n, float *restrict out, const void *restrict vx,
                               const void *restrict vy) {
    *out = vecdot_bf16(vx, NULL, vy, n);
}

#if defined(__AVX512BF16__)
static void dot_bf16_bf16_simd(int64_t n, float *restrict out, const void *restrict vx,
                               const void *restrict vy) {
    const ql_bf16 *x = vx, *y = vy;
    __m512 c1 = _mm512_setzero_ps(), c2 = _mm512_setzero_ps();
    int64_t i = 0;
    for (; i + 64 <= n; i += 64) {
        c1 = _mm512_dpbf16_ps(c1, (__m512bh)_mm512_loadu_si512(x + i),
                              (__m512bh)_mm512_loadu_si512(y + i));
        c2 = _mm512_dpbf16_ps(c2, (__m512bh)_mm512_loadu_si512(x + i + 32),
                              (__m512bh)_mm512_loadu_si512(y + i + 32));
    }
    double sum = 0.0;
    sum += (double)reduce512(c1);
    sum += (double)reduce512(c2);
    for (; i < n; i++) sum += (double)(ql_bf16_to_fp32(x[i]) * ql_bf16_to_fp32(y[i]));
    *out = (float)sum;
}
#define BF16_SIMD 1
#endif

/*
 * Tiles: several weight rows against several activation rows at once, so
 * independent accumulators hide the FMA latency. Each output element keeps
 * its own accumulators and exact sequence of operations, so a tile gives
 * the same bits as the single dots above.
 */
#if defined(__AVX512F__)
static void tile_f16_tinyblas(int64_t n, const void *w, size_t w_row, int n_w, const float *x,
                              int64_t x_stride, int n_x, float *y, int64_t y_stride) {
    if (n_w != 4 || n_x != 4) {
        for (int c = 0; c < n_x; c++)
            for (int o = 0; o < n_w; o++)
                y[c * y_stride + o] = tinyblas_f16(
                    (const ql_fp16 *)((const char *)w + (size_t)o * w_row), x + c * x_stride, n);
        return;
    }
    const ql_fp16 *w0 = w, *w1 = (const ql_fp16 *)((const char *)w + w_row);
    const ql_fp16 *w2 = (const ql_fp16 *)((const char *)w + 2 * w_row);
    const ql_fp16 *w3 = (const ql_fp16 *)((const char *)w + 3 * w_row);
    const float *x0 = x, *x1 = x + x_stride, *x2 = x + 2 * x_stride, *x3 = x + 3 * x_stride;
    /* sixteen named accumulators: arrays indexed in loops end up in memory */
#define Z _mm512_setzero_ps()
    __m512 c00 = Z, c01 = Z, c02 = Z, c03 = Z, c10 = Z, c11 = Z, c12 = Z, c13 = Z;
    __m512 c20 = Z, c21 = Z, c22 = Z, c23 = Z, c30 = Z, c31 = Z, c32 = Z, c33 = Z;
#undef Z
    for (int64_t i = 0; i < n; i += 16) {
        const __m512 a0 = LD16(w0 + i), a1 = LD16(w1 + i), a2 = LD16(w2 + i), a3 = LD16(w3 + i);
        __m512 b = _mm512_loadu_ps(x0 + i);
        c00 = _mm512_fmadd_ps(a0, b, c00), c01 = _mm512_fmadd_ps(a1, b, c01);
        c02 = _mm512_fmadd_ps(a2, b, c02), c03 = _mm512_fmadd_ps(a3, b, c03);
        b = _mm512_loadu_ps(x1 + i);
        c10 = _mm512_fmadd_ps(a0, b, c10), c11 = _mm512_fmadd_ps(a1, b, c11);
        c12 = _mm512_fmadd_ps(a2, b, c12), c13 = _mm512_fmadd_ps(a3, b, c13);
        b = _mm512_loadu_ps(x2 + i);
        c20 = _mm512_fmadd_ps(a0, b, c20), c21 = _mm512_fmadd_ps(a1, b, c21);
        c22 = _mm512_fmadd_ps(a2, b, c22), c23 = _mm512_fmadd_ps(a3, b, c23);
        b = _mm512_loadu_ps(x3 + i);
        c30 = _mm512_fmadd_ps(a0, b, c30), c31 = _mm512_fmadd_ps(a1, b, c31);
        c32 = _mm512_fmadd_ps(a2, b, c32), c33 = _mm512_fmadd_ps(a3, b, c33);
    }
    const __m512 acc[16] = {c00, c01, c02, c03, c10, c11, c12, c13,
                            c20, c21, c22, c23, c30, c31, c32, c33};
    for (int c = 0; c < 4; c++)
        for (int o = 0; o < 4; o++) y[c * y_stride + o] = reduce512(acc[c * 4 + o]);
}

#undef LD16
#define TILE_F16 1
#endif

/* ---- legacy block formats against q8_0 / q8_1: ggml's AVX2 lanes ---- */

/*
 * One block of 32 elements gives eight lanes; lane l is the exact integer
 * sum of the products of elements 4l..4l+3. The combined scale multiplies
 * a lane in one FMA into that lane's accumulator.
 */
static inline void lane_sums(const int8_t xq[32], const int8_t yq[32], int32_t out[8]) {
    for (int l = 0; l < 8; l++) {
        int32_t s = 0;
        for (int e = 4 * l; e < 4 * l + 4; e++) s += (int32_t)xq[e] * (int32_t)yq[e];
        out[l] = s;
    }
}

static inline void unpack_q4_0(const block_q4_0 *b, int8_t q[32]) {
    for (int j = 0; j < 16; j++) {
        q[j] = (int8_t)((b->qs[j] & 0x0f) - 8);
        q[j + 16] = (int8_t)((b->qs[j] >> 4) - 8);
    }
}

static inline void unpack_q4_1(const block_q4_1 *b, int8_t q[32]) {
    for (int j = 0; j < 16; j++) {
        q[j] = (int8_t)(b->qs[j] & 0x0f);
        q[j + 16] = (int8_t)(b->qs[j] >> 4);
    }
}

static inline uint32_t high_bits(const uint8_t qh[4]) {
    return (uint32_t)qh[0] | (uint32_t)qh[1] << 8 | (uint32_t)qh[2] << 16 | (uint32_t)qh[3] << 24;
}

static inline void unpack_q5_0(const block_q5_0 *b, int8_t q[32]) {
    const uint32_t h = high_bits(b->qh);
    for (int j = 0; j < 16; j++) {
        q[j] = (int8_t)(((b->qs[j] & 0x0f) | ((h >> j & 1u) << 4)) - 16);
        q[j + 16] = (int8_t)(((b->qs[j] >> 4) | ((h >> (j + 16) & 1u) << 4)) - 16);
    }
}

static inline void unpack_q5_1(const block_q5_1 *b, int8_t q[32]) {
    const uint32_t h = high_bits(b->qh);
    for (int j = 0; j < 16; j++) {
        q[j] = (int8_t)((b->qs[j] & 0x0f) | ((h >> j & 1u) << 4));
        q[j + 16] = (int8_t)((b->qs[j] >> 4) | ((h >> (j + 16) & 1u) << 4));
    }
}

static inline void unpack_iq4_nl(const block_iq4_nl *b, int8_t q[32]) {
    for (int j = 0; j < 16; j++) {
        q[j] = ql_kvalues_iq4nl[b->qs[j] & 0x0f];
        q[j + 16] = ql_kvalues_iq4nl[b->qs[j] >> 4];
    }
}

/* Block scales: one instruction with F16C (exact, as ggml's CPU code converts them); the
 * only difference from the bit-level conversion is that a signalling NaN comes out quiet. */
static inline float f16f(ql_fp16 h) {
#if defined(__F16C__)
    return _cvtsh_ss(h);
#else
    return ql_fp16_to_fp32(h);
#endif
}

/* Portable forms: the lanes and FMAs of ggml's AVX2 code, one at a time. */

#define LANES_FMA(acc, d, isum)                                                                    \
    for (int l = 0; l < 8; l++) acc[l] = fmaf(d, (float)isum[l], acc[l])

static void dot_q4_0_port(int64_t n, float *restrict out, const void *restrict vx,
                          const void *restrict vy) {
    const block_q4_0 *x = vx;
    const block_q8_0 *y = vy;
    float acc[8] = {0};
    for (int64_t b = 0; b < n / 32; b++) {
        int8_t q[32];
        int32_t s[8];
        unpack_q4_0(&x[b], q);
        lane_sums(q, y[b].qs, s);
        const float d = f16f(x[b].d) * f16f(y[b].d);
        LANES_FMA(acc, d, s);
    }
    *out = ql_reduce8(acc);
}

static void dot_q5_0_port(int64_t n, float *restrict out, const void *restrict vx,
                          const void *restrict vy) {
    const block_q5_0 *x = vx;
    const block_q8_0 *y = vy;
    float acc[8] = {0};
    for (int64_t b = 0; b < n / 32; b++) {
        int8_t q[32];
        int32_t s[8];
        unpack_q5_0(&x[b], q);
        lane_sums(q, y[b].qs, s);
        const float d = f16f(x[b].d) * f16f(y[b].d);
        LANES_FMA(acc, d, s);
    }
    *out = ql_reduce8(acc);
}

static void dot_q8_0_port(int64_t n, float *restrict out, const void *restrict vx,
                          const void *restrict vy) {
    const block_q8_0 *x = vx;
    const block_q8_0 *y = vy;
    float acc[8] = {0};
    for (int64_t b = 0; b < n / 32; b++) {
        int32_t s[8];
        lane_sums(x[b].qs, y[b].qs, s);
        const float d = f16f(x[b].d) * f16f(y[b].d);
        LANES_FMA(acc, d, s);
    }
    *out = ql_reduce8(acc);
}

/* q4_1 and q5_1 add the min term m * (d_y * sum q_y) per block, fused into a running sum. */
static void dot_q4_1_port(int64_t n, float *restrict out, const void *restrict vx,
                          const void *restrict vy) {
    const block_q4_1 *x = vx;
    const block_q8_1 *y = vy;
    float acc[8] = {0}, summs = 0.0f;
    for (int64_t b = 0; b < n / 32; b++) {
        int8_t q[32];
        int32_t s[8];
        summs = fmaf(f16f(x[b].m), f16f(y[b].s), summs);
        unpack_q4_1(&x[b], q);
        lane_sums(q, y[b].qs, s);
        const float d = f16f(x[b].d) * f16f(y[b].d);
        LANES_FMA(acc, d, s);
    }
    *out = ql_reduce8(acc) + summs;
}

static void dot_q5_1_port(int64_t n, float *restrict out, const void *restrict vx,
                          const void *restrict vy) {
    const block_q5_1 *x = vx;
    const block_q8_1 *y = vy;
    float acc[8] = {0}, summs = 0.0f;
    for (int64_t b = 0; b < n / 32; b++) {
        int8_t q[32];
        int32_t s[8];
        summs = fmaf(f16f(x[b].m), f16f(y[b].s), summs);
        unpack_q5_1(&x[b], q);
        lane_sums(q, y[b].qs, s);
        const float d = f16f(x[b].d) * f16f(y[b].d);
        LANES_FMA(acc, d, s);
    }
    *out = ql_reduce8(acc) + summs;
}

/*
 * iq4_nl alternates two accumulators between even and odd blocks. An odd
 * last block is added in scalar code, which GCC does not fuse.
 */
static void dot_iq4_nl_port(int64_t n, float *restrict out, const void *restrict vx,
                            const void *restrict vy) {
    const block_iq4_nl *x = vx;
    const block_q8_0 *y = vy;
    const int64_t nb = n / 32;
    float acc1[8] = {0}, acc2[8] = {0};
    int64_t b = 0;
    for (; b + 1 < nb; b += 2) {
        int8_t q[32];
        int32_t s[8];
        unpack_iq4_nl(&x[b], q);
        lane_sums(q, y[b].qs, s);
        const float d1 = f16f(y[b].d) * f16f(x[b].d);
        LANES_FMA(acc1, d1, s);
        unpack_iq4_nl(&x[b + 1], q);
        lane_sums(q, y[b + 1].qs, s);
        const float d2 = f16f(y[b + 1].d) * f16f(x[b + 1].d);
        LANES_FMA(acc2, d2, s);
    }
    float lanes[8];
    for (int l = 0; l < 8; l++) lanes[l] = acc1[l] + acc2[l];
    float sum = ql_reduce8(lanes);
    for (; b < nb; b++) {
        int8_t q[32];
        unpack_iq4_nl(&x[b], q);
        int32_t isum = 0;
        for (int j = 0; j < 32; j++) isum += (int32_t)q[j] * y[b].qs[j];
        sum += f16f(y[b].d) * f16f(x[b].d) * (float)isum;
    }
    *out = sum;
}

#if defined(__AVX2__) && defined(__FMA__)
/* The same lanes in registers: maddubs on |x| and sign-adjusted y, then pairs of 16-bit sums. */
static inline __m256 lanes_i8(__m256i x, __m256i y) {
    const __m256i ax = _mm256_sign_epi8(x, x);
    const __m256i sy = _mm256_sign_epi8(y, x);
    const __m256i p16 = _mm256_maddubs_epi16(ax, sy);
    return _mm256_cvtepi32_ps(_mm256_madd_epi16(p16, _mm256_set1_epi16(1)));
}

static inline __m256 lanes_u8(__m256i ux, __m256i y) {
    const __m256i p16 = _mm256_maddubs_epi16(ux, y);
    return _mm256_cvtepi32_ps(_mm256_madd_epi16(p16, _mm256_set1_epi16(1)));
}

static inline __m256i nibbles32(const uint8_t *qs) {
    const __m128i t = _mm_loadu_si128((const __m128i *)qs);
    const __m256i both = _mm256_set_m128i(_mm_srli_epi16(t, 4), t);
    return _mm256_and_si256(both, _mm256_set1_epi8(0x0f));
}

/* 0xFF in byte j where bit j of qh is set */
static inline __m256i bits32(const uint8_t qh[4]) {
    uint32_t h;
    memcpy(&h, qh, 4);
    const __m256i shuf = _mm256_set_epi64x(0x0303030303030303, 0x0202020202020202,
                                           0x0101010101010101, 0x0000000000000000);
    __m256i bytes = _mm256_shuffle_epi8(_mm256_set1_epi32((int)h), shuf);
    const __m256i bit = _mm256_set1_epi64x(0x7fbfdfeff7fbfdfe);
    bytes = _mm256_or_si256(bytes, bit);
    return _mm256_cmpeq_epi8(bytes, _mm256_set1_epi64x(-1));
}

static inline float hsum8(__m256 v) {
    float lanes[8];
    _mm256_storeu_ps(lanes, v);
    return ql_reduce8(lanes);
}

static void dot_q4_0_avx2(int64_t n, float *restrict out, const void *restrict vx,
                          const void *restrict vy) {
    const block_q4_0 *x = vx;
    const block_q8_0 *y = vy;
    __m256 acc = _mm256_setzero_ps();
    for (int64_t b = 0; b < n / 32; b++) {
        const __m256 d = _mm256_set1_ps(f16f(x[b].d) * f16f(y[b].d));
        const __m256i qx = _mm256_sub_epi8(nibbles32(x[b].qs), _mm256_set1_epi8(8));
        const __m256i qy = _mm256_loadu_si256((const __m256i *)y[b].qs);
        acc = _mm256_fmadd_ps(d, lanes_i8(qx, qy), acc);
    }
    *out = hsum8(acc);
}

static void dot_q5_0_avx2(int64_t n, float *restrict out, const void *restrict vx,
                          const void *restrict vy) {
    const block_q5_0 *x = vx;
    const block_q8_0 *y = vy;
    __m256 acc = _mm256_setzero_ps();
    for (int64_t b = 0; b < n / 32; b++) {
        const __m256 d = _mm256_set1_ps(f16f(x[b].d) * f16f(y[b].d));
        const __m256i hi = _mm256_andnot_si256(bits32(x[b].qh), _mm256_set1_epi8((char)0xF0));
        const __m256i qx = _mm256_or_si256(nibbles32(x[b].qs), hi);
        const __m256i qy = _mm256_loadu_si256((const __m256i *)y[b].qs);
        acc = _mm256_fmadd_ps(d, lanes_i8(qx, qy), acc);
    }
    *out = hsum8(acc);
}

static void dot_q8_0_avx2(int64_t n, float *restrict out, const void *restrict vx,
                          const void *restrict vy) {
    const block_q8_0 *x = vx;
    const block_q8_0 *y = vy;
    __m256 acc = _mm256_setzero_ps();
    for (int64_t b = 0; b < n / 32; b++) {
        const __m256 d = _mm256_set1_ps(f16f(x[b].d) * f16f(y[b].d));
        const __m256i qx = _mm256_loadu_si256((const __m256i *)x[b].qs);
        const __m256i qy = _mm256_loadu_si256((const __m256i *)y[b].qs);
        acc = _mm256_fmadd_ps(d, lanes_i8(qx, qy), acc);
    }
    *out = hsum8(acc);
}

static void dot_q4_1_avx2(int64_t n, float *restrict out, const void *restrict vx,
                          const void *restrict vy) {
    const block_q4_1 *x = vx;
    const block_q8_1 *y = vy;
    __m256 acc = _mm256_setzero_ps();
    float summs = 0.0f;
    for (int64_t b = 0; b < n / 32; b++) {
        summs = fmaf(f16f(x[b].m), f16f(y[b].s), summs);
        const __m256 d = _mm256_set1_ps(f16f(x[b].d) * f16f(y[b].d));
        const __m256i qy = _mm256_loadu_si256((const __m256i *)y[b].qs);
        acc = _mm256_fmadd_ps(d, lanes_u8(nibbles32(x[b].qs), qy), acc);
    }
    *out = hsum8(acc) + summs;
}

static void dot_q5_1_avx2(int64_t n, float *restrict out, const void *restrict vx,
                          const void *restrict vy) {
    const block_q5_1 *x = vx;
    const block_q8_1 *y = vy;
    __m256 acc = _mm256_setzero_ps();
    float summs = 0.0f;
    for (int64_t b = 0; b < n / 32; b++) {
        summs = fmaf(f16f(x[b].m), f16f(y[b].s), summs);
        const __m256i hi = _mm256_and_si256(bits32(x[b].qh), _mm256_set1_epi8(0x10));
        const __m256i qx = _mm256_or_si256(nibbles32(x[b].qs), hi);
        const __m256 d = _mm256_set1_ps(f16f(x[b].d) * f16f(y[b].d));
        const __m256i qy = _mm256_loadu_si256((const __m256i *)y[b].qs);
        acc = _mm256_fmadd_ps(d, lanes_u8(qx, qy), acc);
    }
    *out = hsum8(acc) + summs;
}

static void dot_iq4_nl_avx2(int64_t n, float *restrict out, const void *restrict vx,
                            const void *restrict vy) {
    const block_iq4_nl *x = vx;
    const block_q8_0 *y = vy;
    const int64_t nb = n / 32;
    const __m128i values = _mm_loadu_si128((const __m128i *)ql_kvalues_iq4nl);
    const __m128i m4 = _mm_set1_epi8(0x0f);
    __m256 acc1 = _mm256_setzero_ps(), acc2 = _mm256_setzero_ps();
    int64_t b = 0;
    for (; b + 1 < nb; b += 2) {
        for (int k = 0; k < 2; k++) {
            const __m128i bits = _mm_loadu_si128((const __m128i *)x[b + k].qs);
            const __m256i qx = _mm256_set_m128i(
                _mm_shuffle_epi8(values, _mm_and_si128(_mm_srli_epi16(bits, 4), m4)),
                _mm_shuffle_epi8(values, _mm_and_si128(bits, m4)));
            const __m256i qy = _mm256_loadu_si256((const __m256i *)y[b + k].qs);
            const __m256 d = _mm256_set1_ps(f16f(y[b + k].d) * f16f(x[b + k].d));
            if (k == 0)
                acc1 = _mm256_fmadd_ps(d, lanes_i8(qx, qy), acc1);
            else
                acc2 = _mm256_fmadd_ps(d, lanes_i8(qx, qy), acc2);
        }
    }
    float sum = hsum8(_mm256_add_ps(acc1, acc2));
    for (; b < nb; b++) {
        int8_t q[32];
        unpack_iq4_nl(&x[b], q);
        int32_t isum = 0;
        for (int j = 0; j < 32; j++) isum += (int32_t)q[j] * y[b].qs[j];
        sum += f16f(y[b].d) * f16f(x[b].d) * (float)isum;
    }
    *out = sum;
}
#define SIMD_LEGACY 1
#endif

/* ---- the table ---- */

static ql_matmul_kernel kernels[QL_TYPE_COUNT];
static ql_vec_dot_fn exact_dots[QL_TYPE_COUNT]; /* ggml-order dots, preferred implementation */
static ql_vec_dot_fn port_dots[QL_TYPE_COUNT];  /* their portable forms */

static void kernels_init(void) {
    port_dots[QL_TYPE_Q4_0] = dot_q4_0_port;
    port_dots[QL_TYPE_Q4_1] = dot_q4_1_port;
    port_dots[QL_TYPE_Q5_0] = dot_q5_0_port;
    port_dots[QL_TYPE_Q5_1] = dot_q5_1_port;
    port_dots[QL_TYPE_Q8_0] = dot_q8_0_port;
    port_dots[QL_TYPE_IQ4_NL] = dot_iq4_nl_port;
    port_dots[QL_TYPE_BF16] = dot_bf16_bf16_port;
    for (int id = 0; id < QL_TYPE_COUNT; id++) exact_dots[id] = port_dots[id];
#if defined(BF16_SIMD)
    exact_dots[QL_TYPE_BF16] = dot_bf16_bf16_simd;
#endif
#if defined(SIMD_LEGACY)
    exact_dots[QL_TYPE_Q4_0] = dot_q4_0_avx2;
    exact_dots[QL_TYPE_Q4_1] = dot_q4_1_avx2;
    exact_dots[QL_TYPE_Q5_0] = dot_q5_0_avx2;
    exact_dots[QL_TYPE_Q5_1] = dot_q5_1_avx2;
    exact_dots[QL_TYPE_Q8_0] = dot_q8_0_avx2;
    exact_dots[QL_TYPE_IQ4_NL] = dot_iq4_nl_avx2;
    const char *legacy_impl = "avx2";
#else
    const char *legacy_impl = "portable";
#endif
#if defined(FLOAT_SIMD)
    const char *float_impl = "avx512";
#else
    const char *float_impl = "portable";
#endif
    kernels[QL_TYPE_F32] = (ql_matmul_kernel){.act_type = QL_TYPE_F32,
                                              .convert = act_to_f32,
                                              .dot = dot_f32_tinyblas,
                                              .dot_single = dot_f32_vec,
                                              .tile_k = 16,
                                              .dot_impl = float_impl};
    kernels[QL_TYPE_F16] = (ql_matmul_kernel){.act_type = QL_TYPE_F32,
                                              .convert = act_round_f16,
                                              .dot = dot_f16_tinyblas,
                                              .dot_single = dot_f16_vec32,
                                              .dot_single_half = dot_f16_vec,
                                              .tile_k = 16,
                                              .dot_impl = float_impl};
#if defined(TILE_F16)
    kernels[QL_TYPE_F16].tile = tile_f16_tinyblas;
    kernels[QL_TYPE_F16].tile_w = kernels[QL_TYPE_F16].tile_x = 4;
    kernels[QL_TYPE_F16].tile_single = tile_f16_vec32;
    kernels[QL_TYPE_F16].tile_single_w = kernels[QL_TYPE_F16].tile_single_x = 4;
    kernels[QL_TYPE_F16].tile_single_half = tile_f16_vec;
    kernels[QL_TYPE_F16].tile_single_half_w = 16;
    kernels[QL_TYPE_F16].tile_single_half_x = 64;
#endif
    kernels[QL_TYPE_BF16] = (ql_matmul_kernel){.act_type = QL_TYPE_F32,
                                               .convert = act_round_bf16,
                                               .dot = dot_bf16_tinyblas,
                                               .dot_single = dot_bf16_vec,
                                               .tile_k = 32,
                                               .dot_impl = "portable"};
    for (int id = 0; id < QL_TYPE_COUNT; id++) {
        const ql_type_traits *t = ql_type_traits_get(id);
        if (!t || !t->is_quantized || !ql_type_is_computable(id)) continue;
        const ql_type_traits *vt = ql_type_traits_get((int)t->vec_dot_type);
        if (!vt || !vt->from_float) continue;
        ql_vec_dot_fn dot = exact_dots[id] ? exact_dots[id] : t->vec_dot;
        const char *impl = exact_dots[id] ? legacy_impl : "scalar";
        /* the tiled kernels' dot (qgemm.h) where it has ggml's order or replaces a scalar one */
        const ql_qgemm *g = ql_qgemm_get((ql_type)id);
        if (g && (!exact_dots[id] || ql_qdot_ggml_order((ql_type)id))) {
            dot = ql_qdot_get((ql_type)id);
            impl = g->impl;
        }
        kernels[id] = (ql_matmul_kernel){.act_type = t->vec_dot_type,
                                         .convert = vt->from_float,
                                         .dot = dot,
                                         .dot_single = dot,
                                         .dot_impl = impl};
    }
}

static void kernels_init_all(void) {
    kernels_init();
    for (int id = 0; id < QL_TYPE_COUNT; id++)
        if (kernels[id].dot && !kernels[id].dot_single_half) {
            kernels[id].dot_single_half = kernels[id].dot_single;
            kernels[id].tile_single_half = kernels[id].tile_single;
            kernels[id].tile_single_half_w = kernels[id].tile_single_w;
            kernels[id].tile_single_half_x = kernels[id].tile_single_x;
        }
}

static pthread_once_t kernels_once = PTHREAD_ONCE_INIT;

const ql_matmul_kernel *ql_kernel_get(ql_type weight_type) {
    pthread_once(&kernels_once, kernels_init_all);
    if ((int)weight_type < 0 || weight_type >= QL_TYPE_COUNT || !kernels[weight_type].dot)
        return NULL;
    return &kernels[weight_type];
}

size_t ql_kernel_act_row_size(const ql_matmul_kernel *k, int64_t n) {
    return ql_row_size(k->act_type, n);
}

bool ql_kernel_batched(const ql_matmul_kernel *k, int64_t n_out, int64_t n_in, int64_t batch_rows) {
    /* llamafile_sgemm takes the product only for two or more activation rows,
     * a weight row count that is a multiple of 4 and whole 16-lane steps */
    return k->tile_k && batch_rows >= 2 && n_out % 4 == 0 && n_in % k->tile_k == 0;
}

ql_vec_dot_fn ql_kernel_kv_dot(ql_type type_k) {
    pthread_once(&kernels_once, kernels_init_all);
    if ((int)type_k < 0 || type_k >= QL_TYPE_COUNT) return NULL;
    return exact_dots[type_k];
}

ql_vec_dot_fn ql_kernel_portable_dot(ql_type type_k) {
    pthread_once(&kernels_once, kernels_init_all);
    if ((int)type_k < 0 || type_k >= QL_TYPE_COUNT) return NULL;
    return port_dots[type_k];
}

ql_vec_dot_fn ql_kernel_float_dot(ql_float_dot_kind kind, bool portable) {
    switch (kind) {
    case QL_FDOT_F16_TINYBLAS:
        return portable ? dot_f16_tinyblas_port : dot_f16_tinyblas;
    case QL_FDOT_F16_VEC:
        return portable ? dot_f16_vec_port : dot_f16_vec;
    case QL_FDOT_F16_F16:
        return portable ? dot_f16_f16_port : dot_f16_f16;
    case QL_FDOT_F16_VEC32:
        return portable ? dot_f16_vec32_port : dot_f16_vec32;
    case QL_FDOT_F16_F16_32:
        return portable ? dot_f16_f16_32_port : dot_f16_f16_32;
    case QL_FDOT_F32_TINYBLAS:
        return portable ? dot_f32_tinyblas_port : dot_f32_tinyblas;
    }
    return NULL;
}

ql_vec_dot_fn ql_kernel_simd_dot(ql_type weight_type) {
    pthread_once(&kernels_once, kernels_init_all);
    if ((int)weight_type < 0 || weight_type >= QL_TYPE_COUNT) return NULL;
    if (weight_type == QL_TYPE_F32 || weight_type == QL_TYPE_F16) return kernels[weight_type].dot;
    return exact_dots[weight_type] != port_dots[weight_type] ? exact_dots[weight_type] : NULL;
}

/* ---- numerics ---- */

static const char *const numerics_names[] = {"auto", "fp16", "f32"};

bool ql_numerics_from_name(const char *name, ql_numerics *n) {
    for (int i = 0; i < 3; i++)
        if (name && strcmp(name, numerics_names[i]) == 0) {
            *n = (ql_numerics)i;
            return true;
        }
    return false;
}

const char *ql_numerics_name(ql_numerics n) {
    return (unsigned)n < 3 ? numerics_names[ql_numerics_resolve(n)] : "?";
}

ql_numerics ql_numerics_resolve(ql_numerics n) {
    if (n != QL_NUMERICS_AUTO) return n;
    return ql_cpu_get()->avx512_fp16 ? QL_NUMERICS_FP16 : QL_NUMERICS_F32;
}

ql_kernel_profile ql_kernel_profile_default(void) {
    return (ql_kernel_profile){.f16_half =
                                   ql_numerics_resolve(QL_NUMERICS_AUTO) == QL_NUMERICS_FP16,
                               .f16_dot_half = false,
                               .repack = true};
}
