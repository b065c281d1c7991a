/*
 * plan.c - memory arithmetic (see plan.h). Everything is integer bytes so
 * the planner's tables can be checked against hand computation exactly.
 * Per-layer state comes from model/layers.h, the description the context
 * allocates from, so a plan and a run report the same cache.
 */
#include "plan.h"

#include "../model/layers.h"

uint64_t ql_plan_kv_bytes_per_cell(const ql_model_config *c, ql_type type_k, ql_type type_v) {
    return ql_layer_kv_bytes_per_cell(c, type_k, type_v);
}

static ql_state_summary state(const ql_model_config *c, const ql_plan_cache *cache, int64_t n_ctx) {
    const ql_state_params sp = {.type_k = cache->type_k,
                                .type_v = cache->type_v,
                                .n_ctx = n_ctx,
                                .n_ubatch = cache->n_ubatch > 0 ? cache->n_ubatch : 512};
    ql_state_summary s;
    ql_state_summarize(c, &sp, &s);
    return s;
}

uint64_t ql_plan_kv_bytes(const ql_model_config *c, const ql_plan_cache *cache, int64_t n_ctx) {
    return state(c, cache, n_ctx).kv_bytes;
}

uint64_t ql_plan_recurrent_bytes(const ql_model_config *c) {
    const ql_plan_cache any = {QL_TYPE_F16, QL_TYPE_F16, 512};
    return state(c, &any, 1).recurrent_bytes;
}

uint64_t ql_plan_compute_bytes(const ql_model_config *c, int64_t n_ubatch) {
    int64_t ffn = c->n_ff;
    if (c->n_expert > 0 && c->n_ff_exp > ffn) ffn = c->n_ff_exp;
    if (c->n_expert > 0 && c->n_ff_shexp > ffn) ffn = c->n_ff_shexp;
    uint64_t widths = (uint64_t)(c->n_vocab + 4 * c->n_embd + 2 * ffn + c->n_head * c->head_dim_k +
                                 c->n_head_kv * c->head_dim_k + c->n_head_kv * c->head_dim_v);
    if (c->attn_output_gate) /* the joint query-gate projection and the gates */
        widths += (uint64_t)(3 * c->n_head * c->head_dim_k);
    if (c->hybrid) { /* DeltaNet: projection and conv output, z and output, beta and decay */
        const int64_t conv = c->ssm_d_inner + 2 * c->ssm_n_group * c->ssm_d_state;
        widths += (uint64_t)(2 * conv + 2 * c->ssm_d_inner + 2 * c->ssm_dt_rank);
    }
    if (c->n_expert > 0) /* router, expert inputs and outputs, each slot's output */
        widths += (uint64_t)(c->n_expert + 3 * c->n_expert_used + 2 * c->n_embd +
                             c->n_expert_used * c->n_embd + 2);
    return 4 * (uint64_t)n_ubatch * widths;
}

uint64_t ql_plan_total_bytes(const ql_model_config *c, uint64_t weight_bytes,
                             const ql_plan_cache *cache, int64_t n_ctx) {
    const int64_t ub = n_ctx < cache->n_ubatch ? n_ctx : cache->n_ubatch;
    const ql_state_summary s = state(c, cache, n_ctx);
    return weight_bytes + s.kv_bytes + s.recurrent_bytes + ql_plan_compute_bytes(c, ub);
}

int64_t ql_plan_max_ctx(const ql_model_config *c, uint64_t weight_bytes, const ql_plan_cache *cache,
                        uint64_t budget, int64_t ctx_limit) {
    if (ctx_limit < 1 || ql_plan_total_bytes(c, weight_bytes, cache, 1) > budget) return 0;
    int64_t lo = 1, hi = ctx_limit; /* total(lo) fits; find the largest that does */
    if (ql_plan_total_bytes(c, weight_bytes, cache, hi) <= budget) return hi;
    while (hi - lo > 1) {
        const int64_t mid = lo + (hi - lo) / 2;
        if (ql_plan_total_bytes(c, weight_bytes, cache, mid) <= budget)
            lo = mid;
        else
            hi = mid;
    }
    return lo;
}
