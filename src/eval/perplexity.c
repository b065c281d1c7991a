/*
 * perplexity.c - accumulates NLL over scored tokens (eval.c does the
 * chunking) with llama-perplexity's sums in double.
 */
#include "perplexity.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    ql_ppl_result *r;
    double nll, nll2;
    int64_t count;
    ql_ppl_progress_fn progress;
    void *user;
    ql_scored_rows_fn tap;
    void *tap_user;
    ql_error own_err; /* why score_rows stopped the evaluation */
    bool failed;
} ppl_acc;

static bool score_rows(void *user, int64_t chunk, const ql_logits_block *b,
                       const int32_t *targets) {
    ppl_acc *a = user;
    for (int64_t r = 0; r < b->n_rows; r++) {
        const double lp = ql_log_softmax_at(b->logits + r * b->n_vocab, b->n_vocab, targets[r]);
        /* finite logits can still be too far apart for a float difference */
        if (!isfinite(lp)) {
            ql_fail(&a->own_err, QL_ERR_FORMAT,
                    "chunk %lld: token position %lld: the probability of the next token is %s "
                    "(logits too far apart)",
                    (long long)chunk + 1, (long long)(b->first_pos + r), lp > 0 ? "inf" : "0");
            a->failed = true;
            return false;
        }
        a->nll += -lp;
        a->nll2 += lp * lp;
        a->r->nll[a->count++] = (float)-lp;
    }
    return a->tap ? a->tap(a->tap_user, chunk, b, targets) : true;
}

static bool chunk_done(void *user, int64_t chunk, int64_t n_chunks) {
    ppl_acc *a = user;
    const double n = (double)a->count, mean = a->nll / n, ppl = exp(mean);
    a->r->chunk_ppl[chunk] = ppl;
    a->r->n_chunks = chunk + 1;
    if (!a->progress) return true;
    double spread = a->nll2 / n - mean * mean;
    if (spread > 0) spread = sqrt(spread / (n - 1));
    const ql_ppl_running running = {.chunk = chunk,
                                    .n_chunks = n_chunks,
                                    .n_scored = a->count,
                                    .ppl = ppl,
                                    .mean_nll = mean,
                                    .nll_spread = spread};
    return a->progress(a->user, &running);
}

ql_status ql_perplexity(ql_context *ctx, const int32_t *tokens, int64_t n_tokens,
                        const ql_eval_params *p, ql_ppl_progress_fn progress, void *user,
                        ql_scored_rows_fn tap, void *tap_user, ql_ppl_result *out, ql_error *err) {
    memset(out, 0, sizeof *out);
    ql_status st = ql_eval_check_tokens(n_tokens, p->n_ctx, err);
    if (st) return st;
    int64_t n_chunks = ql_eval_max_chunks(n_tokens, p->n_ctx);
    if (p->n_chunks > 0 && p->n_chunks < n_chunks) n_chunks = p->n_chunks;
    const int64_t per_chunk = ql_eval_scored_per_chunk(p->n_ctx);
    out->n_ctx = p->n_ctx;
    out->chunk_ppl = calloc((size_t)n_chunks, sizeof *out->chunk_ppl);
    out->nll = malloc((size_t)(n_chunks * per_chunk) * sizeof *out->nll);
    if (!out->chunk_ppl || !out->nll) {
        ql_ppl_result_free(out);
        return ql_fail(err, QL_ERR_NOMEM, "out of memory");
    }
    ppl_acc a = {.r = out, .progress = progress, .user = user, .tap = tap, .tap_user = tap_user};
    ql_eval_params ep = *p;
    ep.n_chunks = n_chunks;
    st = ql_eval_chunks(ctx, tokens, n_tokens, &ep, score_rows, chunk_done, &a, err);
    if (st && a.failed && err) *err = a.own_err;
    if (st) {
        ql_ppl_result_free(out);
        return st;
    }
    out->n_scored = a.count;
    const double mean = a.nll / (double)a.count;
    double var = a.nll2 / (double)a.count - mean * mean;
    out->mean_nll = mean;
    out->ppl = exp(mean);
    out->nll_unc = var > 0 && a.count > 1 ? sqrt(var / (double)(a.count - 1)) : 0.0;
    out->ppl_unc = out->nll_unc * out->ppl;
    return QL_OK;
}

void ql_ppl_result_free(ql_ppl_result *r) {
    free(r->chunk_ppl);
    free(r->nll);
    memset(r, 0, sizeof *r);
}
