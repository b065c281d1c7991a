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
        "memory = weight bytes + KV cache at the context (per layer: K and V bytes per value\n"
        "including block scales, times KV heads and head size; sliding-window layers hold at\n"
        "most their window) + one micro-batch of working buffers. With --sweep, the\n"
        "recommendation is the lowest-KLD configuration that reaches --ctx within --budget.",
    .opts = plan_opts,
    .n_opts = sizeof plan_opts / sizeof plan_opts[0],
    .run = run_plan,
};

static double gib(uint64_t b) {
    return (double)b / (1024.0 * 1024.0 * 1024.0);
}

typedef struct {
    char weights[256], path[1024];
    ql_type k, v;
    double kld, kld_unc;
    uint64_t weight_bytes, kv_per_token, total;
    int64_t max_ctx, ctx_train;
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
        r->kv_per_token = ql_plan_kv_bytes(cfg, r->k, r->v, opt_ctx) / (uint64_t)opt_ctx;
        r->ctx_train = cfg->n_ctx_train;
        r->max_ctx = ql_plan_max_ctx(cfg, r->weight_bytes, &pc, opt_budget, 1ll << 32);
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
    printf("budget %s, context %lld tokens\n\n", budget, (long long)opt_ctx);
    printf("| weights | cache K | cache V |%s weights GiB | KV bytes/token | total GiB @ %lld | "
           "fits | max context |\n",
           opt_sweep ? " KLD |" : "", (long long)opt_ctx);
    printf("|---|---|---|%s---|---|---|---|---|\n", opt_sweep ? "---|" : "");
    int best = -1, pick = -1;
    for (int i = 0; i < n; i++) {
        const plan_row *w = &rows[i];
        const bool fits = w->total <= opt_budget;
        printf("| %s | %s | %s |", cli_shown(w->weights), ql_type_name((int)w->k),
               ql_type_name((int)w->v));
        if (opt_sweep) printf(" %.6f ± %.6f |", w->kld, w->kld_unc);
        printf(" %.3f | %llu | %.3f | %s | %lld%s |\n", gib(w->weight_bytes),
               (unsigned long long)w->kv_per_token, gib(w->total), fits ? "yes" : "no",
               (long long)w->max_ctx,
               w->max_ctx > w->ctx_train ? " (beyond the trained context)" : "");
        if (opt_sweep) {
            if (best < 0 || w->kld < rows[best].kld) best = i;
            if (fits && (pick < 0 || w->kld < rows[pick].kld)) pick = i;
        }
    }
    if (opt_ctx > rows[0].ctx_train)
        printf("\nnote: %lld tokens is beyond the model's trained context (%lld)\n",
               (long long)opt_ctx, (long long)rows[0].ctx_train);
    if (opt_sweep) {
        printf("\n");
        if (pick < 0) {
            printf("No configuration reaches %lld tokens within %s; the smallest needs %.3f GiB.\n",
                   (long long)opt_ctx, budget, gib(rows[0].total));
            uint64_t least = rows[0].total;
            int li = 0;
            for (int i = 1; i < n; i++)
                if (rows[i].total < least) least = rows[i].total, li = i;
            printf("Closest: %s %s/%s at %.3f GiB (max context %lld).\n",
                   cli_shown(rows[li].weights), ql_type_name((int)rows[li].k),
                   ql_type_name((int)rows[li].v), gib(least), (long long)rows[li].max_ctx);
        } else {
            const plan_row *p = &rows[pick], *b = &rows[best];
            printf("Recommended: %s with a %s/%s cache: KLD %.6f ± %.6f, %.3f GiB at %lld tokens "
                   "(fits up to %lld).\n",
                   cli_shown(p->weights), ql_type_name((int)p->k), ql_type_name((int)p->v), p->kld,
                   p->kld_unc, gib(p->total), (long long)opt_ctx, (long long)p->max_ctx);
            if (pick == best)
                printf("It is also the lowest-KLD configuration of the sweep.\n");
            else
                printf(
                    "Against the sweep's best (%s %s/%s, KLD %.6f, %.3f GiB, which does not fit): "
                    "%+.6f KLD, %+.3f GiB.\n",
                    cli_shown(b->weights), ql_type_name((int)b->k), ql_type_name((int)b->v), b->kld,
                    gib(b->total), p->kld - b->kld, gib(p->total) - gib(b->total));
        }
    }
    free(rows);
    return QL_EXIT_OK;
}
