/*
 * dot_x86.c - SIMD dot products and tiled products for every quantized
 * weight type, on the packed steps of qpack.h. AVX-512 VNNI where the build
 * has it, else AVX2 (+FMA, F16C); other builds get none and matmul.c keeps
 * the scalar dots of src/quant.
 *
 * The integer part of every dot is exact, as in the scalar reference: a
 * legacy step is one VNNI u8 x s8 dot (AVX-512) or the sign trick with
 * maddubs (AVX2, |w| <= 128 and |y| <= 127 keep the 16-bit pair sums below
 * 2^15), a k step is 16-bit multiply-adds of level * scale (<= 4096) with
 * int8 activations, at most 32 products per int32 lane (< 2^24, so even
 * the conversion to float is exact). Only the float combination differs
 * from the reference: per lane, scaled partial sums accumulate across
 * steps in vector registers and the lanes are added at the end.
 *
 * Each output element has its own accumulator and goes through the same
 * operations in every tile shape, so a tile of R x C equals C x R separate
 * 1 x 1 dots bit for bit (qgemm.h).
 */
#include "qgemm.h"

#include <stddef.h>

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
#define QL_QGEMM_IMPL "avx512-vnni"
#define PA_Q8_0_BYTES sizeof(ql_pa_legacy)

QL_INLINE qv qv_zero(void) { return _mm512_setzero_ps(); }
QL_INLINE qv qv_load(const float *p) { return _mm512_load_ps(p); }
QL_INLINE void qv_store(float *p, qv v) { _mm512_store_ps(p, v); }
QL_INLINE float qv_sum(qv v) { return _mm512_reduce_add_ps(v); }

/* q8_0 partners: the activation step's correction is the starting value of every lane. */
QL_INLINE qv pair_l0(qv acc, const uint8_t *wp, const uint8_t *ap) {
    const ql_pw_legacy *w = (const ql_pw_legacy *)wp;
    const ql_pa_legacy *a = (const ql_pa_legacy *)ap;
    __m512i t = _mm512_load_si512(a->x.corr);
    t = _mm512_dpbusd_epi32(t, _mm512_load_si512(w->q), _mm512_load_si512(a->y));
    const __m512 scale = _mm512_mul_ps(_mm512_load_ps(w->d), _mm512_load_ps(a->d));
    return _mm512_fmadd_ps(_mm512_cvtepi32_ps(t), scale, acc);
}

/* q8_1 partners: non-negative weights, plus the block's min times the activation sum s. */
QL_INLINE qv pair_l1(qv acc, const uint8_t *wp, const uint8_t *ap) {
    const ql_pw_legacy *w = (const ql_pw_legacy *)wp;
    const ql_pa_legacy *a = (const ql_pa_legacy *)ap;
    const __m512i t = _mm512_dpbusd_epi32(_mm512_setzero_si512(), _mm512_load_si512(w->q),
                                          _mm512_load_si512(a->y));
    const __m512 scale = _mm512_mul_ps(_mm512_load_ps(w->d), _mm512_load_ps(a->d));
    acc = _mm512_fmadd_ps(_mm512_cvtepi32_ps(t), scale, acc);
    return _mm512_fmadd_ps(_mm512_load_ps(w->m), _mm512_load_ps(a->x.s), acc);
}

QL_INLINE qv pair_k(qv acc, const uint8_t *wp, const uint8_t *ap, const int has_min) {
    const ql_pw_k *w = (const ql_pw_k *)wp;
    const ql_pa_k *a = (const ql_pa_k *)ap;
    __m512i t = _mm512_setzero_si512();
    QL_UNROLL for (int i = 0; i < 8; i++)
        t = _mm512_dpwssd_epi32(t, _mm512_load_si512(w->q + 32 * i), _mm512_load_si512(a->y + 32 * i));
    acc = _mm512_fmadd_ps(_mm512_cvtepi32_ps(t), _mm512_set1_ps(w->d * a->d), acc);
    if (has_min) {
        const __m256i m = _mm256_madd_epi16(_mm256_load_si256((const __m256i *)w->mins),
                                            _mm256_load_si256((const __m256i *)a->bsums));
        acc = _mm512_mask3_fmadd_ps(_mm512_castps256_ps512(_mm256_cvtepi32_ps(m)),
                                    _mm512_set1_ps(-(w->dmin * a->d)), acc, 0x00ff);
    }
    return acc;
}

/* ------------------------------------------------------------------- AVX2 */
#else

typedef __m256 qv;
enum { QV_LANES = 8, TILE_ROWS = 2 };
#define QL_QGEMM_IMPL "avx2"
#define PA_Q8_0_BYTES offsetof(ql_pa_legacy, x)

QL_INLINE qv qv_zero(void) { return _mm256_setzero_ps(); }
QL_INLINE qv qv_load(const float *p) { return _mm256_load_ps(p); }
QL_INLINE void qv_store(float *p, qv v) { _mm256_store_ps(p, v); }
QL_INLINE float qv_sum(qv v) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

QL_INLINE qv pair_l0(qv acc, const uint8_t *wp, const uint8_t *ap) {
    const ql_pw_legacy *w = (const ql_pw_legacy *)wp;
    const ql_pa_legacy *a = (const ql_pa_legacy *)ap;
    QL_UNROLL for (int h = 0; h < 2; h++) {
        const __m256i q = _mm256_load_si256((const __m256i *)(w->q + 32 * h));
        const __m256i y = _mm256_load_si256((const __m256i *)(a->y + 32 * h));
        const __m256i p16 = _mm256_maddubs_epi16(_mm256_sign_epi8(q, q), _mm256_sign_epi8(y, q));
        const __m256i p32 = _mm256_madd_epi16(p16, _mm256_set1_epi16(1));
        const __m256 scale = _mm256_mul_ps(_mm256_load_ps(w->d + 8 * h), _mm256_load_ps(a->d + 8 * h));
        acc = _mm256_fmadd_ps(_mm256_cvtepi32_ps(p32), scale, acc);
    }
    return acc;
}

QL_INLINE qv pair_l1(qv acc, const uint8_t *wp, const uint8_t *ap) {
    const ql_pw_legacy *w = (const ql_pw_legacy *)wp;
    const ql_pa_legacy *a = (const ql_pa_legacy *)ap;
    QL_UNROLL for (int h = 0; h < 2; h++) {
        const __m256i q = _mm256_load_si256((const __m256i *)(w->q + 32 * h));
        const __m256i y = _mm256_load_si256((const __m256i *)(a->y + 32 * h));
        const __m256i p32 = _mm256_madd_epi16(_mm256_maddubs_epi16(q, y), _mm256_set1_epi16(1));
        const __m256 scale = _mm256_mul_ps(_mm256_load_ps(w->d + 8 * h), _mm256_load_ps(a->d + 8 * h));
        acc = _mm256_fmadd_ps(_mm256_cvtepi32_ps(p32), scale, acc);
        acc = _mm256_fmadd_ps(_mm256_load_ps(w->m + 8 * h), _mm256_load_ps(a->x.s + 8 * h), acc);
    }
    return acc;
}

QL_INLINE qv pair_k(qv acc, const uint8_t *wp, const uint8_t *ap, const int has_min) {
    const ql_pw_k *w = (const ql_pw_k *)wp;
    const ql_pa_k *a = (const ql_pa_k *)ap;
    __m256i t = _mm256_setzero_si256();
    QL_UNROLL for (int i = 0; i < 16; i++)
        t = _mm256_add_epi32(t, _mm256_madd_epi16(_mm256_load_si256((const __m256i *)(w->q + 16 * i)),
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

QL_INLINE qv pair_k_min(qv acc, const uint8_t *w, const uint8_t *a) { return pair_k(acc, w, a, 1); }
QL_INLINE qv pair_k_nomin(qv acc, const uint8_t *w, const uint8_t *a) { return pair_k(acc, w, a, 0); }

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
        QL_UNROLL for (int r = 0; r < (R); r++) QL_UNROLL for (int c = 0; c < (C); c++)           \
            acc[r][c] = (mode & QL_QTILE_LOAD) ? qv_load(spill + (r * (C) + c) * QV_LANES)         \
                                               : qv_zero();                                        \
        for (int64_t s = 0; s < ns; s++) {                                                         \
            QL_UNROLL for (int r = 0; r < (R); r++) {                                              \
                const uint8_t *ws = w[r] + (size_t)s * (W_STEP);                                   \
                QL_UNROLL for (int c = 0; c < (C); c++)                                            \
                    acc[r][c] = PAIR(acc[r][c], ws, a[c] + (size_t)s * (A_STEP));                  \
            }                                                                                      \
        }                                                                                          \
        QL_UNROLL for (int r = 0; r < (R); r++) QL_UNROLL for (int c = 0; c < (C); c++) {         \
            if (mode & QL_QTILE_STORE)                                                             \
                qv_store(spill + (r * (C) + c) * QV_LANES, acc[r][c]);                             \
            else                                                                                   \
                res[r * QL_QTILE_MAX_COLS + c] = qv_sum(acc[r][c]);                                \
        }                                                                                          \
    }

#define DEFINE_FAMILY(F, PAIR, W_STEP, A_STEP)                                                     \
    DEFINE_TILE(tile_##F##_1x1, PAIR, W_STEP, A_STEP, 1, 1)                                        \
    DEFINE_TILE(tile_##F##_1, PAIR, W_STEP, A_STEP, TILE_ROWS, 1)                                  \
    DEFINE_TILE(tile_##F##_2, PAIR, W_STEP, A_STEP, TILE_ROWS, 2)                                  \
    DEFINE_TILE(tile_##F##_3, PAIR, W_STEP, A_STEP, TILE_ROWS, 3)                                  \
    DEFINE_TILE(tile_##F##_4, PAIR, W_STEP, A_STEP, TILE_ROWS, 4)

DEFINE_FAMILY(l0, pair_l0, QL_PW_LEGACY_BYTES, PA_Q8_0_BYTES)
DEFINE_FAMILY(l1, pair_l1, QL_PW_LEGACY_MIN_BYTES, sizeof(ql_pa_legacy))
DEFINE_FAMILY(kmin, pair_k_min, sizeof(ql_pw_k), sizeof(ql_pa_k))
DEFINE_FAMILY(k, pair_k_nomin, sizeof(ql_pw_k), sizeof(ql_pa_k))

/* ---------------------------------------------------------------- tables */

#define SPILL_FLOATS ((size_t)TILE_ROWS * QL_QTILE_MAX_COLS * QV_LANES)

#define GEMM_L0(T)                                                                                 \
    static const ql_qgemm gemm_##T = {                                                             \
        QL_TYPE_Q8_0, 64, QL_PW_LEGACY_BYTES, PA_Q8_0_BYTES, TILE_ROWS, SPILL_FLOATS,              \
        ql_pack_##T, ql_pack_act_q8_0, {tile_l0_1, tile_l0_2, tile_l0_3, tile_l0_4},               \
        QL_QGEMM_IMPL};
#define GEMM_L1(T)                                                                                 \
    static const ql_qgemm gemm_##T = {                                                             \
        QL_TYPE_Q8_1, 64, QL_PW_LEGACY_MIN_BYTES, sizeof(ql_pa_legacy), TILE_ROWS, SPILL_FLOATS,   \
        ql_pack_##T, ql_pack_act_q8_1, {tile_l1_1, tile_l1_2, tile_l1_3, tile_l1_4},               \
        QL_QGEMM_IMPL};
#define GEMM_K(T, F)                                                                               \
    static const ql_qgemm gemm_##T = {                                                             \
        QL_TYPE_Q8_K, 256, sizeof(ql_pw_k), sizeof(ql_pa_k), TILE_ROWS, SPILL_FLOATS,              \
        ql_pack_##T, ql_pack_act_q8_K, {tile_##F##_1, tile_##F##_2, tile_##F##_3, tile_##F##_4},   \
        QL_QGEMM_IMPL};

GEMM_L0(q4_0)
GEMM_L0(q5_0)
GEMM_L0(q8_0)
GEMM_L0(iq4_nl)
GEMM_L0(mxfp4)
GEMM_L1(q4_1)
GEMM_L1(q5_1)
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

QL_INLINE void qdot(const ql_qgemm *g, ql_qtile_fn tile, int64_t n, float *out, const void *x,
                    const void *y) {
    _Alignas(64) uint8_t wbuf[DOT_CHUNK * sizeof(ql_pw_k)];
    _Alignas(64) uint8_t abuf[DOT_CHUNK * sizeof(ql_pa_k)];
    _Alignas(64) float spill[QV_LANES];
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
DOT(q4_0, l0)
DOT(q5_0, l0)
DOT(q8_0, l0)
DOT(iq4_nl, l0)
DOT(mxfp4, l0)
DOT(q4_1, l1)
DOT(q5_1, l1)
DOT(q2_K, kmin)
DOT(q4_K, kmin)
DOT(q5_K, kmin)
DOT(q3_K, k)
DOT(q6_K, k)
DOT(iq4_xs, k)

const ql_qgemm *ql_qgemm_get(ql_type t) {
    switch (t) {
    case QL_TYPE_Q4_0: return &gemm_q4_0;
    case QL_TYPE_Q4_1: return &gemm_q4_1;
    case QL_TYPE_Q5_0: return &gemm_q5_0;
    case QL_TYPE_Q5_1: return &gemm_q5_1;
    case QL_TYPE_Q8_0: return &gemm_q8_0;
    case QL_TYPE_Q2_K: return &gemm_q2_K;
    case QL_TYPE_Q3_K: return &gemm_q3_K;
    case QL_TYPE_Q4_K: return &gemm_q4_K;
    case QL_TYPE_Q5_K: return &gemm_q5_K;
    case QL_TYPE_Q6_K: return &gemm_q6_K;
    case QL_TYPE_IQ4_NL: return &gemm_iq4_nl;
    case QL_TYPE_IQ4_XS: return &gemm_iq4_xs;
    case QL_TYPE_MXFP4: return &gemm_mxfp4;
    default: return NULL;
    }
}

ql_vec_dot_fn ql_qdot_get(ql_type t) {
    switch (t) {
    case QL_TYPE_Q4_0: return dot_q4_0;
    case QL_TYPE_Q4_1: return dot_q4_1;
    case QL_TYPE_Q5_0: return dot_q5_0;
    case QL_TYPE_Q5_1: return dot_q5_1;
    case QL_TYPE_Q8_0: return dot_q8_0;
    case QL_TYPE_Q2_K: return dot_q2_K;
    case QL_TYPE_Q3_K: return dot_q3_K;
    case QL_TYPE_Q4_K: return dot_q4_K;
    case QL_TYPE_Q5_K: return dot_q5_K;
    case QL_TYPE_Q6_K: return dot_q6_K;
    case QL_TYPE_IQ4_NL: return dot_iq4_nl;
    case QL_TYPE_IQ4_XS: return dot_iq4_xs;
    case QL_TYPE_MXFP4: return dot_mxfp4;
    default: return NULL;
    }
}

#else

const ql_qgemm *ql_qgemm_get(ql_type t) {
    (void)t;
    return NULL;
}

ql_vec_dot_fn ql_qdot_get(ql_type t) {
    (void)t;
    return NULL;
}

#endif
