/*
 * perplexity.h - perplexity with llama-perplexity's statistics: the running
 * value after each chunk is exp(mean NLL so far); the final estimate is
 * exp(mean NLL) +/- PPL * sqrt(var(NLL) / (N - 1)).
 */
#ifndef QL_EVAL_PERPLEXITY_H
#define QL_EVAL_PERPLEXITY_H

#include <stdint.h>

#include "eval.h"

typedef struct {
    int64_t n_chunks, n_ctx, n_scored;
    double *chunk_ppl; /* running PPL after chunk i (n_chunks) */
    float *nll;        /* per scored token, in order (n_scored) */
    double ppl, ppl_unc;
    double mean_nll, nll_unc; /* mean NLL and its standard error */
} ql_ppl_result;

/* The running values after a chunk, as llama-perplexity prints them. */
typedef struct {
    int64_t chunk, n_chunks; /* chunk is 0-based */
    int64_t n_scored;        /* tokens scored so far */
    double ppl;              /* exp(mean NLL) so far */
    double mean_nll;
    /* llama-perplexity's fourth column with --ppl-output-type 1: sqrt(var(NLL) / (N - 1)) when
       the variance is positive, else the variance itself */
    double nll_spread;
} ql_ppl_running;

/* Called after each chunk; returning false stops the evaluation ("evaluation stopped"). */
typedef bool (*ql_ppl_progress_fn)(void *user, const ql_ppl_running *running);

/*
 * tap, if not NULL, sees every scored block too (after it is scored): how a
 * reference file is written during a perplexity run.
 */
ql_status ql_perplexity(ql_context *ctx, const int32_t *tokens, int64_t n_tokens,
                        const ql_eval_params *p, ql_ppl_progress_fn progress, void *user,
                        ql_scored_rows_fn tap, void *tap_user, ql_ppl_result *out, ql_error *err);
void ql_ppl_result_free(ql_ppl_result *r);

#endif
