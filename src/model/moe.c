/*
 * moe.c - the mixture-of-experts FFN of qwen3moe and qwen35moe, as
 * llama.cpp's build_moe_ffn computes it on CPU:
 *
 *   p = softmax(router h)                      (ggml's soft_max: vector exp, double sum)
 *   chosen = the first k of argsort(p, desc)   (std::sort's ties, argsort.h)
 *   w = p[chosen] / max(sum(p[chosen]), 2^-14)
 *   out = sum over slots s, in rank order, of w_s * expert_{chosen_s}(h)
 *       (+ sigmoid(shexp_gate h) * shared_expert(h) where the model has one)
 *
 * Experts are computed as ggml's MUL_MAT_ID does: the rows routed to each
 * expert gathered into one product (ql_matmul_expert, whose paths are those
 * of MUL_MAT_ID for that many rows), expert by expert. Every output row
 * depends only on its token, so results do not depend on the thread count.
 */
#include <math.h>
#include <string.h>

#include "../kernels/argsort.h"
#include "../kernels/finite.h"
#include "../kernels/matmul.h"
#include "../kernels/ops.h"
#include "../kernels/vecmath.h"
#include "context_impl.h"

/* softmax, top-k and normalised weights of each token */
static void route_rows(void *arg, int ith, int nth) {
    const ql_layer_job *j = arg;
    ql_context *ctx = j->ctx;
    const ql_model_config *c = &ctx->m->cfg;
    const int64_t E = c->n_expert, k = c->n_expert_used;
    int64_t t0, t1;
    ql_layer_job_range(j, ith, nth, &t0, &t1);
    int32_t order[QL_MAX_EXPERTS];
    for (int64_t t = t0; t < t1; t++) {
        float *p = ctx->router + t * E;
        int32_t *chosen = ctx->chosen + t * k;
        float *w = ctx->weight + t * k;
        if (ql_first_nonfinite(p, E) >= 0) {
            /* no ranking of NaN: the first experts, with NaN weights, so the layer's output is
             * not finite and the forward pass stops there, naming this layer */
            for (int64_t s = 0; s < k; s++) chosen[s] = (int32_t)s, w[s] = NAN;
            continue;
        }
        float max = -INFINITY;
        for (int64_t e = 0; e < E; e++) max = max > p[e] ? max : p[e];
        const double inv = 1.0 / ql_exp_sum(p, p, E, max);
        ql_scale(p, (float)inv, E);
        ql_argsort_desc(p, order, E);
        double sum = 0.0;
        for (int64_t s = 0; s < k; s++) {
            chosen[s] = order[s];
            w[s] = p[order[s]];
            sum += (double)w[s];
        }
        float total = (float)sum;
        /* llama.cpp clamps the sum to the smallest normal f16 */
        if (total < 6.103515625e-5f) total = 6.103515625e-5f;
        for (int64_t s = 0; s < k; s++) w[s] = w[s] / total;
    }
}

/* proj = the slots' weighted outputs, added in rank order */
static void sum_slots(void *arg, int ith, int nth) {
    const ql_layer_job *j = arg;
    ql_context *ctx = j->ctx;
    const ql_model_config *c = &ctx->m->cfg;
    const int64_t k = c->n_expert_used, d = c->n_embd;
    int64_t t0, t1;
    ql_layer_job_range(j, ith, nth, &t0, &t1);
    for (int64_t t = t0; t < t1; t++) {
        float *out = ctx->proj + t * d;
        memcpy(out, ctx->slot_out + t * k * d, (size_t)d * sizeof(float));
        for (int64_t s = 1; s < k; s++) ql_add(out, ctx->slot_out + (t * k + s) * d, d);
    }
}

/* proj += sigmoid(gate) * the shared expert's output (in exp_out) */
static void add_shared(void *arg, int ith, int nth) {
    const ql_layer_job *j = arg;
    ql_context *ctx = j->ctx;
    const int64_t d = ctx->m->cfg.n_embd;
    int64_t t0, t1;
    ql_layer_job_range(j, ith, nth, &t0, &t1);
    for (int64_t t = t0; t < t1; t++) {
        const float g = 1.0f / (1.0f + expf(-ctx->shexp_gate[t]));
        float *out = ctx->proj + t * d;
        const float *sh = ctx->exp_out + t * d;
        for (int64_t i = 0; i < d; i++) out[i] = out[i] + sh[i] * g;
    }
}

static ql_matrix expert_matrix(const ql_experts *x, int64_t e) {
    ql_matrix m = x->m;
    m.data = (const char *)x->m.data + (size_t)e * x->stride;
    return m;
}

/* Every expert's product over the rows routed to it; each slot's output weighted. */
static void run_experts(ql_context *ctx, const ql_layer *L, int64_t n) {
    const ql_model_config *c = &ctx->m->cfg;
    const int64_t k = c->n_expert_used, d = c->n_embd, nf = c->n_ff_exp;
    for (int64_t e = 0; e < c->n_expert; e++) {
        /* ggml's row order: tokens in order (a token routes to an expert at most once) */
        int64_t cnt = 0;
        for (int64_t i = 0; i < n * k; i++)
            if (ctx->chosen[i] == e) ctx->routed[cnt++] = (int32_t)i;
        if (cnt == 0) continue;
        for (int64_t r = 0; r < cnt; r++)
            memcpy(ctx->exp_in + r * d, ctx->cur + (ctx->routed[r] / k) * d,
                   (size_t)d * sizeof(float));
        const ql_matrix wg = expert_matrix(&L->gate_exps, e), wu = expert_matrix(&L->up_exps, e);
        const ql_matrix wd = expert_matrix(&L->down_exps, e);
        ql_matmul_expert(ctx->pool, &ctx->prof, &wg, ctx->exp_in, d, cnt, ctx->gate, nf,
                         ctx->mm_scratch);
        ql_matmul_expert(ctx->pool, &ctx->prof, &wu, ctx->exp_in, d, cnt, ctx->up, nf,
                         ctx->mm_scratch);
        ql_swiglu(ctx->gate, ctx->up, cnt, nf);
        ql_matmul_expert(ctx->pool, &ctx->prof, &wd, ctx->gate, nf, cnt, ctx->exp_out, d,
                         ctx->mm_scratch);
        for (int64_t r = 0; r < cnt; r++) {
            const int64_t slot = ctx->routed[r];
            const float w = ctx->weight[slot];
            const float *src = ctx->exp_out + r * d;
            float *dst = ctx->slot_out + slot * d;
            for (int64_t i = 0; i < d; i++) dst[i] = src[i] * w;
        }
    }
}

void ql_moe_block(ql_context *ctx, int64_t l, int64_t n) {
    const ql_model_config *c = &ctx->m->cfg;
    const ql_layer *L = &ctx->m->layers[l];
    ql_layer_job lj = {.ctx = ctx, .L = L, .l = l, .n = n, .norm = &L->ffn_norm};
    ql_pool_run(ctx->pool, ql_norm_rows, &lj);

    ql_matmul(ctx->pool, &ctx->prof, &L->router, ctx->cur, c->n_embd, n, ctx->router, c->n_expert,
              ctx->mm_scratch);
    ql_pool_run(ctx->pool, route_rows, &lj);
    run_experts(ctx, L, n);
    ql_pool_run(ctx->pool, sum_slots, &lj);

    if (L->shexp_gate_inp.data) {
        const int64_t ns = c->n_ff_shexp;
        const ql_matrix *w[2] = {&L->shexp_gate, &L->shexp_up};
        float *const y[2] = {ctx->gate, ctx->up};
        const int64_t y_stride[2] = {ns, ns};
        ql_matmul_multi(ctx->pool, &ctx->prof, 2, w, ctx->cur, c->n_embd, n, y, y_stride,
                        ctx->mm_scratch);
        ql_swiglu(ctx->gate, ctx->up, n, ns);
        ql_matmul(ctx->pool, &ctx->prof, &L->shexp_down, ctx->gate, ns, n, ctx->exp_out, c->n_embd,
                  ctx->mm_scratch);
        ql_matmul(ctx->pool, &ctx->prof, &L->shexp_gate_inp, ctx->cur, c->n_embd, n,
                  ctx->shexp_gate, 1, ctx->mm_scratch);
        ql_pool_run(ctx->pool, add_shared, &lj);
    }
    lj.norm = NULL;
    ql_pool_run(ctx->pool, ql_residual_rows, &lj);
}
