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
    bool has_kld;
    uint64_t weight_bytes, kv_per_token, total;
    int64_t max_ctx, ctx_train;
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
        r->kv_per_token = ql_plan_kv_bytes(&cfg, r->k, r->v, opt_ctx) / (uint64_t)opt_ctx;
        r->ctx_train = cfg.n_ctx_train;
        r->max_ctx = ql_plan_max_ctx(&cfg, r->weight_bytes, &pc, opt_budget, 1ll << 32);
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
