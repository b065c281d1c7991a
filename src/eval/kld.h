/*
 * kld.h - KL divergence of a model under test (Q) from a reference (base),
 * token by token, and llama-perplexity's summary statistics over them.
 *
 * Per scored token we keep: NLL under Q and under the base, KLD(base || Q),
 * Δp = p_Q(target) - p_base(target), and whether both put their maximum on
 * the same token. The base comes either as exact logits (our reference
 * store and lockstep mode) or as a row of llama.cpp's uint16 log-probability
 * format, scored with llama.cpp's own rules (its 16-nat cut-off included),
 * so numbers from its files mean what they mean there.
 */
#ifndef QL_EVAL_KLD_H
#define QL_EVAL_KLD_H

#include <stdbool.h>
#include <stdint.h>

#include "../core/status.h"

typedef struct {
    double nll, nll_base, kld;
    float p_diff;
    bool same_top;
} ql_kld_token;

/*
 * Exact: both distributions from f32 logits; sums in double over the whole
 * vocabulary. scratch holds n_vocab floats.
 */
void ql_kld_token_exact(const float *logits_q, const float *logits_base, int64_t n_vocab,
                        int32_t target, float *scratch, ql_kld_token *out);

/*
 * llama.cpp's stored row: nv = 2*((n_vocab+1)/2) + 4 uint16 values; the
 * first four hold two f32 (scale, min_log_prob), then n_vocab codes q with
 * log p = scale * q + min_log_prob. Entries with log p <= -16 are ignored.
 */
void ql_kld_token_llama(const float *logits_q, const uint16_t *base_row, int64_t n_vocab,
                        int32_t target, ql_kld_token *out);

/* Encodes base logits into llama.cpp's row format (exactly as llama-perplexity writes it). */
void ql_kld_encode_llama_row(const float *logits, int64_t n_vocab, uint16_t *row);
static inline int64_t ql_kld_llama_row_len(int64_t n_vocab) {
    return 2 * ((n_vocab + 1) / 2) + 4;
}

/* Running sums, as llama-perplexity keeps them, plus every token's values. */
typedef struct {
    double sum_nll, sum_nll2, sum_nll_base, sum_nll_base2, sum_nll_nll_base;
    double sum_kld, sum_kld2, sum_p_diff, sum_p_diff2, sum_p_diff4;
    float max_p_diff;
    int64_t n_same_top, count;
    ql_kld_token *tokens; /* count entries, in evaluation order */
    int32_t *positions;   /* context position of each token */
    int64_t cap;
} ql_kld_acc;

ql_status ql_kld_acc_init(ql_kld_acc *a, int64_t expected_tokens, ql_error *err);
void ql_kld_acc_free(ql_kld_acc *a);
ql_status ql_kld_acc_add(ql_kld_acc *a, const ql_kld_token *t, int32_t position, ql_error *err);

typedef struct {
    double value, unc;
} ql_val_unc;

/* One line of llama-perplexity's per-chunk table (cumulative up to that chunk). */
typedef struct {
    ql_val_unc ppl, ln_ratio, kld, rms_dp, same_top; /* rms_dp and same_top as fractions */
} ql_kld_chunk_row;

typedef struct {
    int64_t count;
    ql_val_unc ppl_q, ppl_base;
    double cor_ln_ppl; /* correlation of ln PPL(Q) and ln PPL(base), fraction */
    ql_val_unc ln_ratio, ratio, diff;
    ql_val_unc kld;
    /* max, 99.9, 99, 95, 90 percentiles, median, 10, 5, 1, 0.1 percentiles, min */
    double kld_pct[11];
    ql_val_unc dp; /* mean Δp (fraction) */
    /* max, 99.9, 99, 95, 90, 75, median, 25, 10, 5, 1, 0.1, min */
    double dp_pct[13];
    ql_val_unc rms_dp, same_top;
} ql_kld_stats;

extern const char *const ql_kld_pct_names[11];
extern const char *const ql_dp_pct_names[13];

void ql_kld_chunk_row_from(const ql_kld_acc *a, ql_kld_chunk_row *row);
/* Needs at least 2 tokens; percentiles as llama.cpp interpolates them. */
ql_status ql_kld_stats_from(const ql_kld_acc *a, ql_kld_stats *s, ql_error *err);

/* Mean KLD ± of tokens whose position falls in each of n_buckets equal parts of [first, last]. */
typedef struct {
    int32_t pos_begin, pos_end; /* inclusive range of positions */
    int64_t count;
    ql_val_unc kld;
} ql_kld_bucket;

ql_status ql_kld_buckets(const ql_kld_acc *a, int32_t first_pos, int32_t last_pos, int n_buckets,
                         ql_kld_bucket *out, ql_error *err);

/* mean and standard error as llama-perplexity computes them (0 error below 11 samples) */
ql_val_unc ql_mean_unc(double sum, double sum2, int64_t count);

#endif
