/*
 * kgemm_x86.c - the kernels of kgemm.h with AVX-512 VNNI: 16 weight rows
 * per vector, up to four activation rows per tile.
 *
 * Per sub-block the exact integer dot of 16 rows with one activation row
 * is a chain of VNNI dots (unsigned codes times the broadcast signed q8
 * values, four elements a step), corrected by the activation's bias term;
 * the integers then go through the float operations of the order being
 * followed (korder.c), lane by lane, so every output element gets ggml's
 * bits whatever the tile shape.
 */
#include "kgemm.h"

#include <string.h>

#include "../quant/blocks.h"
#include "../quant/quant_impl.h"
#include "korder.h"

#if defined(__AVX512F__) && defined(__AVX512BW__) && defined(__AVX512VL__) &&                      \
    defined(__AVX512VNNI__) && defined(__AVX512DQ__)
#define QL_KG_VNNI 1
#include <immintrin.h>
#endif

#define QL_INLINE static inline __attribute__((always_inline))

/* One 256-element step of 16 weight rows. */
typedef struct {
    _Alignas(64) uint8_t codes[64 * 64]; /* group g of 4 elements: [g][row][4] */
    int32_t scale[16 * 16];              /* [sub-block][row] */
    int32_t min[16 * 16];
    float d[8 * 16]; /* [0][row] (k-quants) or [block][row] (q4_0, iq4_nl) */
    float dmin[16];
} kg_wstep;

/* One 256-element step of an activation row. */
typedef struct {
    _Alignas(64) int8_t qs[256];
    float d[8];       /* [0] (q8_K) or per 32-element block (q8_0) */
    int32_t bsum[16]; /* per sub-block of the weight type: the sum of qs */
    int32_t bias[16]; /* bsum x the codes' bias */
    uint8_t pad[32];
} kg_astep;

_Static_assert(sizeof(kg_wstep) % 64 == 0 && sizeof(kg_astep) % 64 == 0, "step sizes");

/* The integer layout of a weight type's codes. */
typedef struct {
    int sub, n_sub, bias;
    bool has_min, blocks; /* blocks: q4_0 / iq4_nl, a scale per 32-element block, no sub-scales */
} kg_format;

static bool kg_format_of(ql_type t, kg_format *f) {
    switch (t) {
    case QL_TYPE_Q2_K:
        *f = (kg_format){16, 16, 0, true, false};
        return true;
    case QL_TYPE_Q3_K:
        *f = (kg_format){16, 16, 4, false, false};
        return true;
    case QL_TYPE_Q4_K:
    case QL_TYPE_Q5_K:
        *f = (kg_format){32, 8, 0, true, false};
        return true;
    case QL_TYPE_Q6_K:
        *f = (kg_format){16, 16, 32, false, false};
        return true;
    case QL_TYPE_IQ4_XS:
        *f = (kg_format){32, 8, 128, false, false};
        return true;
    case QL_TYPE_Q4_0:
        *f = (kg_format){32, 8, 8, false, true};
        return true;
    case QL_TYPE_IQ4_NL:
        *f = (kg_format){32, 8, 128, false, true};
        return true;
    default:
        return false;
    }
}

static int64_t kg_steps(int64_t n_in) {
    return (n_in + 255) / 256;
}

bool ql_kg_available(ql_type t) {
#if defined(QL_KG_VNNI)
    kg_format f;
    return kg_format_of(t, &f);
#else
    (void)t;
    return false;
#endif
}

size_t ql_kg_act_bytes(ql_type t, int64_t n_in) {
    (void)t;
    return (size_t)kg_steps(n_in) * sizeof(kg_astep);
}

size_t ql_kg_panel_bytes(ql_type t, int64_t n_in) {
    (void)t;
    return (size_t)kg_steps(n_in) * sizeof(kg_wstep);
}

/* ---- activations ---- */

void ql_kg_prepare(ql_type t, const float *x, int64_t n_in, void *dst) {
    kg_format f;
    if (!kg_format_of(t, &f)) return;
    kg_astep *a = dst;
    memset(a, 0, ql_kg_act_bytes(t, n_in));
    if (f.blocks) {
        for (int64_t b = 0; b < n_in / 32; b++) {
            block_q8_0 q;
            ql_quantize_row_q8_0(x + 32 * b, &q, 32);
            kg_astep *s = &a[b / 8];
            const int j = (int)(b % 8);
            memcpy(s->qs + 32 * j, q.qs, 32);
            int32_t sum = 0;
            for (int e = 0; e < 32; e++) sum += q.qs[e];
            s->d[j] = ql_fp16_to_fp32(q.d);
            s->bsum[j] = sum;
            s->bias[j] = f.bias * sum;
        }
        return;
    }
    for (int64_t b = 0; b < n_in / 256; b++) {
        block_q8_K q;
        ql_quantize_row_q8_K_ref(x + 256 * b, &q, 256);
        kg_astep *s = &a[b];
        memcpy(s->qs, q.qs, 256);
        s->d[0] = q.d;
        for (int j = 0; j < f.n_sub; j++) {
            int32_t sum = 0;
            for (int u = 0; u < f.sub / 16; u++) sum += q.bsums[j * (f.sub / 16) + u];
            s->bsum[j] = sum;
            s->bias[j] = f.bias * sum;
        }
    }
}

/* ---- weights ---- */

static void put_code(kg_wstep *s, int r, int e, int code) {
    s->codes[(e / 4) * 64 + r * 4 + e % 4] = (uint8_t)code;
}

void ql_kg_pack(ql_type t, const void *w, size_t w_row_bytes, int n_rows, int64_t n_in,
                void *panel) {
    kg_format f;
    if (!kg_format_of(t, &f)) return;
    kg_wstep *p = panel;
    const int64_t ns = kg_steps(n_in);
    memset(p, 0, (size_t)ns * sizeof *p);
    for (int r = 0; r < n_rows; r++) {
        const uint8_t *row = (const uint8_t *)w + (size_t)r * w_row_bytes;
        if (f.blocks) {
            for (int64_t b = 0; b < n_in / 32; b++) {
                kg_wstep *s = &p[b / 8];
                const int j = (int)(b % 8);
                const uint8_t *qs;
                ql_fp16 d;
                if (t == QL_TYPE_Q4_0) {
                    const block_q4_0 *x = (const block_q4_0 *)row + b;
                    qs = x->qs;
                    d = x->d;
                } else {
                    const block_iq4_nl *x = (const block_iq4_nl *)row + b;
                    qs = x->qs;
                    d = x->d;
                }
                for (int e = 0; e < 16; e++) {
                    const int lo = qs[e] & 0xF, hi = qs[e] >> 4;
                    put_code(s, r, 32 * j + e, t == QL_TYPE_Q4_0 ? lo : ql_kvalues_iq4nl[lo] + 128);
                    put_code(s, r, 32 * j + e + 16,
                             t == QL_TYPE_Q4_0 ? hi : ql_kvalues_iq4nl[hi] + 128);
                }
                s->d[16 * j + r] = ql_fp16_to_fp32(d);
            }
            continue;
        }
        const size_t block_bytes = ql_row_size(t, 256);
        for (int64_t b = 0; b < ns; b++) {
            ql_kblock k;
            ql_kblock_decode(t, row + (size_t)b * block_bytes, &k);
            kg_wstep *s = &p[b];
            for (int e = 0; e < 256; e++) put_code(s, r, e, k.code[e]);
            for (int j = 0; j < f.n_sub; j++) {
                s->scale[16 * j + r] = k.sc[j];
                s->min[16 * j + r] = k.mn[j];
            }
            s->d[r] = k.d;
            s->dmin[r] = k.dmin;
        }
    }
}

/* ---- the tiles ---- */

#if defined(QL_KG_VNNI)

#if defined(__clang__)
#define KG_UNROLL _Pragma("unroll")
#else
#define KG_UNROLL _Pragma("GCC unroll 16")
#endif

enum { ORD_TILED, ORD_GEMM, ORD_GEMV, ORD_BLOCKS };

static inline int32_t load_i32(const int8_t *p) {
    int32_t v;
    memcpy(&v, p, sizeof v);
    return v;
}

/*
 * 16 rows x C activation rows over ns steps. SUB, NSUB, BIAS, HAS_MIN: the
 * format; ORD: the order; UNIT: sub-blocks per multiply-add (ORD_GEMM);
 * last_blocks: the blocks of the last step (ORD_BLOCKS).
 */
QL_INLINE void kg_tile(const int C, const int SUB, const int NSUB, const int BIAS,
                       const int HAS_MIN, const int ORD, const int UNIT, int64_t ns,
                       int last_blocks, const kg_wstep *w, const kg_astep *const *a,
                       float *const *y, __mmask16 mask) {
    __m512 acc[4], accm[4];
    KG_UNROLL for (int c = 0; c < 4; c++) acc[c] = accm[c] = _mm512_setzero_ps();
    for (int64_t s = 0; s < ns; s++) {
        const kg_wstep *ws = &w[s];
        const int n_units = ORD == ORD_BLOCKS && s == ns - 1 ? last_blocks : NSUB;
        __m512i I[4], M[4];
        KG_UNROLL for (int c = 0; c < 4; c++) I[c] = M[c] = _mm512_setzero_si512();
        for (int sb = 0; sb < n_units; sb++) {
            __m512i t[4];
            KG_UNROLL for (int c = 0; c < 4; c++) t[c] = _mm512_setzero_si512();
            KG_UNROLL for (int g = 0; g < SUB / 4; g++) {
                const __m512i wv = _mm512_load_si512(ws->codes + 64 * (sb * (SUB / 4) + g));
                KG_UNROLL for (int c = 0; c < C; c++) t[c] = _mm512_dpbusd_epi32(
                    t[c], wv, _mm512_set1_epi32(load_i32(a[c][s].qs + 4 * (sb * (SUB / 4) + g))));
            }
            if (BIAS)
                KG_UNROLL for (int c = 0; c < C; c++) t[c] =
                    _mm512_sub_epi32(t[c], _mm512_set1_epi32(a[c][s].bias[sb]));
            if (ORD == ORD_BLOCKS) {
                const __m512 dx = _mm512_load_ps(ws->d + 16 * sb);
                KG_UNROLL for (int c = 0; c < C; c++) acc[c] =
                    _mm512_fmadd_ps(_mm512_cvtepi32_ps(t[c]),
                                    _mm512_mul_ps(dx, _mm512_set1_ps(a[c][s].d[sb])), acc[c]);
                continue;
            }
            const __m512i sc = _mm512_load_si512(ws->scale + 16 * sb);
            KG_UNROLL for (int c = 0; c < C; c++) I[c] =
                _mm512_add_epi32(I[c], _mm512_mullo_epi32(t[c], sc));
            if (HAS_MIN) {
                const __m512i mn = _mm512_load_si512(ws->min + 16 * sb);
                KG_UNROLL for (int c = 0; c < C; c++) M[c] = _mm512_add_epi32(
                    M[c], _mm512_mullo_epi32(mn, _mm512_set1_epi32(a[c][s].bsum[sb])));
            }
            if ((ORD == ORD_GEMM && (sb + 1) % UNIT == 0) || (ORD == ORD_GEMV && sb == NSUB - 1)) {
                const __m512 dv = _mm512_load_ps(ws->d), dmv = _mm512_load_ps(ws->dmin);
                KG_UNROLL for (int c = 0; c < C; c++) {
                    const __m512 dy = _mm512_set1_ps(a[c][s].d[0]);
                    acc[c] =
                        _mm512_fmadd_ps(_mm512_cvtepi32_ps(I[c]), _mm512_mul_ps(dv, dy), acc[c]);
                    accm[c] =
                        _mm512_fmadd_ps(_mm512_cvtepi32_ps(M[c]), _mm512_mul_ps(dmv, dy), accm[c]);
                    I[c] = M[c] = _mm512_setzero_si512();
                }
            }
        }
        if (ORD == ORD_TILED) {
            const __m512 dv = _mm512_load_ps(ws->d), dmv = _mm512_load_ps(ws->dmin);
            KG_UNROLL for (int c = 0; c < C; c++) {
                __m512 r = _mm512_mul_ps(_mm512_cvtepi32_ps(I[c]), dv);
                if (HAS_MIN) r = _mm512_fnmadd_ps(dmv, _mm512_cvtepi32_ps(M[c]), r);
                acc[c] = _mm512_fmadd_ps(r, _mm512_set1_ps(a[c][s].d[0]), acc[c]);
            }
        }
    }
    KG_UNROLL for (int c = 0; c < C; c++) {
        const __m512 v =
            ORD == ORD_GEMM || ORD == ORD_GEMV ? _mm512_sub_ps(acc[c], accm[c]) : acc[c];
        _mm512_mask_storeu_ps(y[c], mask, v);
    }
}

typedef void (*kg_tile_fn)(int64_t ns, int last_blocks, const kg_wstep *w, const kg_astep *const *a,
                           float *const *y, __mmask16 mask);

#define KG_TILE(NAME, C, SUB, NSUB, BIAS, MIN, ORD, UNIT)                                          \
    static void NAME##_##C(int64_t ns, int last_blocks, const kg_wstep *w,                         \
                           const kg_astep *const *a, float *const *y, __mmask16 mask) {            \
        kg_tile(C, SUB, NSUB, BIAS, MIN, ORD, UNIT, ns, last_blocks, w, a, y, mask);               \
    }
#define KG_FAMILY(NAME, SUB, NSUB, BIAS, MIN, ORD, UNIT)                                           \
    KG_TILE(NAME, 1, SUB, NSUB, BIAS, MIN, ORD, UNIT)                                              \
    KG_TILE(NAME, 2, SUB, NSUB, BIAS, MIN, ORD, UNIT)                                              \
    KG_TILE(NAME, 3, SUB, NSUB, BIAS, MIN, ORD, UNIT)                                              \
    KG_TILE(NAME, 4, SUB, NSUB, BIAS, MIN, ORD, UNIT)                                              \
    static const kg_tile_fn NAME[4] = {NAME##_1, NAME##_2, NAME##_3, NAME##_4};

KG_FAMILY(tiled_16_min, 16, 16, 0, 1, ORD_TILED, 1)   /* q2_K */
KG_FAMILY(tiled_16_b4, 16, 16, 4, 0, ORD_TILED, 1)    /* q3_K */
KG_FAMILY(tiled_32_min, 32, 8, 0, 1, ORD_TILED, 1)    /* q4_K, q5_K */
KG_FAMILY(tiled_16_b32, 16, 16, 32, 0, ORD_TILED, 1)  /* q6_K */
KG_FAMILY(tiled_32_b128, 32, 8, 128, 0, ORD_TILED, 1) /* iq4_xs */
KG_FAMILY(gemm_q4_K, 32, 8, 0, 1, ORD_GEMM, 2)
KG_FAMILY(gemv_q4_K, 32, 8, 0, 1, ORD_GEMV, 8)
KG_FAMILY(gemm_q2_K, 16, 16, 0, 1, ORD_GEMM, 8)
KG_FAMILY(gemv_q2_K, 16, 16, 0, 1, ORD_GEMV, 16)
KG_FAMILY(blocks_b8, 32, 8, 8, 0, ORD_BLOCKS, 1)     /* q4_0 */
KG_FAMILY(blocks_b128, 32, 8, 128, 0, ORD_BLOCKS, 1) /* iq4_nl */

static const kg_tile_fn *kg_family(ql_type t, ql_kg_order order) {
    switch (order) {
    case QL_KG_TILED:
        switch (t) {
        case QL_TYPE_Q2_K:
            return tiled_16_min;
        case QL_TYPE_Q3_K:
            return tiled_16_b4;
        case QL_TYPE_Q4_K:
        case QL_TYPE_Q5_K:
            return tiled_32_min;
        case QL_TYPE_Q6_K:
            return tiled_16_b32;
        case QL_TYPE_IQ4_XS:
            return tiled_32_b128;
        default:
            return NULL;
        }
    case QL_KG_GEMM:
        return t == QL_TYPE_Q4_K ? gemm_q4_K : t == QL_TYPE_Q2_K ? gemm_q2_K : NULL;
    case QL_KG_GEMV:
        return t == QL_TYPE_Q4_K ? gemv_q4_K : t == QL_TYPE_Q2_K ? gemv_q2_K : NULL;
    case QL_KG_BLOCKS:
        return t == QL_TYPE_Q4_0 ? blocks_b8 : t == QL_TYPE_IQ4_NL ? blocks_b128 : NULL;
    }
    return NULL;
}

void ql_kg_run(ql_type t, ql_kg_order order, const void *panel, int64_t n_in, const void *act,
               size_t act_stride, int n_cols, float *y, int64_t y_stride, int n_rows) {
    const kg_tile_fn *fam = kg_family(t, order);
    if (!fam || n_rows < 1) return;
    const int64_t ns = kg_steps(n_in);
    const int last_blocks = (int)((n_in - (ns - 1) * 256) / 32);
    const __mmask16 mask = (__mmask16)(n_rows >= 16 ? 0xFFFF : (1u << n_rows) - 1);
    for (int c0 = 0; c0 < n_cols; c0 += 4) {
        const int nc = n_cols - c0 < 4 ? n_cols - c0 : 4;
        const kg_astep *a[4];
        float *yc[4];
        for (int c = 0; c < nc; c++) {
            a[c] = (const kg_astep *)((const uint8_t *)act + (size_t)(c0 + c) * act_stride);
            yc[c] = y + (int64_t)(c0 + c) * y_stride;
        }
        fam[nc - 1](ns, last_blocks, panel, a, yc, mask);
    }
}

#else

void ql_kg_run(ql_type t, ql_kg_order order, const void *panel, int64_t n_in, const void *act,
               size_t act_stride, int n_cols, float *y, int64_t y_stride, int n_rows) {
    (void)t, (void)order, (void)panel, (void)n_in, (void)act, (void)act_stride, (void)n_cols;
    (void)y, (void)y_stride, (void)n_rows;
}

#endif
