/*
 * plan.c - memory arithmetic (see plan.h). Everything is integer bytes so
 * the planner's tables can be checked against hand computation exactly.
 */
#include "plan.h"

static bool layer_is_swa(const ql_model_config *c, int64_t l) {
    return c->n_swa > 0 && c->swa_pattern > 0 && (l % c->swa_pattern) < c->swa_pattern - 1;
}

uint64_t ql_plan_kv_bytes_per_cell(const ql_model_config *c, ql_type type_k, ql_type type_v) {
    return (uint64_t)c->n_head_kv *
           (ql_row_size(type_k, c->head_dim_k) + ql_row_size(type_v, c->head_dim_v));
}

uint64_t ql_plan_kv_bytes(const ql_model_config *c, ql_type type_k, ql_type type_v, int64_t n_ctx) {
    const uint64_t per_cell = ql_plan_kv_bytes_per_cell(c, type_k, type_v);
    uint64_t total = 0;
    for (int64_t l = 0; l < c->n_layer; l++) {
        int64_t cells = n_ctx;
        if (layer_is_swa(c, l) && c->n_swa < cells) cells = c->n_swa;
        total += (uint64_t)cells * per_cell;
    }
    return total;
}

uint64_t ql_plan_compute_bytes(const ql_model_config *c, int64_t n_ubatch) {
    const uint64_t widths =
        (uint64_t)(c->n_vocab + 4 * c->n_embd + 2 * c->n_ff + c->n_head * c->head_dim_k +
                   c->n_head_kv * c->head_dim_k + c->n_head_kv * c->head_dim_v);
    return 4 * (uint64_t)n_ubatch * widths;
}

uint64_t ql_plan_total_bytes(const ql_model_config *c, uint64_t weight_bytes,
                             const ql_plan_cache *cache, int64_t n_ctx) {
    const int64_t ub = n_ctx < cache->n_ubatch ? n_ctx : cache->n_ubatch;
    return weight_bytes + ql_plan_kv_bytes(c, cache->type_k, cache->type_v, n_ctx) +
           ql_plan_compute_bytes(c, ub);
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
