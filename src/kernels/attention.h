/*
 * attention.h - causal (optionally sliding-window) multi-head attention
 * that reads K and V straight from a typed KV cache, flash-attention style:
 * keys are visited in tiles with an online softmax, so no n_ctx x n_ctx
 * score matrix ever exists. Each work item (one KV head, one block of
 * query rows) dequantizes a K/V tile once and uses it for every query in
 * the block.
 *
 * Numerics follow ggml's flash attention on the CPU: for a quantized K cache
 * the queries are first quantized to K's dot-product partner type (q8_0 or
 * q8_1) and then scored against K, which is what ggml's integer dot computes;
 * for bf16 K the queries are rounded to bf16; f16/f32 K score f32 queries.
 * V is accumulated in f32.
 */
#ifndef QL_KERNELS_ATTENTION_H
#define QL_KERNELS_ATTENTION_H

#include <stddef.h>
#include <stdint.h>

#include "../core/threadpool.h"
#include "../quant/quant.h"

typedef struct {
    int64_t n_head, n_head_kv, head_dim_k, head_dim_v;
    ql_type type_k, type_v;
    const uint8_t *k; /* cache slot s (= position s) holds n_head_kv rows of head_dim_k */
    const uint8_t *v;
    size_t k_row_bytes, v_row_bytes; /* bytes of one head's row */
    float scale;                     /* multiplies q.k */
    float softcap;                   /* 0 = none */
    int64_t window;                  /* key visible iff 0 <= q_pos - k_pos < window; 0 = causal only */
} ql_attn_params;

typedef struct ql_attn_scratch ql_attn_scratch;

ql_status ql_attn_scratch_create(const ql_attn_params *p, int n_threads, ql_attn_scratch **out,
                                 ql_error *err);
void ql_attn_scratch_free(ql_attn_scratch *s);

/*
 * q: n_tokens rows of n_head * head_dim_k floats (modified: rounded to what
 * the K cache's dot product sees). Token i is at position pos0 + i and may
 * attend to cache slots up to its own position. out: n_tokens rows of
 * n_head * head_dim_v floats.
 */
void ql_attention(ql_pool *pool, const ql_attn_params *p, float *q, int64_t n_tokens, int64_t pos0,
                  float *out, ql_attn_scratch *scratch);

/* Rounds a query row to what a dot with a cache row of type_k sees (see above). */
void ql_attn_prepare_query(ql_type type_k, float *q, int64_t n, void *tmp);

#endif
