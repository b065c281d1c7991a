/*
 * dot_x86.c - SIMD dot products and tiled products for every quantized
 * weight type, on the packed steps of qpack.h. AVX-512 VNNI where the build
 * has it, else AVX2 (+FMA, F16C); other builds get none and matmul.c keeps
 * the scalar dots of src/quant.
 *
 * The integer part of every dot is exact, as in the scalar reference. A
 * legacy step (four 32-element blocks) is two VNNI u8 x s8 dots (AVX-512)
 * or four maddubs dots with the sign trick (AVX2: |w| <= 128, |y| <= 127
 * keep the 16-bit pair sums below 2^15), folded so that each lane sums one
 * block. A k step (one super-block) is 16-bit multiply-adds of level x
 * sub-block scale (|.| <= 4096) with the activations, at most 32 products
 * per int32 lane (< 2^24, so even the conversion to float is exact). For
 * these only the float combination differs from the reference: per lane,
 * scaled partial sums accumulate across steps, and the lanes are added at
 * the end.
 *
 * q4_1 and q5_1 ("g1") instead repeat ggml's x86 dot operation for
 * operation (qpack.h), the only kernel llama.cpp has for them: their
 * results are ggml's bits, in AVX-512 and AVX2 builds alike. (A faster
 * order flipped a near-tied top-1 token against llama.cpp's golden KLD
 * rows; this one costs about a fifth of their speed.)
 *
 * Each output element has its own accumulator and goes through the same
 * operations in every tile shape, so a tile of R x C equals C x R separate
 * 1 x 1 dots bit for bit (qgemm.h).
 */
#include "qgemm.h"

#include <stddef.h>

#include "hsum8.h"
#include "qpack.h"

#if defined(QL_QK_AVX2)

#include <immintrin.h>

#define QL_INLINE static inline __attribute__((always_inline))

/* Fully unrolled tile loops keep every accumulator in a register. */
#if defined(__clang__)
#define QL_UNROLL _Pragma("unroll")
#else
#define QL_UNROLL _Pragma("GCC unroll 16")
#endif

/* ---------------------------------------------------------------- AVX-512 */
#if defined(QL_QK_AVX512)

typedef __m512 qv;
enum { QV_LANES = 16, TILE_ROWS = 4 };
_Static_assert((int)QV_LANES == (int)QL_QK_LANES, "lane layout");
#define QL_QGEMM_IMPL "avx512-vnni"

QL_INLINE qv qv_zero(void) {
    return _mm512_setzero_ps();
}
QL_INLINE qv qv_load(const float *p) {
    return _mm512_load_ps(p);
}
QL_INLINE void qv_store(float *p, qv v) {
    _mm512_store_ps(p, v);
}

/*
 * The sum of a vector's lanes, by halving: lanes i and i+8, then i and i+4,
 * i+2, i+1. reduce_16 computes the same sums for 16 vectors at once
 * (shuffling partial sums of several vectors into one register), with the
 * same two operands in every addition, hence the same bits.
 */
QL_INLINE float qv_sum(qv v) {
    const __m256 hi = _mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(v), 1));
    __m256 a = _mm256_add_ps(_mm512_castps512_ps256(v), hi);
    __m128 b = _mm_add_ps(_mm256_castps256_ps128(a), _mm256_extractf128_ps(a, 1));
    __m128 c = _mm_add_ps(b, _mm_movehl_ps(b, b));
    return _mm_cvtss_f32(_mm_add_ss(c, _mm_movehdup_ps(c)));
}

QL_INLINE void reduce_16(const qv v[16], float out[16]) {
    __m512 w[8], z[4], q[2];
    for (int k = 0; k < 8; k++) /* lanes 0-7: v[2k] i + i+8; lanes 8-15: v[2k+1] */
        w[k] = _mm512_add_ps(_mm512_shuffle_f32x4(v[2 * k], v[2 * k + 1], 0x44),
                             _mm512_shuffle_f32x4(v[2 * k], v[2 * k + 1], 0xee));
    for (int k = 0; k < 4; k++) /* 128-bit lane j: v[4k + j], i + i+4 */
        z[k] = _mm512_add_ps(_mm512_shuffle_f32x4(w[2 * k], w[2 * k + 1], 0x88),
                             _mm512_shuffle_f32x4(w[2 * k], w[2 * k + 1], 0xdd));
    for (int k = 0; k < 2; k++) /* per 128-bit lane j: [v[8k+j] c0, c1, v[8k+4+j] c0, c1] */
        q[k] = _mm512_add_ps(_mm512_shuffle_ps(z[2 * k], z[2 * k + 1], 0x44),
                             _mm512_shuffle_ps(z[2 * k], z[2 * k + 1], 0xee));
    /* per 128-bit lane j: v[j], v[4+j], v[8+j], v[12+j] */
    const __m512 r =
        _mm512_add_ps(_mm512_shuffle_ps(q[0], q[1], 0x88), _mm512_shuffle_ps(q[0], q[1], 0xdd));
    _Alignas(64) float lanes[16];
    _mm512_store_ps(lanes, r);
    for (int j = 0; j < 4; j++)
        for (int k = 0; k < 4; k++) out[4 * k + j] = lanes[4 * j + k];
}
enum { REDUCE_N = 16 };
#define reduce_n reduce_16

/* The 32 lanes of a step's two dots (blocks 0-1, 2-3) folded to 16: see ql_lane_block. */
QL_INLINE __m512i fold_legacy(__m512i t01, __m512i t23) {
    return _mm512_add_epi32(_mm512_unpacklo_epi32(t01, t23), _mm512_unpackhi_epi32(t01, t23));
}

/* q8_0 partners: the activation step's corrections are the dots' starting values. */
QL_INLINE qv pair_l0(qv acc, const uint8_t *wp, const uint8_t *ap) {
    const ql_pw_legacy *w = (const ql_pw_legacy *)wp;
    const ql_pa_legacy *a = (const ql_pa_legacy *)ap;
    __m512i t01 = _mm512_load_si512(a->corr), t23 = _mm512_load_si512(a->corr + 16);
    t01 = _mm512_dpbusd_epi32(t01, _mm512_load_si512(w->q), _mm512_load_si512(a->y));
    t23 = _mm512_dpbusd_epi32(t23, _mm512_load_si512(w->q + 64), _mm512_load_si512(a->y + 64));
    const __m512 scale = _mm512_mul_ps(_mm512_load_ps(w->d), _mm512_load_ps(a->d));
    return _mm512_fmadd_ps(_mm512_cvtepi32_ps(fold_legacy(t01, t23)), scale, acc);
}

/*
 * A super-block: 16-bit multiply-adds into 16 lanes. With a min, those are
 * folded to 8 lanes and the 8 lanes of sum(min x bsum) go beside them, so
 * one conversion and one FMA with [d dy x 8, -dmin dy x 8] take both.
 */
QL_INLINE qv pair_k(qv acc, const uint8_t *wp, const uint8_t *ap, const int has_min) {
    const ql_pw_k *w = (const ql_pw_k *)wp;
    const ql_pa_k *a = (const ql_pa_k *)ap;
    __m512i t = _mm512_setzero_si512();
    QL_UNROLL for (int i = 0; i < 8; i++) t =
        _mm512_dpwssd_epi32(t, _mm512_load_si512(w->q + 32 * i), _mm512_load_si512(a->y + 32 * i));
    const __m512 dy = _mm512_set1_ps(a->d);
    if (!has_min)
        return _mm512_fmadd_ps(_mm512_cvtepi32_ps(t), _mm512_mul_ps(_mm512_set1_ps(w->d), dy), acc);
    const __m256i m = _mm256_madd_epi16(_mm256_load_si256((const __m256i *)w->mins),
                                        _mm256_load_si256((const __m256i *)a->bsums));
    const __m256i t8 = _mm256_add_epi32(_mm512_castsi512_si256(t), _mm512_extracti64x4_epi64(t, 1));
    const __m512i u = _mm512_inserti64x4(_mm512_castsi256_si512(t8), m, 1);
    const __m512 wd = _mm512_mask_blend_ps(0xff00, _mm512_set1_ps(w->d), _mm512_set1_ps(-w->dmin));
    return _mm512_fmadd_ps(_mm512_cvtepi32_ps(u), _mm512_mul_ps(wd, dy), acc);
}

/* ------------------------------------------------------------------- AVX2 */
#else

typedef __m256 qv;
enum { QV_LANES = 8, TILE_ROWS = 2 };
_Static_assert((int)QV_LANES == (int)QL_QK_LANES, "lane layout");
#define QL_QGEMM_IMPL "avx2"

QL_INLINE qv qv_zero(void) {
    return _mm256_setzero_ps();
}
QL_INLINE qv qv_load(const float *p) {
    return _mm256_load_ps(p);
}
QL_INLINE void qv_store(float *p, qv v) {
    _mm256_store_ps(p, v);
}

/* Halving sums of lanes (i + i+4, i+2, i+1); reduce_8 does 8 vectors with the same additions. */
QL_INLINE float qv_sum(qv v) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

QL_INLINE void reduce_8(const qv v[8], float out[8]) {
    _mm256_storeu_ps(out, ql_hsum8_x8(v));
}
enum { REDUCE_N = 8 };
#define reduce_n      reduce_8

/* One block's 8 lanes of partial sums, by the sign trick: |q| (<= 128) times +-y (<= 127). */
QL_INLINE __m256i dot_block_signed(const int8_t *q8, const int8_t *y8) {
    const __m256i q = _mm256_load_si256((const __m256i *)q8);
    const __m256i y = _mm256_load_si256((const __m256i *)y8);
    const __m256i p16 = _mm256_maddubs_epi16(_mm256_sign_epi8(q, q), _mm256_sign_epi8(y, q));
    return _mm256_madd_epi16(p16, _mm256_set1_epi16(1));
}

/* Four blocks' lanes folded to 8 by two rounds of hadd: lane i sums block i % 4. */
QL_INLINE __m256i fold_legacy(__m256i p0, __m256i p1, __m256i p2, __m256i p3) {
    return _mm256_hadd_epi32(_mm256_hadd_epi32(p0, p1), _mm256_hadd_epi32(p2, p3));
}

QL_INLINE qv pair_l0(qv acc, const uint8_t *wp, const uint8_t *ap) {
    const ql_pw_legacy *w = (const ql_pw_legacy *)wp;
    const ql_pa_legacy *a = (const ql_pa_legacy *)ap;
    const __m256i t =
        fold_legacy(dot_block_signed(w->q, a->y), dot_block_signed(w->q + 32, a->y + 32),
                    dot_block_signed(w->q + 64, a->y + 64), dot_block_signed(w->q + 96, a->y + 96));
    const __m256 scale = _mm256_mul_ps(_mm256_load_ps(w->d), _mm256_load_ps(a->d));
    return _mm256_fmadd_ps(_mm256_cvtepi32_ps(t), scale, acc);
}

QL_INLINE qv pair_k(qv acc, const uint8_t *wp, const uint8_t *ap, const int has_min) {
    const ql_pw_k *w = (const ql_pw_k *)wp;
    const ql_pa_k *a = (const ql_pa_k *)ap;
    __m256i t = _mm256_setzero_si256();
    QL_UNROLL for (int i = 0; i < 16; i++) t =
        _mm256_add_epi32(t, _mm256_madd_epi16(_mm256_load_si256((const __m256i *)(w->q + 16 * i)),
                                              _mm256_load_si256((const __m256i *)(a->y + 16 * i))));
    acc = _mm256_fmadd_ps(_mm256_cvtepi32_ps(t), _mm256_set1_ps(w->d * a->d), acc);
    if (has_min) {
        const __m256i m = _mm256_madd_epi16(_mm256_load_si256((const __m256i *)w->mins),
                                            _mm256_load_si256((const __m256i *)a->bsums));
        acc = _mm256_fmadd_ps(_mm256_cvtepi32_ps(m), _mm256_set1_ps(-(w->dmin * a->d)), acc);
    }
    return acc;
}

#endif

QL_INLINE qv pair_k_min(qv acc, const uint8_t *w, const uint8_t *a) {
    return pair_k(acc, w, a, 1);
}
QL_INLINE qv pair_k_nomin(qv acc, const uint8_t *w, const uint8_t *a) {
    return pair_k(acc, w, a, 0);
}

/* ------------------------------------------------------------------ tiles */

/*
 * An R x C tile over ns steps: accumulators start at zero or from spill,
 * each step updates all R x C of them, and they end in spill or reduced in
 * res. The pair function decides everything about an element's arithmetic,
 * which is why the shape cannot change a result.
 */
#define DEFINE_TILE(NAME, PAIR, W_STEP, A_STEP, R, C)                                              \
    static void NAME(int64_t ns, const uint8_t *const *w, const uint8_t *const *a, float *spill,   \
                     int mode, float *res) {                                                       \
        qv acc[R][C];                                                                              \
        QL_UNROLL for (int r = 0; r < (R); r++) QL_UNROLL for (int c = 0; c < (C); c++)            \
            acc[r][c] =                                                                            \
                (mode & QL_QTILE_LOAD) ? qv_load(spill + (r * (C) + c) * QV_LANES) : qv_zero();    \
        for (int64_t s = 0; s < ns; s++) {                                                         \
            QL_UNROLL for (int r = 0; r < (R); r++) {                                              \
                const uint8_t *ws = w[r] + (size_t)s * (W_STEP);                                   \
                QL_UNROLL for (int c = 0; c < (C); c++) acc[r][c] =                                \
                    PAIR(acc[r][c], ws, a[c] + (size_t)s * (A_STEP));                              \
            }                                                                                      \
        }                                                                                          \
        if (mode & QL_QTILE_STORE) {                                                               \
            QL_UNROLL for (int r = 0; r < (R); r++) QL_UNROLL for (int c = 0; c < (C); c++)        \
                qv_store(spill + (r * (C) + c) * QV_LANES, acc[r][c]);                             \
        } else if ((R) * (C) == 1) {                                                               \
            res[0] = qv_sum(acc[0][0]);                                                            \
        } else {                                                                                   \
            qv v[REDUCE_N];                                                                        \
            float sums[REDUCE_N];                                                                  \
            QL_UNROLL for (int k = 0; k < REDUCE_N; k++) v[k] =                                    \
                k < (R) * (C) ? acc[k / (C)][k % (C)] : qv_zero();                                 \
            reduce_n(v, sums);                                                                     \
            QL_UNROLL for (int r = 0; r < (R); r++) QL_UNROLL for (int c = 0; c < (C); c++)        \
                res[r * QL_QTILE_MAX_COLS + c] = sums[r * (C) + c];                                \
        }                                                                                          \
    }

#define DEFINE_FAMILY(F, PAIR, W_STEP, A_STEP)                                                     \
    DEFINE_TILE(tile_##F##_1x1, PAIR, W_STEP, A_STEP, 1, 1)                                        \
    DEFINE_TILE(tile_##F##_1, PAIR, W_STEP, A_STEP, TILE_ROWS, 1)                                  \
    DEFINE_TILE(tile_##F##_2, PAIR, W_STEP, A_STEP, TILE_ROWS, 2)                                  \
    DEFINE_TILE(tile_##F##_3, PAIR, W_STEP, A_STEP, TILE_ROWS, 3)                                  \
    DEFINE_TILE(tile_##F##_4, PAIR, W_STEP, A_STEP, TILE_ROWS, 4)

DEFINE_FAMILY(l0, pair_l0, QL_PW_LEGACY_BYTES, QL_PA_Q8_0_BYTES)
DEFINE_FAMILY(kmin, pair_k_min, sizeof(ql_pw_k), sizeof(ql_pa_k))
DEFINE_FAMILY(k, pair_k_nomin, sizeof(ql_pw_k), sizeof(ql_pa_k))

/*
 * g1 tiles (q4_1, q5_1), in ggml's order for every element: per block,
 *     lanes[l] = fma(d_x * d_y, (float)isum[l], lanes[l])    (l < 8)
 *     summs    = fma(m_x, s_y, summs)
 * and at the end hsum_float_8(lanes) + summs. Eight lanes per product;
 * the running sums of the min terms of all products of a tile share a
 * vector (lane r * 4 + c), fed per block by two permutes of the step's
 * mins and sums. Rows or columns past the tile's repeat its last one.
 */
#define G1_COL(c, C) ((c) < (C) ? (c) : (C)-1)
#define G1_ROW(r, R) ((r) < (R) ? (r) : (R)-1)

/* ggml's hsum_float_8: lanes i + i+4, then i + i+2, then 0 + 1. */
QL_INLINE float hsum_float_8(__m256 v) {
    __m128 r = _mm_add_ps(_mm256_extractf128_ps(v, 1), _mm256_castps256_ps128(v));
    r = _mm_add_ps(r, _mm_movehl_ps(r, r));
    r = _mm_add_ss(r, _mm_movehdup_ps(r));
    return _mm_cvtss_f32(r);
}

#if defined(QL_QK_AVX512)

/* Products (r, 2k) and (r, 2k + 1) share a register: lanes 0-7 and 8-15. */
QL_INLINE void tile_g1(const int R, const int C, int64_t ns, const uint8_t *const *w,
                       const uint8_t *const *a, float *spill, int mode, float *res) {
    const int CC = (C + 1) / 2;
    __m512 acc[4][2], summs;
    QL_UNROLL for (int r = 0; r < R; r++) QL_UNROLL for (int k = 0; k < CC; k++) acc[r][k] =
        (mode & QL_QTILE_LOAD) ? _mm512_load_ps(spill + (r * 2 + k) * 16) : _mm512_setzero_ps();
    summs = (mode & QL_QTILE_LOAD) ? _mm512_load_ps(spill + 128) : _mm512_setzero_ps();
    const __m512i zero = _mm512_setzero_si512();
    for (int64_t s = 0; s < ns; s++) {
        const ql_pw_g1 *ws[4];
        const ql_pa_g1 *as[4];
        QL_UNROLL for (int i = 0; i < 4; i++) {
            ws[i] = (const ql_pw_g1 *)(w[G1_ROW(i, R)] + (size_t)s * sizeof(ql_pw_g1));
            as[i] = (const ql_pa_g1 *)(a[G1_COL(i, C)] + (size_t)s * sizeof(ql_pa_g1));
        }
        /* 128-bit lane i: the step's 4 mins of row i / 4 sums of column i */
        __m512 m4 = _mm512_castps128_ps512(_mm_load_ps(ws[0]->m));
        __m512 s4 = _mm512_castps128_ps512(_mm_load_ps(as[0]->s));
        m4 = _mm512_insertf32x4(m4, _mm_load_ps(ws[1]->m), 1);
        s4 = _mm512_insertf32x4(s4, _mm_load_ps(as[1]->s), 1);
        m4 = _mm512_insertf32x4(m4, _mm_load_ps(ws[2]->m), 2);
        s4 = _mm512_insertf32x4(s4, _mm_load_ps(as[2]->s), 2);
        m4 = _mm512_insertf32x4(m4, _mm_load_ps(ws[3]->m), 3);
        s4 = _mm512_insertf32x4(s4, _mm_load_ps(as[3]->s), 3);
        QL_UNROLL for (int h = 0; h < 4; h++) {
            __m512i y[2];
            __m512 dy[2];
            QL_UNROLL for (int k = 0; k < CC; k++) {
                const __m256i y0 = _mm256_load_si256((const __m256i *)(as[2 * k]->y + 32 * h));
                const __m256i y1 = _mm256_load_si256((const __m256i *)(as[2 * k + 1]->y + 32 * h));
                y[k] = _mm512_inserti64x4(_mm512_castsi256_si512(y0), y1, 1);
                dy[k] = _mm512_mask_blend_ps(0xff00, _mm512_set1_ps(as[2 * k]->d[h]),
                                             _mm512_set1_ps(as[2 * k + 1]->d[h]));
            }
            QL_UNROLL for (int r = 0; r < R; r++) {
                const __m512i q =
                    _mm512_broadcast_i64x4(_mm256_load_si256((const __m256i *)(ws[r]->q + 32 * h)));
                const __m512 dx = _mm512_set1_ps(ws[r]->d[h]);
                QL_UNROLL for (int k = 0; k < CC; k++) {
                    const __m512i t = _mm512_dpbusd_epi32(zero, q, y[k]);
                    acc[r][k] =
                        _mm512_fmadd_ps(_mm512_mul_ps(dx, dy[k]), _mm512_cvtepi32_ps(t), acc[r][k]);
                }
            }
            /* lane r * 4 + c: min of row r and sum of column c for block h */
            const __m512i im =
                _mm512_setr_epi32(h, h, h, h, 4 + h, 4 + h, 4 + h, 4 + h, 8 + h, 8 + h, 8 + h,
                                  8 + h, 12 + h, 12 + h, 12 + h, 12 + h);
            const __m512i is = _mm512_setr_epi32(h, 4 + h, 8 + h, 12 + h, h, 4 + h, 8 + h, 12 + h,
                                                 h, 4 + h, 8 + h, 12 + h, h, 4 + h, 8 + h, 12 + h);
            summs = _mm512_fmadd_ps(_mm512_permutexvar_ps(im, m4), _mm512_permutexvar_ps(is, s4),
                                    summs);
        }
    }
    if (mode & QL_QTILE_STORE) {
        QL_UNROLL for (int r = 0; r < R; r++) QL_UNROLL for (int k = 0; k < CC; k++)
            _mm512_store_ps(spill + (r * 2 + k) * 16, acc[r][k]);
        _mm512_store_ps(spill + 128, summs);
        return;
    }
    _Alignas(64) float ms[16];
    _mm512_store_ps(ms, summs);
    QL_UNROLL for (int r = 0; r < R; r++) QL_UNROLL for (int c = 0; c < C; c++) {
        const __m512 v = acc[r][c / 2];
        const __m256 half = (c & 1)
                                ? _mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(v), 1))
                                : _mm512_castps512_ps256(v);
        res[r * QL_QTILE_MAX_COLS + c] = hsum_float_8(half) + ms[r * 4 + c];
    }
}

#else

QL_INLINE void tile_g1(const int R, const int C, int64_t ns, const uint8_t *const *w,
                       const uint8_t *const *a, float *spill, int mode, float *res) {
    __m256 acc[2][4], summs;
    QL_UNROLL for (int r = 0; r < R; r++) QL_UNROLL for (int c = 0; c < C; c++) acc[r][c] =
        (mode & QL_QTILE_LOAD) ? _mm256_load_ps(spill + (r * 4 + c) * 8) : _mm256_setzero_ps();
    summs = (mode & QL_QTILE_LOAD) ? _mm256_load_ps(spill + 64) : _mm256_setzero_ps();
    const __m256i ones = _mm256_set1_epi16(1);
    for (int64_t s = 0; s < ns; s++) {
        const ql_pw_g1 *ws[2];
        const ql_pa_g1 *as[4];
        QL_UNROLL for (int i = 0; i < 2; i++) ws[i] =
            (const ql_pw_g1 *)(w[G1_ROW(i, R)] + (size_t)s * sizeof(ql_pw_g1));
        QL_UNROLL for (int i = 0; i < 4; i++) as[i] =
            (const ql_pa_g1 *)(a[G1_COL(i, C)] + (size_t)s * sizeof(ql_pa_g1));
        /* 128-bit half r: row r's 4 mins; sums transposed to one vector per block */
        const __m256 m2 = _mm256_set_m128(_mm_load_ps(ws[1]->m), _mm_load_ps(ws[0]->m));
        __m128 s0 = _mm_load_ps(as[0]->s), s1 = _mm_load_ps(as[1]->s);
        __m128 s2 = _mm_load_ps(as[2]->s), s3 = _mm_load_ps(as[3]->s);
        _MM_TRANSPOSE4_PS(s0, s1, s2, s3);
        const __m128 sb[4] = {s0, s1, s2, s3};
        QL_UNROLL for (int h = 0; h < 4; h++) {
            QL_UNROLL for (int r = 0; r < R; r++) {
                const __m256i q = _mm256_load_si256((const __m256i *)(ws[r]->q + 32 * h));
                const __m256 dx = _mm256_set1_ps(ws[r]->d[h]);
                QL_UNROLL for (int c = 0; c < C; c++) {
                    const __m256i y = _mm256_load_si256((const __m256i *)(as[c]->y + 32 * h));
                    const __m256i t = _mm256_madd_epi16(_mm256_maddubs_epi16(q, y), ones);
                    const __m256 d = _mm256_mul_ps(dx, _mm256_set1_ps(as[c]->d[h]));
                    acc[r][c] = _mm256_fmadd_ps(d, _mm256_cvtepi32_ps(t), acc[r][c]);
                }
            }
            /* lane r * 4 + c: min of row r and sum of column c for block h */
            const __m256i im = _mm256_setr_epi32(h, h, h, h, 4 + h, 4 + h, 4 + h, 4 + h);
            summs = _mm256_fmadd_ps(_mm256_permutevar8x32_ps(m2, im), _mm256_set_m128(sb[h], sb[h]),
                                    summs);
        }
    }
    if (mode & QL_QTILE_STORE) {
        QL_UNROLL for (int r = 0; r < R; r++) QL_UNROLL for (int c = 0; c < C; c++)
            _mm256_store_ps(spill + (r * 4 + c) * 8, acc[r][c]);
        _mm256_store_ps(spill + 64, summs);
        return;
    }
    _Alignas(32) float ms[8];
    _mm256_store_ps(ms, summs);
    QL_UNROLL for (int r = 0; r < R; r++) QL_UNROLL for (int c = 0; c < C; c++)
        res[r * QL_QTILE_MAX_COLS + c] = hsum_float_8(acc[r][c]) + ms[r * 4 + c];
}

#endif

/* The lane of a q8_0 activation step's d[] that holds block h's scale. */
QL_INLINE int lane_of_block(int h) {
    int i = 0;
    while (ql_lane_block(i) != h) i++;
    return i;
}

/* Exact sum of 8 int32 lanes. */
QL_INLINE int32_t hsum_i32_8(__m256i v) {
    __m128i s = _mm_add_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
    s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0x4e));
    s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0xb1));
    return _mm_cvtsi128_si32(s);
}

#define G0_W(p) ((const ql_pw_g0 *)(p))
#define G0_A(p) ((const ql_pa_legacy *)(p))

/* Step s of a tile's 4 weight rows and 4 activation rows (past R and C: repeats of the last). */
QL_INLINE void g0_step(const int R, const int C, int64_t s, const uint8_t *const *w,
                       const uint8_t *const *a, const ql_pw_g0 *ws[4], const ql_pa_legacy *as[4]) {
    QL_UNROLL for (int i = 0; i < 4; i++) {
        ws[i] = G0_W(w[G1_ROW(i, R)] + (size_t)s * sizeof(ql_pw_g0));
        as[i] = G0_A(a[G1_COL(i, C)] + (size_t)s * QL_PA_Q8_0_BYTES);
    }
}

#if defined(QL_QK_AVX512)

/*
 * g0 tiles of iq4_nl (IQ4 set; q4_0, q5_0 and q8_0 take tile_g0_one below):
 * products (r, 2k) and (r, 2k + 1) share a register as in g1; the +128 of
 * the weights cancels against the activation step's per-lane corrections,
 * the dots' start.
 */
QL_INLINE void tile_g0(const int R, const int C, const int IQ4, int64_t ns, const uint8_t *const *w,
                       const uint8_t *const *a, float *spill, int mode, float *res) {
    const int CC = (C + 1) / 2;
    __m512 acc[4][2][2];
    QL_UNROLL for (int i = 0; i < 16; i++) acc[i / 4][i / 2 % 2][i % 2] = _mm512_setzero_ps();
    QL_UNROLL for (int r = 0; r < R; r++) QL_UNROLL for (int k = 0; k < CC; k++)
        QL_UNROLL for (int p = 0; p < 1 + IQ4; p++) acc[r][k][p] =
            (mode & QL_QTILE_LOAD) ? _mm512_load_ps(spill + ((r * 2 + k) * 2 + p) * 16)
                                   : _mm512_setzero_ps();
    for (int64_t s = 0; s < ns; s++) {
        const ql_pw_g0 *ws[4];
        const ql_pa_legacy *as[4];
        g0_step(R, C, s, w, a, ws, as);
        QL_UNROLL for (int h = 0; h < 4; h++) {
            const int lane = lane_of_block(h), p = IQ4 ? h & 1 : 0;
            __m512i y[2], corr[2];
            __m512 dy[2];
            QL_UNROLL for (int k = 0; k < CC; k++) {
                const ql_pa_legacy *a0 = as[2 * k], *a1 = as[2 * k + 1];
                y[k] = _mm512_inserti64x4(
                    _mm512_castsi256_si512(_mm256_load_si256((const __m256i *)(a0->y + 32 * h))),
                    _mm256_load_si256((const __m256i *)(a1->y + 32 * h)), 1);
                corr[k] = _mm512_inserti64x4(
                    _mm512_castsi256_si512(_mm256_load_si256((const __m256i *)(a0->corr + 8 * h))),
                    _mm256_load_si256((const __m256i *)(a1->corr + 8 * h)), 1);
                dy[k] = _mm512_mask_blend_ps(0xff00, _mm512_set1_ps(a0->d[lane]),
                                             _mm512_set1_ps(a1->d[lane]));
            }
            QL_UNROLL for (int r = 0; r < R; r++) {
                const __m512i q =
                    _mm512_broadcast_i64x4(_mm256_load_si256((const __m256i *)(ws[r]->q + 32 * h)));
                const __m512 dx = _mm512_set1_ps(ws[r]->d[h]);
                QL_UNROLL for (int k = 0; k < CC; k++) {
                    const __m512i t = _mm512_dpbusd_epi32(corr[k], q, y[k]);
                    acc[r][k][p] = _mm512_fmadd_ps(_mm512_mul_ps(dx, dy[k]), _mm512_cvtepi32_ps(t),
                                                   acc[r][k][p]);
                }
            }
        }
    }
    if (mode & QL_QTILE_STORE) {
        QL_UNROLL for (int r = 0; r < R; r++) QL_UNROLL for (int k = 0; k < CC; k++)
            QL_UNROLL for (int p = 0; p < 1 + IQ4; p++)
                _mm512_store_ps(spill + ((r * 2 + k) * 2 + p) * 16, acc[r][k][p]);
        return;
    }
    QL_UNROLL for (int r = 0; r < R; r++) QL_UNROLL for (int c = 0; c < C; c++) {
        __m512 v = acc[r][c / 2][0];
        if (IQ4) v = _mm512_add_ps(v, acc[r][c / 2][1]);
        const __m256 half = (c & 1)
                                ? _mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(v), 1))
                                : _mm512_castps512_ps256(v);
        float sum = hsum_float_8(half);
        if (IQ4 && ns > 0) {
            /* the odd last block: its integer dot times d_y * d_x, added in scalar */
            const ql_pw_g0 *wl = G0_W(w[r] + (size_t)(ns - 1) * sizeof(ql_pw_g0));
            const ql_pa_legacy *al = G0_A(a[c] + (size_t)(ns - 1) * QL_PA_Q8_0_BYTES);
            const int h = wl->tail_h;
            if (h >= 0) {
                const __m256i t =
                    _mm256_dpbusd_epi32(_mm256_load_si256((const __m256i *)(al->corr + 8 * h)),
                                        _mm256_load_si256((const __m256i *)(wl->q + 32 * h)),
                                        _mm256_load_si256((const __m256i *)(al->y + 32 * h)));
                sum += al->d[lane_of_block(h)] * wl->tail_d * (float)hsum_i32_8(t);
            }
        }
        res[r * QL_QTILE_MAX_COLS + c] = sum;
    }
}

/*
 * g0 tiles without iq4_nl's two accumulators (q4_0, q5_0, q8_0): one 8-lane
 * accumulator per product, as in ggml. Product (r, c) scales block h by
 * d_x[r][h] * d_y[c][h]; all of a step's scales are four vector multiplies
 * into a table, and each FMA broadcasts its factor from there (a load, not
 * a vector ALU operation), so the work per block and product is one VNNI
 * dot, one conversion and one FMA, 256 bits wide, with the activations held
 * in registers across the rows. The operations per lane are ggml's: the
 * product of the two scales, then fma(d, float(dot lanes), acc). About
 * half as fast again as the paired 512-bit form above, which needed a
 * multiply per FMA to spread two products' scales over one register.
 */
QL_INLINE void tile_g0_one(const int R, const int C, int64_t ns, const uint8_t *const *w,
                           const uint8_t *const *a, float *spill, int mode, float *res) {
    __m256 acc[4][4];
    QL_UNROLL for (int r = 0; r < 4; r++) QL_UNROLL for (int c = 0; c < 4; c++) acc[r][c] =
        _mm256_setzero_ps();
    QL_UNROLL for (int r = 0; r < R; r++) QL_UNROLL for (int c = 0; c < C; c++) acc[r][c] =
        (mode & QL_QTILE_LOAD) ? _mm256_load_ps(spill + (r * 4 + c) * 8) : _mm256_setzero_ps();
    _Alignas(64) float scale[4][16]; /* [r][4c + h] */
    for (int64_t s = 0; s < ns; s++) {
        const ql_pw_g0 *ws[4];
        const ql_pa_legacy *as[4];
        g0_step(R, C, s, w, a, ws, as);
        /* lanes 4c + h: d_y of column c, block h */
        const __m512 dy = _mm512_insertf32x8(
            _mm512_castps256_ps512(_mm256_insertf128_ps(
                _mm256_castps128_ps256(_mm_load_ps(as[0]->dh)), _mm_load_ps(as[1]->dh), 1)),
            _mm256_insertf128_ps(_mm256_castps128_ps256(_mm_load_ps(as[2]->dh)),
                                 _mm_load_ps(as[3]->dh), 1),
            1);
        QL_UNROLL for (int r = 0; r < R; r++) _mm512_store_ps(
            scale[r], _mm512_mul_ps(_mm512_broadcast_f32x4(_mm_load_ps(ws[r]->d)), dy));
        /* reread from memory: a broadcast load costs no vector ALU, a permute would */
        __asm__ volatile("" ::: "memory");
        const int n_blocks = ws[0]->n_blocks;
        QL_UNROLL for (int h = 0; h < 4; h++) {
            if (h >= n_blocks) continue; /* as ggml, no products of the padding */
            __m256i y[4], corr[4];
            QL_UNROLL for (int c = 0; c < C; c++) {
                y[c] = _mm256_load_si256((const __m256i *)(as[c]->y + 32 * h));
                corr[c] = _mm256_load_si256((const __m256i *)(as[c]->corr + 8 * h));
                __asm__("" : "+v"(y[c])); /* keep it in a register, not a memory operand */
            }
            QL_UNROLL for (int r = 0; r < R; r++) {
                const __m256i q = _mm256_load_si256((const __m256i *)(ws[r]->q + 32 * h));
                QL_UNROLL for (int c = 0; c < C; c++) {
                    const __m256i t = _mm256_dpbusd_epi32(corr[c], q, y[c]);
                    acc[r][c] = _mm256_fmadd_ps(_mm256_set1_ps(scale[r][4 * c + h]),
                                                _mm256_cvtepi32_ps(t), acc[r][c]);
                }
            }
        }
    }
    if (mode & QL_QTILE_STORE) {
        QL_UNROLL for (int r = 0; r < R; r++) QL_UNROLL for (int c = 0; c < C; c++)
            _mm256_store_ps(spill + (r * 4 + c) * 8, acc[r][c]);
        return;
    }
    if (R * C == 1) {
        res[0] = hsum_float_8(acc[0][0]);
        return;
    }
    /* rows 2i and 2i + 1 in one reduction of 8 registers */
    QL_UNROLL for (int r = 0; r < R; r += 2) {
        __m256 v[8];
        QL_UNROLL for (int k = 0; k < 8; k++) v[k] = acc[G1_ROW(r + k / 4, R)][G1_COL(k % 4, C)];
        _Alignas(32) float sums[8];
        _mm256_store_ps(sums, ql_hsum8_x8(v));
        QL_UNROLL for (int k = 0; k < 8; k++) if (r + k / 4 < R && k % 4 < C)
            res[(r + k / 4) * QL_QTILE_MAX_COLS + k % 4] = sums[k];
    }
}

#else

QL_INLINE __m256i lanes_signed(__m256i q, __m256i y) {
    const __m256i p16 = _mm256_maddubs_epi16(_mm256_sign_epi8(q, q), _mm256_sign_epi8(y, q));
    return _mm256_madd_epi16(p16, _mm256_set1_epi16(1));
}

QL_INLINE void tile_g0(const int R, const int C, const int IQ4, int64_t ns, const uint8_t *const *w,
                       const uint8_t *const *a, float *spill, int mode, float *res) {
    __m256 acc[2][4][2];
    QL_UNROLL for (int i = 0; i < 16; i++) acc[i / 8][i / 2 % 4][i % 2] = _mm256_setzero_ps();
    QL_UNROLL for (int r = 0; r < R; r++) QL_UNROLL for (int c = 0; c < C; c++)
        QL_UNROLL for (int p = 0; p < 1 + IQ4; p++) acc[r][c][p] =
            (mode & QL_QTILE_LOAD) ? _mm256_load_ps(spill + ((r * 4 + c) * 2 + p) * 8)
                                   : _mm256_setzero_ps();
    for (int64_t s = 0; s < ns; s++) {
        const ql_pw_g0 *ws[2];
        const ql_pa_legacy *as[4];
        QL_UNROLL for (int i = 0; i < 2; i++) ws[i] =
            G0_W(w[G1_ROW(i, R)] + (size_t)s * sizeof(ql_pw_g0));
        QL_UNROLL for (int i = 0; i < 4; i++) as[i] =
            G0_A(a[G1_COL(i, C)] + (size_t)s * QL_PA_Q8_0_BYTES);
        QL_UNROLL for (int h = 0; h < 4; h++) {
            const int lane = lane_of_block(h), p = IQ4 ? h & 1 : 0;
            QL_UNROLL for (int r = 0; r < R; r++) {
                const __m256i q = _mm256_load_si256((const __m256i *)(ws[r]->q + 32 * h));
                const __m256 dx = _mm256_set1_ps(ws[r]->d[h]);
                QL_UNROLL for (int c = 0; c < C; c++) {
                    const __m256i y = _mm256_load_si256((const __m256i *)(as[c]->y + 32 * h));
                    const __m256 d = _mm256_mul_ps(dx, _mm256_set1_ps(as[c]->d[lane]));
                    acc[r][c][p] =
                        _mm256_fmadd_ps(d, _mm256_cvtepi32_ps(lanes_signed(q, y)), acc[r][c][p]);
                }
            }
        }
    }
    if (mode & QL_QTILE_STORE) {
        QL_UNROLL for (int r = 0; r < R; r++) QL_UNROLL for (int c = 0; c < C; c++)
            QL_UNROLL for (int p = 0; p < 1 + IQ4; p++)
                _mm256_store_ps(spill + ((r * 4 + c) * 2 + p) * 8, acc[r][c][p]);
        return;
    }
    QL_UNROLL for (int r = 0; r < R; r++) QL_UNROLL for (int c = 0; c < C; c++) {
        __m256 v = acc[r][c][0];
        if (IQ4) v = _mm256_add_ps(v, acc[r][c][1]);
        float sum = hsum_float_8(v);
        if (IQ4 && ns > 0) {
            const ql_pw_g0 *wl = G0_W(w[r] + (size_t)(ns - 1) * sizeof(ql_pw_g0));
            const ql_pa_legacy *al = G0_A(a[c] + (size_t)(ns - 1) * QL_PA_Q8_0_BYTES);
            const int h = wl->tail_h;
            if (h >= 0) {
                const __m256i t =
                    lanes_signed(_mm256_load_si256((const __m256i *)(wl->q + 32 * h)),
                                 _mm256_load_si256((const __m256i *)(al->y + 32 * h)));
                sum += al->d[lane_of_block(h)] * wl->tail_d * (float)hsum_i32_8(t);
            }
        }
        res[r * QL_QTILE_MAX_COLS + c] = sum;
    }
}

#endif

#if defined(QL_QK_AVX512)
#define G0_TILE(NAME, R, C, IQ4)                                                                   \
    static void NAME(int64_t ns, const uint8_t *const *w, const uint8_t *const *a, float *spill,   \
                     int mode, float *res) {                                                       \
        if (IQ4)                                                                                   \
            tile_g0(R, C, IQ4, ns, w, a, spill, mode, res);                                        \
        else                                                                                       \
            tile_g0_one(R, C, ns, w, a, spill, mode, res);                                         \
    }
#else
#define G0_TILE(NAME, R, C, IQ4)                                                                   \
    static void NAME(int64_t ns, const uint8_t *const *w, const uint8_t *const *a, float *spill,   \
                     int mode, float *res) {                                                       \
        tile_g0(R, C, IQ4, ns, w, a, spill, mode, res);                                            \
    }
#endif
G0_TILE(tile_g0_1x1, 1, 1, 0)
G0_TILE(tile_g0_1, TILE_ROWS, 1, 0)
G0_TILE(tile_g0_2, TILE_ROWS, 2, 0)
G0_TILE(tile_g0_3, TILE_ROWS, 3, 0)
G0_TILE(tile_g0_4, TILE_ROWS, 4, 0)
G0_TILE(tile_g0i_1x1, 1, 1, 1)
G0_TILE(tile_g0i_1, TILE_ROWS, 1, 1)
G0_TILE(tile_g0i_2, TILE_ROWS, 2, 1)
G0_TILE(tile_g0i_3, TILE_ROWS, 3, 1)
G0_TILE(tile_g0i_4, TILE_ROWS, 4, 1)

#define G1_TILE(NAME, R, C)                                                                        \
    static void NAME(int64_t ns, const uint8_t *const *w, const uint8_t *const *a, float *spill,   \
                     int mode, float *res) {                                                       \
        tile_g1(R, C, ns, w, a, spill, mode, res);                                                 \
    }
G1_TILE(tile_g1_1x1, 1, 1)
G1_TILE(tile_g1_1, TILE_ROWS, 1)
G1_TILE(tile_g1_2, TILE_ROWS, 2)
G1_TILE(tile_g1_3, TILE_ROWS, 3)
G1_TILE(tile_g1_4, TILE_ROWS, 4)

/* ---------------------------------------------------------------- tables */

/* a tile's accumulators: at most 16 vectors and the g1 tiles' min-term sums */
#define SPILL_FLOATS ((size_t)17 * QV_LANES)
_Static_assert(SPILL_FLOATS <= QL_QTILE_MAX_SPILL, "spill area");

#define GEMM_L0(T)                                                                                 \
    static const ql_qgemm gemm_##T = {                                                             \
        QL_TYPE_Q8_0,       QL_LEGACY_STEP,                                                        \
        QL_PW_LEGACY_BYTES, QL_PA_Q8_0_BYTES,                                                      \
        TILE_ROWS,          SPILL_FLOATS,                                                          \
        ql_pack_##T,        ql_pack_act_q8_0,                                                      \
        ql_quant_act_q8_0,  {tile_l0_1, tile_l0_2, tile_l0_3, tile_l0_4},                          \
        QL_QGEMM_IMPL};
#define GEMM_G0(T, F)                                                                              \
    static const ql_qgemm gemm_##T = {                                                             \
        QL_TYPE_Q8_0,      QL_LEGACY_STEP,                                                         \
        sizeof(ql_pw_g0),  QL_PA_Q8_0_BYTES,                                                       \
        TILE_ROWS,         SPILL_FLOATS,                                                           \
        ql_pack_##T,       ql_pack_act_q8_0,                                                       \
        ql_quant_act_q8_0, {tile_##F##_1, tile_##F##_2, tile_##F##_3, tile_##F##_4},               \
        QL_QGEMM_IMPL};
#define GEMM_G1(T)                                                                                 \
    static const ql_qgemm gemm_##T = {                                                             \
        QL_TYPE_Q8_1,      QL_LEGACY_STEP,                                                         \
        sizeof(ql_pw_g1),  sizeof(ql_pa_g1),                                                       \
        TILE_ROWS,         SPILL_FLOATS,                                                           \
        ql_pack_##T,       ql_pack_act_q8_1,                                                       \
        ql_quant_act_q8_1, {tile_g1_1, tile_g1_2, tile_g1_3, tile_g1_4},                           \
        QL_QGEMM_IMPL};
#define GEMM_K(T, F)                                                                               \
    static const ql_qgemm gemm_##T = {                                                             \
        QL_TYPE_Q8_K,      256,                                                                    \
        sizeof(ql_pw_k),   sizeof(ql_pa_k),                                                        \
        TILE_ROWS,         SPILL_FLOATS,                                                           \
        ql_pack_##T,       ql_pack_act_q8_K,                                                       \
        ql_quant_act_q8_K, {tile_##F##_1, tile_##F##_2, tile_##F##_3, tile_##F##_4},               \
        QL_QGEMM_IMPL};

GEMM_G0(q4_0, g0)
GEMM_G0(q5_0, g0)
GEMM_G0(q8_0, g0)
GEMM_G0(iq4_nl, g0i)
GEMM_L0(mxfp4)
GEMM_G1(q4_1)
GEMM_G1(q5_1)
GEMM_K(q2_K, kmin)
GEMM_K(q4_K, kmin)
GEMM_K(q5_K, kmin)
GEMM_K(q3_K, k)
GEMM_K(q6_K, k)
GEMM_K(iq4_xs, k)

/*
 * The dot product is the 1 x 1 tile over steps packed a few at a time on
 * the stack; the partial sums carry over between chunks through spill.
 */
enum { DOT_CHUNK = 4 };

static void qdot(const ql_qgemm *g, ql_qtile_fn tile, int64_t n, float *out, const void *x,
                 const void *y) {
    _Alignas(64) uint8_t wbuf[DOT_CHUNK * sizeof(ql_pw_k)];
    _Alignas(64) uint8_t abuf[DOT_CHUNK * sizeof(ql_pa_k)];
    _Alignas(64) float spill[SPILL_FLOATS];
    float res[QL_QTILE_MAX_COLS] = {0.0f};
    const int64_t ns = ql_qgemm_steps(g, n);
    for (int64_t s0 = 0; s0 < ns; s0 += DOT_CHUNK) {
        const int64_t k = ns - s0 < DOT_CHUNK ? ns - s0 : DOT_CHUNK;
        g->pack_w(x, s0, k, n, wbuf);
        g->pack_a(y, s0, k, n, abuf);
        const uint8_t *wp = wbuf, *ap = abuf;
        const int mode = (s0 > 0 ? QL_QTILE_LOAD : 0) | (s0 + k < ns ? QL_QTILE_STORE : 0);
        tile(k, &wp, &ap, spill, mode, res);
    }
    *out = res[0];
}

#define DOT(T, F)                                                                                  \
    static void dot_##T(int64_t n, float *restrict out, const void *restrict x,                    \
                        const void *restrict y) {                                                  \
        qdot(&gemm_##T, tile_##F##_1x1, n, out, x, y);                                             \
    }
DOT(q4_0, g0)
DOT(q5_0, g0)
DOT(q8_0, g0)
DOT(iq4_nl, g0i)
DOT(mxfp4, l0)
DOT(q4_1, g1)
DOT(q5_1, g1)
DOT(q2_K, kmin)
DOT(q4_K, kmin)
DOT(q5_K, kmin)
DOT(q3_K, k)
DOT(q6_K, k)
DOT(iq4_xs, k)

const ql_qgemm *ql_qgemm_get(ql_type t) {
    switch (t) {
    case QL_TYPE_Q4_0:
        return &gemm_q4_0;
    case QL_TYPE_Q4_1:
        return &gemm_q4_1;
    case QL_TYPE_Q5_0:
        return &gemm_q5_0;
    case QL_TYPE_Q5_1:
        return &gemm_q5_1;
    case QL_TYPE_Q8_0:
        return &gemm_q8_0;
    case QL_TYPE_Q2_K:
        return &gemm_q2_K;
    case QL_TYPE_Q3_K:
        return &gemm_q3_K;
    case QL_TYPE_Q4_K:
        return &gemm_q4_K;
    case QL_TYPE_Q5_K:
        return &gemm_q5_K;
    case QL_TYPE_Q6_K:
        return &gemm_q6_K;
    case QL_TYPE_IQ4_NL:
        return &gemm_iq4_nl;
    case QL_TYPE_IQ4_XS:
        return &gemm_iq4_xs;
    case QL_TYPE_MXFP4:
        return &gemm_mxfp4;
    default:
        return NULL;
    }
}

ql_vec_dot_fn ql_qdot_get(ql_type t) {
    switch (t) {
    case QL_TYPE_Q4_0:
        return dot_q4_0;
    case QL_TYPE_Q4_1:
        return dot_q4_1;
    case QL_TYPE_Q5_0:
        return dot_q5_0;
    case QL_TYPE_Q5_1:
        return dot_q5_1;
    case QL_TYPE_Q8_0:
        return dot_q8_0;
    case QL_TYPE_Q2_K:
        return dot_q2_K;
    case QL_TYPE_Q3_K:
        return dot_q3_K;
    case QL_TYPE_Q4_K:
        return dot_q4_K;
    case QL_TYPE_Q5_K:
        return dot_q5_K;
    case QL_TYPE_Q6_K:
        return dot_q6_K;
    case QL_TYPE_IQ4_NL:
        return dot_iq4_nl;
    case QL_TYPE_IQ4_XS:
        return dot_iq4_xs;
    case QL_TYPE_MXFP4:
        return dot_mxfp4;
    default:
        return NULL;
    }
}

bool ql_qdot_ggml_order(ql_type t) {
    switch (t) {
    case QL_TYPE_Q4_0:
    case QL_TYPE_Q4_1:
    case QL_TYPE_Q5_0:
    case QL_TYPE_Q5_1:
    case QL_TYPE_Q8_0:
    case QL_TYPE_IQ4_NL:
        return true;
    default:
        return false;
    }
}

#else

bool ql_qdot_ggml_order(ql_type t) {
    (void)t;
    return false;
}

const ql_qgemm *ql_qgemm_get(ql_type t) {
    (void)t;
    return NULL;
}

ql_vec_dot_fn ql_qdot_get(ql_type t) {
    (void)t;
    return NULL;
}

#endif
