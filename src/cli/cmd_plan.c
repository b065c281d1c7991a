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
#include "../lab/plan_csv.h"
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
        "memory = weight bytes + KV cache at the context (per attention layer: K and V bytes\n"
        "per value including block scales, times KV heads and head size; sliding-window\n"
        "layers hold the ring llama.cpp keeps, pad256(min(ctx, window + ubatch))) + a hybrid's\n"
        "recurrent state (Gated DeltaNet layers: a conv window and f32 states, the same at\n"
        "every context; they hold no K or V) + one micro-batch of working buffers. With\n"
        "--sweep, the recommendation is the lowest-KLD configuration that reaches --ctx\n"
        "within --budget.",
    .opts = plan_opts,
    .n_opts = sizeof plan_opts / sizeof plan_opts[0],
    .run = run_plan,
};

typedef struct {
    char weights[256], path[1024];
    ql_type k, v;
    double kld, kld_unc;
    uint64_t weight_bytes, kv_bytes, recurrent_bytes, work_bytes;
    uint64_t total;       /* the four together */
    int64_t max_ctx;      /* within the budget and the trained context */
    bool max_ctx_trained; /* the budget holds more: the trained context is the limit */
    int64_t ctx_train;
} plan_row;

/* Every row's memory at --ctx and its longest context within --budget, each model read once. */
static ql_status fill_rows(plan_row *rows, int n, ql_error *err) {
    const char **paths = malloc((size_t)n * sizeof *paths);
    ql_plan_model *models = malloc((size_t)n * sizeof *models);
    ql_status st = paths && models ? QL_OK : ql_fail(err, QL_ERR_NOMEM, "out of memory");
    for (int i = 0; i < n && !st; i++) paths[i] = rows[i].path;
    int64_t opened;
    if (!st) st = ql_plan_read_models(paths, n, models, &opened, err);
    for (int i = 0; i < n && !st; i++) {
        plan_row *r = &rows[i];
        const ql_model_config *cfg = &models[i].cfg;
        r->weight_bytes = models[i].weight_bytes;
        const ql_plan_cache pc = {r->k, r->v, opt_ubatch};
        r->total = ql_plan_total_bytes(cfg, r->weight_bytes, &pc, opt_ctx);
        r->kv_bytes = ql_plan_kv_bytes(cfg, &pc, opt_ctx);
        r->recurrent_bytes = ql_plan_recurrent_bytes(cfg);
        r->work_bytes = ql_plan_compute_bytes(cfg, opt_ctx < opt_ubatch ? opt_ctx : opt_ubatch);
        r->ctx_train = cfg->n_ctx_train;
        const int64_t by_memory = ql_plan_max_ctx(cfg, r->weight_bytes, &pc, opt_budget, 1ll << 32);
        const int64_t trained = cfg->n_ctx_train > 0 ? cfg->n_ctx_train : by_memory;
        r->max_ctx = by_memory < trained ? by_memory : trained;
        r->max_ctx_trained = by_memory > trained;
    }
    free(paths);
    free(models);
    return st;
}

static ql_status load_sweep(const char *dir, plan_row **rows, int *n_rows, ql_error *err) {
    char path[1200];
    snprintf(path, sizeof path, "%s/results.csv", dir);
    char *data;
    size_t len;
    ql_status st = cli_read_file(path, &data, &len, err);
    if (st) {
        char why[QL_ERROR_MSG_MAX];
        snprintf(why, sizeof why, "%s", err->msg);
        return ql_fail(err, st, "%s (is %s a finished sweep?)", why, dir);
    }
    ql_plan_entry *entries;
    int64_t n;
    st = ql_plan_parse_csv(data, len, path, &entries, &n, err);
    free(data);
    if (st) return st;
    if (n > INT32_MAX / 2) {
        free(entries);
        return ql_fail(err, QL_ERR_FORMAT, "%s: %lld configurations are too many", path,
                       (long long)n);
    }
    plan_row *r = calloc((size_t)n, sizeof *r);
    if (!r) {
        free(entries);
        return ql_fail(err, QL_ERR_NOMEM, "out of memory");
    }
    for (int64_t i = 0; i < n; i++) {
        memcpy(r[i].weights, entries[i].weights, sizeof r[i].weights);
        memcpy(r[i].path, entries[i].path, sizeof r[i].path);
        r[i].k = entries[i].k;
        r[i].v = entries[i].v;
        r[i].kld = entries[i].kld;
        r[i].kld_unc = entries[i].kld_unc;
    }
    free(entries);
    *rows = r;
    *n_rows = (int)n;
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
           cli_shown(p->weights), ql_type_name((int)p->k), ql_type_name((int)p->v), p->kld,
           p->kld_unc, total, (long long)opt_ctx, (long long)p->max_ctx,
           p->max_ctx_trained ? ", the trained context" : "");
    ql_kld_acc pick_acc = {0}, other = {0};
    const bool have_pick = load_run(dir, p, &pick_acc) != NULL;
    if (rec->pick == rec->best) {
        printf("It is also the lowest-KLD configuration of the sweep.\n");
    } else {
        cli_format_bytes(p->total > b->total ? p->total - b->total : b->total - p->total, diff,
                         sizeof diff);
        printf("Against the sweep's best (%s %s/%s, KLD %.6f, which does not fit): %+.6f KLD",
               cli_shown(b->weights), ql_type_name((int)b->k), ql_type_name((int)b->v), b->kld,
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
               cli_shown(rows[i].weights), ql_type_name((int)rows[i].k),
               ql_type_name((int)rows[i].v), rows[i].kld, t, d.d_kld, d.se, d.sigma);
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
    if (fill_rows(rows, n, &err)) {
        free(rows);
        return cli_fail(&err);
    }
    char budget[32];
    cli_format_bytes(opt_budget, budget, sizeof budget);
    const int64_t ctx_train = rows[0].ctx_train;
    const bool beyond = ctx_train > 0 && opt_ctx > ctx_train;
    printf("budget %s, context %lld tokens (the model's trained context: %lld)\n\n", budget,
           (long long)opt_ctx, (long long)ctx_train);
    bool recurrent = false; /* a hybrid among the rows: show its fixed state */
    for (int i = 0; i < n; i++) recurrent = recurrent || rows[i].recurrent_bytes > 0;
    printf("| weights | cache K | cache V |%s weights | KV cache @ %lld |%s working buffers | "
           "total @ %lld | fits | max context |\n",
           opt_sweep ? " KLD |" : "", (long long)opt_ctx, recurrent ? " recurrent state |" : "",
           (long long)opt_ctx);
    printf("|---|---|---|%s---|---|%s---|---|---|---|\n", opt_sweep ? "---|" : "",
           recurrent ? "---|" : "");
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
        printf("| %s | %s | %s |", cli_shown(w->weights), ql_type_name((int)w->k),
               ql_type_name((int)w->v));
        if (opt_sweep) printf(" %.6f ± %.6f |", w->kld, w->kld_unc);
        printf(" %s | %s |", wb, kv);
        if (recurrent) {
            char rs[32];
            cli_format_bytes(w->recurrent_bytes, rs, sizeof rs);
            printf(" %s |", rs);
        }
        printf(" %s | %s | %s | %s |\n", work, total,
               fits     ? "yes"
               : beyond ? "no: past the trained context"
                        : "no",
               ctx);
    }
    printf("\ntotal = weights + KV cache at %lld tokens%s + working buffers (one micro-batch of "
           "%lld tokens: its logits and activations)\n",
           (long long)opt_ctx,
           recurrent ? " + the recurrent state of the Gated DeltaNet layers (fixed; they hold no "
                       "KV cache)"
                     : "",
           (long long)(opt_ctx < opt_ubatch ? opt_ctx : opt_ubatch));
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
                   (long long)opt_ctx, budget, cli_shown(s->weights), ql_type_name((int)s->k),
                   ql_type_name((int)s->v), least, (long long)s->max_ctx);
        } else {
            print_recommendation(opt_sweep, rows, n, &rec, cands);
        }
    }
    free(cands);
    free(rows);
    return QL_EXIT_OK;
}
