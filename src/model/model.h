/*
 * model.h - a GGUF model bound for inference: its hyperparameters, the
 * architecture's flags, and pointers to its weights inside the mapping.
 *
 * Architectures are data: llama, qwen2, qwen3 and gemma3 differ only in the
 * flags of ql_model_config, which one forward pass (context.c) reads. The
 * hybrid and MoE families (qwen35, qwen35moe, qwen3moe) add per-layer kinds:
 * each layer's mixer (full attention, sliding-window attention or a Gated
 * DeltaNet) and FFN (dense or mixture of experts); layers.h describes each
 * layer and the state it keeps. Weight matrices stay in the file's types,
 * memory-mapped; small vectors (norms, biases, conv kernels) are converted
 * to f32 at load.
 */
#ifndef QL_MODEL_MODEL_H
#define QL_MODEL_MODEL_H

#include <stdbool.h>
#include <stdint.h>

#include "../core/status.h"
#include "../gguf/gguf.h"
#include "../kernels/matmul.h"

#define QL_ARCH_NAME_MAX 32
#define QL_MAX_LAYERS    4096
#define QL_MAX_EXPERTS   512

/* What mixes tokens in a layer. */
typedef enum {
    QL_MIXER_ATTENTION = 0, /* softmax attention over every earlier position */
    QL_MIXER_SLIDING,       /* softmax attention over the last n_swa positions */
    QL_MIXER_DELTANET,      /* Gated DeltaNet: a short causal conv and a recurrent state */
} ql_mixer_kind;

/* A layer's feed-forward network. */
typedef enum {
    QL_FFN_DENSE = 0, /* one gated FFN */
    QL_FFN_MOE,       /* routed experts (top-k of a softmax), plus a gated shared expert */
} ql_ffn_kind;

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

    /* hybrids (qwen35, qwen35moe): bit l set iff layer l is a Gated DeltaNet layer */
    bool hybrid;
    uint64_t recurrent[QL_MAX_LAYERS / 64];
    bool attn_output_gate; /* attn_q also yields a sigmoid gate per head (after its query) */
    int rope_sections[4];  /* multi-section RoPE; text positions make it plain neox RoPE */
    /* Gated DeltaNet: conv taps, key/value head size, key heads, value heads, value width */
    int64_t ssm_d_conv, ssm_d_state, ssm_n_group, ssm_dt_rank, ssm_d_inner;

    /* mixture of experts (n_expert = 0: dense FFN) */
    int64_t n_expert, n_expert_used, n_ff_exp, n_ff_shexp;
} ql_model_config;

typedef struct {
    const float *data; /* f32, owned by the model */
    int64_t n;
} ql_vec;

/* One expert's matrices of a 3-D expert tensor [n_in, n_out, n_expert]: expert e at data + e *
 * stride. */
typedef struct {
    ql_matrix m; /* expert 0 */
    size_t stride;
    int64_t n_expert;
} ql_experts;

typedef struct {
    ql_mixer_kind mixer;
    ql_ffn_kind ffn;
    ql_vec attn_norm, ffn_norm; /* ffn_norm: the pre-FFN norm (qwen35's post_attention_norm) */
    ql_matrix wq, wk, wv, wo;   /* wq: queries, then gates where attn_output_gate */
    ql_vec bq, bk, bv;          /* qwen2 */
    ql_vec q_norm, k_norm;      /* qwen3, gemma3 */
    ql_vec post_attn_norm, post_ffn_norm; /* gemma3 */
    ql_matrix w_gate, w_up, w_down;
    bool is_swa;
    float rope_base, rope_freq_scale;

    /* Gated DeltaNet */
    ql_matrix ssm_qkv, ssm_z, ssm_alpha, ssm_beta, ssm_out;
    ql_vec ssm_conv;    /* [conv channels][d_conv] taps, the last for the current token */
    ql_vec ssm_dt_bias; /* [value heads] */
    ql_vec ssm_a;       /* [value heads], -exp(A_log) */
    ql_vec ssm_norm;    /* [value head size] */

    /* mixture of experts */
    ql_matrix router; /* n_embd -> n_expert logits */
    ql_experts gate_exps, up_exps, down_exps;
    ql_matrix shexp_gate_inp; /* n_embd -> 1 (the shared expert's sigmoid gate), or empty */
    ql_matrix shexp_gate, shexp_up, shexp_down;
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
