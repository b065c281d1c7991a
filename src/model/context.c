/*
 * context.c - the forward pass. One function, ql_forward, reads top to
 * bottom like the model it runs: embed, then per layer its mixer (softmax
 * attention here, a Gated DeltaNet in deltanet.c) and its FFN (dense here,
 * experts in moe.c), then the output head. The architectures' differences
 * are the flags in ql_model_config and the layer kinds of layers.h; the
 * speed lives in src/kernels (matmul, attention).
 */
#include "context.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../core/threadpool.h"
#include "../kernels/attention.h"
#include "../kernels/finite.h"
#include "../kernels/matmul.h"
#include "../kernels/ops.h"
#include "context_impl.h"

static const ql_type kv_types[] = {QL_TYPE_F32,  QL_TYPE_F16,  QL_TYPE_BF16,
                                   QL_TYPE_Q8_0, QL_TYPE_Q5_1, QL_TYPE_Q5_0,
                                   QL_TYPE_Q4_1, QL_TYPE_Q4_0, QL_TYPE_IQ4_NL};

const char *ql_kv_cache_type_names(void) {
    return "f32, f16, bf16, q8_0, q5_1, q5_0, q4_1, q4_0, iq4_nl";
}

bool ql_kv_cache_type_ok(ql_type t) {
    for (size_t i = 0; i < sizeof kv_types / sizeof kv_types[0]; i++)
        if (kv_types[i] == t) return ql_type_is_computable((int)t);
    return false;
}

bool ql_rotate_mode_from_name(const char *name, ql_rotate_mode *mode) {
    static const char *const names[] = {"auto", "on", "off"};
    for (int i = 0; i < 3; i++)
        if (name && strcmp(name, names[i]) == 0) {
            *mode = (ql_rotate_mode)i;
            return true;
        }
    return false;
}

static const char *const hadamard_names[] = {"fwht", "dense"};

bool ql_hadamard_mode_from_name(const char *name, ql_hadamard_mode *mode) {
    for (int i = 0; i < 2; i++)
        if (name && strcmp(name, hadamard_names[i]) == 0) {
            *mode = (ql_hadamard_mode)i;
            return true;
        }
    return false;
}

const char *ql_hadamard_mode_name(ql_hadamard_mode mode) {
    return (unsigned)mode < 2 ? hadamard_names[mode] : "?";
}

ql_context_params ql_context_default_params(void) {
    return (ql_context_params){.n_ctx = 512,
                               .n_ubatch = 512,
                               .n_threads = ql_cpu_count(),
                               .type_k = QL_TYPE_F16,
                               .type_v = QL_TYPE_F16,
                               .rotate = QL_ROTATE_AUTO,
                               .hadamard = QL_HADAMARD_FWHT,
                               .numerics = QL_NUMERICS_AUTO,
                               .no_repack = false,
                               .logits_block = 32};
}

static void *alloc_floats(size_t n, bool *ok) {
    void *p = aligned_alloc(64, ((n * sizeof(float)) + 63) & ~(size_t)63);
    if (!p) *ok = false;
    return p;
}

static int largest_pow2_divisor(int64_t n) {
    int b = 1;
    while (n % (b * 2) == 0 && b < 4096) b *= 2;
    return b;
}

ql_status ql_context_create(const ql_model *m, const ql_context_params *pp, ql_context **out,
                            ql_error *err) {
    *out = NULL;
    const ql_model_config *c = &m->cfg;
    ql_context_params p = *pp;
    if (p.n_ctx < 1) return ql_fail(err, QL_ERR_ARG, "context size must be at least 1");
    if (p.n_ubatch < 1) p.n_ubatch = 512;
    if (p.n_ubatch > p.n_ctx) p.n_ubatch = p.n_ctx;
    if (p.logits_block < 1) p.logits_block = 32;
    if (p.logits_block > p.n_ubatch) p.logits_block = p.n_ubatch;
    if (p.n_threads < 1) p.n_threads = ql_cpu_count();
    const ql_type types[2] = {p.type_k, p.type_v};
    const int64_t dims[2] = {c->head_dim_k, c->head_dim_v};
    for (int i = 0; i < 2; i++) {
        if (!ql_kv_cache_type_ok(types[i]))
            return ql_fail(err, QL_ERR_ARG, "%s cache type %s is not supported (valid: %s)",
                           i ? "V" : "K", ql_type_name((int)types[i]), ql_kv_cache_type_names());
        const int64_t bs = ql_type_traits_get((int)types[i])->block_size;
        if (dims[i] % bs != 0)
            return ql_fail(err, QL_ERR_ARG,
                           "%s cache type %s needs a head size that is a multiple of %lld; this "
                           "model's %s head size is %lld",
                           i ? "V" : "K", ql_type_name((int)types[i]), (long long)bs, i ? "V" : "K",
                           (long long)dims[i]);
    }

    ql_context *ctx = calloc(1, sizeof *ctx);
    if (!ctx) return ql_fail(err, QL_ERR_NOMEM, "out of memory creating context");
    ctx->m = m;
    ctx->p = p;

    const bool k_quant = ql_type_traits_get((int)p.type_k)->is_quantized;
    const bool v_quant = ql_type_traits_get((int)p.type_v)->is_quantized;
    const bool k_ok = c->head_dim_k % 64 == 0, v_ok = c->head_dim_v % 64 == 0;
    if ((unsigned)p.hadamard > QL_HADAMARD_DENSE) {
        free(ctx);
        return ql_fail(err, QL_ERR_ARG, "unknown Hadamard mode %d", (int)p.hadamard);
    }
    if (p.rotate == QL_ROTATE_ON && !(k_ok && v_ok)) {
        free(ctx);
        return ql_fail(err, QL_ERR_ARG,
                       "--kv-rotate on needs head sizes that are multiples of 64 (this model: "
                       "%lld/%lld)",
                       (long long)c->head_dim_k, (long long)c->head_dim_v);
    }
    const bool want_k = p.rotate == QL_ROTATE_ON || (p.rotate == QL_ROTATE_AUTO && k_quant);
    const bool want_v = p.rotate == QL_ROTATE_ON || (p.rotate == QL_ROTATE_AUTO && v_quant);
    if (p.hadamard == QL_HADAMARD_FWHT) {
        /*
         * Current llama.cpp (llama_kv_cache's attn_rot_k/attn_rot_v) decides K
         * and V separately, each on its own head size, so a model whose K heads
         * are a multiple of 64 and V heads not still rotates K. The dense mode
         * keeps the rule the golden data was checked with (both or neither);
         * the two agree whenever head_dim_k == head_dim_v, the usual shape of
         * llama, qwen2, qwen3 and gemma3 models.
         */
        ctx->rot_k = k_ok && want_k;
        ctx->rot_v = v_ok && want_v;
    } else {
        ctx->rot_k = k_ok && v_ok && want_k;
        ctx->rot_v = k_ok && v_ok && want_v;
    }
    /* both versions: K in blocks of the largest power of two dividing its heads, V in 64s */
    ctx->rot_k_block = largest_pow2_divisor(c->head_dim_k);
    ctx->rot_v_block = 64;
    ctx->hadamard = p.hadamard == QL_HADAMARD_FWHT ? ql_hadamard_fwht : ql_hadamard_dense;
    if ((unsigned)p.numerics > QL_NUMERICS_F32) {
        free(ctx);
        return ql_fail(err, QL_ERR_ARG, "unknown numerics mode %d", (int)p.numerics);
    }
    /* the older llama.cpp (dense rotation) also summed f16 dots in half on AVX512-FP16 CPUs */
    ctx->prof.f16_half = ql_numerics_resolve(p.numerics) == QL_NUMERICS_FP16;
    ctx->prof.f16_dot_half = ctx->prof.f16_half && p.hadamard == QL_HADAMARD_DENSE;
    ctx->prof.repack = !p.no_repack;

    ql_status st = ql_pool_create(p.n_threads, &ctx->pool, err);
    if (st) {
        free(ctx);
        return st;
    }
    ctx->k_row_bytes = ql_row_size(p.type_k, c->head_dim_k);
    ctx->v_row_bytes = ql_row_size(p.type_v, c->head_dim_v);
    const size_t nl = (size_t)c->n_layer;
    ctx->desc = calloc(nl, sizeof *ctx->desc);
    ctx->k_cache = calloc(nl, sizeof *ctx->k_cache);
    ctx->v_cache = calloc(nl, sizeof *ctx->v_cache);
    ctx->conv_state = calloc(nl, sizeof *ctx->conv_state);
    ctx->ssm_state = calloc(nl, sizeof *ctx->ssm_state);
    bool ok = ctx->desc && ctx->k_cache && ctx->v_cache && ctx->conv_state && ctx->ssm_state;
    /* every layer's state as layers.h describes it: what info, plan and the KV report count */
    const ql_state_params sp = {
        .type_k = p.type_k, .type_v = p.type_v, .n_ctx = p.n_ctx, .n_ubatch = p.n_ubatch};
    int64_t ring_cells = 0;
    for (int64_t l = 0; ok && l < c->n_layer; l++) {
        ql_layer_desc *d = &ctx->desc[l];
        ql_layer_describe(c, l, &sp, d);
        if (d->mixer == QL_MIXER_DELTANET) {
            ctx->conv_state[l] = calloc(1, d->conv_bytes);
            ctx->ssm_state[l] = aligned_alloc(64, (d->ssm_bytes + 63) & ~(uint64_t)63);
            ok = ctx->conv_state[l] && ctx->ssm_state[l];
            continue;
        }
        if (d->mixer == QL_MIXER_SLIDING && d->kv_cells < p.n_ctx) ring_cells = d->kv_cells;
        /* zeroed: cells not yet written are read (with weight 0) as llama.cpp's zeroed cache */
        ctx->k_cache[l] = calloc(1, d->k_bytes);
        ctx->v_cache[l] = calloc(1, d->v_bytes);
        ok = ctx->k_cache[l] && ctx->v_cache[l];
    }
    ctx->swa_ring = ring_cells > 0;
    if (ok && ctx->swa_ring) {
        ok = ql_kv_cells_init(&ctx->swa_cells, ring_cells, c->n_swa, err) == QL_OK;
        ctx->ub_cells = malloc((size_t)p.n_ubatch * sizeof *ctx->ub_cells);
        ok = ok && ctx->ub_cells;
    }
    const size_t ub = (size_t)p.n_ubatch;
    const int64_t q_dim = c->n_head * c->head_dim_k, o_dim = c->n_head * c->head_dim_v;
    int64_t ffn_width = c->n_ff;
    if (c->n_expert > 0 && c->n_ff_exp > ffn_width) ffn_width = c->n_ff_exp;
    if (c->n_expert > 0 && c->n_ff_shexp > ffn_width) ffn_width = c->n_ff_shexp;
    const int64_t conv_dim = c->ssm_d_inner + 2 * c->ssm_n_group * c->ssm_d_state;
    if (ok) {
        ctx->x = alloc_floats(ub * c->n_embd, &ok);
        ctx->cur = alloc_floats(ub * c->n_embd, &ok);
        ctx->q = alloc_floats(ub * q_dim, &ok);
        ctx->k = alloc_floats(ub * c->n_head_kv * c->head_dim_k, &ok);
        ctx->v = alloc_floats(ub * c->n_head_kv * c->head_dim_v, &ok);
        ctx->attn = alloc_floats(ub * o_dim, &ok);
        ctx->proj = alloc_floats(ub * c->n_embd, &ok);
        ctx->gate = alloc_floats(ub * ffn_width, &ok);
        ctx->up = alloc_floats(ub * ffn_width, &ok);
        ctx->rope = alloc_floats(ub * c->n_rot, &ok);
        ctx->logits = alloc_floats((size_t)p.logits_block * c->n_vocab, &ok);
        if (c->attn_output_gate) {
            ctx->qg = alloc_floats(ub * 2 * q_dim, &ok);
            ctx->q_gate = alloc_floats(ub * o_dim, &ok);
        }
        if (c->hybrid) {
            ctx->dn_qkv = alloc_floats(ub * conv_dim, &ok);
            ctx->dn_conv = alloc_floats(ub * conv_dim, &ok);
            ctx->dn_z = alloc_floats(ub * c->ssm_d_inner, &ok);
            ctx->dn_beta = alloc_floats(ub * c->ssm_dt_rank, &ok);
            ctx->dn_g = alloc_floats(ub * c->ssm_dt_rank, &ok);
            ctx->dn_out = alloc_floats(ub * c->ssm_d_inner, &ok);
        }
        if (c->n_expert > 0) {
            const size_t used = (size_t)c->n_expert_used;
            ctx->router = alloc_floats(ub * c->n_expert, &ok);
            ctx->weight = alloc_floats(ub * used, &ok);
            ctx->exp_in = alloc_floats(ub * c->n_embd, &ok);
            ctx->exp_out = alloc_floats(ub * c->n_embd, &ok);
            ctx->slot_out = alloc_floats(ub * used * c->n_embd, &ok);
            ctx->shexp_gate = alloc_floats(ub, &ok);
            ctx->chosen = malloc(ub * used * sizeof *ctx->chosen);
            ctx->routed = malloc(ub * sizeof *ctx->routed);
            ok = ok && ctx->chosen && ctx->routed;
        }
        /* matmul scratch: the largest prepared activation block of any product */
        size_t need = 0;
        for (int64_t l = 0; l < c->n_layer; l++) {
            const ql_layer *L = &m->layers[l];
            const ql_matrix *lm[] = {&L->wq,
                                     &L->wk,
                                     &L->wv,
                                     &L->wo,
                                     &L->w_gate,
                                     &L->w_up,
                                     &L->w_down,
                                     &L->ssm_qkv,
                                     &L->ssm_z,
                                     &L->ssm_alpha,
                                     &L->ssm_beta,
                                     &L->ssm_out,
                                     &L->router,
                                     &L->gate_exps.m,
                                     &L->up_exps.m,
                                     &L->down_exps.m,
                                     &L->shexp_gate_inp,
                                     &L->shexp_gate,
                                     &L->shexp_up,
                                     &L->shexp_down};
            for (size_t i = 0; i < sizeof lm / sizeof lm[0]; i++) {
                if (!lm[i]->data) continue;
                size_t s =
                    ql_matmul_scratch_size(lm[i]->type, lm[i]->n_in, p.n_ubatch, p.n_threads);
                if (s > need) need = s;
            }
        }
        size_t s =
            ql_matmul_scratch_size(m->output.type, m->output.n_in, p.logits_block, p.n_threads);
        if (s > need) need = s;
        ctx->mm_scratch = aligned_alloc(64, (need + 63) & ~(size_t)63);
        ok = ok && ctx->mm_scratch;
    }
    if (!ok) {
        ql_context_free(ctx);
        return ql_fail(
            err, QL_ERR_NOMEM, "out of memory for a context of %lld tokens (KV cache %s/%s)",
            (long long)p.n_ctx, ql_type_name((int)p.type_k), ql_type_name((int)p.type_v));
    }
    ql_attn_params ap = {.n_head = c->n_head,
                         .n_head_kv = c->n_head_kv,
                         .head_dim_k = c->head_dim_k,
                         .head_dim_v = c->head_dim_v};
    if ((st = ql_attn_scratch_create(&ap, p.n_threads, &ctx->attn_scratch, err))) {
        ql_context_free(ctx);
        return st;
    }
    *out = ctx;
    return QL_OK;
}

void ql_context_free(ql_context *ctx) {
    if (!ctx) return;
    for (int64_t l = 0; l < ctx->m->cfg.n_layer; l++) {
        if (ctx->k_cache) free(ctx->k_cache[l]);
        if (ctx->v_cache) free(ctx->v_cache[l]);
        if (ctx->conv_state) free(ctx->conv_state[l]);
        if (ctx->ssm_state) free(ctx->ssm_state[l]);
    }
    free(ctx->k_cache), free(ctx->v_cache), free(ctx->conv_state), free(ctx->ssm_state);
    free(ctx->desc);
    free(ctx->ub_cells);
    if (ctx->swa_ring) ql_kv_cells_free(&ctx->swa_cells);
    free(ctx->x), free(ctx->cur), free(ctx->q), free(ctx->k), free(ctx->v), free(ctx->attn);
    free(ctx->proj), free(ctx->gate), free(ctx->up), free(ctx->rope), free(ctx->logits);
    free(ctx->qg), free(ctx->q_gate);
    free(ctx->dn_qkv), free(ctx->dn_conv), free(ctx->dn_z), free(ctx->dn_beta), free(ctx->dn_g);
    free(ctx->dn_out);
    free(ctx->router), free(ctx->weight), free(ctx->exp_in), free(ctx->exp_out);
    free(ctx->slot_out), free(ctx->shexp_gate), free(ctx->chosen), free(ctx->routed);
    free(ctx->mm_scratch);
    ql_attn_scratch_free(ctx->attn_scratch);
    ql_pool_free(ctx->pool);
    free(ctx);
}

bool ql_context_rotates_k(const ql_context *c) {
    return c->rot_k;
}
ql_pool *ql_context_pool(ql_context *c) {
    return c->pool;
}
int64_t ql_context_logits_block(const ql_context *c) {
    return c->p.logits_block;
}
const ql_model *ql_context_model(const ql_context *c) {
    return c->m;
}
bool ql_context_rotates_v(const ql_context *c) {
    return c->rot_v;
}
const ql_kernel_profile *ql_context_profile(const ql_context *c) {
    return &c->prof;
}
int64_t ql_context_ubatch(const ql_context *c) {
    return c->p.n_ubatch;
}

uint64_t ql_context_kv_bytes(const ql_context *c) {
    uint64_t bytes = 0;
    for (int64_t l = 0; l < c->m->cfg.n_layer; l++)
        bytes += c->desc[l].k_bytes + c->desc[l].v_bytes;
    return bytes;
}

uint64_t ql_context_recurrent_bytes(const ql_context *c) {
    uint64_t bytes = 0;
    for (int64_t l = 0; l < c->m->cfg.n_layer; l++)
        bytes += c->desc[l].conv_bytes + c->desc[l].ssm_bytes;
    return bytes;
}

/* Whether layer l's cache is the sliding-window ring (its cells do not follow positions). */
static bool in_ring(const ql_context *ctx, int64_t l) {
    return ctx->swa_ring && ctx->desc[l].mixer == QL_MIXER_SLIDING;
}

/* ---- the steps of a layer ---- */

static void add_bias(float *y, const ql_vec *b, int64_t n_rows, int64_t width) {
    if (!b->n) return;
    for (int64_t r = 0; r < n_rows; r++) ql_add(y + r * width, b->data, width);
}

/* RMS norm (with weight) of each head vector: qwen3's and gemma3's q/k norms. */
static void norm_heads(float *x, const ql_vec *w, int64_t n_rows, int64_t n_heads, int64_t dim,
                       float eps) {
    for (int64_t r = 0; r < n_rows * n_heads; r++)
        ql_rms_norm(x + r * dim, x + r * dim, w->data, dim, eps);
}

static void rope_heads(float *x, const float *rope, int64_t n_rows, int64_t n_heads, int64_t dim,
                       int n_rot, bool neox) {
    for (int64_t t = 0; t < n_rows; t++)
        for (int64_t h = 0; h < n_heads; h++)
            ql_rope_apply(x + (t * n_heads + h) * dim, rope + t * n_rot, n_rot, neox);
}

/* tokens [t0, t1) of the batch, at positions pos0 + t */
static void store_kv(ql_context *ctx, int64_t layer, int64_t t0, int64_t t1, int64_t pos0) {
    const ql_model_config *c = &ctx->m->cfg;
    const ql_type_traits *tk = ql_type_traits_get((int)ctx->p.type_k);
    const ql_type_traits *tv = ql_type_traits_get((int)ctx->p.type_v);
    const bool ring = in_ring(ctx, layer);
    for (int64_t t = t0; t < t1; t++) {
        const size_t cell = ring ? (size_t)ctx->ub_cells[t] : (size_t)(pos0 + t);
        for (int64_t g = 0; g < c->n_head_kv; g++) {
            const size_t slot = cell * (size_t)c->n_head_kv + (size_t)g;
            tk->from_float(ctx->k + (t * c->n_head_kv + g) * c->head_dim_k,
                           ctx->k_cache[layer] + slot * ctx->k_row_bytes, c->head_dim_k);
            tv->from_float(ctx->v + (t * c->n_head_kv + g) * c->head_dim_v,
                           ctx->v_cache[layer] + slot * ctx->v_row_bytes, c->head_dim_v);
        }
    }
}

void ql_layer_job_range(const ql_layer_job *j, int ith, int nth, int64_t *t0, int64_t *t1) {
    long long a, b;
    ql_split_range(j->n, ith, nth, &a, &b);
    *t0 = a;
    *t1 = b;
}

void ql_norm_rows(void *arg, int ith, int nth) {
    const ql_layer_job *j = arg;
    const ql_model_config *c = &j->ctx->m->cfg;
    int64_t t0, t1;
    ql_layer_job_range(j, ith, nth, &t0, &t1);
    ql_rms_norm_rows(j->ctx->cur + t0 * c->n_embd, j->ctx->x + t0 * c->n_embd, j->norm->data,
                     t1 - t0, c->n_embd, c->rms_eps);
}

/* attn_q's rows of a gated attention layer: per head, its query, then its gate */
static void split_query_gate(ql_context *ctx, int64_t t0, int64_t t1) {
    const ql_model_config *c = &ctx->m->cfg;
    const int64_t dk = c->head_dim_k, q_dim = c->n_head * dk;
    for (int64_t t = t0; t < t1; t++)
        for (int64_t h = 0; h < c->n_head; h++) {
            const float *src = ctx->qg + t * 2 * q_dim + h * 2 * dk;
            memcpy(ctx->q + t * q_dim + h * dk, src, (size_t)dk * sizeof(float));
            memcpy(ctx->q_gate + t * q_dim + h * dk, src + dk, (size_t)dk * sizeof(float));
        }
}

static void qkv_rows(void *arg, int ith, int nth) {
    const ql_layer_job *j = arg;
    ql_context *ctx = j->ctx;
    const ql_model *m = ctx->m;
    const ql_model_config *c = &m->cfg;
    const ql_layer *L = j->L;
    const int64_t dk = c->head_dim_k, dv = c->head_dim_v;
    const int64_t q_dim = c->n_head * dk, k_dim = c->n_head_kv * dk, v_dim = c->n_head_kv * dv;
    int64_t t0, t1;
    ql_layer_job_range(j, ith, nth, &t0, &t1);
    const int64_t nt = t1 - t0;
    if (nt <= 0) return;
    if (c->attn_output_gate) split_query_gate(ctx, t0, t1);
    float *q = ctx->q + t0 * q_dim, *k = ctx->k + t0 * k_dim, *v = ctx->v + t0 * v_dim;
    float *rope = ctx->rope + t0 * c->n_rot;
    add_bias(q, &L->bq, nt, q_dim);
    add_bias(k, &L->bk, nt, k_dim);
    add_bias(v, &L->bv, nt, v_dim);

    /* per-head q/k norm, then RoPE (a text token's multi-section RoPE is neox RoPE: every
     * section gets the same position) */
    if (L->q_norm.n) norm_heads(q, &L->q_norm, nt, c->n_head, dk, c->rms_eps);
    if (L->k_norm.n) norm_heads(k, &L->k_norm, nt, c->n_head_kv, dk, c->rms_eps);
    for (int64_t t = 0; t < nt; t++)
        ql_rope_cache(rope + t * c->n_rot, j->pos0 + t0 + t, c->n_rot, L->rope_base,
                      L->rope_freq_scale, m->rope_freqs.n ? m->rope_freqs.data : NULL);
    rope_heads(q, rope, nt, c->n_head, dk, c->n_rot, c->rope_neox);
    rope_heads(k, rope, nt, c->n_head_kv, dk, c->n_rot, c->rope_neox);
    if (c->q_scale != 1.0f) ql_scale(q, c->q_scale, nt * q_dim);

    /* Hadamard rotation spreads outlier channels before the cache quantizes them */
    if (ctx->rot_k) {
        ctx->hadamard(q, nt * q_dim, ctx->rot_k_block);
        ctx->hadamard(k, nt * k_dim, ctx->rot_k_block);
    }
    if (ctx->rot_v) ctx->hadamard(v, nt * v_dim, ctx->rot_v_block);

    /* append to the cache (each token its own slots) */
    store_kv(ctx, j->l, t0, t1, j->pos0);
}

/* undo V's rotation on the attention output, then apply the per-head output gates */
static void attn_out_rows(void *arg, int ith, int nth) {
    const ql_layer_job *j = arg;
    ql_context *ctx = j->ctx;
    const ql_model_config *c = &ctx->m->cfg;
    const int64_t width = c->n_head * c->head_dim_v;
    int64_t t0, t1;
    ql_layer_job_range(j, ith, nth, &t0, &t1);
    if (t1 <= t0) return;
    if (ctx->rot_v) ctx->hadamard(ctx->attn + t0 * width, (t1 - t0) * width, ctx->rot_v_block);
    if (c->attn_output_gate)
        for (int64_t i = t0 * width; i < t1 * width; i++)
            ctx->attn[i] *= 1.0f / (1.0f + expf(-ctx->q_gate[i]));
}

void ql_residual_rows(void *arg, int ith, int nth) {
    const ql_layer_job *j = arg;
    ql_context *ctx = j->ctx;
    const ql_model_config *c = &ctx->m->cfg;
    int64_t t0, t1;
    ql_layer_job_range(j, ith, nth, &t0, &t1);
    float *proj = ctx->proj + t0 * c->n_embd;
    if (j->norm && j->norm->n)
        ql_rms_norm_rows(proj, proj, j->norm->data, t1 - t0, c->n_embd, c->rms_eps);
    ql_add(ctx->x + t0 * c->n_embd, proj, (t1 - t0) * c->n_embd);
}

static void swiglu_rows(void *arg, int ith, int nth) {
    const ql_layer_job *j = arg;
    ql_context *ctx = j->ctx;
    const ql_model_config *c = &ctx->m->cfg;
    int64_t t0, t1;
    ql_layer_job_range(j, ith, nth, &t0, &t1);
    if (c->gelu_ffn)
        ql_geglu(ctx->gate + t0 * c->n_ff, ctx->up + t0 * c->n_ff, t1 - t0, c->n_ff);
    else
        ql_swiglu(ctx->gate + t0 * c->n_ff, ctx->up + t0 * c->n_ff, t1 - t0, c->n_ff);
}

/* Softmax attention (full or sliding-window), with qwen35's per-head output gates. */
static void attention_block(ql_context *ctx, int64_t l, int64_t n, int64_t pos0) {
    const ql_model *m = ctx->m;
    const ql_model_config *c = &m->cfg;
    const ql_layer *L = &m->layers[l];
    const int64_t dk = c->head_dim_k, dv = c->head_dim_v;
    const int64_t q_dim = c->n_head * dk, k_dim = c->n_head_kv * dk, v_dim = c->n_head_kv * dv;

    /* qkv matmuls */
    ql_layer_job lj = {.ctx = ctx, .L = L, .l = l, .n = n, .pos0 = pos0, .norm = &L->attn_norm};
    ql_pool_run(ctx->pool, ql_norm_rows, &lj);
    const ql_matrix *w[3] = {&L->wq, &L->wk, &L->wv};
    float *const y[3] = {c->attn_output_gate ? ctx->qg : ctx->q, ctx->k, ctx->v};
    const int64_t y_stride[3] = {c->attn_output_gate ? 2 * q_dim : q_dim, k_dim, v_dim};
    ql_matmul_multi(ctx->pool, &ctx->prof, 3, w, ctx->cur, c->n_embd, n, y, y_stride,
                    ctx->mm_scratch);

    /* biases, q/k norms, RoPE, rotation and the cache append, token by token */
    ql_pool_run(ctx->pool, qkv_rows, &lj);

    /* attend over everything cached up to each position */
    ql_attn_params ap = {
        .n_head = c->n_head,
        .n_head_kv = c->n_head_kv,
        .head_dim_k = dk,
        .head_dim_v = dv,
        .type_k = ctx->p.type_k,
        .type_v = ctx->p.type_v,
        .k = ctx->k_cache[l],
        .v = ctx->v_cache[l],
        .k_row_bytes = ctx->k_row_bytes,
        .v_row_bytes = ctx->v_row_bytes,
        .scale = c->kq_scale,
        .softcap = 0.0f,
        .window = L->is_swa ? c->n_swa : 0,
        .f16_half = ctx->prof.f16_half,
        .f16_dot_half = ctx->prof.f16_dot_half,
        .cell_pos = in_ring(ctx, l) ? ctx->swa_cells.pos : NULL,
        .n_kv = in_ring(ctx, l) ? ql_kv_cells_n_kv(&ctx->swa_cells) : 0,
    };
    ql_attention(ctx->pool, &ap, ctx->q, n, pos0, ctx->attn, ctx->attn_scratch);
    if (ctx->rot_v || c->attn_output_gate) ql_pool_run(ctx->pool, attn_out_rows, &lj);

    /* output projection, optional post-norm, residual */
    ql_matmul(ctx->pool, &ctx->prof, &L->wo, ctx->attn, c->n_head * dv, n, ctx->proj, c->n_embd,
              ctx->mm_scratch);
    lj.norm = &L->post_attn_norm;
    ql_pool_run(ctx->pool, ql_residual_rows, &lj);
}

static void dense_ffn_block(ql_context *ctx, int64_t l, int64_t n) {
    const ql_model_config *c = &ctx->m->cfg;
    const ql_layer *L = &ctx->m->layers[l];
    ql_layer_job lj = {.ctx = ctx, .L = L, .l = l, .n = n, .norm = &L->ffn_norm};
    ql_pool_run(ctx->pool, ql_norm_rows, &lj);
    const ql_matrix *w[2] = {&L->w_gate, &L->w_up};
    float *const y[2] = {ctx->gate, ctx->up};
    const int64_t y_stride[2] = {c->n_ff, c->n_ff};
    ql_matmul_multi(ctx->pool, &ctx->prof, 2, w, ctx->cur, c->n_embd, n, y, y_stride,
                    ctx->mm_scratch);
    ql_pool_run(ctx->pool, swiglu_rows, &lj);
    ql_matmul(ctx->pool, &ctx->prof, &L->w_down, ctx->gate, c->n_ff, n, ctx->proj, c->n_embd,
              ctx->mm_scratch);
    lj.norm = &L->post_ffn_norm;
    ql_pool_run(ctx->pool, ql_residual_rows, &lj);
}

/*
 * Fails when rows [0, n) of buf hold a NaN or an infinity, naming the first
 * one's position and the stage that produced it: the checks run after each
 * stage, so an earlier stage was still finite.
 */
static ql_status check_finite(ql_context *ctx, const float *buf, int64_t n, int64_t width,
                              int64_t pos0, const char *stage, int64_t layer, ql_error *err) {
    int64_t col;
    const int64_t r = ql_first_nonfinite_row(ctx->pool, buf, n, width, &col);
    if (r < 0) return QL_OK;
    char where[96];
    if (layer >= 0)
        snprintf(where, sizeof where, "the output of layer %lld (%s, %s FFN)", (long long)layer,
                 ql_mixer_name(ctx->desc[layer].mixer), ql_ffn_name(ctx->desc[layer].ffn));
    return ql_fail(err, QL_ERR_FORMAT, "token position %lld: %s in %s (the first non-finite value)",
                   (long long)(pos0 + r), ql_nonfinite_name(buf[r * width + col]),
                   layer >= 0 ? where : stage);
}
/* Final norm and output head for rows [r0, n), in blocks, each handed to cb. */
static ql_status output_head(ql_context *ctx, int64_t r0, int64_t n, int64_t pos0, ql_logits_fn cb,
                             void *user, ql_error *err) {
    const ql_model *m = ctx->m;
    const ql_model_config *c = &m->cfg;
    ql_rms_norm_rows(ctx->cur + r0 * c->n_embd, ctx->x + r0 * c->n_embd, m->output_norm.data,
                     n - r0, c->n_embd, c->rms_eps);
    ql_status st = check_finite(ctx, ctx->cur + r0 * c->n_embd, n - r0, c->n_embd, pos0 + r0,
                                "the output norm", -1, err);
    if (st) return st;
    for (int64_t b = r0; b < n; b += ctx->p.logits_block) {
        const int64_t rows = b + ctx->p.logits_block <= n ? ctx->p.logits_block : n - b;
        /* ggml multiplies all n - r0 rows at once; blocks must not change its choice of kernel */
        ql_matmul_part(ctx->pool, &ctx->prof, &m->output, ctx->cur + b * c->n_embd, c->n_embd, rows,
                       n - r0, b - r0, ctx->logits, c->n_vocab, ctx->mm_scratch);
        if (c->final_softcap > 0.0f) {
            const float cap = c->final_softcap;
            for (int64_t i = 0; i < rows * c->n_vocab; i++)
                ctx->logits[i] = cap * tanhf(ctx->logits[i] / cap);
        }
        st = check_finite(ctx, ctx->logits, rows, c->n_vocab, pos0 + b, "the logits", -1, err);
        if (st) return st;
        const ql_logits_block blk = {.first_pos = pos0 + b,
                                     .n_rows = rows,
                                     .n_vocab = c->n_vocab,
                                     .n_embd = c->n_embd,
                                     .logits = ctx->logits,
                                     .hidden = ctx->cur + b * c->n_embd};
        if (!cb(user, &blk))
            return ql_fail(err, QL_ERR_INTERNAL, "evaluation stopped by its consumer");
    }
    return QL_OK;
}

/* A new sequence: empty conv windows and zero delta-rule states, as llama.cpp clears them. */
static void reset_recurrent(ql_context *ctx) {
    for (int64_t l = 0; l < ctx->m->cfg.n_layer; l++)
        if (ctx->desc[l].mixer == QL_MIXER_DELTANET) {
            memset(ctx->conv_state[l], 0, ctx->desc[l].conv_bytes);
            memset(ctx->ssm_state[l], 0, ctx->desc[l].ssm_bytes);
        }
}

ql_status ql_forward(ql_context *ctx, const int32_t *tokens, int64_t n_tokens, int64_t pos0,
                     int64_t logits_from, ql_logits_fn cb, void *user, ql_error *err) {
    const ql_model *m = ctx->m;
    const ql_model_config *c = &m->cfg;
    if (pos0 < 0 || n_tokens < 0 || pos0 + n_tokens > ctx->p.n_ctx)
        return ql_fail(err, QL_ERR_ARG, "positions %lld..%lld exceed the context size %lld",
                       (long long)pos0, (long long)(pos0 + n_tokens - 1), (long long)ctx->p.n_ctx);
    if (c->hybrid) {
        /* a recurrent state summarises exactly the positions before next_pos */
        if (pos0 == 0)
            reset_recurrent(ctx);
        else if (pos0 != ctx->next_pos)
            return ql_fail(err, QL_ERR_ARG,
                           "position %lld does not continue the sequence (a recurrent state "
                           "holds positions up to %lld)",
                           (long long)pos0, (long long)ctx->next_pos - 1);
        ctx->next_pos = pos0;
    }
    const ql_type_traits *te = ql_type_traits_get((int)m->tok_embd.type);
    for (int64_t done = 0; done < n_tokens; done += ctx->p.n_ubatch) {
        const int64_t n = n_tokens - done < ctx->p.n_ubatch ? n_tokens - done : ctx->p.n_ubatch;
        const int64_t p0 = pos0 + done;
        if (ctx->swa_ring) {
            if (p0 == 0) { /* a new sequence: the ring empty, its cells zero as llama.cpp's */
                ql_kv_cells_clear(&ctx->swa_cells);
                for (int64_t l = 0; l < c->n_layer; l++)
                    if (in_ring(ctx, l)) {
                        memset(ctx->k_cache[l], 0, ctx->desc[l].k_bytes);
                        memset(ctx->v_cache[l], 0, ctx->desc[l].v_bytes);
                    }
            }
            if (!ql_kv_cells_place(&ctx->swa_cells, p0, n, ctx->ub_cells))
                return ql_fail(err, QL_ERR_ARG,
                               "positions %lld..%lld do not fit the sliding-window cache",
                               (long long)p0, (long long)(p0 + n - 1));
        }

        /* token embeddings */
        for (int64_t t = 0; t < n; t++) {
            const int32_t id = tokens[done + t];
            if (id < 0 || id >= c->n_vocab)
                return ql_fail(err, QL_ERR_ARG, "token id %d is outside the vocabulary (0..%lld)",
                               id, (long long)c->n_vocab - 1);
            te->to_float((const uint8_t *)m->tok_embd.data + (size_t)id * m->tok_embd.row_bytes,
                         ctx->x + t * c->n_embd, c->n_embd);
            if (c->embd_scale != 1.0f) ql_scale(ctx->x + t * c->n_embd, c->embd_scale, c->n_embd);
        }
        ql_status st = check_finite(ctx, ctx->x, n, c->n_embd, p0, "the token embedding", -1, err);
        if (st) return st;

        for (int64_t l = 0; l < c->n_layer; l++) {
            if (ctx->desc[l].mixer == QL_MIXER_DELTANET)
                ql_deltanet_block(ctx, l, n);
            else
                attention_block(ctx, l, n, p0);
            if (ctx->desc[l].ffn == QL_FFN_MOE)
                ql_moe_block(ctx, l, n);
            else
                dense_ffn_block(ctx, l, n);
            if ((st = check_finite(ctx, ctx->x, n, c->n_embd, p0, NULL, l, err))) return st;
        }
        if (c->hybrid) ctx->next_pos = p0 + n;

        /* logits only for the rows the caller scores */
        int64_t first = logits_from - p0;
        if (first < 0) first = 0;
        if (first < n && cb && (st = output_head(ctx, first, n, p0, cb, user, err))) return st;
    }
    return QL_OK;
}
