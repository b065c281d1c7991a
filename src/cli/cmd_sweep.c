/*
 * cmd_sweep.c - `qlens sweep`: weights x K cache x V cache against one
 * reference, into one table (see src/lab/sweep.h), resumable after any
 * interruption.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../core/printable.h"
#include "../lab/quantize_rules.h"
#include "../lab/sweep.h"
#include "../model/context.h"
#include "cli.h"

#ifdef QL_MPI
#include <mpi.h>
#endif

static const char *opt_ref, *opt_weights, *opt_cache = "f16/f16", *opt_file, *opt_out,
                                          *opt_rotate = "auto", *opt_hadamard = "fwht",
                                          *opt_numerics = "auto", *opt_shard, *opt_llama_lib;
static int64_t opt_ctx = 512, opt_chunks, opt_target_ctx, opt_threads, opt_positions = 8;
static bool opt_no_repack, opt_merge;
static uint64_t opt_budget;

static const cli_opt sweep_opts[] = {
    {.name = "--llama-lib",
     .kind = CLI_STRING,
     .dest = &opt_llama_lib,
     .metavar = "PATH",
     .help = "libllama.so for the cache items run on llama.cpp (K/V@llama.cpp)"},
    {.name = "--ref",
     .kind = CLI_STRING,
     .dest = &opt_ref,
     .metavar = "FILE",
     .help = "the reference model (GGUF); weight files are made from it"},
    {.name = "--weights",
     .kind = CLI_STRING,
     .dest = &opt_weights,
     .metavar = "LIST",
     .help = "comma-separated file types (Q8_0,Q5_K_M,...) and/or .gguf files"},
    {.name = "--cache",
     .kind = CLI_STRING,
     .dest = &opt_cache,
     .metavar = "LIST",
     .help = "comma-separated K/V cache types, e.g. f16/f16,q8_0/q8_0,q4_0/q4_0 (default f16/f16); "
             "K/V@llama.cpp runs that one on the llama.cpp engine"},
    {.name = "--kv-rotate",
     .kind = CLI_STRING,
     .dest = &opt_rotate,
     .metavar = "MODE",
     .help = "rotation for the configurations: auto (default), on, off"},
    {.name = "--kv-hadamard",
     .kind = CLI_STRING,
     .dest = &opt_hadamard,
     .metavar = "MODE",
     .help = "how rotations are computed: fwht (default, current llama.cpp) or dense "
             "(llama.cpp before May 2026)"},
    {.name = "--numerics",
     .kind = CLI_STRING,
     .dest = &opt_numerics,
     .metavar = "MODE",
     .help = "f16 arithmetic to reproduce: auto (this CPU's, default), fp16 or f32"},
    {.name = "--no-repack",
     .kind = CLI_FLAG,
     .dest = &opt_no_repack,
     .help = "follow llama.cpp run with --no-repack (weights not repacked)"},
    {.name = "--file",
     .alias = "-f",
     .kind = CLI_STRING,
     .dest = &opt_file,
     .metavar = "FILE",
     .help = "the text to evaluate"},
    {.name = "--ctx-size",
     .alias = "-c",
     .kind = CLI_INT,
     .dest = &opt_ctx,
     .metavar = "N",
     .help = "tokens per chunk (default 512)",
     .min = 4,
     .max = 1 << 24},
    {.name = "--chunks",
     .kind = CLI_INT,
     .dest = &opt_chunks,
     .metavar = "N",
     .help = "chunks per configuration (default: all the text gives)",
     .min = 1,
     .max = 1 << 30},
    {.name = "--out",
     .kind = CLI_STRING,
     .dest = &opt_out,
     .metavar = "DIR",
     .help = "directory for weight files, runs and results (reused to resume)"},
    {.name = "--target-ctx",
     .kind = CLI_INT,
     .dest = &opt_target_ctx,
     .metavar = "N",
     .help = "context for the memory columns (default: the model's trained context)",
     .min = 1,
     .max = 1ll << 32},
    {.name = "--budget",
     .kind = CLI_BYTES,
     .dest = &opt_budget,
     .metavar = "SIZE",
     .help = "memory budget (e.g. 8GiB): adds the longest context each configuration fits"},
    {.name = "--kld-positions",
     .kind = CLI_INT,
     .dest = &opt_positions,
     .metavar = "N",
     .help = "buckets of context position for KLD by position (default 8)",
     .min = 1,
     .max = 4096},
    {.name = "--shard",
     .kind = CLI_STRING,
     .dest = &opt_shard,
     .metavar = "K/N",
     .help = "run the K-th of N slices of the configurations (DIR shared by the shards)"},
    {.name = "--merge",
     .kind = CLI_FLAG,
     .dest = &opt_merge,
     .help = "write the tables from the finished shards in DIR (the sweep's other options)"},
    {.name = "--threads",
     .alias = "-t",
     .kind = CLI_INT,
     .dest = &opt_threads,
     .metavar = "N",
     .help = "threads (default: all CPUs)",
     .min = 1,
     .max = 1024},
};

static int run_sweep(int argc, char **argv);

const ql_command ql_cmd_sweep = {
    .name = "sweep",
    .summary = "evaluate weights x K cache x V cache against a reference into one table",
    .usage = "qlens sweep --ref REF.gguf --weights LIST --cache LIST -f TEXT -c N --out DIR "
             "[--chunks N] [--budget SIZE] [--target-ctx N] [--shard K/N | --merge]",
    .details = "Makes the missing weight files from REF (qlens quantize), computes the reference\n"
               "once (REF, f16 cache), runs every configuration against it and writes\n"
               "DIR/results.md, results.csv, results.json and report.html. Rows are sorted by\n"
               "mean KLD; each row is compared with the one above it token by token (paired\n"
               "standard error), and rows closer than 2 sigma are marked as indistinguishable.\n"
               "Every finished step is journaled in DIR/journal: rerunning the same command\n"
               "after an interruption resumes without recomputing anything finished.\n"
               "--shard K/N runs configuration i (plan order, from 0) when i mod N = K-1, in\n"
               "DIR/shard-K-of-N, reusing DIR's weight files and reference (made once, by the\n"
               "first shard that needs them); --merge then writes the tables. Under mpirun\n"
               "(qlens built with MPI=1) rank R runs shard R+1 of the ranks, rank 0 merges.",
    .opts = sweep_opts,
    .n_opts = sizeof sweep_opts / sizeof sweep_opts[0],
    .run = run_sweep,
};

/* Splits a comma-separated list in place. */
static int split_list(char *s, char **items, int max) {
    int n = 0;
    for (char *tok = strtok(s, ","); tok && n < max; tok = strtok(NULL, ",")) {
        while (*tok == ' ') tok++;
        if (*tok) items[n++] = tok;
    }
    return n;
}

/*
 * The sweep's progress line. Its ETA is the evaluation tokens left over the
 * tokens/s measured so far in this process (quantizing has no tokens, so it
 * shows none until the first chunk is evaluated). A ticker thread redraws it
 * a few times a second, extrapolating from the last chunk at the measured
 * rate, so the ETA and the bar move inside a run and the line never goes
 * blank between steps. Everything the terminal sees is written under `lock`.
 */
typedef struct {
    cli_progress bar;
    pthread_mutex_t lock;
    pthread_cond_t wake;
    pthread_t ticker;
    bool ticking, stop;
    bool have_progress;
    ql_sweep_progress last; /* the latest report (what points into what_buf) */
    char what_buf[320];
    double t_last;       /* when `last` arrived */
    double t_eval_start; /* when the first evaluation step started; < 0 before */
    double rate;         /* evaluation tokens/s so far; 0 until a chunk is done */
} sweep_ui;

static void draw(sweep_ui *ui, double now) {
    if (!ui->have_progress) return;
    const ql_sweep_progress *p = &ui->last;
    char detail[400];
    double frac = p->eval_total > 0 ? (double)p->eval_done / (double)p->eval_total : 0;
    double eta = -1;
    if (p->phase == QL_SWEEP_QUANTIZE) {
        snprintf(detail, sizeof detail, "step %d/%d: quantizing %s, tensor %.0f/%.0f", p->step,
                 p->n_steps, cli_shown(p->what), p->step_done, p->step_total);
    } else {
        double step_done = p->step_done;
        if (ui->rate > 0) {
            /* the chunk under way advances at the measured rate, up to the step's end */
            step_done += ui->rate * (now - ui->t_last);
            if (step_done > p->step_total) step_done = p->step_total;
            const double eval_now = (double)p->eval_done + (step_done - p->step_done);
            frac = p->eval_total > 0 ? eval_now / (double)p->eval_total : 1;
            eta = ((double)p->eval_total - eval_now) / ui->rate;
        }
        snprintf(detail, sizeof detail, "step %d/%d: %s, %.0f/%.0f tokens", p->step, p->n_steps,
                 cli_shown(p->what), p->step_done, p->step_total);
    }
    cli_progress_draw(&ui->bar, frac, eta, detail);
}

static void *tick(void *arg) {
    sweep_ui *ui = arg;
    pthread_mutex_lock(&ui->lock);
    while (!ui->stop) {
        struct timespec until;
        clock_gettime(CLOCK_REALTIME, &until);
        until.tv_nsec += 250 * 1000 * 1000;
        if (until.tv_nsec >= 1000000000) until.tv_sec++, until.tv_nsec -= 1000000000;
        pthread_cond_timedwait(&ui->wake, &ui->lock, &until);
        if (!ui->stop) draw(ui, cli_now());
    }
    pthread_mutex_unlock(&ui->lock);
    return NULL;
}

static void on_progress(void *user, const ql_sweep_progress *p) {
    sweep_ui *ui = user;
    const double now = cli_now();
    pthread_mutex_lock(&ui->lock);
    const bool new_step = !ui->have_progress || p->step != ui->last.step;
    ui->last = *p;
    snprintf(ui->what_buf, sizeof ui->what_buf, "%s", p->what ? p->what : "");
    ui->last.what = ui->what_buf;
    ui->t_last = now;
    ui->have_progress = true;
    if (p->phase != QL_SWEEP_QUANTIZE) {
        if (ui->t_eval_start < 0) ui->t_eval_start = now;
        if (p->eval_done > 0 && now > ui->t_eval_start)
            ui->rate = (double)p->eval_done / (now - ui->t_eval_start);
    }
    /* tensors come by the hundred: a tenth of a second between redraws is enough */
    if (new_step || p->phase != QL_SWEEP_QUANTIZE || now - ui->bar.last_draw >= 0.1) draw(ui, now);
    pthread_mutex_unlock(&ui->lock);
}

/* "shard 2/4: " before each step's line when the sweep runs in shards, so their logs say whose */
static char step_prefix[64];
/* a rank of mpirun: its shard is not the user's to merge */
static bool is_rank;

static void on_step(void *user, const char *step, bool reused) {
    sweep_ui *ui = user;
    pthread_mutex_lock(&ui->lock);
    cli_progress_end(&ui->bar);
    if (!cli_quiet())
        fprintf(stderr, "sweep: %s%s %s\n", step_prefix, cli_shown(step),
                reused ? "(already done, reused)" : "done");
    draw(ui, cli_now());
    pthread_mutex_unlock(&ui->lock);
}

static void ui_begin(sweep_ui *ui) {
    memset(ui, 0, sizeof *ui);
    pthread_mutex_init(&ui->lock, NULL);
    pthread_cond_init(&ui->wake, NULL);
    ui->t_eval_start = -1;
    cli_progress_begin(&ui->bar, "sweep");
    ui->ticking = ui->bar.enabled && pthread_create(&ui->ticker, NULL, tick, ui) == 0;
}

static void ui_end(sweep_ui *ui) {
    pthread_mutex_lock(&ui->lock);
    ui->stop = true;
    pthread_cond_signal(&ui->wake);
    pthread_mutex_unlock(&ui->lock);
    if (ui->ticking) pthread_join(ui->ticker, NULL);
    cli_progress_end(&ui->bar);
    pthread_cond_destroy(&ui->wake);
    pthread_mutex_destroy(&ui->lock);
}

/* The table on stdout, from DIR's runs (its shards' with p->shard_n). */
static int print_results(const ql_sweep_params *p) {
    ql_error err;
    ql_sweep_results r;
    if (ql_sweep_results_load(p, &r, &err)) return cli_fail(&err);
    ql_sweep_print_table(&r, stdout);
    printf("\nresults in %s/: results.md, results.csv, results.json, report.html\n",
           cli_shown(p->out_dir));
    ql_sweep_results_free(&r);
    return QL_EXIT_OK;
}

/*
 * The sweep, one shard of it (shard_n > 0) or the merge of its shards
 * (opt_merge: of shard_n shards, or of the split DIR holds when 0).
 */
static int run_one(ql_sweep_params *p, int shard_k, int shard_n) {
    ql_error err;
    if (opt_merge) {
        if (shard_n == 0 && ql_sweep_find_shards(p->out_dir, &shard_n, &err)) return cli_fail(&err);
        p->shard_n = shard_n;
        p->merge = true;
        if (ql_sweep_run(p, NULL, NULL, NULL, &err)) return cli_fail(&err);
        return print_results(p);
    }
    p->shard_k = shard_k;
    p->shard_n = shard_n;
    if (shard_n > 0) snprintf(step_prefix, sizeof step_prefix, "shard %d/%d: ", shard_k, shard_n);
    sweep_ui ui;
    ui_begin(&ui);
    ql_status st = ql_sweep_run(p, on_progress, on_step, &ui, &err);
    ui_end(&ui);
    if (st) return cli_fail(&err);
    if (shard_n == 0) return print_results(p);
    if (is_rank) return QL_EXIT_OK;
    printf("shard %d/%d done in %s/shard-%d-of-%d; once every shard is, the same command with "
           "--merge instead of --shard writes the tables\n",
           shard_k, shard_n, cli_shown(p->out_dir), shard_k, shard_n);
    return QL_EXIT_OK;
}

#ifdef QL_MPI
/* Started by mpirun (Open MPI's, or an MPICH-style launcher's, Slurm's srun included). */
static bool under_mpi_launcher(void) {
    return getenv("OMPI_COMM_WORLD_SIZE") || getenv("PMI_SIZE") || getenv("PMIX_RANK");
}

/*
 * One rank of mpirun -n N: rank R runs shard R+1 of N in DIR (so a rank that
 * dies loses only the configuration it was running, and the same command
 * resumes), then rank 0 merges once every rank has finished. The ranks share
 * nothing but DIR and one reduction of whether they succeeded.
 */
static int run_ranks(ql_sweep_params *p, int rank, int size) {
    is_rank = true;
    int rc = run_one(p, rank + 1, size);
    int ok = rc == QL_EXIT_OK, all_ok = 0;
    MPI_Allreduce(&ok, &all_ok, 1, MPI_INT, MPI_MIN, MPI_COMM_WORLD);
    if (rank != 0) return rc;
    if (!all_ok) {
        if (ok)
            fprintf(stderr, "qlens: error: sweep: another rank failed (its error is above); "
                            "rerun the same command to finish its configurations\n");
        return rc ? rc : QL_EXIT_FAILURE;
    }
    /* the ranks' split, whatever shards of another an earlier run left in DIR */
    opt_merge = true;
    return run_one(p, 0, size);
}
#endif

static int run_plan(ql_sweep_params *p, int shard_k, int shard_n) {
#ifdef QL_MPI
    if (under_mpi_launcher()) {
        int provided, rank = 0, size = 1;
        /* only this thread calls MPI; the engine's worker threads never do */
        MPI_Init_thread(NULL, NULL, MPI_THREAD_FUNNELED, &provided);
        MPI_Comm_rank(MPI_COMM_WORLD, &rank);
        MPI_Comm_size(MPI_COMM_WORLD, &size);
        int rc;
        if (size > 1 && (shard_n > 0 || opt_merge))
            rc = rank == 0 ? cli_usage("sweep: under mpirun the ranks are the shards: give no "
                                       "--shard or --merge")
                           : QL_EXIT_USAGE;
        else
            rc = size > 1 ? run_ranks(p, rank, size) : run_one(p, shard_k, shard_n);
        MPI_Finalize();
        return rc;
    }
#endif
    return run_one(p, shard_k, shard_n);
}

static int run_sweep(int argc, char **argv) {
    int np = 0;
    int rc = cli_parse(&ql_cmd_sweep, argc, argv, NULL, 0, &np);
    if (rc) return rc < 0 ? QL_EXIT_OK : rc;
    if (!opt_ref) return cli_usage("sweep: --ref REF.gguf is required");
    if (!opt_weights) return cli_usage("sweep: --weights LIST is required");
    if (!opt_file) return cli_usage("sweep: -f TEXT is required");
    if (!opt_out) return cli_usage("sweep: --out DIR is required");
    ql_rotate_mode rotate_mode;
    if (!ql_rotate_mode_from_name(opt_rotate, &rotate_mode))
        return cli_usage("sweep --kv-rotate: '%s' is not auto, on or off", opt_rotate);
    ql_hadamard_mode hadamard_mode;
    if (!ql_hadamard_mode_from_name(opt_hadamard, &hadamard_mode))
        return cli_usage("sweep --kv-hadamard: '%s' is not fwht or dense", opt_hadamard);
    ql_numerics numerics;
    if (!ql_numerics_from_name(opt_numerics, &numerics))
        return cli_usage("sweep --numerics: '%s' is not auto, fp16 or f32", opt_numerics);

    int shard_k = 0, shard_n = 0;
    if (opt_shard) {
        int end = 0;
        if (sscanf(opt_shard, "%d/%d%n", &shard_k, &shard_n, &end) != 2 || opt_shard[end] ||
            !strchr("0123456789", opt_shard[0]) || shard_n < 1 || shard_k < 1 || shard_k > shard_n)
            return cli_usage("sweep --shard: '%s' is not K/N with 1 <= K <= N (e.g. 2/4)",
                             opt_shard);
    }
    if (opt_shard && opt_merge)
        return cli_usage("sweep: --merge finds the shards in --out DIR; give it no --shard");

    enum { MAX_ITEMS = 64 };
    char *wl = strdup(opt_weights), *cl = strdup(opt_cache);
    char *witems[MAX_ITEMS], *citems[MAX_ITEMS];
    const int nw = split_list(wl, witems, MAX_ITEMS), nc = split_list(cl, citems, MAX_ITEMS);
    ql_sweep_weights weights[MAX_ITEMS];
    /* a file's label is its name as a terminal may show it: it lands in tables and the journal */
    static char labels[MAX_ITEMS][256];
    ql_sweep_cache caches[MAX_ITEMS];
    rc = QL_EXIT_OK;
    if (nw == 0) rc = cli_usage("sweep --weights: empty list");
    if (!rc && nc == 0) rc = cli_usage("sweep --cache: empty list");
    for (int i = 0; i < nw && !rc; i++) {
        const size_t len = strlen(witems[i]);
        const bool is_file = len > 5 && strcmp(witems[i] + len - 5, ".gguf") == 0;
        weights[i].path = is_file ? witems[i] : NULL;
        const char *base = strrchr(witems[i], '/');
        weights[i].label =
            is_file ? ql_printable(base ? base + 1 : witems[i], labels[i], sizeof labels[i])
                    : witems[i];
        if (!is_file && !ql_ftype_find(witems[i])) {
            rc = cli_usage("sweep --weights: '%s' is neither a file type (%s) nor a .gguf file",
                           witems[i], ql_ftype_names());
            break;
        }
        for (int k = 0; k < i; k++)
            if (strcmp(weights[k].label, weights[i].label) == 0)
                rc = cli_usage("sweep --weights: '%s' is listed twice", weights[i].label);
    }
    ql_error err;
    for (int i = 0; i < nc && !rc; i++) {
        /* "K/V@llama.cpp": the same configuration on the llama.cpp engine */
        char *at = strchr(citems[i], '@');
        bool llama = false;
        if (at) {
            if (strcmp(at + 1, "llama.cpp") != 0 && strcmp(at + 1, "qlens") != 0) {
                rc = cli_usage("sweep --cache: '%s': the engine after @ is qlens or llama.cpp",
                               citems[i]);
                break;
            }
            llama = strcmp(at + 1, "llama.cpp") == 0;
            *at = '\0';
        }
        char *slash = strchr(citems[i], '/');
        if (!slash) {
            rc = cli_usage("sweep --cache: '%s' is not K/V (e.g. q8_0/q8_0)", citems[i]);
            break;
        }
        *slash = '\0';
        int k, v;
        if (cli_kv_cache_type("--cache", citems[i], &k, &err) ||
            cli_kv_cache_type("--cache", slash + 1, &v, &err)) {
            rc = cli_fail(&err);
            rc = QL_EXIT_USAGE;
            break;
        }
        caches[i] = (ql_sweep_cache){(ql_type)k, (ql_type)v, llama};
        for (int j = 0; j < i; j++)
            if (caches[j].k == caches[i].k && caches[j].v == caches[i].v &&
                caches[j].llama == caches[i].llama)
                rc = cli_usage("sweep --cache: %s/%s is listed twice", citems[i], slash + 1);
    }
    if (!rc) {
        ql_sweep_params p = {
            .ref_path = opt_ref,
            .text_path = opt_file,
            .out_dir = opt_out,
            .weights = weights,
            .n_weights = nw,
            .caches = caches,
            .n_caches = nc,
            .rotate = opt_rotate,
            .hadamard = opt_hadamard,
            .numerics = numerics,
            .no_repack = opt_no_repack,
            .llama_lib = opt_llama_lib,
            .n_ctx = opt_ctx,
            .n_chunks = opt_chunks,
            .target_ctx = opt_target_ctx,
            .budget = opt_budget,
            .n_threads = opt_threads > 0 ? (int)opt_threads : ql_cpu_count(),
            .n_positions = (int)opt_positions,
        };
        rc = run_plan(&p, shard_k, shard_n);
    }
    free(wl);
    free(cl);
    return rc;
}
