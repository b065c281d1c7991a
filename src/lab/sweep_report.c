/*
 * sweep_report.c - the sweep's tables: markdown (what the console shows), CSV
 * and JSON for machines. Each opens with the answer: for the budget and the
 * target context, the configuration to run, what it costs against the best
 * one and its indistinguishable runners-up. The HTML report is
 * sweep_html.c.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../include/qlens.h"
#include "../core/json.h"
#include "../core/outfile.h"
#include "../eval/results_json.h"
#include "sweep.h"

static double gib(uint64_t b) {
    return (double)b / (1024.0 * 1024.0 * 1024.0);
}

static void fmt_ctx(int64_t n, char *buf, size_t size) {
    if (n <= 0)
        snprintf(buf, size, "-");
    else
        snprintf(buf, size, "%lld", (long long)n);
}

/* The sentence for a row whose KLD cannot be told apart from the previous one. */
static bool indistinct(const ql_sweep_row *r) {
    return r->has_prev && fabs(r->sigma) < 2.0;
}

static const char *tname(ql_type t) {
    return ql_type_name((int)t);
}

/* "152 of 211 matrices fell back from q4_K to q5_0 (rows of 576)", or "" */
void ql_sweep_fallback_note(const ql_weights_info *w, char *buf, size_t size) {
    buf[0] = '\0';
    if (!w->rules_known || w->n_fell_back == 0) return;
    snprintf(buf, size,
             "%lld of %lld matrices fell back from %s to %s (rows of %lld are not whole "
             "blocks)",
             (long long)w->n_fell_back, (long long)w->n_converted, tname(w->wanted),
             tname(w->fallback), (long long)w->row_length);
}

void ql_sweep_print_recommendation(const ql_sweep_results *r, FILE *o) {
    const ql_recommendation *rec = &r->rec;
    char budget[32];
    snprintf(budget, sizeof budget, "%.2f MiB", (double)r->budget / (1024.0 * 1024.0));
    if (rec->beyond_trained) {
        fprintf(o,
                "%lld tokens is past the model's trained context (%lld): no configuration is "
                "offered for it; rerun with --target-ctx %lld or less.\n",
                (long long)r->target_ctx, (long long)r->n_ctx_train, (long long)r->n_ctx_train);
        return;
    }
    if (rec->pick < 0) {
        const ql_sweep_row *s = &r->rows[rec->smallest];
        fprintf(o,
                "No configuration reaches %lld tokens within %s: the smallest, %s %s/%s, needs "
                "%.2f MiB.\n",
                (long long)r->target_ctx, budget, s->weights, tname(s->k), tname(s->v),
                (double)s->total_bytes_target / (1024.0 * 1024.0));
        return;
    }
    const ql_sweep_row *p = &r->rows[rec->pick], *b = &r->rows[rec->best];
    if (rec->no_budget)
        fprintf(o, "No budget given (--budget): at %lld tokens the lowest KLD is ",
                (long long)r->target_ctx);
    else
        fprintf(o, "Within %s at %lld tokens, run ", budget, (long long)r->target_ctx);
    fprintf(o, "**%s weights with a %s/%s KV cache**: KLD %.6f ± %.6f, %.2f MiB.", p->weights,
            tname(p->k), tname(p->v), p->stats.kld.value, p->stats.kld.unc,
            (double)p->total_bytes_target / (1024.0 * 1024.0));
    if (rec->pick == rec->best) {
        fprintf(o, " It is the lowest-KLD configuration of the sweep.");
    } else {
        const ql_paired d = b->vs_pick; /* best - pick, per token */
        fprintf(o, " Against the best, %s %s/%s (KLD %.6f, %.2f MiB, over the budget): %+.6f KLD",
                b->weights, tname(b->k), tname(b->v), b->stats.kld.value,
                (double)b->total_bytes_target / (1024.0 * 1024.0),
                p->stats.kld.value - b->stats.kld.value);
        if (d.valid) fprintf(o, " (± %.6f paired, %.1fσ)", d.se, fabs(d.sigma));
        fprintf(o, " for %.2f MiB less.",
                ((double)b->total_bytes_target - (double)p->total_bytes_target) /
                    (1024.0 * 1024.0));
    }
    int n = 0;
    for (int i = 0; i < r->n_rows; i++) {
        const ql_sweep_row *w = &r->rows[i];
        if (i == rec->pick || !w->fits || !w->vs_pick.valid ||
            fabs(w->vs_pick.sigma) >= QL_REC_INDISTINCT_SIGMA)
            continue;
        fprintf(o, "%s %s %s/%s (%+.6f ± %.6f, %.1fσ, %.2f MiB)",
                n == 0 ? "\nIndistinguishable from it on these tokens, and within the budget:"
                       : ",",
                w->weights, tname(w->k), tname(w->v), w->vs_pick.d_kld, w->vs_pick.se,
                fabs(w->vs_pick.sigma), (double)w->total_bytes_target / (1024.0 * 1024.0));
        n++;
    }
    fprintf(o, "%s\n", n ? "." : "\nNo other configuration within the budget is within 2σ of it.");
}

static void print_table(const ql_sweep_results *r, FILE *o) {
    fprintf(o,
            "| # | weights | bpw | cache K | cache V | KLD | KLD 99.9%% | PPL | PPL ratio | same "
            "top p | weights GiB | KV bytes/token | total GiB @ %lld |",
            (long long)r->target_ctx);
    if (r->budget) fprintf(o, " max ctx @ %.2f GiB |", gib(r->budget));
    fprintf(o, " vs the row above |\n|---|---|---|---|---|---|---|---|---|---|---|---|---|");
    if (r->budget) fprintf(o, "---|");
    fprintf(o, "---|\n");
    for (int i = 0; i < r->n_rows; i++) {
        const ql_sweep_row *w = &r->rows[i];
        char ctx[48], cmp[96];
        fmt_ctx(w->max_ctx_budget, ctx, sizeof ctx);
        if (w->max_ctx_is_trained) strcat(ctx, " (trained)");
        if (w->has_prev)
            snprintf(cmp, sizeof cmp, "%+.6f ± %.6f (%.1fσ%s)", w->d_kld, w->d_kld_se, w->sigma,
                     indistinct(w) ? ", indistinguishable" : "");
        else
            snprintf(cmp, sizeof cmp, "-");
        const ql_weights_info *wi = &w->weights_info;
        fprintf(o,
                "| %d | %s%s | %.2f | %s | %s | %.6f ± %.6f | %.4f | %.4f ± %.4f | %.4f ± %.4f | "
                "%.2f ± %.2f %% | %.3f | %llu | %.3f |",
                i + 1, w->weights, wi->n_fell_back ? " (fallbacks, see below)" : "",
                wi->bits_per_weight, tname(w->k), tname(w->v), w->stats.kld.value, w->stats.kld.unc,
                w->stats.kld_pct[1], w->stats.ppl_q.value, w->stats.ppl_q.unc, w->stats.ratio.value,
                w->stats.ratio.unc, 100 * w->stats.same_top.value, 100 * w->stats.same_top.unc,
                gib(w->weight_bytes), (unsigned long long)w->kv_bytes_per_token,
                gib(w->total_bytes_target));
        if (r->budget) fprintf(o, " %s |", ctx);
        fprintf(o, " %s |\n", cmp);
    }
    bool any = false;
    for (int i = 0; i < r->n_rows; i++) {
        const ql_sweep_row *w = &r->rows[i], *b = i > 0 ? &r->rows[i - 1] : NULL;
        if (!indistinct(w)) continue;
        if (!any) fprintf(o, "\n");
        any = true;
        fprintf(o,
                "- %s %s/%s and %s %s/%s cannot be told apart on these tokens: their KLDs differ "
                "by %.2g ± %.2g (%.1fσ, paired per token).\n",
                b->weights, tname(b->k), tname(b->v), w->weights, tname(w->k), tname(w->v),
                w->d_kld, w->d_kld_se, fabs(w->sigma));
    }
    /* each weights file once: what its name does not say */
    any = false;
    for (int i = 0; i < r->n_rows; i++) {
        const ql_sweep_row *w = &r->rows[i];
        bool seen = false;
        for (int k = 0; k < i && !seen; k++) seen = strcmp(r->rows[k].weights, w->weights) == 0;
        char note[256];
        ql_sweep_fallback_note(&w->weights_info, note, sizeof note);
        if (seen || !note[0]) continue;
        if (!any) fprintf(o, "\n");
        any = true;
        fprintf(o, "- %s is %.2f bits per weight, mostly %s (%.0f%% of the parameters): %s.\n",
                w->weights, w->weights_info.bits_per_weight, tname(w->weights_info.dominant),
                100 * w->weights_info.dominant_share, note);
    }
}

void ql_sweep_print_table(const ql_sweep_results *r, FILE *out) {
    print_table(r, out);
    fputc('\n', out);
    ql_sweep_print_recommendation(r, out);
}

typedef void (*writer_fn)(const ql_sweep_results *r, FILE *o);

static ql_status write_with(const char *path, const ql_sweep_results *r, writer_fn fn,
                            ql_error *err) {
    ql_outfile *of;
    ql_status st = ql_outfile_open(path, &of, err);
    if (st) return st;
    fn(r, ql_outfile_stream(of));
    return ql_outfile_commit(of, err);
}

static void md(const ql_sweep_results *r, FILE *o) {
    fprintf(
        o,
        "# qlens sweep\n\nreference `%s`, text `%s`, %lld chunks of %lld tokens, rotation %s "
        "(%s). "
        "KLD is the mean KL divergence from the reference per scored token (± standard error); "
        "rows are sorted by it. Memory columns: weights, KV cache at %lld tokens of context and "
        "one micro-batch of working buffers.\n\n",
        r->ref_path, r->text_path, (long long)r->n_chunks, (long long)r->n_ctx, r->rotate,
        r->hadamard, (long long)r->target_ctx);
    fprintf(o, "## The answer\n\n");
    ql_sweep_print_recommendation(r, o);
    fprintf(o, "\n## Configurations\n\n");
    print_table(r, o);
}

ql_status ql_sweep_write_markdown(const ql_sweep_results *r, const char *path, ql_error *err) {
    return write_with(path, r, md, err);
}

static void csv_field(FILE *o, const char *s) {
    fputc('"', o);
    for (; *s; s++) {
        if (*s == '"') fputc('"', o);
        fputc(*s, o);
    }
    fputc('"', o);
}

static void csv(const ql_sweep_results *r, FILE *o) {
    fprintf(o, "rank,weights,weights_path,cache_type_k,cache_type_v,kld,kld_unc,ppl_ratio,"
               "ppl_ratio_unc,ln_ppl_ratio,ln_ppl_ratio_unc,same_top,same_top_unc,ppl_q,ppl_base,"
               "weight_bytes,kv_bytes_per_token,target_ctx,total_bytes_target,budget_bytes,"
               "max_ctx_budget,d_kld_vs_above,d_kld_vs_above_unc,sigma_vs_above,kld_p999,ppl_q_unc,"
               "bits_per_weight,matrices_converted,matrices_fell_back,recommended\n");
    for (int i = 0; i < r->n_rows; i++) {
        const ql_sweep_row *w = &r->rows[i];
        fprintf(o, "%d,", i + 1);
        csv_field(o, w->weights);
        fputc(',', o);
        csv_field(o, w->weights_path);
        fprintf(o,
                ",%s,%s,%.9g,%.9g,%.9g,%.9g,%.9g,%.9g,%.9g,%.9g,%.9g,%.9g,%llu,%llu,%lld,%llu,%llu,"
                "%lld,",
                ql_type_name((int)w->k), ql_type_name((int)w->v), w->stats.kld.value,
                w->stats.kld.unc, w->stats.ratio.value, w->stats.ratio.unc, w->stats.ln_ratio.value,
                w->stats.ln_ratio.unc, w->stats.same_top.value, w->stats.same_top.unc,
                w->stats.ppl_q.value, w->stats.ppl_base.value, (unsigned long long)w->weight_bytes,
                (unsigned long long)w->kv_bytes_per_token, (long long)r->target_ctx,
                (unsigned long long)w->total_bytes_target, (unsigned long long)r->budget,
                (long long)w->max_ctx_budget);
        if (w->has_prev)
            fprintf(o, "%.9g,%.9g,%.4f,", w->d_kld, w->d_kld_se, w->sigma);
        else
            fprintf(o, ",,,");
        fprintf(o, "%.9g,%.9g,%.6g,%lld,%lld,%d\n", w->stats.kld_pct[1], w->stats.ppl_q.unc,
                w->weights_info.bits_per_weight, (long long)w->weights_info.n_converted,
                (long long)w->weights_info.n_fell_back, i == r->rec.pick);
    }
}

ql_status ql_sweep_write_csv(const ql_sweep_results *r, const char *path, ql_error *err) {
    return write_with(path, r, csv, err);
}

static void json_doc(const ql_sweep_results *r, FILE *o) {
    ql_json j;
    ql_json_init(&j, o, true);
    ql_json_object_begin(&j);
    ql_json_key(&j, "qlens_version");
    ql_json_str(&j, QLENS_VERSION_STRING);
    ql_json_key(&j, "kind");
    ql_json_str(&j, "sweep");
    ql_json_key(&j, "reference");
    ql_json_str(&j, r->ref_path);
    ql_json_key(&j, "text");
    ql_json_str(&j, r->text_path);
    ql_json_key(&j, "n_ctx");
    ql_json_int(&j, r->n_ctx);
    ql_json_key(&j, "n_chunks");
    ql_json_int(&j, r->n_chunks);
    ql_json_key(&j, "kv_rotate");
    ql_json_str(&j, r->rotate);
    ql_json_key(&j, "kv_hadamard");
    ql_json_str(&j, r->hadamard);
    ql_json_key(&j, "target_ctx");
    ql_json_int(&j, r->target_ctx);
    ql_json_key(&j, "budget_bytes");
    ql_json_uint(&j, r->budget);
    ql_json_key(&j, "n_ctx_train");
    ql_json_int(&j, r->n_ctx_train);
    ql_json_key(&j, "recommendation");
    ql_json_object_begin(&j);
    ql_json_key(&j, "row");
    if (r->rec.pick >= 0)
        ql_json_int(&j, r->rec.pick);
    else
        ql_json_null(&j);
    ql_json_key(&j, "best_row");
    ql_json_int(&j, r->rec.best);
    ql_json_key(&j, "beyond_trained_context");
    ql_json_bool(&j, r->rec.beyond_trained);
    ql_json_key(&j, "runners_up");
    ql_json_array_begin(&j);
    for (int i = 0; i < r->n_rows && r->rec.pick >= 0; i++) {
        const ql_sweep_row *w = &r->rows[i];
        if (i != r->rec.pick && w->fits && w->vs_pick.valid &&
            fabs(w->vs_pick.sigma) < QL_REC_INDISTINCT_SIGMA)
            ql_json_int(&j, i);
    }
    ql_json_array_end(&j);
    ql_json_object_end(&j);
    ql_json_key(&j, "rows");
    ql_json_array_begin(&j);
    for (int i = 0; i < r->n_rows; i++) {
        const ql_sweep_row *w = &r->rows[i];
        ql_json_object_begin(&j);
        ql_json_key(&j, "weights");
        ql_json_str(&j, w->weights);
        ql_json_key(&j, "weights_path");
        ql_json_str(&j, w->weights_path);
        ql_json_key(&j, "cache_type_k");
        ql_json_str(&j, ql_type_name((int)w->k));
        ql_json_key(&j, "cache_type_v");
        ql_json_str(&j, ql_type_name((int)w->v));
        ql_json_val_unc(&j, "kld", w->stats.kld);
        ql_json_val_unc(&j, "ppl_ratio", w->stats.ratio);
        ql_json_val_unc(&j, "ln_ppl_ratio", w->stats.ln_ratio);
        ql_json_val_unc(&j, "same_top", w->stats.same_top);
        ql_json_val_unc(&j, "ppl_q", w->stats.ppl_q);
        ql_json_key(&j, "kld_p99");
        ql_json_double(&j, w->stats.kld_pct[2]);
        ql_json_key(&j, "kld_p999");
        ql_json_double(&j, w->stats.kld_pct[1]);
        ql_json_key(&j, "bits_per_weight");
        ql_json_double(&j, w->weights_info.bits_per_weight);
        ql_json_key(&j, "fallbacks");
        if (w->weights_info.rules_known) {
            ql_json_object_begin(&j);
            ql_json_key(&j, "matrices");
            ql_json_int(&j, w->weights_info.n_converted);
            ql_json_key(&j, "fell_back");
            ql_json_int(&j, w->weights_info.n_fell_back);
            ql_json_key(&j, "from");
            ql_json_str(&j, w->weights_info.n_fell_back ? tname(w->weights_info.wanted) : "");
            ql_json_key(&j, "to");
            ql_json_str(&j, w->weights_info.n_fell_back ? tname(w->weights_info.fallback) : "");
            ql_json_object_end(&j);
        } else {
            ql_json_null(&j);
        }
        ql_json_key(&j, "fits");
        ql_json_bool(&j, w->fits);
        ql_json_key(&j, "weight_bytes");
        ql_json_uint(&j, w->weight_bytes);
        ql_json_key(&j, "kv_bytes_per_token");
        ql_json_uint(&j, w->kv_bytes_per_token);
        ql_json_key(&j, "kv_bytes_target");
        ql_json_uint(&j, w->kv_bytes_target);
        ql_json_key(&j, "work_bytes");
        ql_json_uint(&j, w->work_bytes);
        ql_json_key(&j, "total_bytes_target");
        ql_json_uint(&j, w->total_bytes_target);
        ql_json_key(&j, "max_ctx_budget");
        ql_json_int(&j, w->max_ctx_budget);
        ql_json_key(&j, "vs_above");
        if (w->has_prev) {
            ql_json_object_begin(&j);
            ql_json_val_unc(&j, "d_kld", (ql_val_unc){w->d_kld, w->d_kld_se});
            ql_json_key(&j, "sigma");
            ql_json_double(&j, w->sigma);
            ql_json_key(&j, "distinguishable");
            ql_json_bool(&j, !indistinct(w));
            ql_json_object_end(&j);
        } else {
            ql_json_null(&j);
        }
        ql_json_key(&j, "kld_by_position");
        ql_json_array_begin(&j);
        for (int b = 0; b < r->n_positions; b++) {
            ql_json_object_begin(&j);
            ql_json_key(&j, "first");
            ql_json_int(&j, w->buckets[b].pos_begin);
            ql_json_key(&j, "last");
            ql_json_int(&j, w->buckets[b].pos_end);
            ql_json_val_unc(&j, "kld", w->buckets[b].kld);
            ql_json_object_end(&j);
        }
        ql_json_array_end(&j);
        ql_json_object_end(&j);
    }
    ql_json_array_end(&j);
    ql_json_object_end(&j);
    ql_json_finish(&j);
}

ql_status ql_sweep_write_json(const ql_sweep_results *r, const char *path, ql_error *err) {
    return write_with(path, r, json_doc, err);
}
