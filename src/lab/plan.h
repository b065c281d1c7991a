/*
 * plan.h - memory arithmetic for choosing a configuration: how many bytes a
 * model needs at a context length with given K and V cache types, and the
 * longest context that fits a budget.
 *
 *   total(ctx) = weight bytes + KV bytes(ctx) + recurrent bytes + compute bytes
 *   KV bytes(ctx) = sum over attention layers of cells(l, ctx) * n_head_kv *
 *                   (row_bytes(type_k, head_dim_k) + row_bytes(type_v, head_dim_v))
 *   cells(l, ctx) = ctx, or for a sliding-window layer the ring llama.cpp keeps
 *                   where it is smaller: pad256(min(pad256(ctx), n_swa + n_ubatch))
 *   recurrent bytes = sum over Gated DeltaNet layers of its conv window and
 *                   delta-rule states (f32), the same at every context
 *
 * The per-layer terms are model/layers.h's, which the context allocates from.
 * row_bytes includes the block scales of quantized types (q8_0 stores 34
 * bytes per 32 values). Compute bytes estimate the working buffers of one
 * micro-batch of n_ubatch tokens: its logits (n_ubatch x n_vocab f32) and
 * activations (n_ubatch x (4 n_embd + 2 n_ff + q/k/v widths) f32).
 */
#ifndef QL_LAB_PLAN_H
#define QL_LAB_PLAN_H

#include <stdint.h>

#include "../model/model.h"

typedef struct {
    ql_type type_k, type_v;
    int64_t n_ubatch;
} ql_plan_cache;

/* KV cache bytes for one token position in a layer (K and V, all KV heads). */
uint64_t ql_plan_kv_bytes_per_cell(const ql_model_config *c, ql_type type_k, ql_type type_v);

/* KV cache bytes of the whole model at a context length (attention layers only). */
uint64_t ql_plan_kv_bytes(const ql_model_config *c, const ql_plan_cache *cache, int64_t n_ctx);

/* Bytes of a hybrid's fixed recurrent state (0 for models without DeltaNet layers). */
uint64_t ql_plan_recurrent_bytes(const ql_model_config *c);

/* Working buffers of one micro-batch (see the header comment). */
uint64_t ql_plan_compute_bytes(const ql_model_config *c, int64_t n_ubatch);

/* weights + KV(n_ctx) + recurrent state + compute */
uint64_t ql_plan_total_bytes(const ql_model_config *c, uint64_t weight_bytes,
                             const ql_plan_cache *cache, int64_t n_ctx);

/*
 * The longest context (at most ctx_limit) whose total fits budget; 0 if not
 * even one token fits. Exact: the total is monotone in the context.
 */
int64_t ql_plan_max_ctx(const ql_model_config *c, uint64_t weight_bytes, const ql_plan_cache *cache,
                        uint64_t budget, int64_t ctx_limit);

#endif
