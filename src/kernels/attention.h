/*
 * attention.h - causal (optionally sliding-window) multi-head attention
 * that reads K and V straight from a typed KV cache, flash-attention style:
 * keys are visited in tiles with an online softmax, so no n_ctx x n_ctx
 * score matrix ever exists. Each work item (one KV head, one block of
 * query rows) dequantizes a K/V tile once and uses it for every query in
 * the block.
 *
 * The arithmetic is that of ggml's CPU flash attention, per query, so a
 * quantized cache makes the same rounding decisions as llama.cpp:
 *   - f16 (or f32, which llama.cpp casts to f16) K and V with at least 64
 *     query rows: ggml's tiled path. Tiles of 64 keys from position 0;
 *     scores are f32 dots of the f32 query (one FMA chain per key); each
 *     tile updates the running max, sums its exponentials (ggml's vector
 *     exp, 16-lane groups, in double) and adds p*V with one FMA per key.
 *   - every other case: ggml's per-key path. The query is converted to K's
 *     dot partner (q8_0/q8_1 run-time quantizer, f16 or bf16) and scored by
 *     ggml's x86 dot; the softmax is updated key by key (expf), V added
 *     with one FMA per element - into f16 accumulators when V is f16.
 */
#ifndef QL_KERNELS_ATTENTION_H
#define QL_KERNELS_ATTENTION_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../core/threadpool.h"
#include "../quant/quant.h"

typedef struct {
    int64_t n_head, n_head_kv, head_dim_k, head_dim_v;
    ql_type type_k, type_v;
    const uint8_t *k; /* cache cell s holds n_head_kv rows of head_dim_k */
    const uint8_t *v;
    /* the position each cell holds (-1: empty), and the n_kv cells to scan, in cell order as
     * ggml does; NULL: cell s holds position s, and the cells up to each query are scanned */
    const int32_t *cell_pos;
    int64_t n_kv;
    size_t k_row_bytes, v_row_bytes; /* bytes of one head's row */
    float scale;                     /* multiplies q.k */
    float softcap;                   /* 0 = none */
    int64_t window;    /* key visible iff 0 <= q_pos - k_pos < window; 0 = causal only */
    bool f16_half;     /* f16 V accumulation in half precision (AVX512-FP16 CPUs) */
    bool f16_dot_half; /* f16 K dots in half precision too (the older llama.cpp there) */
} ql_attn_params;

typedef struct ql_attn_scratch ql_attn_scratch;

ql_status ql_attn_scratch_create(const ql_attn_params *p, int n_threads, ql_attn_scratch **out,
                                 ql_error *err);
void ql_attn_scratch_free(ql_attn_scratch *s);

/*
 * q: n_tokens rows of n_head * head_dim_k floats. Token i is at position
 * pos0 + i and may attend to cache slots up to its own position. out:
 * n_tokens rows of n_head * head_dim_v floats. The path (tiled or per key)
 * depends on the cache types and on n_tokens, as in ggml.
 */
void ql_attention(ql_pool *pool, const ql_attn_params *p, const float *q, int64_t n_tokens,
                  int64_t pos0, float *out, ql_attn_scratch *scratch);

/*
 * For tests: whether the per-key path scores q8_0 and q4_0 keys in batches
 * (the default, where the build has them) or with one dot call per key; the
 * two give the same bits.
 */
void ql_attention_set_batched_scores(bool enable);

/*
 * For tests: whether the per-key path uses its fast kernels (the default) -
 * batched scores, K tiles converted once per work item, V accumulated with
 * the query rows in registers - or goes key by key and element by element,
 * the reference those kernels are held to bit for bit.
 */
void ql_attention_set_fast_kernels(bool enable);

#endif
