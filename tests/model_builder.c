/* model_builder.c - see model_builder.h. */
#include "model_builder.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gguf/gguf.h"

static float next_gauss(uint64_t *s) {
    double u[2];
    for (int i = 0; i < 2; i++) {
        *s = *s * 6364136223846793005ull + 1442695040888963407ull;
        u[i] = ((double)(*s >> 11) + 0.5) / 9007199254740992.0;
    }
    return (float)(sqrt(-2 * log(u[0])) * cos(6.283185307179586 * u[1]));
}

typedef struct {
    gguf_writer *w;
    float **blobs;
    int n_blobs;
    uint64_t seed;
    bool ok;
    ql_error err;
} builder;

static void tensor(builder *b, const char *name, int64_t ne0, int64_t ne1, float scale,
                   float mean) {
    if (!b->ok) return;
    const int64_t n = ne0 * ne1;
    float *v = malloc((size_t)n * sizeof *v);
    for (int64_t i = 0; i < n; i++) v[i] = mean + scale * next_gauss(&b->seed);
    b->blobs[b->n_blobs++] = v;
    const int64_t ne[2] = {ne0, ne1};
    b->ok =
        gguf_writer_add_tensor(b->w, name, QL_TYPE_F32, ne1 > 1 ? 2 : 1, ne, v, &b->err) == QL_OK;
}

bool ql_test_build_model(const char *path, const ql_test_model_shape *s) {
    gguf_file *vocab;
    ql_error err;
    if (gguf_open(s->vocab_gguf, &vocab, &err) != QL_OK) return false;
    builder b = {.seed = 42, .ok = true};
    b.blobs = calloc(64 + (size_t)s->n_layer * 32, sizeof *b.blobs);
    if (gguf_writer_create(&b.w, &err) != QL_OK) {
        gguf_close(vocab);
        return false;
    }
    const int dv = s->head_dim_v > 0 ? s->head_dim_v : s->head_dim;
    char key[128];
#define SET_U32(suffix, v)                                                                         \
    (snprintf(key, sizeof key, "%s." suffix, s->arch),                                             \
     gguf_writer_set_u32(b.w, key, (uint32_t)(v), &err))
    b.ok = gguf_writer_set_str(b.w, "general.architecture", s->arch, &err) == QL_OK &&
           SET_U32("context_length", 4096) == QL_OK &&
           SET_U32("embedding_length", s->n_embd) == QL_OK &&
           SET_U32("block_count", s->n_layer) == QL_OK &&
           SET_U32("feed_forward_length", s->n_ff) == QL_OK &&
           SET_U32("attention.head_count", s->n_head) == QL_OK &&
           SET_U32("attention.head_count_kv", s->n_head_kv) == QL_OK &&
           SET_U32("attention.key_length", s->head_dim) == QL_OK &&
           SET_U32("attention.value_length", dv) == QL_OK &&
           SET_U32("rope.dimension_count", s->head_dim) == QL_OK;
#undef SET_U32
    snprintf(key, sizeof key, "%s.attention.layer_norm_rms_epsilon", s->arch);
    if (b.ok) b.ok = gguf_writer_set_f32(b.w, key, 1e-6f, &err) == QL_OK;
    /* tokenizer keys only */
    for (int64_t i = 0; b.ok && i < gguf_n_kv(vocab); i++) {
        const gguf_kv *kv = gguf_kv_at(vocab, i);
        if (kv->key.len < 10 || memcmp(kv->key.ptr, "tokenizer.", 10) != 0) continue;
        char k[256];
        gguf_str_copy(kv->key, k, sizeof k);
        b.ok = gguf_writer_set_value(b.w, k, &kv->value, &err) == QL_OK;
    }
    const gguf_value *toks = gguf_get_arr(vocab, "tokenizer.ggml.tokens");
    const int64_t n_vocab = toks ? (int64_t)toks->arr.n : 0;
    const int q = s->n_head * s->head_dim, kvd = s->n_head_kv * s->head_dim;
    const int o = s->n_head * dv, kvv = s->n_head_kv * dv;
    tensor(&b, "token_embd.weight", s->n_embd, n_vocab, 0.1f, 0);
    tensor(&b, "output_norm.weight", s->n_embd, 1, 0.1f, 1);
    for (int l = 0; l < s->n_layer; l++) {
        char n[64];
#define T(name, a, c, sc, mean)                                                                    \
    (snprintf(n, sizeof n, "blk.%d." name, l), tensor(&b, n, a, c, sc, mean))
        T("attn_norm.weight", s->n_embd, 1, 0.1f, 1);
        T("attn_q.weight", s->n_embd, q, 1 / sqrtf((float)s->n_embd), 0);
        T("attn_k.weight", s->n_embd, kvd, 1 / sqrtf((float)s->n_embd), 0);
        T("attn_v.weight", s->n_embd, kvv, 1 / sqrtf((float)s->n_embd), 0);
        if (!strcmp(s->arch, "qwen2")) {
            T("attn_q.bias", q, 1, 0.1f, 0);
            T("attn_k.bias", kvd, 1, 0.1f, 0);
            T("attn_v.bias", kvv, 1, 0.1f, 0);
        }
        if (!strcmp(s->arch, "qwen3") || !strcmp(s->arch, "gemma3")) {
            T("attn_q_norm.weight", s->head_dim, 1, 0.1f, 1);
            T("attn_k_norm.weight", s->head_dim, 1, 0.1f, 1);
        }
        T("attn_output.weight", o, s->n_embd, 1 / sqrtf((float)o), 0);
        if (!strcmp(s->arch, "gemma3")) T("post_attention_norm.weight", s->n_embd, 1, 0.1f, 1);
        T("ffn_norm.weight", s->n_embd, 1, 0.1f, 1);
        T("ffn_gate.weight", s->n_embd, s->n_ff, 1 / sqrtf((float)s->n_embd), 0);
        T("ffn_up.weight", s->n_embd, s->n_ff, 1 / sqrtf((float)s->n_embd), 0);
        T("ffn_down.weight", s->n_ff, s->n_embd, 1 / sqrtf((float)s->n_ff), 0);
        if (!strcmp(s->arch, "gemma3")) T("post_ffw_norm.weight", s->n_embd, 1, 0.1f, 1);
#undef T
    }
    if (b.ok) b.ok = gguf_writer_write_file(b.w, path, &err) == QL_OK;
    for (int i = 0; i < b.n_blobs; i++) free(b.blobs[i]);
    free(b.blobs);
    gguf_writer_free(b.w);
    gguf_close(vocab);
    return b.ok;
}
