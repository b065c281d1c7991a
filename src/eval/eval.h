/*
 * eval.h - llama-perplexity's evaluation protocol, shared by perplexity and
 * KL divergence: the token sequence is cut into chunks of n_ctx tokens; a
 * chunk's first token is replaced by BOS when the vocabulary adds BOS; each
 * chunk is evaluated from an empty cache; the logits at positions
 * n_ctx/2 .. n_ctx-2 are scored against the next token (n_ctx - 1 - n_ctx/2
 * tokens per chunk).
 *
 * Scored rows reach the caller in order, in the forward pass's blocks of
 * logits (ql_scored_rows_fn), never all at once.
 */
#ifndef QL_EVAL_EVAL_H
#define QL_EVAL_EVAL_H

#include <stdbool.h>
#include <stdint.h>

#include "../model/context.h"

/*
 * The engine seam: an engine other than qlens's own (llama.cpp, see
 * engine/llama_engine.h) evaluates a chunk's tokens from an empty cache at
 * positions 0..n-1 and hands fn the logits of positions first_out..n-1, in
 * order and in blocks, as ql_forward does. Everything after that (scoring,
 * references, statistics) is the same code for every engine.
 */
typedef ql_status (*ql_engine_chunk_fn)(void *self, const int32_t *tokens, int64_t n,
                                        int64_t first_out, ql_logits_fn fn, void *user,
                                        ql_error *err);
typedef struct {
    const char *name; /* "llama.cpp" */
    void *self;
    ql_engine_chunk_fn eval_chunk;
} ql_eval_engine;

typedef struct {
    int64_t n_ctx;    /* tokens per chunk */
    int64_t n_chunks; /* chunks to evaluate; 0 = as many as the tokens hold */
    bool replace_bos; /* overwrite each chunk's first token with bos_id */
    int32_t bos_id;
    const ql_eval_engine *engine; /* NULL: the ql_context passed with these parameters */
} ql_eval_params;

/* Scored tokens per chunk. */
static inline int64_t ql_eval_scored_per_chunk(int64_t n_ctx) {
    return n_ctx - 1 - n_ctx / 2;
}

/* Chunks that n_tokens tokens provide at n_ctx (llama-perplexity needs at least 2). */
static inline int64_t ql_eval_max_chunks(int64_t n_tokens, int64_t n_ctx) {
    return n_ctx > 0 ? n_tokens / n_ctx : 0;
}

/*
 * A block of scored rows of chunk `chunk`: row r is the prediction at position
 * block->first_pos + r, to be scored against targets[r]. Only positions that
 * are scored (n_ctx/2 .. n_ctx-2) are ever passed.
 */
typedef bool (*ql_scored_rows_fn)(void *user, int64_t chunk, const ql_logits_block *block,
                                  const int32_t *targets);

/* Called after each chunk; return false to stop early. */
typedef bool (*ql_chunk_done_fn)(void *user, int64_t chunk, int64_t n_chunks);

/* Checks n_tokens against n_ctx (llama-perplexity's rule: at least 2 * n_ctx tokens). */
ql_status ql_eval_check_tokens(int64_t n_tokens, int64_t n_ctx, ql_error *err);

/*
 * Evaluates one chunk: chunk_tokens holds p->n_ctx tokens as they appear in
 * the text (the BOS replacement is applied here); scored rows go to rows_fn.
 * With p->engine set, that engine evaluates the chunk; ctx, if not NULL, then
 * only bounds the rows per block (ql_context_logits_block), which is what
 * the consumers of blocks size their buffers by.
 */
ql_status ql_eval_chunk(ql_context *ctx, const int32_t *chunk_tokens, int64_t chunk,
                        const ql_eval_params *p, ql_scored_rows_fn rows_fn, void *user,
                        ql_error *err);

ql_status ql_eval_chunks(ql_context *ctx, const int32_t *tokens, int64_t n_tokens,
                         const ql_eval_params *p, ql_scored_rows_fn rows_fn,
                         ql_chunk_done_fn chunk_fn, void *user, ql_error *err);

/* log p(target) under softmax(logits): max in float, sum of exp in double (as llama.cpp). */
double ql_log_softmax_at(const float *logits, int64_t n_vocab, int32_t target);

#endif
