/*
 * model.h - a GGUF model bound for inference: its hyperparameters, the
 * architecture's flags, and pointers to its weights inside the mapping.
 *
 * Architectures are data: llama, qwen2, qwen3 and gemma3 differ only in the
 * flags of ql_model_config, which one forward pass (context.c) reads. Weight
 * matrices stay in the file's types, memory-mapped; small vectors (norms,
 * biases) are converted to f32 at load.
 */
#ifndef QL_MODEL_MODEL_H
#define QL_MODEL_MODEL_H

#include <stdbool.h>
#include <stdint.h>

#include "../core/status.h"
#include "../gguf/gguf.h"
#include "../kernels/matmul.h"

#define QL_ARCH_NAME_MAX 32

typedef struct {
    char arch[QL_ARCH_NAME_MAX];
    int64_t n_vocab, n_embd, n_layer, n_head, n_head_kv, head_dim_k, head_dim_v, n_ff;
    int64_t n_ctx_train;
    float rms_eps;
    int n_rot;             /* rotary dimensions per head */
    bool rope_neox;        /* pairs (i, i+n/2) instead of (2i, 2i+1) */
    float rope_base;       /* global layers */
    float rope_base_swa;   /* sliding-window layers */
    float rope_freq_scale; /* linear scaling on global layers (1 = none) */
    int64_t n_swa;         /* sliding window in tokens, 0 = none */
    int swa_pattern;       /* layer l slides iff l % swa_pattern < swa_pattern - 1 */
    bool has_qkv_bias;
    bool has_qk_norm;
    bool has_post_norms; /* gemma: norms on attention and FFN outputs before the residual add */
    bool gelu_ffn;       /* GELU (tanh) gated FFN instead of SiLU */
    float embd_scale;    /* multiplies token embeddings (gemma: sqrt(n_embd)), 1 otherwise */
    float q_scale;       /* multiplies Q before attention (gemma), 1 otherwise */
    float kq_scale; /* multiplies scores in attention: 1/sqrt(head_dim), or 1 when Q is prescaled */
    float final_softcap; /* logits = c * tanh(logits / c), 0 = none */
    bool tied_output;    /* output matrix is token_embd */
} ql_model_config;

typedef struct {
    const float *data; /* f32, owned by the model */
    int64_t n;
} ql_vec;

typedef struct {
    ql_vec attn_norm, ffn_norm;
    ql_matrix wq, wk, wv, wo;
    ql_vec bq, bk, bv;                    /* qwen2 */
    ql_vec q_norm, k_norm;                /* qwen3, gemma3 */
    ql_vec post_attn_norm, post_ffn_norm; /* gemma3 */
    ql_matrix w_gate, w_up, w_down;
    bool is_swa;
    float rope_base, rope_freq_scale;
} ql_layer;

typedef struct {
    ql_model_config cfg;
    gguf_file *file;
    ql_matrix tok_embd;
    ql_matrix output;
    ql_vec output_norm;
    ql_vec rope_freqs; /* n = 0 when absent */
    ql_layer *layers;
    float *vectors;        /* storage behind every ql_vec */
    uint64_t weight_bytes; /* bytes of every tensor in the file */
} ql_model;

/* Comma-separated list of supported architectures, for messages. */
const char *ql_model_supported_archs(void);

/* Opens and validates a model; on failure *out is NULL and err says what is wrong. */
ql_status ql_model_load(const char *path, ql_model **out, ql_error *err);
/* Binds an already opened GGUF (the model takes ownership of f on success). */
ql_status ql_model_from_gguf(gguf_file *f, ql_model **out, ql_error *err);
void ql_model_free(ql_model *m);

/*
 * Fingerprint of the vocabulary (FNV-1a over every token's text): two models
 * whose fingerprints differ do not score the same token ids, so KL divergence
 * between them is meaningless. 0 when the file has no tokenizer.ggml.tokens.
 */
uint64_t ql_model_vocab_fingerprint(const gguf_file *f);

/* Whether evaluation puts BOS first, and its id, as llama.cpp decides from the GGUF keys. */
void ql_model_bos(const gguf_file *f, bool *add_bos, int32_t *bos_id);

/* Reads the config only (no weights bound): for planners and reports. */
ql_status ql_model_read_config(const gguf_file *f, ql_model_config *cfg, ql_error *err);

#endif
