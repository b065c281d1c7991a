/*
 * cmd_plan.c - `qlens plan`: for a memory budget and a context length, what
 * each configuration needs and the longest context it fits; with a sweep's
 * results, which configuration loses least while reaching the context.
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../lab/plan.h"
#include "../lab/recommend.h"
#include "../lab/runstore.h"
#include "../lab/sweep.h"
#include "../model/context.h"
#include "cli.h"

static const char *opt_model, *opt_sweep,
    *opt_cache = "f16/f16,q8_0/q8_0,q8_0/q5_1,q5_1/q5_1,q5_0/q5_0,q8_0/q4_0,q4_1/q4_1,q4_0/q4_0,"
                 "iq4_nl/iq4_nl";
static uint64_t opt_budget;
static int64_t opt_ctx, opt_ubatch = 512;

static const cli_opt plan_opts[] = {
    {.name = "--model",
     .alias = "-m",
     .kind = CLI_STRING,
     .dest = &opt_model,
     .metavar = "FILE",
     .help = "plan for one model file and a list of cache configurations"},
    {.name = "--sweep",
     .kind = CLI_STRING,
     .dest = &opt_sweep,
     .metavar = "DIR",
     .help = "plan from a sweep's results (DIR/results.csv): recommends a configuration"},
    {.name = "--budget",
     .kind = CLI_BYTES,
     .dest = &opt_budget,
     .metavar = "SIZE",
     .help = "memory budget, e.g. 24GiB, 8GB, 6000MiB (required)"},
    {.name = "--ctx",
     .alias = "-c",
     .kind = CLI_INT,
     .dest = &opt_ctx,
     .metavar = "N",
     .help = "the context length you need (required)",
     .min = 1,
     .max = 1ll << 32},
    {.name = "--cache",
     .kind = CLI_STRING,
     .dest = &opt_cache,
     .metavar = "LIST",
     .help = "K/V cache pairs to list with --model (default: the common ones)"},
    {.name = "--ubatch-size",
     .alias = "-ub",
     .kind = CLI_INT,
     .dest = &opt_ubatch,
     .metavar = "N",
     .help = "micro-batch for the compute-buffer estimate (default 512)",
     .min = 1,
     .max = 1 << 20},
};

static int run_plan(int argc, char **argv);

const ql_command ql_cmd_plan = {
    .name = "plan",
    .summary =
        "memory at a context length, the longest context a budget fits, and a recommendation",
    .usage = "qlens plan (--model FILE.gguf | --sweep DIR) --budget SIZE --ctx N",
    .details =
        "memory = weight bytes + KV cache at the context (per layer: K and V bytes per value\n"
        "including block scales, times KV heads and head size; sliding-window layers hold at\n"
        "most their window) + one micro-batch of working buffers. With --sweep, the\n"
        "recommendation is the lowest-KLD configuration that reaches --ctx within --budget.",
    .opts = plan_opts,
    .n_opts = sizeof plan_opts / sizeof plan_opts[0],
    .run = run_plan,
};

typedef struct {
    char weights[256], path[1024];
    ql_type k, v;
    double kld, kld_unc;
    bool has_kld;
    uint64_t weight_bytes, kv_bytes, work_bytes, total; /* total = the other three */
    int64_t max_ctx;      /* within the budget and the trained context */
    bool max_ctx_trained; /* the budget holds more: the trained context is the limit */
    int64_t ctx_train;
} plan_row;

static ql_status fill_row(plan_row *r, ql_error *err) {
    gguf_file *f;
    ql_status st = gguf_open(r->path, &f, err);
    if (st) return st;
    ql_model_config cfg;
    st = ql_model_read_config(f, &cfg, err);
    if (!st) {
        r->weight_bytes = 0;
        for (int64_t i = 0; i < gguf_n_tensors(f); i++)
            r->weight_bytes += gguf_tensor_at(f, i)->n_bytes;
        const ql_plan_cache pc = {r->k, r->v, opt_ubatch};
        r->total = ql_plan_total_bytes(&cfg, r->weight_bytes, &pc, opt_ctx);
        r->kv_bytes = ql_plan_kv_bytes(&cfg, r->k, r->v, opt_ctx);
        r->work_bytes = ql_plan_compute_bytes(&cfg, opt_ctx < opt_ubatch ? opt_ctx : opt_ubatch);
        r->ctx_train = cfg.n_ctx_train;
        const int64_t by_memory =
            ql_plan_max_ctx(&cfg, r->weight_bytes, &pc, opt_budget, 1ll << 32);
        const int64_t trained = cfg.n_ctx_train > 0 ? cfg.n_ctx_train : by_memory;
        r->max_ctx = by_memory < trained ? by_memory : trained;
        r->max_ctx_trained = by_memory > trained;
    }
    gguf_close(f);
    return st;
}

/* One RFC 4180 record (no embedded newlines in our files). Returns the field count. */
static int csv_split(char *line, char **fields, int max) {
    int n = 0;
    char *p = line;
    while (n < max) {
        char *out = p, *start = p;
        if (*p == '"') {
            p++;
            start = out = p;
            for (;;) {
                if (*p == '\0') break;
                if (*p == '"' && p[1] == '"') {
                    *out++ = '"';
                    p += 2;
                } else if (*p == '"') {
                    p++;
                    break;
                } else {
                    *out++ = *p++;
                }
            }
            while (*p && *p != ',') p++;
        } else {
            while (*p && *p != ',' && *p != '\n' && *p != '\r') out = ++p;
        }
        const char end = *p;
        *out = '\0';
        fields[n++] = start;
        if (end != ',') break;
        p++;
    }
    return n;
}

static int column(char **names, int n, const char *name) {
    for (int i = 0; i < n; i++)
        if (strcmp(names[i], name) == 0) return i;
    return -1;
}

static ql_status load_sweep(const char *dir, plan_row **rows, int *n_rows, ql_error *err) {
    char path[1200];
    snprintf(path, sizeof path, "%s/results.csv", dir);
    FILE *f = fopen(path, "r");
    if (!f)
        return ql_fail(err, QL_ERR_IO, "%s: cannot open: %s (is %s a finished sweep?)", path,
                       strerror(errno), dir);
    char header[4096], line[8192];
    char *names[64], *fields[64];
    ql_status st = QL_OK;
    int nh = 0;
    if (!fgets(header, sizeof header, f))
        st = ql_fail(err, QL_ERR_FORMAT, "%s: empty", path);
    else
        nh = csv_split(header, names, 64);
    const int cw = column(names, nh, "weights"), cp = column(names, nh, "weights_path"),
              ck = column(names, nh, "cache_type_k"), cv = column(names, nh, "cache_type_v"),
              ckld = column(names, nh, "kld"), cu = column(names, nh, "kld_unc");
    if (!st && (cw < 0 || cp < 0 || ck < 0 || cv < 0 || ckld < 0 || cu < 0))
        st = ql_fail(err, QL_ERR_FORMAT, "%s: not a qlens sweep results file", path);
    int cap = 16, n = 0;
    plan_row *r = calloc((size_t)cap, sizeof *r);
    while (!st && fgets(line, sizeof line, f)) {
        const int nf = csv_split(line, fields, 64);
        if (nf < nh) {
            st = ql_fail(err, QL_ERR_FORMAT, "%s: line %d has %d fields, expected %d", path, n + 2,
                         nf, nh);
            break;
        }
        if (n == cap) {
            plan_row *g = realloc(r, (size_t)(cap *= 2) * sizeof *g);
            if (!g) {
                st = ql_fail(err, QL_ERR_NOMEM, "out of memory");
                break;
            }
            r = g;
        }
        plan_row *w = &r[n];
        memset(w, 0, sizeof *w);
        snprintf(w->weights, sizeof w->weights, "%s", fields[cw]);
        snprintf(w->path, sizeof w->path, "%s", fields[cp]);
        const int k = ql_type_from_name(fields[ck]), v = ql_type_from_name(fields[cv]);
        char *end1, *end2;
        w->kld = strtod(fields[ckld], &end1);
        w->kld_unc = strtod(fields[cu], &end2);
        if (k < 0 || v < 0 || *end1 || *end2 || !ql_kv_cache_type_ok((ql_type)k) ||
            !ql_kv_cache_type_ok((ql_type)v)) {
            st = ql_fail(err, QL_ERR_FORMAT, "%s: line %d is malformed", path, n + 2);
            break;
        }
        w->k = (ql_type)k;
        w->v = (ql_type)v;
        w->has_kld = true;
        n++;
    }
    fclose(f);
    if (!st && n == 0) st = ql_fail(err, QL_ERR_FORMAT, "%s: no configurations", path);
    if (st) {
        free(r);
        return st;
    }
    *rows = r;
    *n_rows = n;
    return QL_OK;
}

/* A configuration's per-token values from the sweep, for paired comparisons (NULL if absent). */
static ql_kld_acc *load_run(const char *dir, const plan_row *w, ql_kld_acc *acc) {
    char path[2048];
    ql_sweep_run_path(dir, w->weights, w->k, w->v, path, sizeof path);
    int64_t n_ctx, n_chunks;
    ql_error err;
    return ql_runstore_read(path, acc, &n_ctx, &n_chunks, &err) == QL_OK ? acc : NULL;
}

static void print_recommendation(const char *dir, const plan_row *rows, int n,
                                 const ql_recommendation *rec, const ql_rec_candidate *cands) {
    const plan_row *p = &rows[rec->pick], *b = &rows[rec->best];
    char total[32], diff[32];
    cli_format_bytes(p->total, total, sizeof total);
    printf("Recommended: %s with a %s/%s cache: KLD %.6f ± %.6f, %s at %lld tokens (fits up to "
           "%lld%s).\n",
           p->weights, ql_type_name((int)p->k), ql_type_name((int)p->v), p->kld, p->kld_unc, total,
           (long long)opt_ctx, (long long)p->max_ctx,
           p->max_ctx_trained ? ", the trained context" : "");
    ql_kld_acc pick_acc = {0}, other = {0};
    const bool have_pick = load_run(dir, p, &pick_acc) != NULL;
    if (rec->pick == rec->best) {
        printf("It is also the lowest-KLD configuration of the sweep.\n");
    } else {
        cli_format_bytes(p->total > b->total ? p->total - b->total : b->total - p->total, diff,
                         sizeof diff);
        printf("Against the sweep's best (%s %s/%s, KLD %.6f, which does not fit): %+.6f KLD",
               b->weights, ql_type_name((int)b->k), ql_type_name((int)b->v), b->kld,
               p->kld - b->kld);
        if (have_pick && load_run(dir, b, &other)) {
            const ql_paired d = ql_paired_kld(&other, &pick_acc);
            if (d.valid) printf(" (± %.6f paired, %.1fσ)", d.se, d.sigma);
            ql_kld_acc_free(&other);
        }
        printf(", %s%s of memory.\n", p->total > b->total ? "+" : "-", diff);
    }
    /* the others that fit and cannot be told apart from it on these tokens */
    bool any = false;
    for (int i = 0; i < n && have_pick; i++) {
        if (i == rec->pick || !ql_rec_fits(&cands[i], opt_budget, opt_ctx, rows[i].ctx_train))
            continue;
        if (!load_run(dir, &rows[i], &other)) continue;
        const ql_paired d = ql_paired_kld(&pick_acc, &other);
        ql_kld_acc_free(&other);
        if (!d.valid || fabs(d.sigma) >= QL_REC_INDISTINCT_SIGMA) continue;
        char t[32];
        cli_format_bytes(rows[i].total, t, sizeof t);
        if (!any) printf("Runners-up that fit and cannot be told apart from it on these tokens:\n");
        printf("- %s %s/%s: KLD %.6f, %s; %+.6f ± %.6f against it (%.1fσ, paired per token)\n",
               rows[i].weights, ql_type_name((int)rows[i].k), ql_type_name((int)rows[i].v),
               rows[i].kld, t, d.d_kld, d.se, d.sigma);
        any = true;
    }
    if (have_pick && !any)
        printf("No other configuration that fits is within %.0fσ of it on these tokens.\n",
               QL_REC_INDISTINCT_SIGMA);
    ql_kld_acc_free(&pick_acc);
}

static int run_plan(int argc, char **argv) {
    int np = 0;
    int rc = cli_parse(&ql_cmd_plan, argc, argv, NULL, 0, &np);
    if (rc) return rc < 0 ? QL_EXIT_OK : rc;
    if (!opt_model == !opt_sweep)
        return cli_usage("plan: give exactly one of --model FILE and --sweep DIR");
    if (!opt_budget) return cli_usage("plan: --budget SIZE is required and above 0 (e.g. 24GiB)");
    if (!opt_ctx) return cli_usage("plan: --ctx N is required");
    ql_error err;
    plan_row *rows = NULL;
    int n = 0;
    if (opt_sweep) {
        if (load_sweep(opt_sweep, &rows, &n, &err)) return cli_fail(&err);
    } else {
        char *list = strdup(opt_cache);
        rows = calloc(64, sizeof *rows);
        if (!list || !rows) {
            free(list), free(rows);
            cli_error("out of memory");
            return QL_EXIT_FAILURE;
        }
        for (char *tok = strtok(list, ","); tok && n < 64; tok = strtok(NULL, ",")) {
            char *slash = strchr(tok, '/');
            int k, v;
            if (!slash) {
                /* tok points into list: report before freeing it */
                rc = cli_usage("plan --cache: '%s' is not K/V (e.g. q8_0/q8_0)", tok);
                free(list), free(rows);
                return rc;
            }
            *slash = '\0';
            if (cli_kv_cache_type("--cache", tok, &k, &err) ||
                cli_kv_cache_type("--cache", slash + 1, &v, &err)) {
                free(list), free(rows);
                cli_error("%s", err.msg);
                return QL_EXIT_USAGE;
            }
            plan_row *w = &rows[n++];
            const char *base = strrchr(opt_model, '/');
            snprintf(w->weights, sizeof w->weights, "%s", base ? base + 1 : opt_model);
            snprintf(w->path, sizeof w->path, "%s", opt_model);
            w->k = (ql_type)k;
            w->v = (ql_type)v;
        }
        free(list);
        if (n == 0) {
            free(rows);
            return cli_usage("plan --cache: empty list (e.g. f16/f16,q8_0/q8_0)");
        }
    }
    for (int i = 0; i < n; i++)
        if (fill_row(&rows[i], &err)) {
            free(rows);
            return cli_fail(&err);
        }
    char budget[32];
    cli_format_bytes(opt_budget, budget, sizeof budget);
    const int64_t ctx_train = rows[0].ctx_train;
    const bool beyond = ctx_train > 0 && opt_ctx > ctx_train;
    printf("budget %s, context %lld tokens (the model's trained context: %lld)\n\n", budget,
           (long long)opt_ctx, (long long)ctx_train);
    printf("| weights | cache K | cache V |%s weights | KV cache @ %lld | working buffers | "
           "total @ %lld | fits | max context |\n",
           opt_sweep ? " KLD |" : "", (long long)opt_ctx, (long long)opt_ctx);
    printf("|---|---|---|%s---|---|---|---|---|---|\n", opt_sweep ? "---|" : "");
    ql_rec_candidate *cands = calloc((size_t)n, sizeof *cands);
    if (!cands) {
        free(rows);
        cli_error("out of memory");
        return QL_EXIT_FAILURE;
    }
    for (int i = 0; i < n; i++) {
        const plan_row *w = &rows[i];
        cands[i] = (ql_rec_candidate){w->kld, w->total};
        const bool fits = ql_rec_fits(&cands[i], opt_budget, opt_ctx, w->ctx_train);
        char wb[32], kv[32], work[32], total[32], ctx[64];
        cli_format_bytes(w->weight_bytes, wb, sizeof wb);
        cli_format_bytes(w->kv_bytes, kv, sizeof kv);
        cli_format_bytes(w->work_bytes, work, sizeof work);
        cli_format_bytes(w->total, total, sizeof total);
        snprintf(ctx, sizeof ctx, "%lld%s", (long long)w->max_ctx,
                 w->max_ctx_trained ? " (the trained context; the budget holds more)" : "");
        printf("| %s | %s | %s |", w->weights, ql_type_name((int)w->k), ql_type_name((int)w->v));
        if (opt_sweep) printf(" %.6f ± %.6f |", w->kld, w->kld_unc);
        printf(" %s | %s | %s | %s | %s | %s |\n", wb, kv, work, total,
               fits     ? "yes"
               : beyond ? "no: past the trained context"
                        : "no",
               ctx);
    }
    printf("\ntotal = weights + KV cache at %lld tokens + working buffers (one micro-batch of %lld "
           "tokens: its logits and activations)\n",
           (long long)opt_ctx, (long long)(opt_ctx < opt_ubatch ? opt_ctx : opt_ubatch));
    if (beyond)
        printf("\n%lld tokens is past the model's trained context (%lld): no configuration is "
               "offered for it.\n",
               (long long)opt_ctx, (long long)ctx_train);
    if (opt_sweep && !beyond) {
        ql_recommendation rec;
        ql_recommend(cands, n, opt_budget, opt_ctx, ctx_train, &rec);
        printf("\n");
        if (rec.pick < 0) {
            const plan_row *s = &rows[rec.smallest];
            char least[32];
            cli_format_bytes(s->total, least, sizeof least);
            printf("No configuration reaches %lld tokens within %s; the smallest, %s %s/%s, needs "
                   "%s (max context %lld).\n",
                   (long long)opt_ctx, budget, s->weights, ql_type_name((int)s->k),
                   ql_type_name((int)s->v), least, (long long)s->max_ctx);
        } else {
            print_recommendation(opt_sweep, rows, n, &rec, cands);
        }
    }
    free(cands);
    free(rows);
    return QL_EXIT_OK;
}
