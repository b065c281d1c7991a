/*
 * attention.c - tiled attention over a typed KV cache (see attention.h).
 *
 * Work items are (KV head, block of QB query tokens); all query heads that
 * share the KV head are processed together, so GQA reads each K/V tile once
 * per group. Items are claimed from an atomic counter for balance (causal
 * blocks late in the chunk cost more); every item is computed the same way
 * whichever thread runs it, so results do not depend on the thread count.
 */
#include "attention.h"

#include <math.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

enum { QB = 32, KT = 64 };

struct ql_attn_scratch {
    int n_threads;
    size_t per_thread; /* floats */
    float *buf;
    atomic_long next_item;
};

static size_t floats_per_thread(const ql_attn_params *p) {
    const int64_t group = p->n_head / p->n_head_kv;
    const int64_t rows = QB * group;
    return (size_t)(p->head_dim_k * KT      /* K tile, transposed */
                    + KT * p->head_dim_v    /* V tile */
                    + KT                    /* scores */
                    + rows * p->head_dim_v  /* accumulators */
                    + 2 * rows              /* running max and sum */
                    + 16);
}

ql_status ql_attn_scratch_create(const ql_attn_params *p, int n_threads, ql_attn_scratch **out,
                                 ql_error *err) {
    ql_attn_scratch *s = calloc(1, sizeof *s);
    if (!s) return ql_fail(err, QL_ERR_NOMEM, "out of memory for attention scratch");
    s->n_threads = n_threads;
    s->per_thread = (floats_per_thread(p) + 15) & ~(size_t)15;
    s->buf = aligned_alloc(64, s->per_thread * sizeof(float) * (size_t)n_threads);
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

void ql_attn_prepare_query(ql_type type_k, float *q, int64_t n, void *tmp) {
    const ql_type_traits *tk = ql_type_traits_get((int)type_k);
    if (type_k == QL_TYPE_F32 || type_k == QL_TYPE_F16) return;
    const ql_type_traits *tq = ql_type_traits_get((int)tk->vec_dot_type);
    tq->from_float(q, tmp, n);
    tq->to_float(tmp, q, n);
}

typedef struct {
    const ql_attn_params *p;
    float *q;
    int64_t n_tokens, pos0;
    float *out;
    ql_attn_scratch *s;
    int64_t n_blocks;
} attn_job;

static void run_item(const attn_job *j, int64_t item, float *scratch) {
    const ql_attn_params *p = j->p;
    const int64_t dk = p->head_dim_k, dv = p->head_dim_v;
    const int64_t group = p->n_head / p->n_head_kv;
    const int64_t g = item / j->n_blocks;    /* KV head */
    const int64_t blk = item % j->n_blocks;  /* query block */
    const int64_t t0 = blk * QB;
    const int64_t t1 = t0 + QB < j->n_tokens ? t0 + QB : j->n_tokens;
    const int64_t rows = (t1 - t0) * group;

    float *kt = scratch;                 /* [dk][KT] */
    float *vt = kt + dk * KT;            /* [KT][dv] */
    float *sc = vt + KT * dv;            /* [KT] */
    float *acc = sc + KT;                /* [rows][dv] */
    float *mx = acc + QB * group * dv;   /* [rows] */
    float *sum = mx + QB * group;        /* [rows] */

    for (int64_t r = 0; r < rows; r++) {
        mx[r] = -INFINITY;
        sum[r] = 0.0f;
    }
    memset(acc, 0, (size_t)(rows * dv) * sizeof(float));

    const int64_t q_stride = p->n_head * dk;
    const int64_t first_pos = j->pos0 + t0, last_pos = j->pos0 + t1 - 1;
    int64_t k_lo = 0;
    if (p->window > 0 && first_pos - p->window + 1 > 0) k_lo = first_pos - p->window + 1;
    const ql_type_traits *tk = ql_type_traits_get((int)p->type_k);
    const ql_type_traits *tv = ql_type_traits_get((int)p->type_v);
    const size_t k_slot = (size_t)p->n_head_kv * p->k_row_bytes;
    const size_t v_slot = (size_t)p->n_head_kv * p->v_row_bytes;
    float krow[4096];

    for (int64_t k0 = k_lo; k0 <= last_pos; k0 += KT) {
        const int64_t nk = k0 + KT <= last_pos + 1 ? KT : last_pos + 1 - k0;
        /* dequantize the tile once for the whole block */
        for (int64_t i = 0; i < nk; i++) {
            const uint8_t *krow_q = p->k + (size_t)(k0 + i) * k_slot + (size_t)g * p->k_row_bytes;
            tk->to_float(krow_q, krow, dk);
            for (int64_t d = 0; d < dk; d++) kt[d * KT + i] = krow[d];
            const uint8_t *vrow_q = p->v + (size_t)(k0 + i) * v_slot + (size_t)g * p->v_row_bytes;
            tv->to_float(vrow_q, vt + i * dv, dv);
        }
        for (int64_t t = t0; t < t1; t++) {
            const int64_t qpos = j->pos0 + t;
            /* visible keys of this query within the tile: [lo, hi) */
            int64_t lo = 0, hi = qpos - k0 + 1;
            if (hi > nk) hi = nk;
            if (p->window > 0 && qpos - p->window + 1 > k0) lo = qpos - p->window + 1 - k0;
            if (hi <= lo) continue;
            for (int64_t h = 0; h < group; h++) {
                const int64_t head = g * group + h;
                const int64_t r = (t - t0) * group + h;
                const float *qv = j->q + t * q_stride + head * dk;
                for (int64_t i = 0; i < nk; i++) sc[i] = 0.0f;
                for (int64_t d = 0; d < dk; d++) {
                    const float qd = qv[d];
                    const float *kd = kt + d * KT;
                    for (int64_t i = 0; i < nk; i++) sc[i] += qd * kd[i];
                }
                float tile_max = -INFINITY;
                for (int64_t i = lo; i < hi; i++) {
                    float s = sc[i] * p->scale;
                    if (p->softcap != 0.0f) s = p->softcap * tanhf(s / p->softcap);
                    sc[i] = s;
                    if (s > tile_max) tile_max = s;
                }
                float *a = acc + r * dv;
                if (tile_max > mx[r]) {
                    const float ms = expf(mx[r] - tile_max);
                    for (int64_t d = 0; d < dv; d++) a[d] *= ms;
                    sum[r] *= ms;
                    mx[r] = tile_max;
                }
                const float m = mx[r];
                float s_add = 0.0f;
                for (int64_t i = lo; i < hi; i++) {
                    const float e = expf(sc[i] - m);
                    s_add += e;
                    const float *vi = vt + i * dv;
                    for (int64_t d = 0; d < dv; d++) a[d] += e * vi[d];
                }
                sum[r] += s_add;
            }
        }
    }

    const int64_t o_stride = p->n_head * dv;
    for (int64_t t = t0; t < t1; t++) {
        for (int64_t h = 0; h < group; h++) {
            const int64_t r = (t - t0) * group + h;
            const float inv = sum[r] > 0.0f ? 1.0f / sum[r] : 0.0f;
            float *o = j->out + t * o_stride + (g * group + h) * dv;
            for (int64_t d = 0; d < dv; d++) o[d] = acc[r * dv + d] * inv;
        }
    }
}

static void attn_worker(void *arg, int ith, int nth) {
    (void)nth;
    attn_job *j = arg;
    float *scratch = j->s->buf + (size_t)ith * j->s->per_thread;
    const int64_t n_items = j->p->n_head_kv * j->n_blocks;
    for (;;) {
        long item = atomic_fetch_add(&j->s->next_item, 1);
        if (item >= n_items) break;
        run_item(j, item, scratch);
    }
}

typedef struct {
    const ql_attn_params *p;
    float *q;
    int64_t n_tokens;
} prep_job;

static void prepare_queries(void *arg, int ith, int nth) {
    prep_job *j = arg;
    const ql_attn_params *p = j->p;
    long long r0, r1;
    ql_split_range(j->n_tokens * p->n_head, ith, nth, &r0, &r1);
    uint8_t tmp[4096 * 2];
    for (long long r = r0; r < r1; r++)
        ql_attn_prepare_query(p->type_k, j->q + r * p->head_dim_k, p->head_dim_k, tmp);
}

void ql_attention(ql_pool *pool, const ql_attn_params *p, float *q, int64_t n_tokens, int64_t pos0,
                  float *out, ql_attn_scratch *scratch) {
    if (p->type_k != QL_TYPE_F32 && p->type_k != QL_TYPE_F16) {
        prep_job pj = {p, q, n_tokens};
        ql_pool_run(pool, prepare_queries, &pj);
    }
    attn_job j = {.p = p, .q = q, .n_tokens = n_tokens, .pos0 = pos0, .out = out, .s = scratch,
                  .n_blocks = (n_tokens + QB - 1) / QB};
    atomic_store(&scratch->next_item, 0);
    ql_pool_run(pool, attn_worker, &j);
}
