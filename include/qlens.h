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
 * the caller is released with qlens_free. A NULL pointer where an argument
 * is required is refused before any work with QLENS_ERR_ARG; the arguments
 * that may be NULL say so (the qlens_error may always be NULL).
 *
 * Link with: pkg-config --cflags --libs qlens   (-lqlens -lm -pthread)
 * The shared library exports the qlens_ functions and nothing else.
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

/* libqlens.so is built with hidden visibility: these are its only exports */
#if defined(__GNUC__)
#define QLENS_API __attribute__((visibility("default")))
#else
#define QLENS_API
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
    QLENS_ERR_CANCELLED, /* the progress callback asked to stop */
} qlens_status;

typedef struct {
    qlens_status code;
    char msg[1024];
} qlens_error;

QLENS_API const char *qlens_version(void);
QLENS_API void qlens_free(void *p);

/* ---- models ---- */

typedef struct qlens_model qlens_model;

typedef struct {
    char arch[32];
    int64_t n_vocab, n_embd, n_layer, n_head, n_head_kv, head_dim, n_ctx_train;
    uint64_t weight_bytes; /* bytes of every tensor in the file */
} qlens_model_info;

/* Opens a GGUF model and its tokenizer. out is required; *out is NULL on failure. */
QLENS_API qlens_status qlens_model_open(const char *path, qlens_model **out, qlens_error *err);
QLENS_API void qlens_model_close(qlens_model *m); /* NULL: nothing */
/* Fills info (nothing happens when m or info is NULL). */
QLENS_API void qlens_model_get_info(const qlens_model *m, qlens_model_info *info);

/*
 * Tokenizes as llama-perplexity does (add_special: BOS when the vocabulary
 * adds it). text may be NULL only when len is 0; *ids is released with
 * qlens_free.
 */
QLENS_API qlens_status qlens_tokenize(qlens_model *m, const char *text, size_t len, int add_special,
                                      int32_t **ids, size_t *n_ids, qlens_error *err);

/* ---- evaluation ---- */

/*
 * Called after each evaluated chunk (chunks_done of n_chunks); return
 * nonzero to stop: the call then returns QLENS_ERR_CANCELLED.
 */
typedef int (*qlens_progress_fn)(void *user, int64_t chunks_done, int64_t n_chunks);

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
    qlens_progress_fn progress; /* NULL: none */
    void *progress_user;
} qlens_eval_params;

/* Wherever a function takes a qlens_eval_params, NULL means these defaults. */
QLENS_API void qlens_eval_params_default(qlens_eval_params *p);

typedef struct {
    double ppl, ppl_unc;
    int64_t n_chunks, n_scored;
} qlens_ppl;

/*
 * Perplexity of tokens (from qlens_tokenize) with llama-perplexity's
 * protocol. If save_reference is not NULL, the model's predictions are also
 * written there (qlens's exact reference format) for later KL divergence.
 * out may be NULL when only the reference is wanted.
 */
QLENS_API qlens_status qlens_perplexity(qlens_model *m, const qlens_eval_params *p,
                                        const int32_t *tokens, size_t n_tokens,
                                        const char *save_reference, qlens_ppl *out,
                                        qlens_error *err);

/* llama-perplexity's KL-divergence statistics. */
typedef struct {
    double kld, kld_unc; /* mean KL divergence per scored token */
    double ppl_q, ppl_base;
    double ln_ratio, ln_ratio_unc; /* mean ln(PPL(Q)/PPL(base)) */
    double same_top, same_top_unc; /* fraction of tokens with the same most likely token */
    double rms_dp;                 /* RMS of p_Q(target) - p_base(target) */
    int64_t n_scored;
    double ppl_q_unc, ppl_base_unc;
    double ppl_ratio, ppl_ratio_unc; /* PPL(Q)/PPL(base) */
    /* percentiles of the per-token KLD, interpolated as llama-perplexity does */
    double kld_max, kld_p999, kld_p99, kld_p95, kld_p90, kld_median, kld_p10, kld_p05, kld_p01,
        kld_p001, kld_min;
} qlens_kld;

/* KL divergence of m against a reference file (qlens's or llama.cpp's format). out is required. */
QLENS_API qlens_status qlens_kld_against_file(qlens_model *m, const qlens_eval_params *p,
                                              const char *reference, qlens_kld *out,
                                              qlens_error *err);

/*
 * KL divergence with the reference model run in lockstep on the same tokens:
 * no reference file, the same numbers. n_ctx, n_chunks, n_ubatch, threads and
 * progress come from p; ref_p gives the reference's cache types and rotation
 * (NULL: f16, auto). out is required.
 */
QLENS_API qlens_status qlens_kld_lockstep(qlens_model *ref, const qlens_eval_params *ref_p,
                                          qlens_model *m, const qlens_eval_params *p,
                                          const int32_t *tokens, size_t n_tokens, qlens_kld *out,
                                          qlens_error *err);

/*
 * llama.cpp as the engine (see README, "The llama.cpp engine"): libllama of
 * llama-cpp-python 0.3.36, loaded at run time. NULL options: the defaults
 * (all zero: the library found as the CLI finds it, every layer on the best
 * device, weights repacked, mapped, flash attention auto).
 */
typedef struct {
    const char *lib_path; /* NULL: $QLENS_LLAMA_LIB, then the pip-installed copy */
    int n_gpu_layers;     /* 0 here means llama.cpp's default (all); -2: none */
    int no_repack;        /* nonzero: llama.cpp's --no-repack */
    int no_mmap;          /* nonzero: read the file instead of mapping it */
    int flash_attn;       /* 0 auto, 1 on, -1 off */
    int64_t n_batch;      /* logical batch (0: 2048, llama-perplexity's default) */
} qlens_llama_options;

/*
 * qlens_perplexity evaluated by llama.cpp: the same chunks, scoring and
 * statistics; p's cache types, threads, micro-batch and kv_rotate ("auto" or
 * "off") go to llama.cpp. tokens are qlens_tokenize's (llama.cpp's tokenizer
 * gives the same on the models qlens is tested with).
 */
QLENS_API qlens_status qlens_perplexity_llama(qlens_model *m, const qlens_eval_params *p,
                                              const qlens_llama_options *llama,
                                              const int32_t *tokens, size_t n_tokens,
                                              qlens_ppl *out, qlens_error *err);

/* ---- weights and memory ---- */

/* Requantizes in to out as llama-quantize would for file_type ("Q4_K_M", "Q8_0", ...). */
QLENS_API qlens_status qlens_quantize(const char *in, const char *out, const char *file_type,
                                      int n_threads, int allow_requantize, qlens_error *err);

/* KV cache bytes of the model at a context length with the given cache types (0 if invalid). */
QLENS_API uint64_t qlens_kv_cache_bytes(const qlens_model *m, const char *cache_type_k,
                                        const char *cache_type_v, int64_t n_ctx);

/* What `qlens plan` adds up for one configuration at a context. */
typedef struct {
    uint64_t weight_bytes;    /* the model file's tensor data */
    uint64_t kv_bytes;        /* the KV cache at the context (attention layers; sliding windows
                                 as the rings llama.cpp keeps) */
    uint64_t work_bytes;      /* working buffers of one micro-batch: logits and activations */
    uint64_t total_bytes;     /* all of them together */
    int64_t n_ctx_train;      /* the model's trained context */
    uint64_t recurrent_bytes; /* a hybrid's fixed recurrent state (DeltaNet layers), else 0 */
} qlens_memory;

/* Memory at n_ctx with the given cache types; n_ubatch 0 means 512. out is required. */
QLENS_API qlens_status qlens_plan_memory(const qlens_model *m, const char *cache_type_k,
                                         const char *cache_type_v, int64_t n_ctx, int64_t n_ubatch,
                                         qlens_memory *out, qlens_error *err);

/*
 * The longest context whose total fits budget_bytes, never past the trained
 * context (0 if not even one token fits); n_ubatch 0 means 512. max_ctx is
 * required; within_trained, if not NULL, is set to 1 when the trained
 * context rather than the budget is the limit.
 */
QLENS_API qlens_status qlens_plan_max_ctx(const qlens_model *m, const char *cache_type_k,
                                          const char *cache_type_v, uint64_t budget_bytes,
                                          int64_t n_ubatch, int64_t *max_ctx, int *within_trained,
                                          qlens_error *err);

#ifdef __cplusplus
}
#endif

#endif
