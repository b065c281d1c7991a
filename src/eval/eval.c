/*
 * eval.c - chunking and scoring per llama-perplexity's protocol (eval.h).
 */
#include "eval.h"

#include "../kernels/vmath.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

ql_status ql_eval_check_tokens(int64_t n_tokens, int64_t n_ctx, ql_error *err) {
    if (n_ctx < 4)
        return ql_fail(err, QL_ERR_ARG, "context size %lld is too small (at least 4)",
                       (long long)n_ctx);
    if (n_tokens < 2 * n_ctx)
        return ql_fail(err, QL_ERR_ARG,
                       "the text has %lld tokens; at least %lld (2 x %lld) are needed to evaluate "
                       "with a context of %lld",
                       (long long)n_tokens, (long long)(2 * n_ctx), (long long)n_ctx,
                       (long long)n_ctx);
    return QL_OK;
}

typedef struct {
    const int32_t *chunk_tokens;
    int64_t chunk, n_ctx;
    int64_t max_rows; /* > 0: blocks are cut to at most this many rows */
    ql_scored_rows_fn rows_fn;
    void *user;
} logits_router;

static bool route_logits(void *user, const ql_logits_block *b) {
    logits_router *r = user;
    /* the last position has no next token to score */
    ql_logits_block scored = *b;
    if (scored.first_pos + scored.n_rows > r->n_ctx - 1)
        scored.n_rows = r->n_ctx - 1 - scored.first_pos;
    if (scored.n_rows <= 0) return true;
    if (r->max_rows <= 0 || scored.n_rows <= r->max_rows)
        return r->rows_fn(r->user, r->chunk, &scored, r->chunk_tokens + scored.first_pos + 1);
    /* another engine's blocks may be larger than the consumers' buffers, which are sized by the
       context's logits block */
    for (int64_t r0 = 0; r0 < scored.n_rows; r0 += r->max_rows) {
        ql_logits_block part = scored;
        part.first_pos = scored.first_pos + r0;
        part.n_rows = scored.n_rows - r0 < r->max_rows ? scored.n_rows - r0 : r->max_rows;
        part.logits = scored.logits + r0 * scored.n_vocab;
        if (scored.hidden) part.hidden = scored.hidden + r0 * scored.n_embd;
        if (!r->rows_fn(r->user, r->chunk, &part, r->chunk_tokens + part.first_pos + 1))
            return false;
    }
    return true;
}

ql_status ql_eval_chunk(ql_context *ctx, const int32_t *chunk_tokens, int64_t chunk,
                        const ql_eval_params *p, ql_scored_rows_fn rows_fn, void *user,
                        ql_error *err) {
    int32_t *buf = malloc((size_t)p->n_ctx * sizeof *buf);
    if (!buf) return ql_fail(err, QL_ERR_NOMEM, "out of memory");
    memcpy(buf, chunk_tokens, (size_t)p->n_ctx * sizeof *buf);
    if (p->replace_bos) buf[0] = p->bos_id;
    logits_router r = {
        .chunk_tokens = buf, .chunk = chunk, .n_ctx = p->n_ctx, .rows_fn = rows_fn, .user = user};
    if (p->engine && ctx) r.max_rows = ql_context_logits_block(ctx);
    ql_status st = p->engine
                       ? p->engine->eval_chunk(p->engine->self, buf, p->n_ctx, p->n_ctx / 2,
                                               route_logits, &r, err)
                       : ql_forward(ctx, buf, p->n_ctx, 0, p->n_ctx / 2, route_logits, &r, err);
    free(buf);
    /* positions count from the chunk's start: the chunk and the model complete the place */
    if (st && p->engine)
        ql_error_prefix(err, "%s: chunk %lld", p->engine->name, (long long)chunk + 1);
    else if (st)
        ql_error_prefix(err, "%s: chunk %lld", gguf_path(ql_context_model(ctx)->file),
                        (long long)chunk + 1);
    return st;
}

ql_status ql_eval_chunks(ql_context *ctx, const int32_t *tokens, int64_t n_tokens,
                         const ql_eval_params *p, ql_scored_rows_fn rows_fn,
                         ql_chunk_done_fn chunk_fn, void *user, ql_error *err) {
    ql_status st = ql_eval_check_tokens(n_tokens, p->n_ctx, err);
    if (st) return st;
    int64_t n_chunks = ql_eval_max_chunks(n_tokens, p->n_ctx);
    if (p->n_chunks > 0 && p->n_chunks < n_chunks) n_chunks = p->n_chunks;
    for (int64_t k = 0; k < n_chunks && !st; k++) {
        st = ql_eval_chunk(ctx, tokens + k * p->n_ctx, k, p, rows_fn, user, err);
        if (!st && chunk_fn && !chunk_fn(user, k, n_chunks))
            st = ql_fail(err, QL_ERR_INTERNAL, "evaluation stopped");
    }
    return st;
}

double ql_log_softmax_at(const float *logits, int64_t n_vocab, int32_t target) {
    int64_t imax;
    const float max = ql_row_max(logits, n_vocab, &imax);
    const double sum = ql_row_sum_exp(logits, n_vocab, max, NULL);
    return (double)(logits[target] - max) - log(sum);
}
