/*
 * recommend.c - picking a configuration and comparing runs token by token
 * (see recommend.h).
 */
#include "recommend.h"

#include <math.h>

bool ql_rec_fits(const ql_rec_candidate *c, uint64_t budget, int64_t ctx, int64_t ctx_train) {
    if (ctx_train > 0 && ctx > ctx_train) return false;
    return budget == 0 || c->total_bytes <= budget;
}

void ql_recommend(const ql_rec_candidate *c, int n, uint64_t budget, int64_t ctx, int64_t ctx_train,
                  ql_recommendation *out) {
    *out = (ql_recommendation){.pick = -1,
                               .best = -1,
                               .smallest = -1,
                               .beyond_trained = ctx_train > 0 && ctx > ctx_train,
                               .no_budget = budget == 0};
    for (int i = 0; i < n; i++) {
        /* ties go to the smaller configuration */
        if (out->best < 0 || c[i].kld < c[out->best].kld ||
            (c[i].kld == c[out->best].kld && c[i].total_bytes < c[out->best].total_bytes))
            out->best = i;
        if (out->smallest < 0 || c[i].total_bytes < c[out->smallest].total_bytes) out->smallest = i;
        if (!ql_rec_fits(&c[i], budget, ctx, ctx_train)) continue;
        if (out->pick < 0 || c[i].kld < c[out->pick].kld ||
            (c[i].kld == c[out->pick].kld && c[i].total_bytes < c[out->pick].total_bytes))
            out->pick = i;
    }
}

ql_paired ql_paired_kld(const ql_kld_acc *a, const ql_kld_acc *b) {
    ql_paired p = {0};
    if (a->count != b->count || a->count < 2) return p;
    double sum = 0, sum2 = 0;
    for (int64_t t = 0; t < a->count; t++) {
        const double d = b->tokens[t].kld - a->tokens[t].kld;
        sum += d;
        sum2 += d * d;
    }
    const double n = (double)a->count, mean = sum / n;
    const double var = (sum2 / n - mean * mean) * n / (n - 1);
    p.valid = true;
    p.d_kld = mean;
    p.se = var > 0 ? sqrt(var / n) : 0;
    p.sigma = p.se > 0 ? mean / p.se : (mean == 0 ? 0 : INFINITY);
    return p;
}
