/*
 * results_json.c - writers for the result objects (see results_json.h).
 */
#include "results_json.h"

#include "../core/sha256.h"

const char *ql_engine_name(void) {
    return "qlens";
}

static void input_file(ql_json *j, const char *key, const ql_json_input *in) {
    ql_json_key(j, key);
    if (!in || !in->path) {
        ql_json_null(j);
        return;
    }
    ql_json_object_begin(j);
    ql_json_key(j, "path");
    ql_json_str(j, in->path);
    ql_json_key(j, "format");
    ql_json_str(j, in->format);
    char hex[QL_SHA256_HEX_SIZE];
    ql_json_key(j, "sha256");
    if (ql_sha256_file_hex(in->path, hex))
        ql_json_str(j, hex);
    else
        ql_json_null(j);
    ql_json_object_end(j);
}

void ql_json_inputs(ql_json *j, const ql_json_input *reference, const ql_json_input *text) {
    ql_json_key(j, "inputs");
    ql_json_object_begin(j);
    input_file(j, "reference", reference);
    input_file(j, "text", text);
    ql_json_object_end(j);
}

void ql_json_timing(ql_json *j, const ql_run_timing *t) {
    ql_json_key(j, "timing");
    ql_json_object_begin(j);
    ql_json_key(j, "load_s");
    ql_json_double(j, t->load_s);
    ql_json_key(j, "eval_s");
    ql_json_double(j, t->eval_s);
    ql_json_key(j, "tokens");
    ql_json_int(j, t->tokens);
    ql_json_key(j, "tokens_per_s");
    ql_json_double(j, t->eval_s > 0 ? (double)t->tokens / t->eval_s : 0);
    ql_json_object_end(j);
}

void ql_json_val_unc(ql_json *j, const char *key, ql_val_unc v) {
    ql_json_key(j, key);
    ql_json_object_begin(j);
    ql_json_key(j, "value");
    ql_json_double(j, v.value);
    ql_json_key(j, "unc");
    ql_json_double(j, v.unc);
    ql_json_object_end(j);
}

void ql_json_ppl_result(ql_json *j, const ql_ppl_result *r) {
    ql_json_key(j, "chunks");
    ql_json_array_begin(j);
    for (int64_t k = 0; k < r->n_chunks; k++) {
        ql_json_object_begin(j);
        ql_json_key(j, "chunk");
        ql_json_int(j, k + 1);
        ql_json_key(j, "ppl");
        ql_json_double(j, r->chunk_ppl[k]);
        ql_json_object_end(j);
    }
    ql_json_array_end(j);
    ql_json_key(j, "final");
    ql_json_object_begin(j);
    ql_json_key(j, "ppl");
    ql_json_double(j, r->ppl);
    ql_json_key(j, "ppl_unc");
    ql_json_double(j, r->ppl_unc);
    ql_json_key(j, "mean_nll");
    ql_json_double(j, r->mean_nll);
    ql_json_key(j, "nll_unc");
    ql_json_double(j, r->nll_unc);
    ql_json_key(j, "scored_tokens");
    ql_json_int(j, r->n_scored);
    ql_json_object_end(j);
    ql_json_key(j, "tokens");
    ql_json_object_begin(j);
    ql_json_key(j, "nll");
    ql_json_array_begin_inline(j);
    for (int64_t i = 0; i < r->n_scored; i++) ql_json_float(j, r->nll[i]);
    ql_json_array_end(j);
    ql_json_object_end(j);
}

static void json_pcts(ql_json *j, const char *key, const double *v, const char *const *names,
                      int n) {
    ql_json_key(j, key);
    ql_json_object_begin(j);
    for (int i = 0; i < n; i++) {
        ql_json_key(j, names[i]);
        ql_json_double(j, v[i]);
    }
    ql_json_object_end(j);
}

void ql_json_kld_result(ql_json *j, const ql_kld_acc *acc, const ql_kld_stats *s,
                        const ql_kld_chunk_row *chunks, int64_t n_chunks,
                        const ql_kld_bucket *buckets, int n_buckets) {
    ql_json_key(j, "statistics");
    ql_json_object_begin(j);
    ql_json_key(j, "scored_tokens");
    ql_json_int(j, s->count);
    ql_json_val_unc(j, "ppl_q", s->ppl_q);
    ql_json_val_unc(j, "ppl_base", s->ppl_base);
    ql_json_key(j, "cor_ln_ppl");
    ql_json_double(j, s->cor_ln_ppl);
    ql_json_val_unc(j, "ln_ppl_ratio", s->ln_ratio);
    ql_json_val_unc(j, "ppl_ratio", s->ratio);
    ql_json_val_unc(j, "ppl_diff", s->diff);
    ql_json_val_unc(j, "kld", s->kld);
    json_pcts(j, "kld_percentiles", s->kld_pct, ql_kld_pct_names, 11);
    ql_json_val_unc(j, "dp", s->dp);
    json_pcts(j, "dp_percentiles", s->dp_pct, ql_dp_pct_names, 13);
    ql_json_val_unc(j, "rms_dp", s->rms_dp);
    ql_json_val_unc(j, "same_top", s->same_top);
    ql_json_object_end(j);

    ql_json_key(j, "chunks");
    ql_json_array_begin(j);
    for (int64_t k = 0; k < n_chunks; k++) {
        ql_json_object_begin(j);
        ql_json_key(j, "chunk");
        ql_json_int(j, k + 1);
        ql_json_val_unc(j, "ppl", chunks[k].ppl);
        ql_json_val_unc(j, "ln_ppl_ratio", chunks[k].ln_ratio);
        ql_json_val_unc(j, "kld", chunks[k].kld);
        ql_json_val_unc(j, "rms_dp", chunks[k].rms_dp);
        ql_json_val_unc(j, "same_top", chunks[k].same_top);
        ql_json_object_end(j);
    }
    ql_json_array_end(j);

    if (n_buckets > 0) {
        ql_json_key(j, "positions");
        ql_json_array_begin(j);
        for (int b = 0; b < n_buckets; b++) {
            ql_json_object_begin(j);
            ql_json_key(j, "first");
            ql_json_int(j, buckets[b].pos_begin);
            ql_json_key(j, "last");
            ql_json_int(j, buckets[b].pos_end);
            ql_json_key(j, "count");
            ql_json_int(j, buckets[b].count);
            ql_json_val_unc(j, "kld", buckets[b].kld);
            ql_json_object_end(j);
        }
        ql_json_array_end(j);
    }

    ql_json_key(j, "tokens");
    ql_json_object_begin(j);
    ql_json_key(j, "position");
    ql_json_array_begin_inline(j);
    for (int64_t i = 0; i < acc->count; i++) ql_json_int(j, acc->positions[i]);
    ql_json_array_end(j);
    const char *keys[] = {"kld", "nll", "nll_base", "p_diff"};
    for (int k = 0; k < 4; k++) {
        ql_json_key(j, keys[k]);
        ql_json_array_begin_inline(j);
        for (int64_t i = 0; i < acc->count; i++) {
            const ql_kld_token *t = &acc->tokens[i];
            const double v = k == 0 ? t->kld : k == 1 ? t->nll : k == 2 ? t->nll_base : t->p_diff;
            ql_json_double(j, v);
        }
        ql_json_array_end(j);
    }
    ql_json_key(j, "same_top");
    ql_json_array_begin_inline(j);
    for (int64_t i = 0; i < acc->count; i++) ql_json_int(j, acc->tokens[i].same_top);
    ql_json_array_end(j);
    ql_json_object_end(j);
}
