/*
 * sweep_report.c - the sweep's tables: markdown (what the console shows),
 * CSV and JSON for machines, and a self-contained HTML report with inline
 * SVG plots (no scripts, no network): KLD against total memory at the
 * target context with the Pareto frontier, and KLD by context position.
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

static void print_table(const ql_sweep_results *r, FILE *o) {
    fprintf(o,
            "| # | weights | cache K | cache V | KLD | PPL ratio | same top p | weights GiB | "
            "KV bytes/token | total GiB @ %lld |",
            (long long)r->target_ctx);
    if (r->budget) fprintf(o, " max ctx @ %.2f GiB |", gib(r->budget));
    fprintf(o, " vs the row above |\n|---|---|---|---|---|---|---|---|---|---|");
    if (r->budget) fprintf(o, "---|");
    fprintf(o, "---|\n");
    for (int i = 0; i < r->n_rows; i++) {
        const ql_sweep_row *w = &r->rows[i];
        char ctx[32], cmp[96];
        fmt_ctx(w->max_ctx_budget, ctx, sizeof ctx);
        if (w->has_prev)
            snprintf(cmp, sizeof cmp, "%+.6f ± %.6f (%.1fσ%s)", w->d_kld, w->d_kld_se, w->sigma,
                     indistinct(w) ? ", indistinguishable" : "");
        else
            snprintf(cmp, sizeof cmp, "-");
        fprintf(o,
                "| %d | %s | %s | %s | %.6f ± %.6f | %.4f ± %.4f | %.2f ± %.2f %% | %.3f | %llu | "
                "%.3f |",
                i + 1, w->weights, ql_type_name((int)w->k), ql_type_name((int)w->v),
                w->stats.kld.value, w->stats.kld.unc, w->stats.ratio.value, w->stats.ratio.unc,
                100 * w->stats.same_top.value, 100 * w->stats.same_top.unc, gib(w->weight_bytes),
                (unsigned long long)w->kv_bytes_per_token, gib(w->total_bytes_target));
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
                b->weights, ql_type_name((int)b->k), ql_type_name((int)b->v), w->weights,
                ql_type_name((int)w->k), ql_type_name((int)w->v), w->d_kld, w->d_kld_se,
                fabs(w->sigma));
    }
}

void ql_sweep_print_table(const ql_sweep_results *r, FILE *out) {
    print_table(r, out);
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
               "max_ctx_budget,d_kld_vs_above,d_kld_vs_above_unc,sigma_vs_above\n");
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
            fprintf(o, "%.9g,%.9g,%.4f\n", w->d_kld, w->d_kld_se, w->sigma);
        else
            fprintf(o, ",,\n");
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
        ql_json_key(&j, "weight_bytes");
        ql_json_uint(&j, w->weight_bytes);
        ql_json_key(&j, "kv_bytes_per_token");
        ql_json_uint(&j, w->kv_bytes_per_token);
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

/* ---- HTML ---- */

static void html_text(FILE *o, const char *s) {
    for (; *s; s++) {
        switch (*s) {
        case '<':
            fputs("&lt;", o);
            break;
        case '>':
            fputs("&gt;", o);
            break;
        case '&':
            fputs("&amp;", o);
            break;
        case '"':
            fputs("&quot;", o);
            break;
        default:
            fputc(*s, o);
        }
    }
}

static const char *palette[] = {"#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e",
                                "#8c564b", "#e377c2", "#17becf", "#7f7f7f", "#bcbd22"};

enum { W = 760, H = 420, ML = 70, MR = 20, MT = 20, MB = 50 };

static double log_or_floor(double v) {
    return log10(v > 1e-9 ? v : 1e-9);
}

static void axis_ticks_log(FILE *o, double lo, double hi) {
    for (int e = (int)floor(lo); e <= (int)ceil(hi); e++) {
        if (e < lo - 1e-9 || e > hi + 1e-9) continue;
        const double y = MT + (H - MT - MB) * (1 - (e - lo) / (hi - lo));
        fprintf(o, "<line x1='%d' x2='%d' y1='%.1f' y2='%.1f' class='grid'/>", ML, W - MR, y, y);
        fprintf(o, "<text x='%d' y='%.1f' class='tick' text-anchor='end'>1e%d</text>", ML - 6,
                y + 4, e);
    }
}

static void plot_memory(const ql_sweep_results *r, FILE *o) {
    double xmin = INFINITY, xmax = -INFINITY, ymin = INFINITY, ymax = -INFINITY;
    for (int i = 0; i < r->n_rows; i++) {
        const double x = gib(r->rows[i].total_bytes_target),
                     y = log_or_floor(r->rows[i].stats.kld.value);
        xmin = fmin(xmin, x), xmax = fmax(xmax, x), ymin = fmin(ymin, y), ymax = fmax(ymax, y);
    }
    if (!(xmax > xmin)) xmin -= 0.5, xmax += 0.5;
    ymin = floor(ymin), ymax = ceil(ymax);
    if (!(ymax > ymin)) ymax = ymin + 1;
    const double pad = (xmax - xmin) * 0.08;
    xmin -= pad, xmax += pad;
#define PX(x) (ML + (W - ML - MR) * ((x)-xmin) / (xmax - xmin))
#define PY(y) (MT + (H - MT - MB) * (1 - ((y)-ymin) / (ymax - ymin)))
    fprintf(o,
            "<svg id='plot-memory' xmlns='http://www.w3.org/2000/svg' width='%d' height='%d' "
            "viewBox='0 0 %d %d' role='img'><title>KLD against total memory</title>",
            W, H, W, H);
    axis_ticks_log(o, ymin, ymax);
    /* enough decimals to tell the ticks apart, however narrow the range */
    int decimals = (int)ceil(-log10((xmax - xmin) / 5)) + 1;
    if (decimals < 0) decimals = 0;
    if (decimals > 9) decimals = 9;
    for (int t = 0; t <= 5; t++) {
        const double x = xmin + (xmax - xmin) * t / 5;
        fprintf(o, "<text x='%.1f' y='%d' class='tick' text-anchor='middle'>%.*f</text>", PX(x),
                H - MB + 18, decimals, x);
    }
    fprintf(o, "<line x1='%d' x2='%d' y1='%d' y2='%d' class='axis'/>", ML, W - MR, H - MB, H - MB);
    fprintf(o, "<line x1='%d' x2='%d' y1='%d' y2='%d' class='axis'/>", ML, ML, MT, H - MB);
    fprintf(
        o, "<text x='%d' y='%d' class='label' text-anchor='middle'>total GiB at %lld tokens</text>",
        (ML + W - MR) / 2, H - 8, (long long)r->target_ctx);
    fprintf(o,
            "<text x='16' y='%d' class='label' transform='rotate(-90 16 %d)' "
            "text-anchor='middle'>mean KLD (log)</text>",
            (MT + H - MB) / 2, (MT + H - MB) / 2);
    /* Pareto frontier: by memory, keep the points better than everything cheaper */
    int *order = malloc((size_t)r->n_rows * sizeof *order);
    for (int i = 0; i < r->n_rows; i++) order[i] = i;
    for (int i = 1; i < r->n_rows; i++)
        for (int k = i; k > 0 && r->rows[order[k]].total_bytes_target <
                                     r->rows[order[k - 1]].total_bytes_target;
             k--) {
            int tmp = order[k];
            order[k] = order[k - 1];
            order[k - 1] = tmp;
        }
    fprintf(o, "<polyline class='frontier' points='");
    double best = INFINITY;
    for (int i = 0; i < r->n_rows; i++) {
        const ql_sweep_row *w = &r->rows[order[i]];
        if (w->stats.kld.value < best) {
            best = w->stats.kld.value;
            fprintf(o, "%.1f,%.1f ", PX(gib(w->total_bytes_target)), PY(log_or_floor(best)));
        }
    }
    fprintf(o, "'/>");
    free(order);
    for (int i = 0; i < r->n_rows; i++) {
        const ql_sweep_row *w = &r->rows[i];
        const double x = PX(gib(w->total_bytes_target)), y = PY(log_or_floor(w->stats.kld.value));
        fprintf(o, "<circle class='point' cx='%.1f' cy='%.1f' r='5' fill='%s'><title>", x, y,
                palette[i % 10]);
        html_text(o, w->weights);
        fprintf(o, " %s/%s: KLD %.6f, %.3f GiB</title></circle>", ql_type_name((int)w->k),
                ql_type_name((int)w->v), w->stats.kld.value, gib(w->total_bytes_target));
        const bool near_right = x > W - MR - 160; /* keep labels inside the plot */
        fprintf(o, "<text x='%.1f' y='%.1f' class='point-label' text-anchor='%s'>",
                near_right ? x - 7 : x + 7, y - 6, near_right ? "end" : "start");
        html_text(o, w->weights);
        fprintf(o, " %s/%s</text>", ql_type_name((int)w->k), ql_type_name((int)w->v));
    }
    fprintf(o, "</svg>\n");
#undef PX
#undef PY
}

static void plot_positions(const ql_sweep_results *r, FILE *o) {
    if (r->n_positions < 1) return;
    double ymin = INFINITY, ymax = -INFINITY;
    const double xmin = r->n_ctx / 2, xmax = r->n_ctx - 2;
    for (int i = 0; i < r->n_rows; i++)
        for (int b = 0; b < r->n_positions; b++) {
            const double y = log_or_floor(r->rows[i].buckets[b].kld.value);
            ymin = fmin(ymin, y), ymax = fmax(ymax, y);
        }
    ymin = floor(ymin), ymax = ceil(ymax);
    if (!(ymax > ymin)) ymax = ymin + 1;
#define PX(x) (ML + (W - ML - MR) * ((x)-xmin) / (xmax - xmin > 0 ? xmax - xmin : 1))
#define PY(y) (MT + (H - MT - MB) * (1 - ((y)-ymin) / (ymax - ymin)))
    fprintf(o,
            "<svg id='plot-positions' xmlns='http://www.w3.org/2000/svg' width='%d' height='%d' "
            "viewBox='0 0 %d %d' role='img'><title>KLD by context position</title>",
            W, H + 20 * ((r->n_rows + 2) / 3), W, H + 20 * ((r->n_rows + 2) / 3));
    axis_ticks_log(o, ymin, ymax);
    fprintf(o, "<line x1='%d' x2='%d' y1='%d' y2='%d' class='axis'/>", ML, W - MR, H - MB, H - MB);
    for (int t = 0; t <= 4; t++) {
        const double x = xmin + (xmax - xmin) * t / 4;
        fprintf(o, "<text x='%.1f' y='%d' class='tick' text-anchor='middle'>%.0f</text>", PX(x),
                H - MB + 18, x);
    }
    fprintf(o,
            "<text x='%d' y='%d' class='label' text-anchor='middle'>position in the context</text>",
            (ML + W - MR) / 2, H - 8);
    for (int i = 0; i < r->n_rows; i++) {
        const ql_sweep_row *w = &r->rows[i];
        fprintf(o, "<polyline class='series' stroke='%s' points='", palette[i % 10]);
        for (int b = 0; b < r->n_positions; b++) {
            const double mid = 0.5 * (w->buckets[b].pos_begin + w->buckets[b].pos_end);
            fprintf(o, "%.1f,%.1f ", PX(mid), PY(log_or_floor(w->buckets[b].kld.value)));
        }
        fprintf(o, "'><title>");
        html_text(o, w->weights);
        fprintf(o, " %s/%s</title></polyline>", ql_type_name((int)w->k), ql_type_name((int)w->v));
        const int lx = ML + (i % 3) * 230, ly = H + 14 + 20 * (i / 3);
        fprintf(o,
                "<rect x='%d' y='%d' width='12' height='4' fill='%s'/><text x='%d' y='%d' "
                "class='tick'>",
                lx, ly - 4, palette[i % 10], lx + 16, ly);
        html_text(o, w->weights);
        fprintf(o, " %s/%s</text>", ql_type_name((int)w->k), ql_type_name((int)w->v));
    }
    fprintf(o, "</svg>\n");
#undef PX
#undef PY
}

static void html(const ql_sweep_results *r, FILE *o) {
    fprintf(
        o,
        "<!DOCTYPE html>\n<html lang='en'><head><meta charset='utf-8'><title>qlens sweep</title>\n"
        "<style>body{font:14px/1.45 system-ui,sans-serif;margin:24px;color:#222;max-width:1100px}"
        "table{border-collapse:collapse;margin:12px 0}td,th{border:1px solid #ccc;padding:3px 7px;"
        "text-align:right}th{background:#f3f3f3}td:nth-child(2),td:nth-child(3),td:nth-child(4){"
        "text-align:left}"
        ".grid{stroke:#eee}.axis{stroke:#555}.tick{font-size:11px;fill:#444}.label{font-size:12px;"
        "fill:#222}"
        ".frontier{fill:none;stroke:#222;stroke-dasharray:5 4;stroke-width:1.5}"
        ".series{fill:none;stroke-width:2}.point-label{font-size:10px;fill:#333}"
        "tr.indistinct td{color:#777}</style></head><body>\n");
    fprintf(o, "<h1>qlens sweep</h1>\n<p>Reference <code>");
    html_text(o, r->ref_path);
    fprintf(o, "</code>, text <code>");
    html_text(o, r->text_path);
    fprintf(o,
            "</code>: %lld chunks of %lld tokens, rotation %s (%s). KLD: mean KL divergence from "
            "the reference per scored token (lower is better).</p>\n",
            (long long)r->n_chunks, (long long)r->n_ctx, r->rotate, r->hadamard);
    fprintf(o,
            "<h2>KLD against memory at %lld tokens</h2>\n<p>The dashed line is the Pareto "
            "frontier: no configuration below it uses less memory.</p>\n",
            (long long)r->target_ctx);
    plot_memory(r, o);
    if (r->n_positions > 0) {
        fprintf(o, "<h2>KLD by context position</h2>\n");
        plot_positions(r, o);
    }
    fprintf(o,
            "<h2>Configurations</h2>\n<table id='results'><tr><th>#</th><th>weights</th><th>cache "
            "K</th>"
            "<th>cache V</th><th>KLD</th><th>PPL ratio</th><th>same top p</th><th>weights GiB</th>"
            "<th>KV bytes/token</th><th>total GiB</th>%s<th>vs the row above</th></tr>\n",
            r->budget ? "<th>max ctx in budget</th>" : "");
    for (int i = 0; i < r->n_rows; i++) {
        const ql_sweep_row *w = &r->rows[i];
        fprintf(o, "<tr%s><td>%d</td><td>", indistinct(w) ? " class='indistinct'" : "", i + 1);
        html_text(o, w->weights);
        fprintf(o,
                "</td><td>%s</td><td>%s</td><td>%.6f ± %.6f</td><td>%.4f ± %.4f</td>"
                "<td>%.2f ± %.2f %%</td><td>%.3f</td><td>%llu</td><td>%.3f</td>",
                ql_type_name((int)w->k), ql_type_name((int)w->v), w->stats.kld.value,
                w->stats.kld.unc, w->stats.ratio.value, w->stats.ratio.unc,
                100 * w->stats.same_top.value, 100 * w->stats.same_top.unc, gib(w->weight_bytes),
                (unsigned long long)w->kv_bytes_per_token, gib(w->total_bytes_target));
        if (r->budget) fprintf(o, "<td>%lld</td>", (long long)w->max_ctx_budget);
        if (w->has_prev)
            fprintf(o, "<td>%+.6f ± %.6f (%.1fσ)%s</td></tr>\n", w->d_kld, w->d_kld_se, w->sigma,
                    indistinct(w) ? " indistinguishable" : "");
        else
            fprintf(o, "<td>-</td></tr>\n");
    }
    fprintf(o, "</table>\n<p>Generated by qlens %s.</p>\n</body></html>\n", QLENS_VERSION_STRING);
}

ql_status ql_sweep_write_html(const ql_sweep_results *r, const char *path, ql_error *err) {
    return write_with(path, r, html, err);
}
