/*
 * deltanet.c - the Gated DeltaNet mixer of qwen35 and qwen35moe, in the
 * order of llama.cpp's CPU graph (its fused GATED_DELTA_NET operator for
 * every batch, the form this llama.cpp runs):
 *
 *   qkv = attn_qkv h, z = attn_gate h, beta = sigmoid(ssm_beta h),
 *   g = softplus(ssm_alpha h + dt_bias) * ssm_a            (log decay, <= 0)
 *   y = silu(causal conv of qkv over the last d_conv inputs, per channel)
 *   q, k = l2-normed key heads of y, v = value heads of y
 *   per value head (sharing key head h % n_group) and token:
 *     S <- exp(g) S;  delta = beta (v - S^T k);  S <- S + k delta^T;
 *     o = S^T q / sqrt(d_state)
 *   out = ssm_out [rms_norm(o) * ssm_norm * silu(z)]
 *
 * The state S is f32, stored transposed (row j is column j of S) so that
 * both products are dots of contiguous rows, in ggml_vec_dot_f32's order.
 */
#include <math.h>
#include <string.h>

#include "../kernels/kernels.h"
#include "../kernels/matmul.h"
#include "../kernels/ops.h"
#include "../kernels/vecmath.h"
#include "context_impl.h"

static int64_t conv_channels(const ql_model_config *c) {
    return c->ssm_d_inner + 2 * c->ssm_n_group * c->ssm_d_state;
}

/* beta and the log decay g of every value head, token by token */
static void gate_rows(void *arg, int ith, int nth) {
    const ql_layer_job *j = arg;
    ql_context *ctx = j->ctx;
    const ql_layer *L = j->L;
    const int64_t H = ctx->m->cfg.ssm_dt_rank;
    int64_t t0, t1;
    ql_layer_job_range(j, ith, nth, &t0, &t1);
    for (int64_t i = t0 * H; i < t1 * H; i++) {
        const int64_t h = i % H;
        ctx->dn_beta[i] = 1.0f / (1.0f + expf(-ctx->dn_beta[i]));
        const float a = ctx->dn_g[i] + L->ssm_dt_bias.data[h];
        const float softplus = a > 20.0f ? a : logf(1.0f + expf(a));
        ctx->dn_g[i] = softplus * L->ssm_a.data[h];
    }
}

/*
 * The causal conv, its SiLU and the l2 norm of the q and k heads, token by
 * token: input i of a channel is the projection of token i - (d_conv - 1)
 * + tap, or the conv window's for taps before the micro-batch. Each sum
 * runs tap 0 to d_conv - 1 with one rounding per tap, as ggml's (compiled
 * with contraction) does.
 */
static void conv_rows(void *arg, int ith, int nth) {
    const ql_layer_job *j = arg;
    ql_context *ctx = j->ctx;
    const ql_model_config *c = &ctx->m->cfg;
    const ql_layer *L = j->L;
    const int64_t C = conv_channels(c), K = c->ssm_d_conv, S = c->ssm_d_state;
    const float *window = ctx->conv_state[j->l];
    int64_t t0, t1;
    ql_layer_job_range(j, ith, nth, &t0, &t1);
    const float l2_eps = c->rms_eps / (float)S, l2_scale = 1.0f / sqrtf((float)S);
    for (int64_t t = t0; t < t1; t++) {
        float *y = ctx->dn_conv + t * C;
        for (int64_t ch = 0; ch < C; ch++) {
            const float *w = L->ssm_conv.data + ch * K;
            float sum = 0.0f;
            for (int64_t tap = 0; tap < K; tap++) {
                const int64_t src = t - (K - 1) + tap;
                const float u =
                    src >= 0 ? ctx->dn_qkv[src * C + ch] : window[ch * (K - 1) + K - 1 + src];
                sum = fmaf(u, w[tap], sum);
            }
            y[ch] = sum;
        }
        ql_silu_row(y, y, C);
        /* l2 norm as llama.cpp builds it: an RMS norm with eps / S, then 1 / sqrt(S) */
        for (int64_t hd = 0; hd < 2 * c->ssm_n_group; hd++) {
            float *x = y + hd * S;
            ql_rms_norm(x, x, NULL, S, l2_eps);
            for (int64_t i = 0; i < S; i++) x[i] *= l2_scale;
        }
    }
}

/* The conv window after the micro-batch: the last d_conv - 1 inputs of each channel. */
static void advance_window(ql_context *ctx, int64_t l, int64_t n) {
    const ql_model_config *c = &ctx->m->cfg;
    const int64_t C = conv_channels(c), W = c->ssm_d_conv - 1;
    float *window = ctx->conv_state[l];
    for (int64_t ch = 0; ch < C; ch++) {
        float *row = window + ch * W;
        float next[64];
        for (int64_t i = 0; i < W; i++) {
            const int64_t src = n - W + i; /* input index within the batch; < 0: the old window */
            next[i] = src >= 0 ? ctx->dn_qkv[src * C + ch] : row[W + src];
        }
        memcpy(row, next, (size_t)W * sizeof(float));
    }
}

/* The gated delta rule, one value head per work item, its tokens in order. */
static void delta_rule(void *arg, int ith, int nth) {
    const ql_layer_job *j = arg;
    ql_context *ctx = j->ctx;
    const ql_model_config *c = &ctx->m->cfg;
    const int64_t S = c->ssm_d_state, H = c->ssm_dt_rank, G = c->ssm_n_group;
    const int64_t C = conv_channels(c);
    const float scale = 1.0f / sqrtf((float)S);
    long long h0, h1;
    ql_split_range(H, ith, nth, &h0, &h1);
    float delta[4096];
    for (long long h = h0; h < h1; h++) {
        float *M = ctx->ssm_state[j->l] + h * S * S;
        const int64_t kh = h % G; /* value heads tile the key heads */
        for (int64_t t = 0; t < j->n; t++) {
            const float *y = ctx->dn_conv + t * C;
            const float *q = y + kh * S, *k = y + G * S + kh * S, *v = y + 2 * G * S + h * S;
            float *o = ctx->dn_out + t * c->ssm_d_inner + h * S;
            ql_delta_rule_token(M, S, q, k, v, ctx->dn_beta[t * H + h], expf(ctx->dn_g[t * H + h]),
                                scale, o, delta);
        }
    }
}

/* o <- rms_norm(o) * ssm_norm * silu(z), per value head */
static void gated_norm_rows(void *arg, int ith, int nth) {
    const ql_layer_job *j = arg;
    ql_context *ctx = j->ctx;
    const ql_model_config *c = &ctx->m->cfg;
    const int64_t S = c->ssm_d_state;
    int64_t t0, t1;
    ql_layer_job_range(j, ith, nth, &t0, &t1);
    for (int64_t r = t0 * c->ssm_dt_rank; r < t1 * c->ssm_dt_rank; r++) {
        float *o = ctx->dn_out + r * S, *z = ctx->dn_z + r * S;
        ql_rms_norm(o, o, j->L->ssm_norm.data, S, c->rms_eps);
        ql_silu_row(z, z, S);
        for (int64_t i = 0; i < S; i++) o[i] *= z[i];
    }
}

void ql_deltanet_block(ql_context *ctx, int64_t l, int64_t n) {
    const ql_model_config *c = &ctx->m->cfg;
    const ql_layer *L = &ctx->m->layers[l];
    ql_layer_job lj = {.ctx = ctx, .L = L, .l = l, .n = n, .norm = &L->attn_norm};
    ql_pool_run(ctx->pool, ql_norm_rows, &lj);

    /* the four input projections of the normed input */
    const ql_matrix *w[4] = {&L->ssm_qkv, &L->ssm_z, &L->ssm_beta, &L->ssm_alpha};
    float *const y[4] = {ctx->dn_qkv, ctx->dn_z, ctx->dn_beta, ctx->dn_g};
    const int64_t stride[4] = {conv_channels(c), c->ssm_d_inner, c->ssm_dt_rank, c->ssm_dt_rank};
    ql_matmul_multi(ctx->pool, &ctx->prof, 4, w, ctx->cur, c->n_embd, n, y, stride,
                    ctx->mm_scratch);
    ql_pool_run(ctx->pool, gate_rows, &lj);

    /* short conv over the window and the batch, then the window moves on */
    ql_pool_run(ctx->pool, conv_rows, &lj);
    advance_window(ctx, l, n);

    ql_pool_run(ctx->pool, delta_rule, &lj);
    ql_pool_run(ctx->pool, gated_norm_rows, &lj);
    ql_matmul(ctx->pool, &ctx->prof, &L->ssm_out, ctx->dn_out, c->ssm_d_inner, n, ctx->proj,
              c->n_embd, ctx->mm_scratch);
    lj.norm = NULL;
    ql_pool_run(ctx->pool, ql_residual_rows, &lj);
}
