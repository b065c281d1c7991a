/*
 * model.c - reads hyperparameters from GGUF keys into ql_model_config and
 * binds weight tensors by name, checking every shape against the config so
 * the forward pass never has to. Anything missing or inconsistent is an
 * error naming the tensor or key.
 */
#include "model.h"

#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../core/crc32.h"
#include "../kernels/finite.h"
#include "../kernels/kernels.h"
#include "layers.h"

/* The flags that distinguish the supported architectures. */
typedef struct {
    const char *name;
    bool qkv_bias, qk_norm, post_norms, gelu_ffn, rope_neox, gemma_scaling;
    int default_swa_pattern;
    bool hybrid; /* Gated DeltaNet layers between gated full-attention layers (qwen35) */
    bool moe;    /* every layer's FFN routes to experts */
} arch_traits;

static const arch_traits archs[] = {
    {.name = "llama"},
    {.name = "qwen2", .qkv_bias = true, .rope_neox = true},
    {.name = "qwen3", .qk_norm = true, .rope_neox = true},
    {.name = "gemma3",
     .qk_norm = true,
     .post_norms = true,
     .gelu_ffn = true,
     .rope_neox = true,
     .gemma_scaling = true,
     .default_swa_pattern = 6},
    {.name = "qwen3moe", .qk_norm = true, .rope_neox = true, .moe = true},
    {.name = "qwen35", .qk_norm = true, .rope_neox = true, .hybrid = true},
    {.name = "qwen35moe", .qk_norm = true, .rope_neox = true, .hybrid = true, .moe = true},
};

const char *ql_model_supported_archs(void) {
    return "llama, qwen2, qwen3, gemma3, qwen3moe, qwen35, qwen35moe";
}

static const arch_traits *find_arch(const char *name) {
    for (size_t i = 0; i < sizeof archs / sizeof archs[0]; i++)
        if (strcmp(archs[i].name, name) == 0) return &archs[i];
    return NULL;
}

static bool get_arch_u64(const gguf_file *f, const char *arch, const char *suffix, uint64_t *v) {
    char key[160];
    snprintf(key, sizeof key, "%s.%s", arch, suffix);
    return gguf_get_u64(f, key, v);
}

/*
 * An optional integer key: absent leaves *out as it is; present, it must be
 * an integer in [lo, hi], checked before it is narrowed to *out's type.
 */
static ql_status optional_u64(const gguf_file *f, const char *arch, const char *suffix, uint64_t lo,
                              uint64_t hi, int64_t *out, ql_error *err) {
    char key[160];
    snprintf(key, sizeof key, "%s.%s", arch, suffix);
    const gguf_value *val = gguf_find(f, key);
    if (!val) return QL_OK;
    uint64_t v;
    if (!gguf_value_as_u64(val, &v))
        return ql_fail(err, QL_ERR_FORMAT, "%s: key %s is not a non-negative integer", gguf_path(f),
                       key);
    if (v < lo || v > hi)
        return ql_fail(err, QL_ERR_FORMAT, "%s: key %s = %llu is out of range %llu..%llu",
                       gguf_path(f), key, (unsigned long long)v, (unsigned long long)lo,
                       (unsigned long long)hi);
    *out = (int64_t)v;
    return QL_OK;
}

/*
 * An optional float key: absent leaves *out as it is; present, it must be a
 * finite number above lo (or equal to it when lo_allowed) and at most hi,
 * checked in double before it is rounded to float.
 */
static ql_status optional_f32(const gguf_file *f, const char *arch, const char *suffix, double lo,
                              bool lo_allowed, double hi, float *out, ql_error *err) {
    char key[160];
    snprintf(key, sizeof key, "%s.%s", arch, suffix);
    const gguf_value *val = gguf_find(f, key);
    if (!val) return QL_OK;
    double v;
    if (!gguf_value_as_f64(val, &v))
        return ql_fail(err, QL_ERR_FORMAT, "%s: key %s is not a number", gguf_path(f), key);
    if (!isfinite(v) || v < lo || (v == lo && !lo_allowed) || v > hi) {
        char upper[48] = "";
        if (hi < FLT_MAX) snprintf(upper, sizeof upper, " and at most %g", hi);
        return ql_fail(err, QL_ERR_FORMAT, "%s: key %s = %g is out of range (finite, %s %g%s)",
                       gguf_path(f), key, v, lo_allowed ? "at least" : "above", lo, upper);
    }
    *out = (float)v;
    return QL_OK;
}

static ql_status require_u64(const gguf_file *f, const char *arch, const char *suffix, uint64_t max,
                             int64_t *out, ql_error *err) {
    uint64_t v;
    if (!get_arch_u64(f, arch, suffix, &v))
        return ql_fail(err, QL_ERR_FORMAT, "%s: missing or non-integer key %s.%s", gguf_path(f),
                       arch, suffix);
    if (v == 0 || v > max)
        return ql_fail(err, QL_ERR_FORMAT, "%s: key %s.%s = %llu is out of range 1..%llu",
                       gguf_path(f), arch, suffix, (unsigned long long)v, (unsigned long long)max);
    *out = (int64_t)v;
    return QL_OK;
}

/*
 * A head count: one integer, or (as llama.cpp also accepts) one per layer,
 * where hybrids write 0 for the layers without attention; every non-zero
 * entry must then be the same, since qlens sizes all attention layers alike.
 * Absent: *out is kept unless required.
 */
static ql_status head_count(const gguf_file *f, const char *arch, const char *suffix, uint64_t max,
                            bool required, int64_t *out, ql_error *err) {
    char key[160];
    snprintf(key, sizeof key, "%s.%s", arch, suffix);
    const gguf_value *arr = gguf_get_arr(f, key);
    if (!arr) {
        if (!required) return optional_u64(f, arch, suffix, 1, max, out, err);
        return require_u64(f, arch, suffix, max, out, err);
    }
    int64_t value = 0;
    for (uint64_t i = 0; i < arr->arr.n; i++) {
        int64_t v;
        if (!gguf_arr_get_i64(arr, i, &v) || v < 0 || (uint64_t)v > max)
            return ql_fail(err, QL_ERR_FORMAT, "%s: key %s[%llu] is not an integer in 0..%llu",
                           gguf_path(f), key, (unsigned long long)i, (unsigned long long)max);
        if (v == 0) continue;
        if (value && v != value)
            return ql_fail(err, QL_ERR_FORMAT,
                           "%s: key %s gives layers different head counts (%lld and %lld), which "
                           "qlens does not support",
                           gguf_path(f), key, (long long)value, (long long)v);
        value = v;
    }
    if (value == 0)
        return ql_fail(err, QL_ERR_FORMAT, "%s: key %s has no non-zero head count", gguf_path(f),
                       key);
    *out = value;
    return QL_OK;
}

/* qwen35's Gated DeltaNet shape, which layers are DeltaNet, and its multi-section RoPE. */
static ql_status read_hybrid(const gguf_file *f, const char *a, ql_model_config *cfg,
                             ql_error *err) {
    ql_status st;
    cfg->hybrid = true;
    cfg->attn_output_gate = true;
    if ((st = require_u64(f, a, "ssm.conv_kernel", 64, &cfg->ssm_d_conv, err)) ||
        (st = require_u64(f, a, "ssm.state_size", 4096, &cfg->ssm_d_state, err)) ||
        (st = require_u64(f, a, "ssm.group_count", 4096, &cfg->ssm_n_group, err)) ||
        (st = require_u64(f, a, "ssm.time_step_rank", 4096, &cfg->ssm_dt_rank, err)) ||
        (st = require_u64(f, a, "ssm.inner_size", 1u << 24, &cfg->ssm_d_inner, err)))
        return st;
    if (cfg->ssm_d_inner != cfg->ssm_d_state * cfg->ssm_dt_rank)
        return ql_fail(err, QL_ERR_FORMAT,
                       "%s: %s.ssm.inner_size %lld is not ssm.state_size %lld x ssm.time_step_rank "
                       "%lld (value heads the size of key heads)",
                       gguf_path(f), a, (long long)cfg->ssm_d_inner, (long long)cfg->ssm_d_state,
                       (long long)cfg->ssm_dt_rank);
    if (cfg->ssm_dt_rank % cfg->ssm_n_group != 0)
        return ql_fail(err, QL_ERR_FORMAT,
                       "%s: %lld value heads (%s.ssm.time_step_rank) cannot share %lld key heads "
                       "(ssm.group_count)",
                       gguf_path(f), (long long)cfg->ssm_dt_rank, a, (long long)cfg->ssm_n_group);

    /* which layers recur: the bool array wins; otherwise every interval-th layer attends */
    char key[160];
    snprintf(key, sizeof key, "%s.attention.recurrent_layers", a);
    const gguf_value *arr = gguf_find(f, key);
    memset(cfg->recurrent, 0, sizeof cfg->recurrent);
    if (arr) {
        if (arr->type != GGUF_TYPE_ARRAY || arr->arr.n != (uint64_t)cfg->n_layer)
            return ql_fail(err, QL_ERR_FORMAT,
                           "%s: key %s is not an array of %lld flags (one per "
                           "layer)",
                           gguf_path(f), key, (long long)cfg->n_layer);
        for (int64_t l = 0; l < cfg->n_layer; l++) {
            gguf_value v;
            int64_t i;
            bool recurrent;
            if (gguf_arr_get(arr, (uint64_t)l, &v) && v.type == GGUF_TYPE_BOOL)
                recurrent = v.b;
            else if (gguf_arr_get_i64(arr, (uint64_t)l, &i) && (i == 0 || i == 1))
                recurrent = i == 1;
            else
                return ql_fail(err, QL_ERR_FORMAT, "%s: key %s[%lld] is not a bool", gguf_path(f),
                               key, (long long)l);
            if (recurrent) cfg->recurrent[l / 64] |= 1ull << (l % 64);
        }
    } else {
        int64_t interval = 4;
        if ((st = optional_u64(f, a, "full_attention_interval", 1, 4096, &interval, err)))
            return st;
        for (int64_t l = 0; l < cfg->n_layer; l++)
            if ((l + 1) % interval != 0) cfg->recurrent[l / 64] |= 1ull << (l % 64);
    }

    snprintf(key, sizeof key, "%s.rope.dimension_sections", a);
    const gguf_value *sec = gguf_get_arr(f, key);
    if (!sec || sec->arr.n < 1 || sec->arr.n > 4)
        return ql_fail(err, QL_ERR_FORMAT, "%s: missing key %s (an array of up to 4 integers)",
                       gguf_path(f), key);
    int64_t sum = 0;
    for (uint64_t i = 0; i < sec->arr.n; i++) {
        int64_t v;
        if (!gguf_arr_get_i64(sec, i, &v) || v < 0 || v > cfg->n_rot)
            return ql_fail(err, QL_ERR_FORMAT, "%s: key %s[%llu] is not an integer in 0..%d",
                           gguf_path(f), key, (unsigned long long)i, cfg->n_rot);
        cfg->rope_sections[i] = (int)v;
        sum += v;
    }
    /* ggml divides by the sum and needs it to fit the rotated pairs */
    if (sum < 1 || sum > cfg->n_rot)
        return ql_fail(err, QL_ERR_FORMAT,
                       "%s: key %s sums to %lld; it must be 1..%d (rope.dimension_count)",
                       gguf_path(f), key, (long long)sum, cfg->n_rot);
    return QL_OK;
}

/* Expert counts and sizes of an MoE FFN. */
static ql_status read_moe(const gguf_file *f, const char *a, ql_model_config *cfg, ql_error *err) {
    ql_status st;
    if ((st = require_u64(f, a, "expert_count", QL_MAX_EXPERTS, &cfg->n_expert, err)) ||
        (st = require_u64(f, a, "expert_used_count", 4096, &cfg->n_expert_used, err)))
        return st;
    if (cfg->n_expert_used > cfg->n_expert)
        return ql_fail(err, QL_ERR_FORMAT,
                       "%s: %s.expert_used_count %lld is more than the %lld experts (expert_count)",
                       gguf_path(f), a, (long long)cfg->n_expert_used, (long long)cfg->n_expert);
    if ((st = optional_u64(f, a, "expert_feed_forward_length", 1, 1u << 24, &cfg->n_ff_exp, err)) ||
        (st = optional_u64(f, a, "expert_shared_feed_forward_length", 1, 1u << 24, &cfg->n_ff_shexp,
                           err)))
        return st;
    /* llama.cpp's defaults where the keys are absent */
    if (cfg->n_ff_exp == 0) cfg->n_ff_exp = cfg->n_ff / cfg->n_expert_used;
    if (cfg->n_ff_shexp == 0) cfg->n_ff_shexp = cfg->n_ff;
    if (cfg->n_ff_exp == 0)
        return ql_fail(err, QL_ERR_FORMAT,
                       "%s: missing key %s.expert_feed_forward_length (and no feed_forward_length "
                       "to derive it from)",
                       gguf_path(f), a);
    return QL_OK;
}

ql_status ql_model_read_config(const gguf_file *f, ql_model_config *cfg, ql_error *err) {
    memset(cfg, 0, sizeof *cfg);
    gguf_str arch_str;
    if (!gguf_get_str(f, "general.architecture", &arch_str))
        return ql_fail(err, QL_ERR_FORMAT, "%s: no general.architecture key", gguf_path(f));
    gguf_str_copy(arch_str, cfg->arch, sizeof cfg->arch);
    const arch_traits *at = find_arch(cfg->arch);
    if (!at || arch_str.len >= sizeof cfg->arch)
        return ql_fail(err, QL_ERR_UNSUPPORTED,
                       "%s: architecture '%.*s' is not supported (supported: %s)", gguf_path(f),
                       (int)(arch_str.len > 64 ? 64 : arch_str.len), arch_str.ptr,
                       ql_model_supported_archs());
    const char *a = cfg->arch;
    ql_status st;
    const uint64_t big = 1u << 24;
    if ((st = require_u64(f, a, "embedding_length", big, &cfg->n_embd, err))) return st;
    if ((st = require_u64(f, a, "block_count", 4096, &cfg->n_layer, err))) return st;
    if (!at->moe && (st = require_u64(f, a, "feed_forward_length", big, &cfg->n_ff, err)))
        return st;
    if (at->moe && (st = optional_u64(f, a, "feed_forward_length", 0, big, &cfg->n_ff, err)))
        return st;
    if ((st = head_count(f, a, "attention.head_count", 4096, true, &cfg->n_head, err))) return st;
    cfg->n_head_kv = cfg->n_head;
    if ((st = head_count(f, a, "attention.head_count_kv", (uint64_t)cfg->n_head, false,
                         &cfg->n_head_kv, err)))
        return st;
    if (cfg->n_head % cfg->n_head_kv != 0)
        return ql_fail(err, QL_ERR_FORMAT,
                       "%s: %lld attention heads cannot share %lld KV heads "
                       "(%s.attention.head_count, attention.head_count_kv)",
                       gguf_path(f), (long long)cfg->n_head, (long long)cfg->n_head_kv, a);
    cfg->head_dim_k = cfg->n_embd / cfg->n_head;
    cfg->head_dim_v = cfg->head_dim_k;
    if ((st = optional_u64(f, a, "attention.key_length", 1, 4096, &cfg->head_dim_k, err)) ||
        (st = optional_u64(f, a, "attention.value_length", 1, 4096, &cfg->head_dim_v, err)))
        return st;
    if (cfg->head_dim_k < 1 || cfg->head_dim_k > 4096 || cfg->head_dim_v < 1 ||
        cfg->head_dim_v > 4096)
        return ql_fail(err, QL_ERR_FORMAT, "%s: head size %lld/%lld is out of range", gguf_path(f),
                       (long long)cfg->head_dim_k, (long long)cfg->head_dim_v);
    cfg->n_ctx_train = 4096;
    if ((st = optional_u64(f, a, "context_length", 1, 1ull << 32, &cfg->n_ctx_train, err)))
        return st;
    const double float_max = FLT_MAX;
    cfg->rms_eps = NAN;
    if ((st = optional_f32(f, a, "attention.layer_norm_rms_epsilon", 0, true, 1, &cfg->rms_eps,
                           err)))
        return st;
    if (isnan(cfg->rms_eps))
        return ql_fail(err, QL_ERR_FORMAT, "%s: missing key %s.attention.layer_norm_rms_epsilon",
                       gguf_path(f), a);
    int64_t n_rot = cfg->head_dim_k;
    if ((st =
             optional_u64(f, a, "rope.dimension_count", 2, (uint64_t)cfg->head_dim_k, &n_rot, err)))
        return st;
    if (n_rot % 2 != 0)
        return ql_fail(err, QL_ERR_FORMAT, "%s: rope.dimension_count %lld is odd", gguf_path(f),
                       (long long)n_rot);
    cfg->n_rot = (int)n_rot;
    cfg->rope_neox = at->rope_neox;
    cfg->rope_base = 10000.0f;
    if ((st = optional_f32(f, a, "rope.freq_base", 0, false, float_max, &cfg->rope_base, err)))
        return st;
    cfg->rope_base_swa = cfg->rope_base;
    cfg->rope_freq_scale = 1.0f;
    float factor = 1.0f;
    gguf_str scaling;
    char key[160];
    snprintf(key, sizeof key, "%s.rope.scaling.type", a);
    bool has_type = gguf_get_str(f, key, &scaling);
    if ((st = optional_f32(f, a, "rope.scaling.factor", 0, false, float_max, &factor, err)))
        return st;
    if (factor != 1.0f) {
        if (has_type && !gguf_str_eq(scaling, "linear") && !gguf_str_eq(scaling, "none"))
            return ql_fail(err, QL_ERR_UNSUPPORTED, "%s: rope scaling '%.*s' is not supported",
                           gguf_path(f), (int)(scaling.len > 32 ? 32 : scaling.len), scaling.ptr);
        if (!has_type || gguf_str_eq(scaling, "linear")) cfg->rope_freq_scale = 1.0f / factor;
    }

    cfg->has_qkv_bias = at->qkv_bias;
    cfg->has_qk_norm = at->qk_norm;
    cfg->has_post_norms = at->post_norms;
    cfg->gelu_ffn = at->gelu_ffn;
    cfg->embd_scale = 1.0f;
    cfg->q_scale = 1.0f;
    cfg->kq_scale = 1.0f / sqrtf((float)cfg->head_dim_k);
    if (at->gemma_scaling) {
        cfg->embd_scale = sqrtf((float)cfg->n_embd);
        /* the 62-layer (27B) model scales queries by its model width per head */
        cfg->q_scale = cfg->n_layer == 62 ? 1.0f / sqrtf((float)(cfg->n_embd / cfg->n_head))
                                          : 1.0f / sqrtf((float)cfg->head_dim_k);
        cfg->kq_scale = 1.0f;
        cfg->rope_base_swa = 10000.0f;
        if ((st = optional_f32(f, a, "rope.freq_base_swa", 0, false, float_max, &cfg->rope_base_swa,
                               err)))
            return st;
    }
    int64_t window = 0, pattern = at->default_swa_pattern;
    if ((st = optional_u64(f, a, "attention.sliding_window", 0, 1ull << 32, &window, err)) ||
        (st = optional_u64(f, a, "attention.sliding_window_pattern", 1, 4096, &pattern, err)))
        return st;
    if (window > 0 && pattern > 0) {
        /* windowed attention only where the pattern is known */
        cfg->n_swa = window;
        cfg->swa_pattern = (int)pattern;
    }
    cfg->final_softcap = 0.0f;
    if ((st = optional_f32(f, a, "final_logit_softcapping", 0, true, float_max, &cfg->final_softcap,
                           err)))
        return st;

    const gguf_tensor *emb = gguf_find_tensor(f, "token_embd.weight");
    if (!emb)
        return ql_fail(err, QL_ERR_FORMAT, "%s: missing tensor token_embd.weight", gguf_path(f));
    cfg->n_vocab = emb->ne[1];
    /* token ids are int32 and index its rows: at least one, and as many as the tokenizer has
     * tokens (llama.cpp sizes the embedding from the vocabulary and refuses any other shape) */
    if (cfg->n_vocab < 1 || cfg->n_vocab > INT32_MAX)
        return ql_fail(err, QL_ERR_FORMAT, "%s: token_embd.weight has %lld rows (one per token)",
                       gguf_path(f), (long long)cfg->n_vocab);
    const gguf_value *toks = gguf_get_arr(f, "tokenizer.ggml.tokens");
    if (toks && toks->arr.n != (uint64_t)cfg->n_vocab)
        return ql_fail(err, QL_ERR_FORMAT,
                       "%s: the tokenizer has %llu tokens but token_embd.weight has %lld rows",
                       gguf_path(f), (unsigned long long)toks->arr.n, (long long)cfg->n_vocab);
    cfg->tied_output = gguf_find_tensor(f, "output.weight") == NULL;
    if (at->hybrid && (st = read_hybrid(f, a, cfg, err))) return st;
    if (at->moe && (st = read_moe(f, a, cfg, err))) return st;
    return QL_OK;
}

/* ---- weight binding ---- */

typedef struct {
    ql_model *m;
    ql_error *err;
    size_t vec_used, vec_cap;
    bool grid; /* bind_vector reads a 2-D tensor whose shape the caller checked */
} binder;

static ql_status bind_matrix(binder *b, const char *name, int64_t n_in, int64_t n_out,
                             ql_matrix *out) {
    const gguf_file *f = b->m->file;
    const gguf_tensor *t = gguf_find_tensor(f, name);
    if (!t) return ql_fail(b->err, QL_ERR_FORMAT, "%s: missing tensor %s", gguf_path(f), name);
    if (t->ne[0] != n_in || t->ne[1] != n_out || t->ne[2] != 1 || t->ne[3] != 1)
        return ql_fail(b->err, QL_ERR_FORMAT,
                       "%s: tensor %s has shape %lld x %lld x %lld, expected %lld x %lld",
                       gguf_path(f), name, (long long)t->ne[0], (long long)t->ne[1],
                       (long long)t->ne[2], (long long)n_in, (long long)n_out);
    if (!ql_kernel_get(t->type))
        return ql_fail(b->err, QL_ERR_UNSUPPORTED,
                       "%s: tensor %s has type %s, which qlens cannot compute with", gguf_path(f),
                       name, ql_type_name((int)t->type));
    *out = (ql_matrix){.data = t->data,
                       .type = t->type,
                       .n_in = n_in,
                       .n_out = n_out,
                       .row_bytes = ql_row_size(t->type, n_in)};
    return QL_OK;
}

/* Binds a vector of n elements as f32; absent and optional -> n = 0. */
static ql_status bind_vector(binder *b, const char *name, int64_t n, bool required, ql_vec *out) {
    const gguf_file *f = b->m->file;
    const gguf_tensor *t = gguf_find_tensor(f, name);
    out->data = NULL;
    out->n = 0;
    if (!t) {
        if (!required) return QL_OK;
        return ql_fail(b->err, QL_ERR_FORMAT, "%s: missing tensor %s", gguf_path(f), name);
    }
    if (gguf_tensor_nelements(t) != n || (t->ne[0] != n && !b->grid))
        return ql_fail(b->err, QL_ERR_FORMAT, "%s: tensor %s has %lld elements, expected %lld",
                       gguf_path(f), name, (long long)gguf_tensor_nelements(t), (long long)n);
    const ql_type_traits *tr = ql_type_traits_get((int)t->type);
    if (!tr || !tr->to_float)
        return ql_fail(b->err, QL_ERR_UNSUPPORTED,
                       "%s: tensor %s has type %s, which qlens cannot read", gguf_path(f), name,
                       ql_type_name((int)t->type));
    if (b->vec_used + (size_t)n > b->vec_cap)
        return ql_fail(b->err, QL_ERR_INTERNAL, "vector storage exhausted binding %s", name);
    float *dst = b->m->vectors + b->vec_used;
    tr->to_float(t->data, dst, n);
    /* every token passes through these: one NaN would poison every result */
    const int64_t bad = ql_first_nonfinite(dst, n);
    if (bad >= 0)
        return ql_fail(b->err, QL_ERR_FORMAT, "%s: tensor %s holds %s at element %lld",
                       gguf_path(f), name, ql_nonfinite_name(dst[bad]), (long long)bad);
    b->vec_used += (size_t)n;
    out->data = dst;
    out->n = n;
    return QL_OK;
}

static size_t vector_capacity(const ql_model_config *c) {
    /* every vector the model can hold: norms, biases, qk-norms, rope factors, and a DeltaNet
     * layer's conv taps, dt bias, decay rates and gated norm */
    size_t per_layer =
        (size_t)(4 * c->n_embd + c->n_head * c->head_dim_k + 2 * c->n_head_kv * c->head_dim_k +
                 c->n_head_kv * c->head_dim_v + 2 * c->head_dim_k);
    if (c->hybrid)
        per_layer +=
            (size_t)(c->ssm_d_conv * (c->ssm_d_inner + 2 * c->ssm_n_group * c->ssm_d_state) +
                     2 * c->ssm_dt_rank + c->ssm_d_state);
    return per_layer * (size_t)c->n_layer + (size_t)c->n_embd + (size_t)c->head_dim_k + 16;
}

/* A 2-D f32 vector: a tensor of exactly ne0 x ne1 elements, read as f32 (a conv kernel). */
static ql_status bind_grid(binder *b, const char *name, int64_t ne0, int64_t ne1, ql_vec *out) {
    const gguf_tensor *t = gguf_find_tensor(b->m->file, name);
    if (t && (t->ne[0] != ne0 || t->ne[1] != ne1 || t->ne[2] != 1 || t->ne[3] != 1))
        return ql_fail(b->err, QL_ERR_FORMAT,
                       "%s: tensor %s has shape %lld x %lld x %lld, expected %lld x %lld",
                       gguf_path(b->m->file), name, (long long)t->ne[0], (long long)t->ne[1],
                       (long long)t->ne[2], (long long)ne0, (long long)ne1);
    b->grid = true;
    ql_status st = bind_vector(b, name, ne0 * ne1, true, out);
    b->grid = false;
    return st;
}

/* A 3-D expert tensor [n_in, n_out, n_expert]: one matrix per expert. */
static ql_status bind_experts(binder *b, const char *name, int64_t n_in, int64_t n_out,
                              int64_t n_expert, ql_experts *out) {
    const gguf_file *f = b->m->file;
    const gguf_tensor *t = gguf_find_tensor(f, name);
    if (!t) return ql_fail(b->err, QL_ERR_FORMAT, "%s: missing tensor %s", gguf_path(f), name);
    if (t->ne[0] != n_in || t->ne[1] != n_out || t->ne[2] != n_expert || t->ne[3] != 1)
        return ql_fail(b->err, QL_ERR_FORMAT,
                       "%s: tensor %s has shape %lld x %lld x %lld, expected %lld x %lld x %lld",
                       gguf_path(f), name, (long long)t->ne[0], (long long)t->ne[1],
                       (long long)t->ne[2], (long long)n_in, (long long)n_out, (long long)n_expert);
    if (!ql_kernel_get(t->type))
        return ql_fail(b->err, QL_ERR_UNSUPPORTED,
                       "%s: tensor %s has type %s, which qlens cannot compute with", gguf_path(f),
                       name, ql_type_name((int)t->type));
    const size_t row_bytes = ql_row_size(t->type, n_in);
    out->m = (ql_matrix){
        .data = t->data, .type = t->type, .n_in = n_in, .n_out = n_out, .row_bytes = row_bytes};
    out->stride = row_bytes * (size_t)n_out;
    out->n_expert = n_expert;
    return QL_OK;
}

#define NAME(s) (snprintf(n, sizeof n, "blk.%lld." s, (long long)l), n)

/* Softmax attention: Q (with its gates where the model has them), K, V, output, norms, biases. */
static ql_status bind_attention(binder *b, int64_t l, ql_layer *L) {
    const ql_model_config *c = &b->m->cfg;
    const int64_t q_dim = c->n_head * c->head_dim_k;
    const int64_t k_dim = c->n_head_kv * c->head_dim_k;
    const int64_t v_dim = c->n_head_kv * c->head_dim_v;
    const int64_t o_dim = c->n_head * c->head_dim_v;
    char n[96];
    ql_status st;
    if (gguf_find_tensor(b->m->file, NAME("attn_qkv.weight")) &&
        !gguf_find_tensor(b->m->file, NAME("attn_q.weight")))
        return ql_fail(b->err, QL_ERR_UNSUPPORTED,
                       "%s: layer %lld has a fused attn_qkv.weight; qlens reads separate attn_q, "
                       "attn_k and attn_v",
                       gguf_path(b->m->file), (long long)l);
    const int64_t q_rows = c->attn_output_gate ? 2 * q_dim : q_dim;
    if ((st = bind_matrix(b, NAME("attn_q.weight"), c->n_embd, q_rows, &L->wq)) ||
        (st = bind_matrix(b, NAME("attn_k.weight"), c->n_embd, k_dim, &L->wk)) ||
        (st = bind_matrix(b, NAME("attn_v.weight"), c->n_embd, v_dim, &L->wv)) ||
        (st = bind_matrix(b, NAME("attn_output.weight"), o_dim, c->n_embd, &L->wo)) ||
        (st = bind_vector(b, NAME("attn_q.bias"), q_dim, c->has_qkv_bias, &L->bq)) ||
        (st = bind_vector(b, NAME("attn_k.bias"), k_dim, c->has_qkv_bias, &L->bk)) ||
        (st = bind_vector(b, NAME("attn_v.bias"), v_dim, c->has_qkv_bias, &L->bv)) ||
        (st = bind_vector(b, NAME("attn_q_norm.weight"), c->head_dim_k, c->has_qk_norm,
                          &L->q_norm)) ||
        (st =
             bind_vector(b, NAME("attn_k_norm.weight"), c->head_dim_k, c->has_qk_norm, &L->k_norm)))
        return st;
    if (c->has_post_norms && (st = bind_vector(b, NAME("post_attention_norm.weight"), c->n_embd,
                                               true, &L->post_attn_norm)))
        return st;
    return QL_OK;
}

/* Gated DeltaNet: input projections, conv kernel, decay and gate parameters, gated norm, output. */
static ql_status bind_deltanet(binder *b, int64_t l, ql_layer *L) {
    const ql_model_config *c = &b->m->cfg;
    const int64_t conv_dim = c->ssm_d_inner + 2 * c->ssm_n_group * c->ssm_d_state;
    char n[96];
    ql_status st;
    if ((st = bind_matrix(b, NAME("attn_qkv.weight"), c->n_embd, conv_dim, &L->ssm_qkv)) ||
        (st = bind_matrix(b, NAME("attn_gate.weight"), c->n_embd, c->ssm_d_inner, &L->ssm_z)) ||
        (st = bind_grid(b, NAME("ssm_conv1d.weight"), c->ssm_d_conv, conv_dim, &L->ssm_conv)) ||
        (st = bind_vector(b, NAME("ssm_dt.bias"), c->ssm_dt_rank, true, &L->ssm_dt_bias)) ||
        (st = bind_vector(b, NAME("ssm_a"), c->ssm_dt_rank, true, &L->ssm_a)) ||
        (st = bind_matrix(b, NAME("ssm_alpha.weight"), c->n_embd, c->ssm_dt_rank, &L->ssm_alpha)) ||
        (st = bind_matrix(b, NAME("ssm_beta.weight"), c->n_embd, c->ssm_dt_rank, &L->ssm_beta)) ||
        (st = bind_vector(b, NAME("ssm_norm.weight"), c->ssm_d_state, true, &L->ssm_norm)) ||
        (st = bind_matrix(b, NAME("ssm_out.weight"), c->ssm_d_inner, c->n_embd, &L->ssm_out)))
        return st;
    return QL_OK;
}

/* Router, experts (separate gate and up, or one gate_up tensor), and the shared expert if any. */
static ql_status bind_moe(binder *b, int64_t l, ql_layer *L) {
    const ql_model_config *c = &b->m->cfg;
    const int64_t ne = c->n_expert, nf = c->n_ff_exp;
    char n[96];
    ql_status st;
    if ((st = bind_matrix(b, NAME("ffn_gate_inp.weight"), c->n_embd, ne, &L->router)) ||
        (st = bind_experts(b, NAME("ffn_down_exps.weight"), nf, c->n_embd, ne, &L->down_exps)))
        return st;
    if (gguf_find_tensor(b->m->file, NAME("ffn_gate_up_exps.weight"))) {
        /* gate rows first, then up rows, in each expert's slab */
        ql_experts both;
        if ((st = bind_experts(b, n, c->n_embd, 2 * nf, ne, &both))) return st;
        L->gate_exps = L->up_exps = both;
        L->gate_exps.m.n_out = L->up_exps.m.n_out = nf;
        L->up_exps.m.data = (const char *)both.m.data + (size_t)nf * both.m.row_bytes;
    } else if ((st = bind_experts(b, NAME("ffn_gate_exps.weight"), c->n_embd, nf, ne,
                                  &L->gate_exps)) ||
               (st = bind_experts(b, NAME("ffn_up_exps.weight"), c->n_embd, nf, ne, &L->up_exps)))
        return st;
    if (!gguf_find_tensor(b->m->file, NAME("ffn_gate_inp_shexp.weight"))) {
        if (c->hybrid) /* qwen35moe always has its shared expert */
            return ql_fail(b->err, QL_ERR_FORMAT, "%s: missing tensor %s", gguf_path(b->m->file),
                           n);
        return QL_OK;
    }
    const int64_t ns = c->n_ff_shexp;
    if ((st = bind_matrix(b, n, c->n_embd, 1, &L->shexp_gate_inp)) ||
        (st = bind_matrix(b, NAME("ffn_gate_shexp.weight"), c->n_embd, ns, &L->shexp_gate)) ||
        (st = bind_matrix(b, NAME("ffn_up_shexp.weight"), c->n_embd, ns, &L->shexp_up)) ||
        (st = bind_matrix(b, NAME("ffn_down_shexp.weight"), ns, c->n_embd, &L->shexp_down)))
        return st;
    return QL_OK;
}

static ql_status bind_layers(binder *b) {
    ql_model *m = b->m;
    const ql_model_config *c = &m->cfg;
    ql_status st;
    for (int64_t l = 0; l < c->n_layer; l++) {
        ql_layer *L = &m->layers[l];
        char n[96];
        L->mixer = ql_layer_mixer(c, l);
        L->ffn = ql_layer_ffn(c, l);
        if ((st = bind_vector(b, NAME("attn_norm.weight"), c->n_embd, true, &L->attn_norm)))
            return st;
        st = L->mixer == QL_MIXER_DELTANET ? bind_deltanet(b, l, L) : bind_attention(b, l, L);
        if (st) return st;
        /* the pre-FFN norm: qwen35 calls it post_attention_norm, though nothing is normed after
         * its mixers */
        if ((st = bind_vector(
                 b, c->hybrid ? NAME("post_attention_norm.weight") : NAME("ffn_norm.weight"),
                 c->n_embd, true, &L->ffn_norm)))
            return st;
        if (L->ffn == QL_FFN_MOE)
            st = bind_moe(b, l, L);
        else if (!(st = bind_matrix(b, NAME("ffn_gate.weight"), c->n_embd, c->n_ff, &L->w_gate)) &&
                 !(st = bind_matrix(b, NAME("ffn_up.weight"), c->n_embd, c->n_ff, &L->w_up)))
            st = bind_matrix(b, NAME("ffn_down.weight"), c->n_ff, c->n_embd, &L->w_down);
        if (st) return st;
        if ((st = bind_vector(b, NAME("post_ffw_norm.weight"), c->n_embd, c->has_post_norms,
                              &L->post_ffn_norm)))
            return st;
        L->is_swa = L->mixer == QL_MIXER_SLIDING;
        L->rope_base = L->is_swa ? c->rope_base_swa : c->rope_base;
        L->rope_freq_scale = L->is_swa ? 1.0f : c->rope_freq_scale;
    }
    return QL_OK;
}

#undef NAME

ql_status ql_model_from_gguf(gguf_file *f, ql_model **out, ql_error *err) {
    *out = NULL;
    ql_model *m = calloc(1, sizeof *m);
    if (!m) return ql_fail(err, QL_ERR_NOMEM, "out of memory loading model");
    m->file = f;
    ql_status st = ql_model_read_config(f, &m->cfg, err);
    if (st) goto fail;
    const ql_model_config *c = &m->cfg;
    m->layers = calloc((size_t)c->n_layer, sizeof *m->layers);
    size_t cap = vector_capacity(c);
    m->vectors = malloc(cap * sizeof(float));
    if (!m->layers || !m->vectors) {
        st = ql_fail(err, QL_ERR_NOMEM, "out of memory loading model");
        goto fail;
    }
    binder b = {.m = m, .err = err, .vec_cap = cap};
    if ((st = bind_matrix(&b, "token_embd.weight", c->n_embd, c->n_vocab, &m->tok_embd))) goto fail;
    if (!ql_type_traits_get((int)m->tok_embd.type)->to_float) {
        st = ql_fail(err, QL_ERR_UNSUPPORTED, "%s: token_embd.weight type %s cannot be read",
                     gguf_path(f), ql_type_name((int)m->tok_embd.type));
        goto fail;
    }
    if (c->tied_output) {
        m->output = m->tok_embd;
        m->output.never_repacked = true; /* llama.cpp holds it where get_rows can read it */
    } else if ((st = bind_matrix(&b, "output.weight", c->n_embd, c->n_vocab, &m->output)))
        goto fail;
    if ((st = bind_vector(&b, "output_norm.weight", c->n_embd, true, &m->output_norm))) goto fail;
    if ((st = bind_vector(&b, "rope_freqs.weight", c->n_rot / 2, false, &m->rope_freqs))) goto fail;
    if ((st = bind_layers(&b))) goto fail;
    for (int64_t i = 0; i < gguf_n_tensors(f); i++)
        m->weight_bytes += gguf_tensor_at(f, i)->n_bytes;
    *out = m;
    return QL_OK;
fail:
    m->file = NULL; /* the caller keeps ownership of f on failure */
    ql_model_free(m);
    return st;
}

ql_status ql_model_load(const char *path, ql_model **out, ql_error *err) {
    *out = NULL;
    gguf_file *f;
    ql_status st = gguf_open(path, &f, err);
    if (st) return st;
    st = ql_model_from_gguf(f, out, err);
    if (st) gguf_close(f);
    return st;
}

void ql_model_free(ql_model *m) {
    if (!m) return;
    gguf_close(m->file);
    free(m->layers);
    free(m->vectors);
    free(m);
}

uint64_t ql_model_vocab_fingerprint(const gguf_file *f) {
    const gguf_value *toks = gguf_get_arr(f, "tokenizer.ggml.tokens");
    if (!toks || toks->arr.elem_type != GGUF_TYPE_STRING) return 0;
    uint64_t h = QL_FNV1A64_INIT;
    for (uint64_t i = 0; i < toks->arr.n; i++) {
        const gguf_str s = toks->arr.items[i].str;
        const uint64_t len = s.len;
        h = ql_fnv1a64(h, &len, sizeof len);
        h = ql_fnv1a64(h, s.ptr, (size_t)s.len);
    }
    return h;
}

void ql_model_bos(const gguf_file *f, bool *add_bos, int32_t *bos_id) {
    /* llama.cpp's defaults when the keys are absent: SentencePiece adds BOS, BPE does not */
    gguf_str model;
    const bool spm = gguf_get_str(f, "tokenizer.ggml.model", &model) && gguf_str_eq(model, "llama");
    *add_bos = spm;
    gguf_get_bool(f, "tokenizer.ggml.add_bos_token", add_bos);
    int64_t id = spm ? 1 : -1, stored;
    /* a stored id outside the vocabulary keeps the default, as the tokenizer decides it */
    const gguf_value *toks = gguf_get_arr(f, "tokenizer.ggml.tokens");
    const uint64_t n_tokens = toks ? toks->arr.n : 0;
    if (gguf_get_i64(f, "tokenizer.ggml.bos_token_id", &stored) && stored >= 0 &&
        (uint64_t)stored < n_tokens)
        id = stored;
    if (id >= (int64_t)n_tokens) id = -1;
    *bos_id = (int32_t)id;
    if (id < 0) *add_bos = false;
}
