/*
 * context.h - an inference context: a model, a KV cache with its own K and V
 * element types, a thread pool and every buffer a forward pass needs, all
 * sized once at creation (nothing allocates per token).
 *
 * ql_forward runs a batch of tokens at consecutive positions through the
 * model, appending to the KV cache (and advancing the recurrent state of a
 * hybrid's DeltaNet layers), and hands the logits of the requested
 * rows to a callback in blocks of at most logits_block rows, so an
 * n_ctx x n_vocab array never exists.
 */
#ifndef QL_MODEL_CONTEXT_H
#define QL_MODEL_CONTEXT_H

#include <stdbool.h>
#include <stdint.h>

#include "../core/threadpool.h"
#include "../kernels/kernels.h"
#include "model.h"

typedef enum { QL_ROTATE_AUTO = 0, QL_ROTATE_ON, QL_ROTATE_OFF } ql_rotate_mode;

/* "auto", "on" or "off" (the --kv-rotate values); false for anything else. */
bool ql_rotate_mode_from_name(const char *name, ql_rotate_mode *mode);

/*
 * How a rotation is computed, i.e. which llama.cpp a quantized cache's
 * numbers match: FWHT is current llama.cpp on CPU (ggml's fast transform),
 * DENSE the matrix product it used before (the version of the golden data).
 * Each also decides when K and V rotate as that version does; see
 * ql_context_create.
 */
typedef enum { QL_HADAMARD_FWHT = 0, QL_HADAMARD_DENSE } ql_hadamard_mode;

/* "fwht" or "dense" (the --kv-hadamard values); false for anything else. */
bool ql_hadamard_mode_from_name(const char *name, ql_hadamard_mode *mode);
const char *ql_hadamard_mode_name(ql_hadamard_mode mode);

typedef struct {
    int64_t n_ctx;    /* positions the KV cache holds */
    int64_t n_ubatch; /* tokens per forward pass step (default 512) */
    int n_threads;    /* default: all CPUs */
    ql_type type_k, type_v;
    ql_rotate_mode rotate;
    ql_hadamard_mode hadamard;
    ql_numerics numerics; /* how f16 vector operations are computed (default: as this CPU) */
    bool no_repack;       /* follow llama.cpp's --no-repack (weights not repacked) */
    int64_t logits_block; /* rows of logits per callback (default 32) */
} ql_context_params;

ql_context_params ql_context_default_params(void);

/* The KV cache types qlens accepts, as a comma-separated list for messages. */
const char *ql_kv_cache_type_names(void);
/* True if t may be used for the K or V cache. */
bool ql_kv_cache_type_ok(ql_type t);

typedef struct ql_context ql_context;

ql_status ql_context_create(const ql_model *m, const ql_context_params *p, ql_context **out,
                            ql_error *err);
void ql_context_free(ql_context *c);

/* Whether Hadamard rotation is applied to K and to V in this context. */
bool ql_context_rotates_k(const ql_context *c);
bool ql_context_rotates_v(const ql_context *c);
/* Bytes held by the KV cache (attention layers only). */
uint64_t ql_context_kv_bytes(const ql_context *c);
/* Bytes of fixed recurrent state (DeltaNet layers' conv windows and delta-rule states). */
uint64_t ql_context_recurrent_bytes(const ql_context *c);

/* Which of llama.cpp's CPU paths and arithmetic this context follows. */
const ql_kernel_profile *ql_context_profile(const ql_context *c);
/* Tokens per forward step (the micro-batch), which decides some products' order. */
int64_t ql_context_ubatch(const ql_context *c);

/*
 * A block of output rows: rows r < n_rows belong to the tokens at positions
 * first_pos + r. logits holds n_rows x n_vocab floats; hidden holds the
 * same rows' final normalised hidden states (the output matrix's input),
 * n_rows x n_embd floats. Both are valid only during the callback.
 */
typedef struct {
    int64_t first_pos, n_rows, n_vocab, n_embd;
    const float *logits;
    const float *hidden;
} ql_logits_block;

/* Return false to abort the forward pass. */
typedef bool (*ql_logits_fn)(void *user, const ql_logits_block *b);

/* Most rows a logits block handed to a ql_logits_fn can have. */
int64_t ql_context_logits_block(const ql_context *c);
const ql_model *ql_context_model(const ql_context *c);

/* The context's thread pool, for consumers that compute on logits blocks. */
ql_pool *ql_context_pool(ql_context *c);

/*
 * Evaluates tokens[0..n) at positions pos0..pos0+n-1 (the cache must hold
 * positions < pos0 from earlier calls; pos0 = 0 starts a new sequence, and
 * clears a hybrid's recurrent state, which only continues from the end of
 * the previous call).
 * Logits are produced for positions >= logits_from (none if logits_from >=
 * pos0 + n) and passed to cb. Tokens outside the vocabulary are an error.
 */
ql_status ql_forward(ql_context *c, const int32_t *tokens, int64_t n, int64_t pos0,
                     int64_t logits_from, ql_logits_fn cb, void *user, ql_error *err);

#endif
