/*
 * qlens.h - public API of libqlens.
 *
 * qlens measures how much quality an LLM loses to quantization of its
 * weights and of its KV cache: perplexity and KL divergence against a
 * reference (llama-perplexity's protocol and statistics), weight
 * requantization with llama-quantize's rules, and memory planning. This
 * header is the stable surface over the same code the `qlens` command runs.
 *
 * Conventions: functions return qlens_status (QLENS_OK == 0) and, when given
 * a qlens_error, fill it with one human-readable line; handles are opaque and
 * come in open/close pairs; nothing here prints or exits. Memory returned to
 * the caller is released with qlens_free.
 *
 * Link with: pkg-config --cflags --libs qlens   (-lqlens -lm -pthread)
 */
#ifndef QLENS_H
#define QLENS_H

#include <stddef.h>
#include <stdint.h>

#define QLENS_VERSION_MAJOR  0
#define QLENS_VERSION_MINOR  1
#define QLENS_VERSION_PATCH  0
#define QLENS_VERSION_STRING "0.1.0"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum {
    QLENS_OK = 0,
    QLENS_ERR_IO,          /* a file could not be opened, read or written */
    QLENS_ERR_FORMAT,      /* a file's contents are malformed */
    QLENS_ERR_ARG,         /* an argument is invalid */
    QLENS_ERR_NOMEM,       /* out of memory */
    QLENS_ERR_UNSUPPORTED, /* well-formed input qlens cannot handle */
    QLENS_ERR_MISMATCH,    /* two inputs that must agree do not */
    QLENS_ERR_INTERNAL,
} qlens_status;

typedef struct {
    qlens_status code;
    char msg[1024];
} qlens_error;

const char *qlens_version(void);
void qlens_free(void *p);

/* ---- models ---- */

typedef struct qlens_model qlens_model;

typedef struct {
    char arch[32];
    int64_t n_vocab, n_embd, n_layer, n_head, n_head_kv, head_dim, n_ctx_train;
    uint64_t weight_bytes; /* bytes of every tensor in the file */
} qlens_model_info;

qlens_status qlens_model_open(const char *path, qlens_model **out, qlens_error *err);
void qlens_model_close(qlens_model *m);
void qlens_model_get_info(const qlens_model *m, qlens_model_info *info);

/* Tokenizes as llama-perplexity does (add_special: BOS when the vocabulary adds it). */
qlens_status qlens_tokenize(qlens_model *m, const char *text, size_t len, int add_special,
                            int32_t **ids, size_t *n_ids, qlens_error *err);

/* ---- evaluation ---- */

typedef struct {
    int64_t n_ctx;                           /* tokens per chunk (default 512) */
    int64_t n_chunks;                        /* 0: as many as the tokens give */
    int64_t n_ubatch;                        /* tokens per forward step (default 512) */
    int n_threads;                           /* 0: all CPUs */
    const char *cache_type_k, *cache_type_v; /* "f16", "q8_0", ... (default "f16") */
    const char *kv_rotate;                   /* "auto" (default), "on", "off" */
    /* how a rotation is computed: "fwht" (default; current llama.cpp on CPU) or "dense"
       (llama.cpp before May 2026) */
    const char *kv_hadamard;
} qlens_eval_params;

void qlens_eval_params_default(qlens_eval_params *p);

typedef struct {
    double ppl, ppl_unc;
    int64_t n_chunks, n_scored;
} qlens_ppl;

/*
 * Perplexity of tokens (from qlens_tokenize) with llama-perplexity's
 * protocol. If save_reference is not NULL, the model's predictions are also
 * written there (qlens's exact reference format) for later KL divergence.
 */
qlens_status qlens_perplexity(qlens_model *m, const qlens_eval_params *p, const int32_t *tokens,
                              size_t n_tokens, const char *save_reference, qlens_ppl *out,
                              qlens_error *err);

typedef struct {
    double kld, kld_unc; /* mean KL divergence per scored token */
    double ppl_q, ppl_base;
    double ln_ratio, ln_ratio_unc; /* mean ln(PPL(Q)/PPL(base)) */
    double same_top, same_top_unc; /* fraction of tokens with the same most likely token */
    double rms_dp;                 /* RMS of p_Q(target) - p_base(target) */
    int64_t n_scored;
} qlens_kld;

/* KL divergence of m against a reference file (qlens's or llama.cpp's format). */
qlens_status qlens_kld_against_file(qlens_model *m, const qlens_eval_params *p,
                                    const char *reference, qlens_kld *out, qlens_error *err);

/* ---- weights and memory ---- */

/* Requantizes in to out as llama-quantize would for file_type ("Q4_K_M", "Q8_0", ...). */
qlens_status qlens_quantize(const char *in, const char *out, const char *file_type, int n_threads,
                            int allow_requantize, qlens_error *err);

/* KV cache bytes of the model at a context length with the given cache types (0 if invalid). */
uint64_t qlens_kv_cache_bytes(const qlens_model *m, const char *cache_type_k,
                              const char *cache_type_v, int64_t n_ctx);

#ifdef __cplusplus
}
#endif

#endif
