/*
 * pack_x86.c - repacking of quantized rows into the step layouts of
 * qpack.h: the weight formats decoded to plain integers (in element order,
 * k-quant levels multiplied by their sub-block scales), the activation
 * formats widened and given per-lane scales.
 *
 * Packing runs once per weight row and block of activation rows in a tiled
 * product, and once per step in the 1 x 1 dot, so it is written with
 * 128/256-bit SIMD too; AVX2 is enough for it, and AVX-512 builds use the
 * same code. Decoding follows the scalar dequantizers of src/quant (which
 * the tests check it against through the dot products).
 */
#include "qpack.h"

#if defined(QL_QK_AVX2)

#include <immintrin.h>
#include <stdbool.h>
#include <stddef.h>
#include <string.h>

#include "../quant/blocks.h"
#include "../quant/quant.h"

#define QL_INLINE static inline __attribute__((always_inline))

static inline float half_to_float(ql_fp16 h) {
    return _cvtsh_ss(h);
}

/* ---- shared decoding helpers ---- */

/* 16 bytes of nibbles -> 32 values: the low nibbles (elements 0-15), then the high ones. */
QL_INLINE __m256i nibbles32(const uint8_t *qs) {
    const __m128i b = _mm_loadu_si128((const __m128i *)qs);
    const __m128i m = _mm_set1_epi8(0x0f);
    return _mm256_set_m128i(_mm_and_si128(_mm_srli_epi16(b, 4), m), _mm_and_si128(b, m));
}

/* 32 bits -> 32 bytes, 0xff where bit j of the word is set. */
QL_INLINE __m256i bits32(uint32_t bits) {
    const __m256i spread = _mm256_setr_epi8(0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1, 2, 2, 2,
                                            2, 2, 2, 2, 2, 3, 3, 3, 3, 3, 3, 3, 3);
    const __m256i select = _mm256_set1_epi64x(0x8040201008040201LL);
    const __m256i v = _mm256_shuffle_epi8(_mm256_set1_epi32((int)bits), spread);
    return _mm256_cmpeq_epi8(_mm256_and_si256(v, select), select);
}

/* A 16-entry int8 table looked up by 32 indices 0..15. */
QL_INLINE __m256i lookup16(const int8_t table[16], __m256i idx) {
    const __m128i t = _mm_loadu_si128((const __m128i *)table);
    return _mm256_shuffle_epi8(_mm256_set_m128i(t, t), idx);
}

static inline uint32_t load_u32(const uint8_t *p) {
    uint32_t v;
    memcpy(&v, p, sizeof v);
    return v;
}

/* ---- legacy weights ---- */

enum legacy_kind { L_Q4_0, L_Q4_1, L_Q5_0, L_Q5_1, L_Q8_0, L_IQ4_NL, L_MXFP4 };

/* One block: its 32 values in element order, its scale and (q4_1, q5_1) its min. */
QL_INLINE __m256i decode_legacy(enum legacy_kind kind, const uint8_t *blk, float *d, float *m) {
    switch (kind) {
    case L_Q4_0: {
        const block_q4_0 *b = (const block_q4_0 *)blk;
        *d = half_to_float(b->d);
        return _mm256_sub_epi8(nibbles32(b->qs), _mm256_set1_epi8(8));
    }
    case L_Q4_1: {
        const block_q4_1 *b = (const block_q4_1 *)blk;
        *d = half_to_float(b->d);
        *m = half_to_float(b->m);
        return nibbles32(b->qs);
    }
    case L_Q5_0: {
        const block_q5_0 *b = (const block_q5_0 *)blk;
        *d = half_to_float(b->d);
        const __m256i high = _mm256_and_si256(bits32(load_u32(b->qh)), _mm256_set1_epi8(0x10));
        return _mm256_sub_epi8(_mm256_or_si256(nibbles32(b->qs), high), _mm256_set1_epi8(16));
    }
    case L_Q5_1: {
        const block_q5_1 *b = (const block_q5_1 *)blk;
        *d = half_to_float(b->d);
        *m = half_to_float(b->m);
        const __m256i high = _mm256_and_si256(bits32(load_u32(b->qh)), _mm256_set1_epi8(0x10));
        return _mm256_or_si256(nibbles32(b->qs), high);
    }
    case L_Q8_0: {
        const block_q8_0 *b = (const block_q8_0 *)blk;
        *d = half_to_float(b->d);
        return _mm256_loadu_si256((const __m256i *)b->qs);
    }
    case L_IQ4_NL: {
        const block_iq4_nl *b = (const block_iq4_nl *)blk;
        *d = half_to_float(b->d);
        return lookup16(ql_kvalues_iq4nl, nibbles32(b->qs));
    }
    case L_MXFP4: {
        const block_mxfp4 *b = (const block_mxfp4 *)blk;
        *d = ql_e8m0_to_fp32_half(b->e);
        return lookup16(ql_kvalues_mxfp4, nibbles32(b->qs));
    }
    }
    return _mm256_setzero_si256();
}

/* Per-lane scales of a step from its 4 blocks' values. */
QL_INLINE void put_lane_scales(float lanes[16], const float v[4]) {
    for (int i = 0; i < QL_QK_LANES; i++) lanes[i] = v[ql_lane_block(i)];
}

QL_INLINE void pack_legacy(enum legacy_kind kind, size_t block_bytes, const void *row, int64_t s0,
                           int64_t ns, int64_t n, void *dst) {
    const int64_t nb = n / 32;
    for (int64_t i = 0; i < ns; i++) {
        ql_pw_legacy *p = (ql_pw_legacy *)((uint8_t *)dst + (size_t)i * QL_PW_LEGACY_BYTES);
        float d[4], unused;
        for (int h = 0; h < 4; h++) {
            const int64_t b = 4 * (s0 + i) + h;
            d[h] = 0.0f;
            __m256i q = _mm256_setzero_si256();
            if (b < nb)
                q = decode_legacy(kind, (const uint8_t *)row + (size_t)b * block_bytes, &d[h],
                                  &unused);
#if defined(QL_QK_AVX512)
            /* u8 operand of the VNNI dot: the signed value + 128 */
            q = _mm256_xor_si256(q, _mm256_set1_epi8((char)0x80));
#endif
            _mm256_store_si256((__m256i *)(p->q + 32 * h), q);
        }
        put_lane_scales(p->d, d);
    }
}

/* q4_1, q5_1: levels as they are (0..31), scales and mins per block. */
QL_INLINE void pack_g1(enum legacy_kind kind, size_t block_bytes, const void *row, int64_t s0,
                       int64_t ns, int64_t n, void *dst) {
    const int64_t nb = n / 32;
    for (int64_t i = 0; i < ns; i++) {
        ql_pw_g1 *p = (ql_pw_g1 *)((uint8_t *)dst + (size_t)i * sizeof(ql_pw_g1));
        for (int h = 0; h < 4; h++) {
            const int64_t b = 4 * (s0 + i) + h;
            p->d[h] = p->m[h] = 0.0f;
            __m256i q = _mm256_setzero_si256();
            if (b < nb)
                q = decode_legacy(kind, (const uint8_t *)row + (size_t)b * block_bytes, &p->d[h],
                                  &p->m[h]);
            _mm256_store_si256((__m256i *)(p->q + 32 * h), q);
        }
    }
}

/*
 * q4_0, q5_0, q8_0, iq4_nl for the g0 tiles. iq4_nl's odd last block is
 * added after the lanes (qpack.h): its scale moves to tail_d, so the lanes
 * take it with scale 0, an exact zero.
 */
QL_INLINE void pack_g0(enum legacy_kind kind, size_t block_bytes, const void *row, int64_t s0,
                       int64_t ns, int64_t n, void *dst) {
    const int64_t nb = n / 32;
    for (int64_t i = 0; i < ns; i++) {
        ql_pw_g0 *p = (ql_pw_g0 *)((uint8_t *)dst + (size_t)i * sizeof(ql_pw_g0));
        float unused;
        p->tail_d = 0.0f;
        p->tail_h = -1;
        p->n_blocks = nb - 4 * (s0 + i) < 4 ? (int32_t)(nb - 4 * (s0 + i)) : 4;
        for (int h = 0; h < 4; h++) {
            const int64_t b = 4 * (s0 + i) + h;
            p->d[h] = 0.0f;
            __m256i q = _mm256_setzero_si256();
            if (b < nb)
                q = decode_legacy(kind, (const uint8_t *)row + (size_t)b * block_bytes, &p->d[h],
                                  &unused);
            if (kind == L_IQ4_NL && nb % 2 == 1 && b == nb - 1) {
                p->tail_d = p->d[h];
                p->tail_h = h;
                p->d[h] = 0.0f;
            }
#if defined(QL_QK_AVX512)
            q = _mm256_xor_si256(q, _mm256_set1_epi8((char)0x80));
#endif
            _mm256_store_si256((__m256i *)(p->q + 32 * h), q);
        }
    }
}

#define LEGACY_PACKER(T, KIND, FAMILY)                                                             \
    void ql_pack_##T(const void *row, int64_t s0, int64_t ns, int64_t n, void *dst) {              \
        FAMILY(KIND, sizeof(block_##T), row, s0, ns, n, dst);                                      \
    }
LEGACY_PACKER(q4_0, L_Q4_0, pack_g0)
LEGACY_PACKER(q4_1, L_Q4_1, pack_g1)
LEGACY_PACKER(q5_0, L_Q5_0, pack_g0)
LEGACY_PACKER(q5_1, L_Q5_1, pack_g1)
LEGACY_PACKER(q8_0, L_Q8_0, pack_g0)
LEGACY_PACKER(iq4_nl, L_IQ4_NL, pack_g0)
LEGACY_PACKER(mxfp4, L_MXFP4, pack_legacy)

/* ---- q8_0 and q8_1 activations ---- */

/* q8_0 activations of a legacy step: the values, the scales per lane, the corrections. */
QL_INLINE void put_act_q8_0(ql_pa_legacy *p, int h, __m256i y) {
    _mm256_store_si256((__m256i *)(p->y + 32 * h), y);
#if defined(QL_QK_AVX512)
    /* -128 * (y0 + y1 + y2 + y3) per lane cancels the +128 on the weights */
    const __m256i pairs = _mm256_maddubs_epi16(_mm256_set1_epi8(1), y);
    _mm256_store_si256((__m256i *)(p->corr + 8 * h),
                       _mm256_madd_epi16(pairs, _mm256_set1_epi16(-128)));
#endif
}

QL_INLINE void put_act_scales(ql_pa_legacy *p, const float d[4]) {
    put_lane_scales(p->d, d);
#if defined(QL_QK_AVX512)
    for (int h = 0; h < 4; h++) p->dh[h] = d[h];
#endif
}

void ql_pack_act_q8_0(const void *row, int64_t s0, int64_t ns, int64_t n, void *dst) {
    const block_q8_0 *x = row;
    const int64_t nb = n / 32;
    for (int64_t i = 0; i < ns; i++) {
        ql_pa_legacy *p = (ql_pa_legacy *)((uint8_t *)dst + (size_t)i * QL_PA_Q8_0_BYTES);
        float d[4];
        for (int h = 0; h < 4; h++) {
            const int64_t b = 4 * (s0 + i) + h;
            __m256i y = _mm256_setzero_si256();
            d[h] = 0.0f;
            if (b < nb) {
                y = _mm256_loadu_si256((const __m256i *)x[b].qs);
                d[h] = half_to_float(x[b].d);
            }
            put_act_q8_0(p, h, y);
        }
        put_act_scales(p, d);
    }
}

void ql_pack_act_q8_1(const void *row, int64_t s0, int64_t ns, int64_t n, void *dst) {
    const block_q8_1 *x = row;
    const int64_t nb = n / 32;
    for (int64_t i = 0; i < ns; i++) {
        ql_pa_g1 *p = (ql_pa_g1 *)((uint8_t *)dst + (size_t)i * sizeof(ql_pa_g1));
        for (int h = 0; h < 4; h++) {
            const int64_t b = 4 * (s0 + i) + h;
            __m256i y = _mm256_setzero_si256();
            p->d[h] = p->s[h] = 0.0f;
            if (b < nb) {
                y = _mm256_loadu_si256((const __m256i *)x[b].qs);
                p->d[h] = half_to_float(x[b].d);
                p->s[h] = half_to_float(x[b].s);
            }
            _mm256_store_si256((__m256i *)(p->y + 32 * h), y);
        }
    }
}

/* ---- k-quant weights ---- */

/* Widens 256 levels to int16 times their per-16 scale. */
QL_INLINE void put_k_levels(ql_pw_k *p, const int8_t v[256], const int16_t sc[16]) {
    for (int j = 0; j < 16; j++) {
        const __m256i w = _mm256_cvtepi8_epi16(_mm_load_si128((const __m128i *)(v + 16 * j)));
        _mm256_store_si256((__m256i *)(p->q + 16 * j),
                           _mm256_mullo_epi16(w, _mm256_set1_epi16(sc[j])));
    }
}

QL_INLINE void put_k_header(ql_pw_k *p, float d, float dmin, const int16_t mins[16]) {
    p->d = d;
    p->dmin = dmin;
    if (mins)
        memcpy(p->mins, mins, sizeof p->mins);
    else
        memset(p->mins, 0, sizeof p->mins);
}

/* Sub-block j's 6-bit scale and min of q4_K / q5_K. */
static inline void k4_scale_min(const uint8_t s[12], int j, int16_t *sc, int16_t *m) {
    if (j < 4) {
        *sc = s[j] & 63;
        *m = s[j + 4] & 63;
    } else {
        *sc = (int16_t)((s[j + 4] & 0xF) | ((s[j - 4] >> 6) << 4));
        *m = (int16_t)((s[j + 4] >> 4) | ((s[j] >> 6) << 4));
    }
}

static void k4_scales(const uint8_t s[12], int16_t sc16[16], int16_t min16[16]) {
    for (int j = 0; j < 8; j++) {
        int16_t sc, m;
        k4_scale_min(s, j, &sc, &m);
        sc16[2 * j] = sc16[2 * j + 1] = sc;
        min16[2 * j] = min16[2 * j + 1] = m;
    }
}

#define STEP_K(dst, i) ((ql_pw_k *)((uint8_t *)(dst) + (size_t)(i) * sizeof(ql_pw_k)))

void ql_pack_q4_K(const void *row, int64_t s0, int64_t ns, int64_t n, void *dst) {
    (void)n;
    const block_q4_K *x = (const block_q4_K *)row + s0;
    const __m256i low4 = _mm256_set1_epi8(0x0f);
    for (int64_t i = 0; i < ns; i++) {
        _Alignas(32) int8_t v[256];
        int16_t sc[16], mins[16];
        for (int g = 0; g < 4; g++) {
            const __m256i b = _mm256_loadu_si256((const __m256i *)(x[i].qs + 32 * g));
            _mm256_store_si256((__m256i *)(v + 64 * g), _mm256_and_si256(b, low4));
            _mm256_store_si256((__m256i *)(v + 64 * g + 32),
                               _mm256_and_si256(_mm256_srli_epi16(b, 4), low4));
        }
        k4_scales(x[i].scales, sc, mins);
        put_k_levels(STEP_K(dst, i), v, sc);
        put_k_header(STEP_K(dst, i), half_to_float(x[i].d), half_to_float(x[i].dmin), mins);
    }
}

void ql_pack_q5_K(const void *row, int64_t s0, int64_t ns, int64_t n, void *dst) {
    (void)n;
    const block_q5_K *x = (const block_q5_K *)row + s0;
    const __m256i low4 = _mm256_set1_epi8(0x0f), five = _mm256_set1_epi8(0x10);
    for (int64_t i = 0; i < ns; i++) {
        _Alignas(32) int8_t v[256];
        int16_t sc[16], mins[16];
        const __m256i qh = _mm256_loadu_si256((const __m256i *)x[i].qh);
        for (int g = 0; g < 4; g++) {
            const __m256i b = _mm256_loadu_si256((const __m256i *)(x[i].qs + 32 * g));
            /* sub-block j (elements 32j..32j+31) keeps its fifth bits in bit j of qh */
            const __m256i bit_lo = _mm256_set1_epi8((char)(1 << (2 * g)));
            const __m256i bit_hi = _mm256_set1_epi8((char)(1 << (2 * g + 1)));
            const __m256i h_lo =
                _mm256_and_si256(_mm256_cmpeq_epi8(_mm256_and_si256(qh, bit_lo), bit_lo), five);
            const __m256i h_hi =
                _mm256_and_si256(_mm256_cmpeq_epi8(_mm256_and_si256(qh, bit_hi), bit_hi), five);
            _mm256_store_si256((__m256i *)(v + 64 * g),
                               _mm256_or_si256(_mm256_and_si256(b, low4), h_lo));
            _mm256_store_si256(
                (__m256i *)(v + 64 * g + 32),
                _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(b, 4), low4), h_hi));
        }
        k4_scales(x[i].scales, sc, mins);
        put_k_levels(STEP_K(dst, i), v, sc);
        put_k_header(STEP_K(dst, i), half_to_float(x[i].d), half_to_float(x[i].dmin), mins);
    }
}

void ql_pack_q6_K(const void *row, int64_t s0, int64_t ns, int64_t n, void *dst) {
    (void)n;
    const block_q6_K *x = (const block_q6_K *)row + s0;
    const __m256i low4 = _mm256_set1_epi8(0x0f), two = _mm256_set1_epi8(3);
    const __m256i bias = _mm256_set1_epi8(32);
    for (int64_t i = 0; i < ns; i++) {
        _Alignas(32) int8_t v[256];
        int16_t sc[16];
        for (int half = 0; half < 2; half++) {
            /* quarter k of a half: low nibbles of ql[0..31] / ql[32..63] (k = 0, 1), then the
             * high nibbles (k = 2, 3); its top two bits are bits 2k, 2k+1 of qh */
            const uint8_t *ql = x[i].ql + 64 * half, *qhp = x[i].qh + 32 * half;
            const __m256i a = _mm256_loadu_si256((const __m256i *)ql);
            const __m256i b = _mm256_loadu_si256((const __m256i *)(ql + 32));
            const __m256i h = _mm256_loadu_si256((const __m256i *)qhp);
            const __m256i lows[4] = {_mm256_and_si256(a, low4), _mm256_and_si256(b, low4),
                                     _mm256_and_si256(_mm256_srli_epi16(a, 4), low4),
                                     _mm256_and_si256(_mm256_srli_epi16(b, 4), low4)};
            for (int k = 0; k < 4; k++) {
                const __m256i hi = _mm256_and_si256(_mm256_srli_epi16(h, 2 * k), two);
                const __m256i lv = _mm256_or_si256(lows[k], _mm256_slli_epi16(hi, 4));
                _mm256_store_si256((__m256i *)(v + 128 * half + 32 * k), _mm256_sub_epi8(lv, bias));
            }
        }
        for (int j = 0; j < 16; j++) sc[j] = x[i].scales[j];
        put_k_levels(STEP_K(dst, i), v, sc);
        put_k_header(STEP_K(dst, i), half_to_float(x[i].d), 0.0f, NULL);
    }
}

/* The 2-bit fields of q2_K / q3_K: quarter k of half h is bits 2k..2k+1 of qs[32h..32h+31]. */
QL_INLINE void crumbs256(const uint8_t qs[64], int8_t v[256]) {
    const __m256i three = _mm256_set1_epi8(3);
    for (int half = 0; half < 2; half++) {
        const __m256i b = _mm256_loadu_si256((const __m256i *)(qs + 32 * half));
        for (int k = 0; k < 4; k++)
            _mm256_store_si256((__m256i *)(v + 128 * half + 32 * k),
                               _mm256_and_si256(_mm256_srli_epi16(b, 2 * k), three));
    }
}

void ql_pack_q2_K(const void *row, int64_t s0, int64_t ns, int64_t n, void *dst) {
    (void)n;
    const block_q2_K *x = (const block_q2_K *)row + s0;
    for (int64_t i = 0; i < ns; i++) {
        _Alignas(32) int8_t v[256];
        int16_t sc[16], mins[16];
        crumbs256(x[i].qs, v);
        for (int j = 0; j < 16; j++) {
            sc[j] = x[i].scales[j] & 0xF;
            mins[j] = x[i].scales[j] >> 4;
        }
        put_k_levels(STEP_K(dst, i), v, sc);
        put_k_header(STEP_K(dst, i), half_to_float(x[i].d), half_to_float(x[i].dmin), mins);
    }
}

static inline int16_t q3_K_scale(const uint8_t packed[12], int j) {
    const int low = j < 8 ? packed[j] & 0xF : packed[j - 8] >> 4;
    const int high = (packed[8 + j % 4] >> (2 * (j / 4))) & 3;
    return (int16_t)((low | (high << 4)) - 32);
}

void ql_pack_q3_K(const void *row, int64_t s0, int64_t ns, int64_t n, void *dst) {
    (void)n;
    const block_q3_K *x = (const block_q3_K *)row + s0;
    const __m256i four = _mm256_set1_epi8(4);
    for (int64_t i = 0; i < ns; i++) {
        _Alignas(32) int8_t v[256];
        int16_t sc[16];
        crumbs256(x[i].qs, v);
        /* element e's high bit is bit e/32 of hmask[e % 32]; clear means level - 4 */
        const __m256i hm = _mm256_loadu_si256((const __m256i *)x[i].hmask);
        for (int k = 0; k < 8; k++) {
            const __m256i bit = _mm256_set1_epi8((char)(1 << k));
            const __m256i set = _mm256_cmpeq_epi8(_mm256_and_si256(hm, bit), bit);
            const __m256i sub = _mm256_andnot_si256(set, four);
            __m256i *p = (__m256i *)(v + 32 * k);
            _mm256_store_si256(p, _mm256_sub_epi8(_mm256_load_si256(p), sub));
        }
        for (int j = 0; j < 16; j++) sc[j] = q3_K_scale(x[i].scales, j);
        put_k_levels(STEP_K(dst, i), v, sc);
        put_k_header(STEP_K(dst, i), half_to_float(x[i].d), 0.0f, NULL);
    }
}

void ql_pack_iq4_xs(const void *row, int64_t s0, int64_t ns, int64_t n, void *dst) {
    (void)n;
    const block_iq4_xs *x = (const block_iq4_xs *)row + s0;
    for (int64_t i = 0; i < ns; i++) {
        _Alignas(32) int8_t v[256];
        int16_t sc[16];
        for (int ib = 0; ib < 8; ib++) {
            _mm256_store_si256((__m256i *)(v + 32 * ib),
                               lookup16(ql_kvalues_iq4nl, nibbles32(x[i].qs + 16 * ib)));
            const int low = x[i].scales_l[ib / 2] >> 4 * (ib % 2) & 0x0f;
            const int high = x[i].scales_h >> 2 * ib & 3;
            sc[2 * ib] = sc[2 * ib + 1] = (int16_t)((low | high << 4) - 32);
        }
        put_k_levels(STEP_K(dst, i), v, sc);
        put_k_header(STEP_K(dst, i), half_to_float(x[i].d), 0.0f, NULL);
    }
}

/* ---- q8_K activations ---- */

void ql_pack_act_q8_K(const void *row, int64_t s0, int64_t ns, int64_t n, void *dst) {
    (void)n;
    const block_q8_K *x = (const block_q8_K *)row + s0;
    for (int64_t i = 0; i < ns; i++) {
        ql_pa_k *p = (ql_pa_k *)((uint8_t *)dst + (size_t)i * sizeof(ql_pa_k));
        for (int j = 0; j < 16; j++)
            _mm256_store_si256(
                (__m256i *)(p->y + 16 * j),
                _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)(x[i].qs + 16 * j))));
        memcpy(p->bsums, x[i].bsums, sizeof p->bsums);
        p->d = x[i].d;
    }
}

/* ---- run-time quantization fused with packing ---- */

/*
 * These produce the bytes that the run-time quantizer (the vec_dot_type's
 * from_float) followed by the packer above would: the same float
 * operations (x * (127 / amax), x * (-127 / max)), the same round-to-even
 * conversions, the same f16 roundings of the scales. A block whose largest
 * magnitude is zero, below 1e-30 (the inverse scale could overflow) or not
 * finite goes through the scalar quantizer itself, which defines what such
 * blocks become.
 */

static inline float max8(__m256 v) {
    __m128 m = _mm_max_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    m = _mm_max_ps(m, _mm_movehl_ps(m, m));
    m = _mm_max_ss(m, _mm_movehdup_ps(m));
    return _mm_cvtss_f32(m);
}

static inline bool usable_amax(float amax) {
    return amax >= 1e-30f && amax <= 3.4e38f;
}

/* 32 int32 (4 x 8) -> 32 int8 in order; the values are within int8 already. */
QL_INLINE __m256i narrow32(__m256i i0, __m256i i1, __m256i i2, __m256i i3) {
    const __m256i b = _mm256_packs_epi16(_mm256_packs_epi32(i0, i1), _mm256_packs_epi32(i2, i3));
    return _mm256_permutevar8x32_epi32(b, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7));
}

static inline float round_half(float f) {
    return half_to_float(ql_fp32_to_fp16(f));
}

/*
 * One 32-element block as q8_0 / q8_1's run-time quantizer makes it: the
 * values, the f16 scale as a float and (want_sum) the f16 block sum s.
 */
static void quant_block_q8(const float *x, ql_type type, int8_t y[32], float *d, float *s) {
    const __m256 sign = _mm256_set1_ps(-0.0f);
    __m256 v[4], a = _mm256_setzero_ps(), nan = _mm256_setzero_ps();
    for (int k = 0; k < 4; k++) {
        v[k] = _mm256_loadu_ps(x + 8 * k);
        a = _mm256_max_ps(a, _mm256_andnot_ps(sign, v[k]));
        nan = _mm256_or_ps(nan, _mm256_cmp_ps(v[k], v[k], _CMP_UNORD_Q));
    }
    const float amax = max8(a);
    if (!usable_amax(amax) || _mm256_movemask_ps(nan)) {
        if (type == QL_TYPE_Q8_0) {
            block_q8_0 b;
            ql_type_traits_get(QL_TYPE_Q8_0)->from_float(x, &b, 32);
            memcpy(y, b.qs, 32);
            *d = half_to_float(b.d);
        } else {
            block_q8_1 b;
            ql_type_traits_get(QL_TYPE_Q8_1)->from_float(x, &b, 32);
            memcpy(y, b.qs, 32);
            *d = half_to_float(b.d);
            *s = half_to_float(b.s);
        }
        return;
    }
    const float dd = amax / 127.0f;
    const __m256 id = _mm256_set1_ps(127.0f / amax);
    __m256i q[4];
    for (int k = 0; k < 4; k++) q[k] = _mm256_cvtps_epi32(_mm256_mul_ps(v[k], id));
    _mm256_storeu_si256((__m256i *)y, narrow32(q[0], q[1], q[2], q[3]));
    *d = round_half(dd);
    if (type == QL_TYPE_Q8_1) {
        __m256i t = _mm256_add_epi32(_mm256_add_epi32(q[0], q[1]), _mm256_add_epi32(q[2], q[3]));
        __m128i u = _mm_add_epi32(_mm256_castsi256_si128(t), _mm256_extracti128_si256(t, 1));
        u = _mm_add_epi32(u, _mm_shuffle_epi32(u, 0x4e));
        u = _mm_add_epi32(u, _mm_shuffle_epi32(u, 0xb1));
        *s = round_half(dd * (float)_mm_cvtsi128_si32(u));
    }
}

void ql_quant_act_q8_0(const float *x, int64_t s0, int64_t ns, int64_t n, void *dst) {
    const int64_t nb = n / 32;
    for (int64_t i = 0; i < ns; i++) {
        ql_pa_legacy *p = (ql_pa_legacy *)((uint8_t *)dst + (size_t)i * QL_PA_Q8_0_BYTES);
        float d[4], unused;
        for (int h = 0; h < 4; h++) {
            const int64_t b = 4 * (s0 + i) + h;
            d[h] = 0.0f;
            if (b < nb)
                quant_block_q8(x + 32 * b, QL_TYPE_Q8_0, p->y + 32 * h, &d[h], &unused);
            else
                memset(p->y + 32 * h, 0, 32);
            put_act_q8_0(p, h, _mm256_load_si256((const __m256i *)(p->y + 32 * h)));
        }
        put_act_scales(p, d);
    }
}

void ql_quant_act_q8_1(const float *x, int64_t s0, int64_t ns, int64_t n, void *dst) {
    const int64_t nb = n / 32;
    for (int64_t i = 0; i < ns; i++) {
        ql_pa_g1 *p = (ql_pa_g1 *)((uint8_t *)dst + (size_t)i * sizeof(ql_pa_g1));
        for (int h = 0; h < 4; h++) {
            const int64_t b = 4 * (s0 + i) + h;
            p->d[h] = p->s[h] = 0.0f;
            if (b < nb)
                quant_block_q8(x + 32 * b, QL_TYPE_Q8_1, p->y + 32 * h, &p->d[h], &p->s[h]);
            else
                memset(p->y + 32 * h, 0, 32);
        }
    }
}

/* q8_K: the scale is set by the first value of largest magnitude, mapped to -127. */
void ql_quant_act_q8_K(const float *x, int64_t s0, int64_t ns, int64_t n, void *dst) {
    (void)n;
    const __m256 sign = _mm256_set1_ps(-0.0f);
    for (int64_t i = 0; i < ns; i++) {
        const float *xb = x + 256 * (s0 + i);
        ql_pa_k *p = (ql_pa_k *)((uint8_t *)dst + (size_t)i * sizeof(ql_pa_k));
        __m256 a = _mm256_setzero_ps(), nan = _mm256_setzero_ps();
        for (int k = 0; k < 32; k++) {
            const __m256 v = _mm256_loadu_ps(xb + 8 * k);
            a = _mm256_max_ps(a, _mm256_andnot_ps(sign, v));
            nan = _mm256_or_ps(nan, _mm256_cmp_ps(v, v, _CMP_UNORD_Q));
        }
        const float amax = max8(a);
        if (!usable_amax(amax) || _mm256_movemask_ps(nan)) {
            block_q8_K b;
            ql_type_traits_get(QL_TYPE_Q8_K)->from_float(xb, &b, 256);
            ql_pack_act_q8_K(&b, 0, 1, 256, p);
            continue;
        }
        const __m256 am = _mm256_set1_ps(amax);
        int first = 0;
        for (int k = 0; k < 32; k++) {
            const __m256 ax = _mm256_andnot_ps(sign, _mm256_loadu_ps(xb + 8 * k));
            const int mask = _mm256_movemask_ps(_mm256_cmp_ps(ax, am, _CMP_EQ_OQ));
            if (mask) {
                first = 8 * k + __builtin_ctz((unsigned)mask);
                break;
            }
        }
        const float iscale = -127.0f / xb[first];
        const __m256 is = _mm256_set1_ps(iscale);
        const __m256i top = _mm256_set1_epi32(127);
        for (int g = 0; g < 16; g++) {
            const __m256 v0 = _mm256_mul_ps(is, _mm256_loadu_ps(xb + 16 * g));
            const __m256 v1 = _mm256_mul_ps(is, _mm256_loadu_ps(xb + 16 * g + 8));
            const __m256i q0 = _mm256_min_epi32(_mm256_cvtps_epi32(v0), top);
            const __m256i q1 = _mm256_min_epi32(_mm256_cvtps_epi32(v1), top);
            /* 16 int16 in order */
            const __m256i w = _mm256_permute4x64_epi64(_mm256_packs_epi32(q0, q1), 0xd8);
            _mm256_store_si256((__m256i *)(p->y + 16 * g), w);
            __m256i t = _mm256_add_epi32(q0, q1);
            __m128i u = _mm_add_epi32(_mm256_castsi256_si128(t), _mm256_extracti128_si256(t, 1));
            u = _mm_add_epi32(u, _mm_shuffle_epi32(u, 0x4e));
            u = _mm_add_epi32(u, _mm_shuffle_epi32(u, 0xb1));
            p->bsums[g] = (int16_t)_mm_cvtsi128_si32(u);
        }
        p->d = 1.0f / iscale;
    }
}

#else
/* ISO C wants at least one declaration in a translation unit. */
typedef int ql_pack_x86_unused;
#endif
