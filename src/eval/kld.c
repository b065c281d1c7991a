/*
 * kld.c - per-token KL divergence and llama-perplexity's statistics.
 *
 * The statistics reproduce llama.cpp's definitions (mean_and_uncertainty,
 * covariance, percentile interpolation, Δp and RMS Δp, same-top) so the
 * summary means the same thing in both tools; only the per-token numbers
 * differ when the base comes from our exact store instead of its uint16
 * approximation.
 */
#include "kld.h"

#include "../kernels/vmath.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

const char *const ql_kld_pct_names[11] = {"Maximum", "99.9%", "99.0%", "95.0%", "90.0%",  "Median",
                                          "10.0%",   "5.0%",  "1.0%",  "0.1%",  "Minimum"};
const char *const ql_dp_pct_names[13] = {"Maximum", "99.9%",  "99.0%",  "95.0%", "90.0%",
                                         "75.0%",   "Median", "25.0%",  "10.0%", "5.0%",
                                         "1.0%",    "0.1%",   "Minimum"};

void ql_kld_token_exact(const float *q, const float *b, int64_t n_vocab, int32_t target,
                        float *scratch, ql_kld_token *out) {
    int64_t iq, ib;
    const float max_q = ql_row_max(q, n_vocab, &iq);
    const float max_b = ql_row_max(b, n_vocab, &ib);
    const double sum_b = ql_row_sum_exp(b, n_vocab, max_b, scratch);
    const double sum_q = ql_row_sum_exp(q, n_vocab, max_q, NULL);
    const double lse_q = (double)max_q + log(sum_q);
    const double lse_b = (double)max_b + log(sum_b);
    /* KLD = sum p_b (lb - lq), lb - lq = (b - q) + (lse_q - lse_b), p_b = e_b / sum_b */
    out->kld = ql_row_weighted_diff(scratch, b, q, lse_q - lse_b, n_vocab) / sum_b;
    out->nll = lse_q - (double)q[target];
    out->nll_base = lse_b - (double)b[target];
    out->p_diff = (float)(exp(-out->nll) - exp(-out->nll_base));
    out->same_top = iq == ib;
}

void ql_kld_token_llama(const float *logits, const uint16_t *row, int64_t n_vocab, int32_t target,
                        ql_kld_token *out) {
    /* mirrors llama-perplexity's arithmetic, float where it uses float */
    int64_t imax;
    float max_logit = ql_row_max(logits, n_vocab, &imax);
    double sum_exp = 0.0;
    for (int64_t i = 0; i < n_vocab; i++) sum_exp += expf(logits[i] - max_logit);
    const float log_sum_exp = (float)log(sum_exp);
    float scale, min_log_prob;
    memcpy(&scale, row, sizeof scale);
    memcpy(&min_log_prob, row + 2, sizeof min_log_prob);
    const uint16_t *codes = row + 4;
    const float nll = max_logit + log_sum_exp - logits[target];
    const float nll_base = -(scale * codes[target] + min_log_prob);
    max_logit += log_sum_exp;
    double sum = 0.0;
    int64_t imax_base = -1;
    float p_log_base_max = 0.0f;
    for (int64_t i = 0; i < n_vocab; i++) {
        const float p_log_base = scale * codes[i] + min_log_prob;
        if (i == 0 || p_log_base > p_log_base_max) {
            p_log_base_max = p_log_base;
            imax_base = i;
        }
        if (p_log_base > -16.0f) {
            const float p_base = expf(p_log_base);
            sum += p_base * (p_log_base - logits[i] + max_logit);
        }
    }
    out->kld = sum;
    out->nll = nll;
    out->nll_base = nll_base;
    out->p_diff = expf(-nll) - expf(-nll_base);
    out->same_top = imax == imax_base;
}

static int nearest_int_llama(float x) {
    float v = x + 12582912.0f;
    int32_t i;
    memcpy(&i, &v, sizeof i);
    return (i & 0x007fffff) - 0x00400000;
}

void ql_kld_encode_llama_row(const float *logits, int64_t n_vocab, uint16_t *row) {
    float max_logit = logits[0], min_logit = logits[0];
    for (int64_t i = 1; i < n_vocab; i++) {
        if (logits[i] > max_logit) max_logit = logits[i];
        if (logits[i] < min_logit) min_logit = logits[i];
    }
    if (min_logit < max_logit - 16) min_logit = max_logit - 16;
    double sum_exp = 0.0;
    for (int64_t i = 0; i < n_vocab; i++) sum_exp += expf(logits[i] - max_logit);
    const float log_sum_exp = (float)log(sum_exp);
    const float min_log_prob = min_logit - max_logit - log_sum_exp;
    const float scale = (max_logit - min_logit) / 65535.0f;
    memcpy(row, &scale, sizeof scale);
    memcpy(row + 2, &min_log_prob, sizeof min_log_prob);
    uint16_t *codes = row + 4;
    const int64_t nv = ql_kld_llama_row_len(n_vocab);
    memset(codes, 0, (size_t)(nv - 4) * sizeof *codes);
    if (scale != 0.0f) {
        const float inv_scale = 1.0f / scale;
        for (int64_t i = 0; i < n_vocab; i++)
            codes[i] = logits[i] > min_logit
                           ? (uint16_t)nearest_int_llama(inv_scale * (logits[i] - min_logit))
                           : 0;
    }
}

ql_status ql_kld_acc_init(ql_kld_acc *a, int64_t expected_tokens, ql_error *err) {
    memset(a, 0, sizeof *a);
    a->cap = expected_tokens > 16 ? expected_tokens : 16;
    a->tokens = malloc((size_t)a->cap * sizeof *a->tokens);
    a->positions = malloc((size_t)a->cap * sizeof *a->positions);
    if (!a->tokens || !a->positions) {
        ql_kld_acc_free(a);
        return ql_fail(err, QL_ERR_NOMEM, "out of memory for %lld token statistics",
                       (long long)expected_tokens);
    }
    return QL_OK;
}

void ql_kld_acc_free(ql_kld_acc *a) {
    free(a->tokens);
    free(a->positions);
    memset(a, 0, sizeof *a);
}

ql_status ql_kld_acc_add(ql_kld_acc *a, const ql_kld_token *t, int32_t position, ql_error *err) {
    if (a->count == a->cap) {
        int64_t cap = a->cap * 2;
        ql_kld_token *nt = realloc(a->tokens, (size_t)cap * sizeof *nt);
        if (!nt) return ql_fail(err, QL_ERR_NOMEM, "out of memory for token statistics");
        a->tokens = nt;
        int32_t *np = realloc(a->positions, (size_t)cap * sizeof *np);
        if (!np) return ql_fail(err, QL_ERR_NOMEM, "out of memory for token statistics");
        a->positions = np;
        a->cap = cap;
    }
    a->tokens[a->count] = *t;
    a->positions[a->count] = position;
    a->count++;
    a->sum_nll += t->nll;
    a->sum_nll2 += t->nll * t->nll;
    a->sum_nll_base += t->nll_base;
    a->sum_nll_base2 += t->nll_base * t->nll_base;
    a->sum_nll_nll_base += t->nll * t->nll_base;
    a->sum_kld += t->kld;
    a->sum_kld2 += t->kld * t->kld;
    const double pd = t->p_diff, pd2 = pd * pd;
    a->sum_p_diff += pd;
    a->sum_p_diff2 += pd2;
    a->sum_p_diff4 += pd2 * pd2;
    if (fabsf(t->p_diff) > a->max_p_diff) a->max_p_diff = fabsf(t->p_diff);
    a->n_same_top += t->same_top;
    return QL_OK;
}

ql_val_unc ql_mean_unc(double sum, double sum2, int64_t count) {
    if (count < 1) return (ql_val_unc){0, 0};
    const double f = sum / (double)count;
    double df = sum2 / (double)count - f * f;
    df = df > 0 && count > 10 ? sqrt(df / (double)(count - 1)) : 0.0;
    return (ql_val_unc){f, df};
}

static double covariance(double suma, double sumb, double sumab, int64_t count) {
    if (count < 10) return 0.0;
    const double n = (double)count;
    return (sumab / n - (suma / n) * (sumb / n)) / (n - 1);
}

static ql_val_unc ln_ratio_of(const ql_kld_acc *a) {
    const ql_val_unc lq = ql_mean_unc(a->sum_nll, a->sum_nll2, a->count);
    const ql_val_unc lb = ql_mean_unc(a->sum_nll_base, a->sum_nll_base2, a->count);
    const double cov = covariance(a->sum_nll, a->sum_nll_base, a->sum_nll_nll_base, a->count);
    const double var = lq.unc * lq.unc + lb.unc * lb.unc - 2.0 * cov;
    return (ql_val_unc){lq.value - lb.value, var > 0 ? sqrt(var) : 0.0};
}

static ql_val_unc rms_dp_of(const ql_kld_acc *a) {
    const ql_val_unc mse = ql_mean_unc(a->sum_p_diff2, a->sum_p_diff4, a->count);
    const double rms = sqrt(mse.value);
    return (ql_val_unc){rms, rms > 0 ? 0.5 / rms * mse.unc : 0.0};
}

static ql_val_unc same_top_of(const ql_kld_acc *a) {
    const double p = a->count ? (double)a->n_same_top / (double)a->count : 0.0;
    const double unc = a->count > 1 ? sqrt(p * (1 - p) / (double)(a->count - 1)) : 0.0;
    return (ql_val_unc){p, unc};
}

void ql_kld_chunk_row_from(const ql_kld_acc *a, ql_kld_chunk_row *row) {
    const ql_val_unc lq = ql_mean_unc(a->sum_nll, a->sum_nll2, a->count);
    row->ppl = (ql_val_unc){exp(lq.value), exp(lq.value) * lq.unc};
    row->ln_ratio = ln_ratio_of(a);
    row->kld = ql_mean_unc(a->sum_kld, a->sum_kld2, a->count);
    row->rms_dp = rms_dp_of(a);
    row->same_top = same_top_of(a);
}

static int cmp_double(const void *x, const void *y) {
    const double a = *(const double *)x, b = *(const double *)y;
    return a < b ? -1 : a > b;
}

/* llama.cpp's percentile: linear interpolation at fraction * (n - 1), in float */
static double percentile(const double *sorted, int64_t n, float fraction) {
    if (fraction <= 0) return sorted[0];
    if (fraction >= 1) return sorted[n - 1];
    float p = fraction * (float)(n - 1);
    int64_t ip = (int64_t)p;
    p -= (float)ip;
    const int64_t ip1 = ip + 1 < n ? ip + 1 : n - 1;
    return (1 - p) * sorted[ip] + p * sorted[ip1];
}

static double median(const double *sorted, int64_t n) {
    return n % 2 == 0 ? 0.5 * (sorted[n / 2] + sorted[n / 2 - 1]) : sorted[n / 2];
}

ql_status ql_kld_stats_from(const ql_kld_acc *a, ql_kld_stats *s, ql_error *err) {
    memset(s, 0, sizeof *s);
    if (a->count < 2)
        return ql_fail(err, QL_ERR_ARG,
                       "KL divergence statistics need at least 2 tokens, have %lld",
                       (long long)a->count);
    s->count = a->count;
    const ql_val_unc lq = ql_mean_unc(a->sum_nll, a->sum_nll2, a->count);
    const ql_val_unc lb = ql_mean_unc(a->sum_nll_base, a->sum_nll_base2, a->count);
    s->ppl_q = (ql_val_unc){exp(lq.value), exp(lq.value) * lq.unc};
    s->ppl_base = (ql_val_unc){exp(lb.value), exp(lb.value) * lb.unc};
    const double cov = covariance(a->sum_nll, a->sum_nll_base, a->sum_nll_nll_base, a->count);
    s->cor_ln_ppl = lq.unc > 0 && lb.unc > 0 ? cov / (lq.unc * lb.unc) : 0.0;
    s->ln_ratio = ln_ratio_of(a);
    s->ratio = (ql_val_unc){exp(s->ln_ratio.value), exp(s->ln_ratio.value) * s->ln_ratio.unc};
    const double ppl_cov = s->ppl_q.value * s->ppl_base.value * cov;
    const double dvar =
        s->ppl_q.unc * s->ppl_q.unc + s->ppl_base.unc * s->ppl_base.unc - 2 * ppl_cov;
    s->diff = (ql_val_unc){s->ppl_q.value - s->ppl_base.value, dvar > 0 ? sqrt(dvar) : 0.0};
    s->kld = ql_mean_unc(a->sum_kld, a->sum_kld2, a->count);
    s->dp = ql_mean_unc(a->sum_p_diff, a->sum_p_diff2, a->count);
    s->rms_dp = rms_dp_of(a);
    s->same_top = same_top_of(a);

    double *v = malloc((size_t)a->count * sizeof *v);
    if (!v)
        return ql_fail(err, QL_ERR_NOMEM, "out of memory sorting %lld values", (long long)a->count);
    const int64_t n = a->count;
    for (int64_t i = 0; i < n; i++) v[i] = (float)a->tokens[i].kld; /* llama.cpp keeps floats */
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    const float kf[11] = {1.0f, 0.999f, 0.99f, 0.95f,  0.9f, -1.0f,
                          0.1f, 0.05f,  0.01f, 0.001f, 0.0f};
    for (int i = 0; i < 11; i++) s->kld_pct[i] = kf[i] < 0 ? median(v, n) : percentile(v, n, kf[i]);
    for (int64_t i = 0; i < n; i++) v[i] = a->tokens[i].p_diff;
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    const float df[13] = {1.0f,  0.999f, 0.99f, 0.95f, 0.9f,   0.75f, -1.0f,
                          0.25f, 0.1f,   0.05f, 0.01f, 0.001f, 0.0f};
    for (int i = 0; i < 13; i++) s->dp_pct[i] = df[i] < 0 ? median(v, n) : percentile(v, n, df[i]);
    free(v);
    return QL_OK;
}

ql_status ql_kld_buckets(const ql_kld_acc *a, int32_t first_pos, int32_t last_pos, int n_buckets,
                         ql_kld_bucket *out, ql_error *err) {
    if (n_buckets < 1 || last_pos < first_pos || n_buckets > last_pos - first_pos + 1)
        return ql_fail(err, QL_ERR_ARG,
                       "cannot split positions %d..%d into %d buckets (at most %d)", first_pos,
                       last_pos, n_buckets, last_pos - first_pos + 1);
    const int64_t span = (int64_t)last_pos - first_pos + 1;
    double *sum = calloc((size_t)n_buckets * 2, sizeof *sum);
    if (!sum) return ql_fail(err, QL_ERR_NOMEM, "out of memory");
    for (int b = 0; b < n_buckets; b++) {
        out[b].pos_begin = (int32_t)(first_pos + span * b / n_buckets);
        out[b].pos_end = (int32_t)(first_pos + span * (b + 1) / n_buckets - 1);
        out[b].count = 0;
    }
    for (int64_t i = 0; i < a->count; i++) {
        const int64_t off = (int64_t)a->positions[i] - first_pos;
        if (off < 0 || off >= span) continue;
        const int b = (int)(off * n_buckets / span);
        sum[2 * b] += a->tokens[i].kld;
        sum[2 * b + 1] += a->tokens[i].kld * a->tokens[i].kld;
        out[b].count++;
    }
    for (int b = 0; b < n_buckets; b++)
        out[b].kld = ql_mean_unc(sum[2 * b], sum[2 * b + 1], out[b].count);
    free(sum);
    return QL_OK;
}
