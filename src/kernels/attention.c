/*
 * attention.c - tiled attention over a typed KV cache (see attention.h).
 *
 * Work items are (KV head, block of QB query tokens); all query heads that
 * share the KV head are processed together, so GQA reads each K/V tile once
 * per group. Items are claimed from an atomic counter for balance (causal
 * blocks late in the chunk cost more); every item is computed the same way
 * whichever thread runs it, so results do not depend on the thread count.
 *
 * Per query row the float operations are ggml's (ops.cpp,
 * ggml_compute_forward_flash_attn_ext_tiled and _f16_one_chunk, with
 * simd_gemm and ggml_vec_soft_max_f32); only the loop nest around them is
 * ours. Keys a query cannot see add exact zeros in ggml (exp(-inf) = 0,
 * fma(v, 0, acc) = acc), so they are skipped here.
 */
#include "attention.h"

#include <math.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "../core/fp16.h"
#include "../quant/blocks.h"
#include "half512.h"
#include "hsum8.h"
#include "kernels.h"
#include "vecmath.h"

#if defined(__SSE4_1__)
#include <immintrin.h>
#endif
#if defined(__AVX512F__) && defined(__AVX512BW__) && defined(__AVX512VL__) &&                      \
    defined(__AVX512VNNI__) && defined(__F16C__)
#define QL_ATTN_VNNI 1 /* batched key scores for q8_0 and q4_0 K */
#endif

/* KT is ggml's KV tile (GGML_FA_TILE_KV): the tiled path's tiles, hence its
 * softmax updates, start at multiples of KT; TILED_MIN_ROWS is its Q tile. */
enum { QB = 32, KT = 64, TILED_MIN_ROWS = 64 };
/* query rows the per-key path's softmax updates side by side (one token's heads) */
enum { QL_ATTN_ROWS_MAX = 4 };

struct ql_attn_scratch {
    int n_threads;
    size_t per_thread; /* bytes */
    unsigned char *buf;
    atomic_long next_item;
};

static int64_t group_of(const ql_attn_params *p) {
    return p->n_head / p->n_head_kv;
}

/* Per-thread layout; every part a multiple of 64 bytes. */
typedef struct {
    float *kt;   /* [dk][KT] K tile, transposed (tiled path); [KT][dk] in f32 (per-key path) */
    float *vt;   /* [KT][dv] V tile in f32 */
    float *acc;  /* [rows][dv] accumulators (f16 values for an f16 V on the per-key path) */
    ql_fp16 *kh; /* [KT][dk] an f32 K tile rounded to f16 once (per-key path) */
    float *mx, *sum;
    uint8_t *qq;    /* [rows][q_row] queries in K's partner type (per-key path) */
    float *sc, *pr; /* [QL_ATTN_ROWS_MAX][KT] scores (per-key path), [KT] probabilities */
    float *arg, *e; /* [KT][QL_ATTN_ROWS_MAX] exponent arguments and exponentials */
    bool *raise;    /* [KT][QL_ATTN_ROWS_MAX] whether the key raised the row's max */
    ql_fp16 *row16; /* one K or V row cast to f16 */
    uint8_t *kp;    /* [KT][dk / 32][32] K tile for the batched scores: values + 128 */
    float *kd;      /* [dk / 32][KT] its block scales */
    size_t q_row;
} scratch_view;

static size_t pad64(size_t n) {
    return (n + 63) & ~(size_t)63;
}

static size_t layout(const ql_attn_params *p, unsigned char *base, scratch_view *v) {
    const int64_t dk = p->head_dim_k, dv = p->head_dim_v, rows = QB * group_of(p);
    const size_t q_row = pad64((size_t)dk * sizeof(float));
    const size_t sizes[] = {
        pad64((size_t)(dk * KT) * sizeof(float)),
        pad64((size_t)(KT * dv) * sizeof(float)),
        pad64((size_t)(rows * dv) * sizeof(float)),
        pad64((size_t)(KT * dk) * sizeof(ql_fp16)),
        pad64((size_t)rows * sizeof(float)),
        pad64((size_t)rows * sizeof(float)),
        (size_t)rows * q_row,
        pad64(QL_ATTN_ROWS_MAX * KT * sizeof(float)),
        pad64(KT * sizeof(float)),
        pad64((size_t)(dk > dv ? dk : dv) * sizeof(ql_fp16)),
        pad64((size_t)(KT * dk)),
        pad64((size_t)(dk / 32 * KT) * sizeof(float)),
        pad64(QL_ATTN_ROWS_MAX * KT * sizeof(float)),
        pad64(QL_ATTN_ROWS_MAX * KT * sizeof(float)),
        pad64(QL_ATTN_ROWS_MAX * KT * sizeof(bool)),
    };
    void *parts[sizeof sizes / sizeof sizes[0]];
    size_t off = 0;
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        parts[i] = base ? base + off : NULL;
        off += sizes[i];
    }
    if (v) {
        v->kt = parts[0];
        v->vt = parts[1];
        v->acc = parts[2];
        v->kh = parts[3];
        v->mx = parts[4];
        v->sum = parts[5];
        v->qq = parts[6];
        v->sc = parts[7];
        v->pr = parts[8];
        v->row16 = parts[9];
        v->kp = parts[10];
        v->kd = parts[11];
        v->arg = parts[12];
        v->e = parts[13];
        v->raise = parts[14];
        v->q_row = q_row;
    }
    return off;
}

ql_status ql_attn_scratch_create(const ql_attn_params *p, int n_threads, ql_attn_scratch **out,
                                 ql_error *err) {
    if (p->head_dim_k > 4096 || p->head_dim_v > 4096)
        return ql_fail(err, QL_ERR_ARG, "attention head sizes above 4096 are not supported");
    ql_attn_scratch *s = calloc(1, sizeof *s);
    if (!s) return ql_fail(err, QL_ERR_NOMEM, "out of memory for attention scratch");
    s->n_threads = n_threads;
    s->per_thread = layout(p, NULL, NULL);
    s->buf = aligned_alloc(64, s->per_thread * (size_t)n_threads);
    if (!s->buf) {
        free(s);
        return ql_fail(err, QL_ERR_NOMEM, "out of memory for attention scratch");
    }
    *out = s;
    return QL_OK;
}

void ql_attn_scratch_free(ql_attn_scratch *s) {
    if (!s) return;
    free(s->buf);
    free(s);
}

/* f32 caches take ggml's path for f16: llama.cpp casts them to f16 first. */
static bool half_like(ql_type t) {
    return t == QL_TYPE_F16 || t == QL_TYPE_F32;
}

/* One cache row as f16 (f32 rows rounded as the cast does). */
static const ql_fp16 *row_as_f16(ql_type t, const uint8_t *row, int64_t n, ql_fp16 *tmp) {
    if (t == QL_TYPE_F16) return (const ql_fp16 *)row;
    ql_fp32_to_fp16_row((const float *)row, tmp,
                        n); /* F16C where the build has it: RNE, the same */
    return tmp;
}

/* One cache row as f32 (f32 rows rounded to f16 for the same reason). */
static void row_as_f32(ql_type t, const uint8_t *row, int64_t n, float *dst) {
    if (t == QL_TYPE_F32) {
        ql_fp16 h[4096]; /* head sizes are at most 4096 (ql_attn_scratch_create) */
        ql_fp32_to_fp16_row((const float *)row, h, n);
        ql_fp16_to_fp32_row(h, dst, n);
    } else {
        ql_type_traits_get((int)t)->to_float(row, dst, n);
    }
}

typedef struct {
    const ql_attn_params *p;
    const float *q;
    int64_t n_tokens, pos0;
    float *out;
    ql_attn_scratch *s;
    int64_t n_blocks;
    bool tiled;
    float scale; /* scale / softcap when capped, as ggml divides it */
    ql_vec_dot_fn kdot;
} attn_job;

/* A run of visible keys in a tile, relative to the tile's first cell. */
typedef struct {
    int lo, hi;
} kv_run;
enum { MAX_RUNS = 64 / 2 + 1 };

/*
 * The keys the query at qpos sees in the tile of cells [k0, k0 + nk), as
 * runs in cell order; returns their count. A key is visible when its cell
 * is occupied, it is not after the query and within the window.
 */
static int visible_runs(const ql_attn_params *p, int64_t qpos, int64_t k0, int64_t nk,
                        kv_run *runs) {
    if (!p->cell_pos) {
        int64_t l = 0, h = qpos - k0 + 1;
        if (h > nk) h = nk;
        if (p->window > 0 && qpos - p->window + 1 > k0) l = qpos - p->window + 1 - k0;
        if (h <= l) return 0;
        runs[0] = (kv_run){(int)l, (int)h};
        return 1;
    }
    int n = 0, start = -1;
    for (int i = 0; i < (int)nk; i++) {
        const int64_t kp = p->cell_pos[k0 + i];
        const bool vis = kp >= 0 && kp <= qpos && (p->window <= 0 || qpos - kp < p->window);
        if (vis && start < 0) start = i;
        if (!vis && start >= 0) {
            runs[n++] = (kv_run){start, i};
            start = -1;
        }
    }
    if (start >= 0) runs[n++] = (kv_run){start, (int)nk};
    return n;
}

/* The first cell and the end of the cells a block of queries [first_pos, last_pos] may see. */
static void scan_range(const ql_attn_params *p, int64_t first_pos, int64_t last_pos, int64_t *k_lo,
                       int64_t *k_end) {
    if (p->cell_pos) {
        *k_lo = 0;
        *k_end = p->n_kv;
        return;
    }
    *k_lo = 0;
    if (p->window > 0 && first_pos - p->window + 1 > 0) *k_lo = first_pos - p->window + 1;
    *k_end = last_pos + 1;
}

/* acc[d] = fma(v[d], w, acc[d]) - simd_gemm's and ggml_vec_mad_f32's FMA per element */
static inline void mad_f32(float *restrict acc, const float *restrict v, float w, int64_t n) {
    int64_t d = 0;
#if defined(__AVX512F__)
    const __m512 wv = _mm512_set1_ps(w);
    for (; d + 16 <= n; d += 16)
        _mm512_storeu_ps(acc + d,
                         _mm512_fmadd_ps(_mm512_loadu_ps(v + d), wv, _mm512_loadu_ps(acc + d)));
#endif
    for (; d < n; d++) acc[d] = fmaf(v[d], w, acc[d]);
}

static inline void scale_f32(float *acc, float s, int64_t n) {
    for (int64_t d = 0; d < n; d++) acc[d] *= s;
}

/* ---- the tiled path (f16 K and V, a batch of >= 64 queries) ---- */

/* s[i] = sum_d kt[d][i] * q[d] as one FMA chain per key, d ascending (simd_gemm) */
static void tile_scores(const float *kt, const float *q, int64_t dk, float *s) {
#if defined(__AVX512F__)
    __m512 a0 = _mm512_setzero_ps(), a1 = _mm512_setzero_ps();
    __m512 a2 = _mm512_setzero_ps(), a3 = _mm512_setzero_ps();
    for (int64_t d = 0; d < dk; d++) {
        const __m512 qd = _mm512_set1_ps(q[d]);
        const float *k = kt + d * KT;
        a0 = _mm512_fmadd_ps(_mm512_loadu_ps(k), qd, a0);
        a1 = _mm512_fmadd_ps(_mm512_loadu_ps(k + 16), qd, a1);
        a2 = _mm512_fmadd_ps(_mm512_loadu_ps(k + 32), qd, a2);
        a3 = _mm512_fmadd_ps(_mm512_loadu_ps(k + 48), qd, a3);
    }
    _mm512_storeu_ps(s, a0);
    _mm512_storeu_ps(s + 16, a1);
    _mm512_storeu_ps(s + 32, a2);
    _mm512_storeu_ps(s + 48, a3);
#else
    for (int i = 0; i < KT; i++) s[i] = 0.0f;
    for (int64_t d = 0; d < dk; d++) {
        const float qd = q[d];
        const float *k = kt + d * KT;
        for (int i = 0; i < KT; i++) s[i] = fmaf(k[i], qd, s[i]);
    }
#endif
}

static void run_tiled(const attn_job *j, int64_t g, int64_t t0, int64_t t1, scratch_view *sv) {
    const ql_attn_params *p = j->p;
    const int64_t dk = p->head_dim_k, dv = p->head_dim_v, group = group_of(p);
    const size_t k_slot = (size_t)p->n_head_kv * p->k_row_bytes;
    const size_t v_slot = (size_t)p->n_head_kv * p->v_row_bytes;
    int64_t k_lo, k_end;
    scan_range(p, j->pos0 + t0, j->pos0 + t1 - 1, &k_lo, &k_end);
    float krow[4096];
    kv_run runs[MAX_RUNS];

    for (int64_t k0 = k_lo / KT * KT; k0 < k_end; k0 += KT) {
        const int64_t nk = k0 + KT <= k_end ? KT : k_end - k0;
        for (int64_t i = 0; i < KT; i++) {
            if (i < nk) {
                const uint8_t *kr = p->k + (size_t)(k0 + i) * k_slot + (size_t)g * p->k_row_bytes;
                row_as_f32(p->type_k, kr, dk, krow);
                const uint8_t *vr = p->v + (size_t)(k0 + i) * v_slot + (size_t)g * p->v_row_bytes;
                row_as_f32(p->type_v, vr, dv, sv->vt + i * dv);
            } else {
                for (int64_t d = 0; d < dk; d++) krow[d] = 0.0f;
            }
            for (int64_t d = 0; d < dk; d++) sv->kt[d * KT + i] = krow[d];
        }
        for (int64_t t = t0; t < t1; t++) {
            const int n_runs = visible_runs(p, j->pos0 + t, k0, nk, runs);
            if (n_runs == 0) continue;
            bool seen[KT] = {false};
            for (int ri = 0; ri < n_runs; ri++)
                for (int i = runs[ri].lo; i < runs[ri].hi; i++) seen[i] = true;
            for (int64_t h = 0; h < group; h++) {
                const int64_t r = (t - t0) * group + h;
                const float *qv = j->q + t * p->n_head * dk + (g * group + h) * dk;
                float *s = sv->sc, *pr = sv->pr, *acc = sv->acc + r * dv;
                tile_scores(sv->kt, qv, dk, s);
                float tile_max = -INFINITY;
                for (int64_t i = 0; i < KT; i++) {
                    if (!seen[i]) {
                        s[i] = -INFINITY;
                        continue;
                    }
                    float x = s[i] * j->scale;
                    if (p->softcap != 0.0f) x = p->softcap * tanhf(x);
                    s[i] = x;
                    tile_max = x > tile_max ? x : tile_max;
                }
                const float m_old = sv->mx[r];
                const float m_new = fmaxf(m_old, tile_max);
                if (m_new > m_old) {
                    const float ms = expf(m_old - m_new);
                    scale_f32(acc, ms, dv);
                    sv->sum[r] *= ms;
                }
                sv->mx[r] = m_new;
                sv->sum[r] = (float)((double)sv->sum[r] + ql_exp_sum(pr, s, KT, m_new));
                for (int ri = 0; ri < n_runs; ri++)
                    for (int i = runs[ri].lo; i < runs[ri].hi; i++)
                        if (pr[i] != 0.0f) mad_f32(acc, sv->vt + i * dv, pr[i], dv);
            }
        }
    }
}

/* ---- the per-key path (quantized or bf16 caches, or fewer than 64 queries) ---- */

/*
 * ggml_vec_mad_f16 / ggml_vec_scale_f16. On AVX512-FP16 CPUs (half) whole
 * steps of 128 elements go through ggml's F16 vectors, which compute in f16
 * with the weight rounded to f16, and the rest is f32 arithmetic rounded to
 * f16 (fused, as GCC compiles it); elsewhere every element takes that f32
 * form (the F16 vectors are widened to f32 lanes). The accumulator is kept
 * as floats that always hold f16 values, which is what an f16 store and
 * reload would give, and v is the V row widened to f32 (exact).
 */
static inline void mad_f16(float *acc, const float *v, float w, int64_t n, bool half) {
    const int64_t np = half ? n & ~(int64_t)127 : 0;
    const float wh = ql_round_fp16(w);
    for (int64_t d = 0; d < np; d++) acc[d] = ql_h_fma(v[d], wh, acc[d]);
    for (int64_t d = np; d < n; d++) acc[d] = ql_round_fp16(fmaf(v[d], w, acc[d]));
}

static inline void scale_f16(float *acc, float s, int64_t n, bool half) {
    const int64_t np = half ? n & ~(int64_t)127 : 0;
    const float sh = ql_round_fp16(s);
    for (int64_t d = 0; d < np; d++) acc[d] = ql_h_mul(acc[d], sh);
    for (int64_t d = np; d < n; d++) acc[d] = ql_round_fp16(acc[d] * s);
}

/*
 * The f32 accumulation of a key tile for NR query rows of one token (the
 * heads that share a KV head see the same keys) with the rows held in
 * registers: per key and row, acc = acc * e (a key that raises the row's
 * max) then + v, or acc = fma(v, e, acc) - the operations of scale_f32 and
 * mad_f32 in the same order, without a store and reload of the row between
 * keys. The rows' chains are independent, so they overlap. e and raise hold
 * QL_ATTN_ROWS_MAX entries per key (softmax_updates). Head sizes of 64, 128
 * and 256 (up to 4, 2 and 1 rows a call); false for others (the caller then
 * goes key by key).
 */
#if defined(__AVX512F__)
#if defined(__clang__)
#define ACC_UNROLL _Pragma("unroll")
#else
#define ACC_UNROLL _Pragma("GCC unroll 16")
#endif
#define ACC_TILE(NV, NR)                                                                           \
    static void acc_tile_##NV##_##NR(float *acc, const float *vt, int64_t dv, const float *e,      \
                                     const bool *raise, int64_t lo, int64_t hi) {                  \
        __m512 a[NR][NV];                                                                          \
        ACC_UNROLL for (int q = 0; q < NR; q++) ACC_UNROLL for (int k = 0; k < NV; k++) a[q][k] =  \
            _mm512_loadu_ps(acc + q * dv + 16 * k);                                                \
        for (int64_t i = lo; i < hi; i++) {                                                        \
            const float *v = vt + i * dv;                                                          \
            ACC_UNROLL for (int q = 0; q < NR; q++) {                                              \
                const __m512 w = _mm512_set1_ps(e[i * QL_ATTN_ROWS_MAX + q]);                      \
                if (raise[i * QL_ATTN_ROWS_MAX + q]) {                                             \
                    ACC_UNROLL for (int k = 0; k < NV; k++) a[q][k] =                              \
                        _mm512_add_ps(_mm512_mul_ps(a[q][k], w), _mm512_loadu_ps(v + 16 * k));     \
                } else {                                                                           \
                    ACC_UNROLL for (int k = 0; k < NV; k++) a[q][k] =                              \
                        _mm512_fmadd_ps(_mm512_loadu_ps(v + 16 * k), w, a[q][k]);                  \
                }                                                                                  \
            }                                                                                      \
        }                                                                                          \
        ACC_UNROLL for (int q = 0; q < NR; q++) ACC_UNROLL for (int k = 0; k < NV; k++)            \
            _mm512_storeu_ps(acc + q * dv + 16 * k, a[q][k]);                                      \
    }
ACC_TILE(4, 1)
ACC_TILE(4, 2)
ACC_TILE(4, 3)
ACC_TILE(4, 4)
ACC_TILE(8, 1)
ACC_TILE(8, 2)
ACC_TILE(16, 1)

/*
 * The same for an f16 V accumulated in f16 (scale_f16 and mad_f16 with the
 * row in registers, every lane rounded to f16 after each operation as the
 * f16 store does): HALF 0 is their f32 form (a product or FMA in f32, then
 * rounded), HALF 1 their half-precision form (the weight rounded to f16,
 * one correctly rounded f16 operation) - for a head whose every element
 * lies in whole steps of 128.
 */
#define ACC16_TILE(NV, NR, HALF)                                                                   \
    static void acc16_tile_##NV##_##NR##_##HALF(float *acc, const float *vt, int64_t dv,           \
                                                const float *e, const bool *raise, int64_t lo,     \
                                                int64_t hi) {                                      \
        __m512 a[NR][NV];                                                                          \
        ACC_UNROLL for (int q = 0; q < NR; q++) ACC_UNROLL for (int k = 0; k < NV; k++) a[q][k] =  \
            _mm512_loadu_ps(acc + q * dv + 16 * k);                                                \
        for (int64_t i = lo; i < hi; i++) {                                                        \
            const float *v = vt + i * dv;                                                          \
            ACC_UNROLL for (int q = 0; q < NR; q++) {                                              \
                const float ei = e[i * QL_ATTN_ROWS_MAX + q];                                      \
                const __m512 w = _mm512_set1_ps(HALF ? ql_round_fp16(ei) : ei);                    \
                if (raise[i * QL_ATTN_ROWS_MAX + q]) {                                             \
                    ACC_UNROLL for (int k = 0; k < NV; k++) {                                      \
                        const __m512 sc = h16(_mm512_mul_ps(a[q][k], w));                          \
                        a[q][k] =                                                                  \
                            HALF ? h_fma512(_mm512_loadu_ps(v + 16 * k), _mm512_set1_ps(1.0f), sc) \
                                 : h16(_mm512_add_ps(_mm512_loadu_ps(v + 16 * k), sc));            \
                    }                                                                              \
                } else {                                                                           \
                    ACC_UNROLL for (int k = 0; k < NV; k++) a[q][k] =                              \
                        HALF ? h_fma512(_mm512_loadu_ps(v + 16 * k), w, a[q][k])                   \
                             : h16(_mm512_fmadd_ps(_mm512_loadu_ps(v + 16 * k), w, a[q][k]));      \
                }                                                                                  \
            }                                                                                      \
        }                                                                                          \
        ACC_UNROLL for (int q = 0; q < NR; q++) ACC_UNROLL for (int k = 0; k < NV; k++)            \
            _mm512_storeu_ps(acc + q * dv + 16 * k, a[q][k]);                                      \
    }
ACC16_TILE(4, 1, 0)
ACC16_TILE(4, 2, 0)
ACC16_TILE(4, 3, 0)
ACC16_TILE(4, 4, 0)
ACC16_TILE(8, 1, 0)
ACC16_TILE(8, 2, 0)
ACC16_TILE(16, 1, 0)
ACC16_TILE(8, 1, 1)
ACC16_TILE(8, 2, 1)
ACC16_TILE(16, 1, 1)
#endif

/* Whether the per-key path uses its batched scores, K tiles converted once and
 * register accumulation (off: the key-by-key, element-by-element reference) */
static atomic_bool fast_kernels_on = true;

void ql_attention_set_fast_kernels(bool enable) {
    atomic_store(&fast_kernels_on, enable);
}

/* Most rows accumulate_in_registers takes at once for a head size (1 where it takes none). */
static int rows_in_registers(int64_t dv) {
#if defined(__AVX512F__)
    return dv == 64 ? 4 : dv == 128 ? 2 : 1;
#else
    (void)dv;
    return 1;
#endif
}

/* v16: f16 accumulation (half: its half-precision form where the row has whole steps of 128) */
static bool accumulate_in_registers(float *acc, int nr, const float *vt, int64_t dv, const float *e,
                                    const bool *raise, int64_t lo, int64_t hi, bool v16,
                                    bool half) {
#if defined(__AVX512F__)
    typedef void (*acc_fn)(float *, const float *, int64_t, const float *, const bool *, int64_t,
                           int64_t);
    static const acc_fn by_rows_64[3][4] = {
        {acc_tile_4_1, acc_tile_4_2, acc_tile_4_3, acc_tile_4_4},
        {acc16_tile_4_1_0, acc16_tile_4_2_0, acc16_tile_4_3_0, acc16_tile_4_4_0},
        {NULL, NULL, NULL, NULL}};
    static const acc_fn by_rows_128[3][2] = {{acc_tile_8_1, acc_tile_8_2},
                                             {acc16_tile_8_1_0, acc16_tile_8_2_0},
                                             {acc16_tile_8_1_1, acc16_tile_8_2_1}};
    static const acc_fn by_rows_256[3] = {acc_tile_16_1, acc16_tile_16_1_0, acc16_tile_16_1_1};
    if (!atomic_load(&fast_kernels_on)) return false;
    /* the f16 form of ggml_vec_mad_f16 applies to the whole steps of 128 of a row */
    const int form = !v16 ? 0 : half && dv >= 128 ? 2 : 1;
    acc_fn f = NULL;
    if (dv == 64 && nr <= 4) f = by_rows_64[form][nr - 1];
    if (dv == 128 && nr <= 2) f = by_rows_128[form][nr - 1];
    if (dv == 256 && nr == 1) f = by_rows_256[form];
    if (!f) return false;
    f(acc, vt, dv, e, raise, lo, hi);
    return true;
#else
    (void)acc, (void)nr, (void)vt, (void)dv, (void)e, (void)raise, (void)lo, (void)hi, (void)v16,
        (void)half;
    return false;
#endif
}

/* The query as K's dot partner: what ggml's q_to_vec_dot writes. */
static void prepare_query(ql_type type_k, const float *q, int64_t dk, uint8_t *dst) {
    if (half_like(type_k)) {
        ql_fp16 *h = (ql_fp16 *)dst;
        for (int64_t d = 0; d < dk; d++) h[d] = ql_fp32_to_fp16(q[d]);
        return;
    }
    const ql_type_traits *tk = ql_type_traits_get((int)type_k);
    ql_type_traits_get((int)tk->vec_dot_type)->from_float(q, dst, dk);
}

/*
 * Batched key scores (q8_0 and q4_0 K against the q8_0 query): the scores of
 * a row against a tile's keys, 8 keys at a time, with the operations of
 * ggml's x86 dot per key - per block, 8 int32 lanes of 4 products each,
 * converted, times d_k * d_q into 8 float lanes by one FMA from zero, then
 * hsum_float_8 - so each score has the bits of the per-key call it
 * replaces. The K tile is unpacked once for every row of the work item:
 * values + 128 as bytes (VNNI multiplies unsigned by signed; the query's
 * -128 * (sum of each lane's 4 values) starts every dot and cancels the
 * offset exactly) and the block scales as floats, 8 keys side by side.
 */
static atomic_bool batched_scores_on = true;

void ql_attention_set_batched_scores(bool enable) {
    atomic_store(&batched_scores_on, enable);
}

#if defined(QL_ATTN_VNNI)
static bool batched_scores(ql_type type_k, int64_t dk) {
    return (type_k == QL_TYPE_Q8_0 || type_k == QL_TYPE_Q4_0) && dk % 32 == 0 &&
           atomic_load(&batched_scores_on) && atomic_load(&fast_kernels_on);
}

static void pack_k_tile(ql_type type_k, const uint8_t *k, size_t k_slot, int64_t nk, int64_t nb,
                        uint8_t *kp, float *kd) {
    for (int64_t i = 0; i < KT; i++) {
        for (int64_t b = 0; b < nb; b++) {
            __m256i xu = _mm256_set1_epi8((char)0x80); /* a key past the tile's end: zeros */
            float d = 0.0f;
            if (i < nk && type_k == QL_TYPE_Q8_0) {
                const block_q8_0 *x = (const block_q8_0 *)(k + (size_t)i * k_slot) + b;
                xu = _mm256_xor_si256(_mm256_loadu_si256((const __m256i *)x->qs),
                                      _mm256_set1_epi8((char)0x80));
                d = _cvtsh_ss(x->d);
            } else if (i < nk) {
                const block_q4_0 *x = (const block_q4_0 *)(k + (size_t)i * k_slot) + b;
                const __m128i t = _mm_loadu_si128((const __m128i *)x->qs);
                const __m256i nib = _mm256_and_si256(_mm256_set_m128i(_mm_srli_epi16(t, 4), t),
                                                     _mm256_set1_epi8(0x0f));
                xu = _mm256_add_epi8(nib, _mm256_set1_epi8(120)); /* (nibble - 8) + 128 */
                d = _cvtsh_ss(x->d);
            }
            _mm256_store_si256((__m256i *)(kp + (size_t)(i * nb + b) * 32), xu);
            kd[b * KT + i] = d;
        }
    }
}

/* s[i] = dot(key i, q) * scale for the keys [0, n) of the packed tile (n rounded up to 8) */
static void score_keys(const uint8_t *kp, const float *kd, int64_t nb, int64_t n,
                       const block_q8_0 *q, float scale, float *s) {
    for (int64_t i0 = 0; i0 < n; i0 += 8) {
        __m256 acc[8];
        ACC_UNROLL for (int k = 0; k < 8; k++) acc[k] = _mm256_setzero_ps();
        for (int64_t b = 0; b < nb; b++) {
            const __m256i y = _mm256_loadu_si256((const __m256i *)q[b].qs);
            const __m256i corr = _mm256_madd_epi16(_mm256_maddubs_epi16(_mm256_set1_epi8(1), y),
                                                   _mm256_set1_epi16(-128));
            _Alignas(32) float d[8];
            _mm256_store_ps(d, _mm256_mul_ps(_mm256_loadu_ps(kd + b * KT + i0),
                                             _mm256_set1_ps(_cvtsh_ss(q[b].d))));
            __asm__ volatile("" ::: "memory"); /* broadcast from memory, not by permutes */
            ACC_UNROLL for (int k = 0; k < 8; k++) {
                const __m256i x =
                    _mm256_load_si256((const __m256i *)(kp + (size_t)((i0 + k) * nb + b) * 32));
                acc[k] =
                    _mm256_fmadd_ps(_mm256_set1_ps(d[k]),
                                    _mm256_cvtepi32_ps(_mm256_dpbusd_epi32(corr, x, y)), acc[k]);
            }
        }
        _mm256_storeu_ps(s + i0, _mm256_mul_ps(ql_hsum8_x8(acc), _mm256_set1_ps(scale)));
    }
}
#endif

#if defined(__AVX512F__)
/* h = a + b with a's and b's lanes picked by an index over both (permutex2var) */
static inline __m512 add_pair(__m512 u, __m512 v, __m512i ia, __m512i ib) {
    return _mm512_add_ps(_mm512_permutex2var_ps(u, ia, v), _mm512_permutex2var_ps(u, ib, v));
}

/*
 * Batched key scores for an f16 (or f32, rounded to f16) K against the f16
 * query, 16 keys at a time, each with the operations of ggml_vec_dot_f16's
 * f32 form (vecdot_f16_f32 in kernels.c): four 16-lane FMA accumulators over
 * steps of 64 from zero, folded (0+2) + (1+3), then the lane additions of
 * its reduction (l + l+8, l + l+4, 0+2 and 1+3, then the pair) - done for 16
 * keys at once, each level adding the same lanes of each key. dk % 64 == 0,
 * so there is no tail (the double sum with an empty tail is the float
 * itself). kf: the tile's keys widened to f32 (exact), [KT][dk], zeros past
 * the tile's end; qf: the query widened; s[i] = score * scale for [0, n)
 * rounded up to 16.
 */
static void score_keys_f16(const float *kf, const float *qf, int64_t dk, int64_t n, float scale,
                           float *s) {
    const __m512i i8a = _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 16, 17, 18, 19, 20, 21, 22, 23);
    const __m512i i8b =
        _mm512_setr_epi32(8, 9, 10, 11, 12, 13, 14, 15, 24, 25, 26, 27, 28, 29, 30, 31);
    const __m512i i4a = _mm512_setr_epi32(0, 1, 2, 3, 8, 9, 10, 11, 16, 17, 18, 19, 24, 25, 26, 27);
    const __m512i i4b =
        _mm512_setr_epi32(4, 5, 6, 7, 12, 13, 14, 15, 20, 21, 22, 23, 28, 29, 30, 31);
    const __m512i i2a = _mm512_setr_epi32(0, 1, 4, 5, 8, 9, 12, 13, 16, 17, 20, 21, 24, 25, 28, 29);
    const __m512i i2b =
        _mm512_setr_epi32(2, 3, 6, 7, 10, 11, 14, 15, 18, 19, 22, 23, 26, 27, 30, 31);
    const __m512i i1a =
        _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
    const __m512i i1b =
        _mm512_setr_epi32(1, 3, 5, 7, 9, 11, 13, 15, 17, 19, 21, 23, 25, 27, 29, 31);
    for (int64_t i0 = 0; i0 < n; i0 += 16) {
        __m512 t[16];
        for (int d = 0; d < 16; d++) {
            const float *k = kf + (i0 + d) * dk;
            __m512 a0 = _mm512_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
            for (int64_t e = 0; e < dk; e += 64) {
                a0 = _mm512_fmadd_ps(_mm512_loadu_ps(k + e), _mm512_loadu_ps(qf + e), a0);
                a1 = _mm512_fmadd_ps(_mm512_loadu_ps(k + e + 16), _mm512_loadu_ps(qf + e + 16), a1);
                a2 = _mm512_fmadd_ps(_mm512_loadu_ps(k + e + 32), _mm512_loadu_ps(qf + e + 32), a2);
                a3 = _mm512_fmadd_ps(_mm512_loadu_ps(k + e + 48), _mm512_loadu_ps(qf + e + 48), a3);
            }
            t[d] = _mm512_add_ps(_mm512_add_ps(a0, a2), _mm512_add_ps(a1, a3));
        }
        __m512 u[8], v[4];
        for (int k = 0; k < 8; k++) u[k] = add_pair(t[2 * k], t[2 * k + 1], i8a, i8b);
        for (int k = 0; k < 4; k++) v[k] = add_pair(u[2 * k], u[2 * k + 1], i4a, i4b);
        const __m512 w0 = add_pair(v[0], v[1], i2a, i2b), w1 = add_pair(v[2], v[3], i2a, i2b);
        _mm512_storeu_ps(s + i0, _mm512_mul_ps(add_pair(w0, w1, i1a, i1b), _mm512_set1_ps(scale)));
    }
}
#endif

static float key_score(const attn_job *j, const uint8_t *krow, const uint8_t *qq, ql_fp16 *tmp) {
    const ql_attn_params *p = j->p;
    const int64_t dk = p->head_dim_k;
    float s;
    if (half_like(p->type_k))
        s = ql_dot_f16_f16(row_as_f16(p->type_k, krow, dk, tmp), (const ql_fp16 *)qq, dk,
                           p->f16_dot_half);
    else
        j->kdot(dk, &s, krow, qq);
    return s;
}

/*
 * ggml's one_chunk softmax for nr (<= QL_ATTN_ROWS_MAX) query rows of one
 * token over the keys [lo, hi) of a tile, key by key: a key above the
 * running max M rescales by expf(M - s), any other weighs expf(s - M), and
 * S = S*ms + vs (fused, as GCC compiles ggml's line). The max sequence is
 * known once the scores are, so the exponentials run as one vector call
 * (libm's bits) and the sums follow. sc: the rows' scores, KT per row; m
 * and sum: the rows' running max and sum (QL_ATTN_ROWS_MAX entries, rows
 * past nr zero); arg, e, raise: per key i the rows' entries at
 * i * QL_ATTN_ROWS_MAX + q, for the V accumulation. Rows are lanes of one
 * register where the build has SSE4.1 and FMA (each lane the scalar
 * operations), and no branch depends on the data: where s > M, M - s is
 * exactly -(s - M) (s != M), so the argument is s - M with its sign flipped.
 */
static void softmax_updates(float *sc, int nr, int64_t lo, int64_t hi, float *m, float *sum,
                            float *arg, float *e, bool *raise) {
    enum { R = QL_ATTN_ROWS_MAX };
    for (int q = nr; q < R; q++) /* idle lanes: zeros, no NaN or subnormal work */
        for (int64_t i = lo; i < hi; i++) sc[q * KT + i] = 0.0f;
#if defined(__SSE4_1__) && defined(__FMA__)
    _Static_assert(QL_ATTN_ROWS_MAX == 4, "one SSE register of rows");
    __m128 m4 = _mm_loadu_ps(m);
    for (int64_t i = lo; i < hi; i++) {
        const __m128 s = _mm_setr_ps(sc[i], sc[KT + i], sc[2 * KT + i], sc[3 * KT + i]);
        const __m128 up = _mm_cmpgt_ps(s, m4);
        _mm_storeu_ps(arg + i * R,
                      _mm_xor_ps(_mm_sub_ps(s, m4), _mm_and_ps(up, _mm_set1_ps(-0.0f))));
        const int bits = _mm_movemask_ps(up);
        for (int q = 0; q < R; q++) raise[i * R + q] = (bits >> q) & 1;
        m4 = _mm_blendv_ps(m4, s, up);
    }
    _mm_storeu_ps(m, m4);
    ql_expf_row(arg + lo * R, e + lo * R, (hi - lo) * R);
    __m128 s4 = _mm_loadu_ps(sum);
    const __m128 one = _mm_set1_ps(1.0f);
    for (int64_t i = lo; i < hi; i++) {
        uint32_t r;
        memcpy(&r, raise + i * R, sizeof r);
        /* bytes 0/1 to lane masks */
        const __m128i wide = _mm_cvtepu8_epi32(_mm_cvtsi32_si128((int)r));
        const __m128 up = _mm_castsi128_ps(_mm_cmpgt_epi32(wide, _mm_setzero_si128()));
        const __m128 e4 = _mm_loadu_ps(e + i * R);
        s4 = _mm_fmadd_ps(s4, _mm_blendv_ps(one, e4, up), _mm_blendv_ps(e4, one, up));
    }
    _mm_storeu_ps(sum, s4);
#else
    for (int64_t i = lo; i < hi; i++)
        for (int q = 0; q < R; q++) {
            const float s = sc[q * KT + i], mq = m[q], d = s - mq;
            const bool up = s > mq;
            uint32_t bits;
            memcpy(&bits, &d, sizeof bits);
            bits ^= (uint32_t)up << 31;
            raise[i * R + q] = up;
            memcpy(&arg[i * R + q], &bits, sizeof bits);
            m[q] = up ? s : mq;
        }
    ql_expf_row(arg + lo * R, e + lo * R, (hi - lo) * R);
    for (int64_t i = lo; i < hi; i++)
        for (int q = 0; q < R; q++) {
            const bool up = raise[i * R + q];
            const float ei = e[i * R + q];
            sum[q] = fmaf(sum[q], up ? ei : 1.0f, up ? 1.0f : ei);
        }
#endif
}

static void run_per_key(const attn_job *j, int64_t g, int64_t t0, int64_t t1, scratch_view *sv) {
    const ql_attn_params *p = j->p;
    const int64_t dk = p->head_dim_k, dv = p->head_dim_v, group = group_of(p);
    const size_t k_slot = (size_t)p->n_head_kv * p->k_row_bytes;
    const size_t v_slot = (size_t)p->n_head_kv * p->v_row_bytes;
    const bool v16 = half_like(p->type_v);
    int64_t k_lo, k_end;
    scan_range(p, j->pos0 + t0, j->pos0 + t1 - 1, &k_lo, &k_end);
    kv_run runs[MAX_RUNS];

    for (int64_t t = t0; t < t1; t++)
        for (int64_t h = 0; h < group; h++)
            prepare_query(p->type_k, j->q + t * p->n_head * dk + (g * group + h) * dk, dk,
                          sv->qq + (size_t)((t - t0) * group + h) * sv->q_row);

    /* how a tile's keys are scored; each mode gives every score the bits of key_score's */
    enum { SCORE_PER_KEY, SCORE_PACKED, SCORE_F16X16, SCORE_F16_TILE } mode = SCORE_PER_KEY;
    const bool fast = atomic_load(&fast_kernels_on);
#if defined(QL_ATTN_VNNI)
    if (batched_scores(p->type_k, dk)) mode = SCORE_PACKED; /* the K tile unpacked once */
#endif
#if defined(__AVX512F__)
    /* f16-like K with f32 dots: the tile widened to f32 once, keys scored 16 at a time */
    if (fast && half_like(p->type_k) && !p->f16_dot_half && dk % 64 == 0) mode = SCORE_F16X16;
    float qf[4096];
#endif
    /* otherwise an f32 K's rows are rounded to f16 once per tile, not once per query */
    if (fast && mode == SCORE_PER_KEY && p->type_k == QL_TYPE_F32) mode = SCORE_F16_TILE;
    const int nr_max = rows_in_registers(dv);
    for (int64_t k0 = k_lo / KT * KT; k0 < k_end; k0 += KT) {
        const int64_t nk = k0 + KT <= k_end ? KT : k_end - k0;
        /* V widened to f32 (exactly, for an f16 V: what its accumulation reads) */
        for (int64_t i = 0; i < nk; i++)
            row_as_f32(p->type_v, p->v + (size_t)(k0 + i) * v_slot + (size_t)g * p->v_row_bytes, dv,
                       sv->vt + i * dv);
        if (mode == SCORE_F16X16)
            for (int64_t i = 0; i < KT; i++) {
                float *dst = sv->kt + i * dk;
                if (i < nk)
                    row_as_f32(p->type_k,
                               p->k + (size_t)(k0 + i) * k_slot + (size_t)g * p->k_row_bytes, dk,
                               dst);
                else
                    memset(dst, 0, (size_t)dk * sizeof(float));
            }
        if (mode == SCORE_F16_TILE)
            for (int64_t i = 0; i < nk; i++)
                row_as_f16(p->type_k, p->k + (size_t)(k0 + i) * k_slot + (size_t)g * p->k_row_bytes,
                           dk, sv->kh + i * dk);
#if defined(QL_ATTN_VNNI)
        if (mode == SCORE_PACKED)
            pack_k_tile(p->type_k, p->k + (size_t)k0 * k_slot + (size_t)g * p->k_row_bytes, k_slot,
                        nk, dk / 32, sv->kp, sv->kd);
#endif
        for (int64_t t = t0; t < t1; t++) {
            const int n_runs = visible_runs(p, j->pos0 + t, k0, nk, runs);
            if (n_runs == 0) continue;
            /* the token's heads in groups of nr rows: their chains overlap */
            for (int64_t h0 = 0; h0 < group; h0 += nr_max) {
                const int nr = group - h0 < nr_max ? (int)(group - h0) : nr_max;
                const int64_t r0 = (t - t0) * group + h0;
                /* scores, then per run of visible keys the softmax updates and V, in key order */
                float *sc = sv->sc, *arg = sv->arg, *e = sv->e;
                bool *raise = sv->raise;
                float m[QL_ATTN_ROWS_MAX] = {0}, sum[QL_ATTN_ROWS_MAX] = {0};
                for (int q = 0; q < nr; q++) {
                    const uint8_t *qq = sv->qq + (size_t)(r0 + q) * sv->q_row;
                    float *sq = sc + q * KT;
                    m[q] = sv->mx[r0 + q];
                    sum[q] = sv->sum[r0 + q];
                    switch (mode) {
#if defined(QL_ATTN_VNNI)
                    case SCORE_PACKED:
                        score_keys(sv->kp, sv->kd, dk / 32, runs[n_runs - 1].hi,
                                   (const block_q8_0 *)qq, j->scale, sq);
                        break;
#endif
#if defined(__AVX512F__)
                    case SCORE_F16X16:
                        ql_fp16_to_fp32_row((const ql_fp16 *)qq, qf, dk);
                        score_keys_f16(sv->kt, qf, dk, runs[n_runs - 1].hi, j->scale, sq);
                        break;
#endif
                    case SCORE_F16_TILE:
                        for (int ri = 0; ri < n_runs; ri++)
                            for (int64_t i = runs[ri].lo; i < runs[ri].hi; i++)
                                sq[i] = ql_dot_f16_f16(sv->kh + i * dk, (const ql_fp16 *)qq, dk,
                                                       p->f16_dot_half) *
                                        j->scale;
                        break;
                    default:
                        for (int ri = 0; ri < n_runs; ri++)
                            for (int64_t i = runs[ri].lo; i < runs[ri].hi; i++)
                                sq[i] = key_score(j,
                                                  p->k + (size_t)(k0 + i) * k_slot +
                                                      (size_t)g * p->k_row_bytes,
                                                  qq, sv->row16) *
                                        j->scale;
                    }
                }
                for (int ri = 0; ri < n_runs; ri++) {
                    const int64_t lo = runs[ri].lo, hi = runs[ri].hi;
                    if (p->softcap != 0.0f)
                        for (int q = 0; q < nr; q++)
                            for (int64_t i = lo; i < hi; i++)
                                sc[q * KT + i] = p->softcap * tanhf(sc[q * KT + i]);
                    softmax_updates(sc, nr, lo, hi, m, sum, arg, e, raise);
                    if (accumulate_in_registers(sv->acc + r0 * dv, nr, sv->vt, dv, e, raise, lo, hi,
                                                v16, p->f16_half))
                        continue;
                    for (int q = 0; q < nr; q++) {
                        const int64_t r = r0 + q;
                        for (int64_t i = lo; i < hi; i++) {
                            const bool up = raise[i * QL_ATTN_ROWS_MAX + q];
                            const float ei = e[i * QL_ATTN_ROWS_MAX + q];
                            const float ms = up ? ei : 1.0f, vs = up ? 1.0f : ei;
                            if (v16) {
                                if (up) scale_f16(sv->acc + r * dv, ms, dv, p->f16_half);
                                mad_f16(sv->acc + r * dv, sv->vt + i * dv, vs, dv, p->f16_half);
                            } else {
                                if (up) scale_f32(sv->acc + r * dv, ms, dv);
                                mad_f32(sv->acc + r * dv, sv->vt + i * dv, vs, dv);
                            }
                        }
                    }
                }
                for (int q = 0; q < nr; q++) {
                    sv->mx[r0 + q] = m[q];
                    sv->sum[r0 + q] = sum[q];
                }
            }
        }
    }
}

static void run_item(const attn_job *j, int64_t item, scratch_view *sv) {
    const ql_attn_params *p = j->p;
    const int64_t dv = p->head_dim_v, group = group_of(p);
    const int64_t g = item / j->n_blocks;   /* KV head */
    const int64_t blk = item % j->n_blocks; /* query block */
    const int64_t t0 = blk * QB;
    const int64_t t1 = t0 + QB < j->n_tokens ? t0 + QB : j->n_tokens;
    const int64_t rows = (t1 - t0) * group;

    for (int64_t r = 0; r < rows; r++) {
        sv->mx[r] = -INFINITY;
        sv->sum[r] = 0.0f;
    }
    memset(sv->acc, 0, (size_t)(rows * dv) * sizeof(float));

    if (j->tiled)
        run_tiled(j, g, t0, t1, sv);
    else
        run_per_key(j, g, t0, t1, sv);

    const int64_t o_stride = p->n_head * dv;
    for (int64_t t = t0; t < t1; t++) {
        for (int64_t h = 0; h < group; h++) {
            const int64_t r = (t - t0) * group + h;
            const float inv = sv->sum[r] == 0.0f ? 0.0f : 1.0f / sv->sum[r];
            float *o = j->out + t * o_stride + (g * group + h) * dv;
            for (int64_t d = 0; d < dv; d++) o[d] = sv->acc[r * dv + d] * inv;
        }
    }
}

static void attn_worker(void *arg, int ith, int nth) {
    (void)nth;
    attn_job *j = arg;
    scratch_view sv;
    layout(j->p, j->s->buf + (size_t)ith * j->s->per_thread, &sv);
    const int64_t n_items = j->p->n_head_kv * j->n_blocks;
    for (;;) {
        long item = atomic_fetch_add(&j->s->next_item, 1);
        if (item >= n_items) break;
        run_item(j, item, &sv);
    }
}

void ql_attention(ql_pool *pool, const ql_attn_params *p, const float *q, int64_t n_tokens,
                  int64_t pos0, float *out, ql_attn_scratch *scratch) {
    attn_job j = {.p = p,
                  .q = q,
                  .n_tokens = n_tokens,
                  .pos0 = pos0,
                  .out = out,
                  .s = scratch,
                  .n_blocks = (n_tokens + QB - 1) / QB};
    j.tiled = half_like(p->type_k) && half_like(p->type_v) && n_tokens >= TILED_MIN_ROWS &&
              p->head_dim_v % 16 == 0;
    j.scale = p->softcap != 0.0f ? p->scale / p->softcap : p->scale;
    j.kdot = ql_kernel_kv_dot(p->type_k);
    if (!j.kdot) j.kdot = ql_type_traits_get((int)p->type_k)->vec_dot;
    atomic_store(&scratch->next_item, 0);
    ql_pool_run(pool, attn_worker, &j);
}
