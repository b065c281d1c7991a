/*
 * sweep.h - weights x K cache x V cache against one reference, into one
 * table: the question "quantize the cache or use a smaller weight quant?".
 *
 * Steps, each recorded in DIR/journal once its output is in place (so a
 * killed sweep resumes without redoing anything finished):
 *   1. weight files for the requested file types, made from the reference
 *      model with qlens's quantizer (DIR/weights/NAME-TYPE.gguf);
 *   2. the reference: the reference model with an f16 cache over the text
 *      (DIR/reference.qlref, qlens's exact format);
 *   3. one KL-divergence run per weights x cache configuration
 *      (DIR/runs/W__K_V.qlrun, plus the same numbers as JSON);
 *   4. the tables, rebuilt from the run files every time: results.md,
 *      results.csv, results.json and report.html.
 */
#ifndef QL_LAB_SWEEP_H
#define QL_LAB_SWEEP_H

#include <stdbool.h>
#include <stdint.h>

#include "../kernels/kernels.h"
#include <stdio.h>

#include "../core/status.h"
#include "../eval/kld.h"
#include "../quant/quant.h"
#include "recommend.h"
#include "weights_info.h"

typedef struct {
    const char *label; /* file type ("Q4_K_M") or the file's name */
    const char *path;  /* NULL: made from the reference by quantization */
} ql_sweep_weights;

typedef struct {
    ql_type k, v;
    bool llama; /* run on the llama.cpp engine (a cache item "K/V@llama.cpp") */
} ql_sweep_cache;

typedef struct {
    const char *ref_path;
    const char *text_path;
    const char *out_dir;
    const ql_sweep_weights *weights;
    int n_weights;
    const ql_sweep_cache *caches;
    int n_caches;
    const char *rotate;    /* auto | on | off */
    const char *hadamard;  /* fwht | dense (NULL: fwht) */
    ql_numerics numerics;  /* f16 arithmetic (AUTO: this CPU's) */
    bool no_repack;        /* follow llama.cpp's --no-repack */
    const char *llama_lib; /* libllama for the llama.cpp rows (NULL: search) */
    int64_t n_ctx, n_chunks;
    int64_t target_ctx; /* context the memory columns are computed for */
    uint64_t budget;    /* 0: no budget column */
    int n_threads;
    int n_positions; /* buckets of KLD by context position */
    /*
     * Sharding (see ql_sweep_run): shard_n 0 runs the whole sweep in this
     * process; shard_k of shard_n (1-based) runs that slice of it; merge
     * writes the tables from the shard_n shards (shard_k 0).
     */
    int shard_k, shard_n;
    bool merge;
} ql_sweep_params;

typedef enum {
    QL_SWEEP_QUANTIZE,  /* making a weight file */
    QL_SWEEP_REFERENCE, /* evaluating the reference */
    QL_SWEEP_RUN,       /* evaluating a configuration */
    QL_SWEEP_REPORT,    /* writing the tables */
} ql_sweep_phase;

/*
 * Progress, reported when a step starts and after each tensor (quantizing) or
 * chunk (evaluating). Evaluation is counted in tokens, which is what takes the
 * time, so a caller can turn it into an ETA from its own clock.
 */
typedef struct {
    ql_sweep_phase phase;
    const char *what;              /* "Q4_K_M", "reference", "Q4_K_M q8_0/q8_0" */
    int step, n_steps;             /* 1-based, among the steps this invocation runs */
    double step_done, step_total;  /* tensors when quantizing, tokens when evaluating */
    int64_t eval_done, eval_total; /* tokens evaluated so far and in all, over its steps */
} ql_sweep_progress;

typedef void (*ql_sweep_progress_fn)(void *user, const ql_sweep_progress *progress);
/* A finished step, for the console ("reused" when the journal already had it). */
typedef void (*ql_sweep_step_fn)(void *user, const char *step, bool reused);

/*
 * Runs the sweep. A shard (shard_k of shard_n) runs configuration i of the
 * plan order (weights as listed, each with the caches as listed, from 0) when
 * i mod shard_n is shard_k - 1. The shards share DIR: the weight files and
 * the reference are made there once, by whichever shard needs them first,
 * under DIR's lock and recorded in DIR/journal, and the others wait for them
 * and reuse them; each shard's runs and journal are its own, in
 * DIR/shard-K-of-N/. A shard writes no tables: merge checks that every shard
 * of the split has finished every configuration of its slice and writes
 * them, the same bytes as the sweep run in one process.
 */
ql_status ql_sweep_run(const ql_sweep_params *p, ql_sweep_progress_fn progress,
                       ql_sweep_step_fn on_step, void *user, ql_error *err);

/* The N of DIR's shard-K-of-N directories; none, or two splits, is an error. */
ql_status ql_sweep_find_shards(const char *out_dir, int *n_shards, ql_error *err);

/* One row of the results table (sorted by KLD). */
typedef struct {
    char weights[64], weights_path[1024];
    ql_type k, v;
    ql_kld_stats stats;
    ql_kld_bucket *buckets; /* n_positions */
    ql_kld_acc acc;
    ql_weights_info weights_info; /* bits per weight, fallbacks */
    uint64_t weight_bytes, kv_bytes_per_token, total_bytes_target;
    uint64_t kv_bytes_target, work_bytes; /* the terms of total_bytes_target besides the weights */
    int64_t max_ctx_budget;  /* within the budget and the trained context; 0 without a budget */
    bool max_ctx_is_trained; /* the budget holds more, the trained context is the limit */
    bool fits;               /* reaches target_ctx within the budget (see recommend.h) */
    bool has_prev;
    double d_kld, d_kld_se, sigma; /* against the previous (better) row, paired per token */
    ql_paired vs_pick;             /* against the recommended row, paired per token */
} ql_sweep_row;

typedef struct {
    ql_sweep_row *rows;
    int n_rows;
    int n_positions;
    int64_t n_ctx, n_chunks, target_ctx, n_ctx_train;
    uint64_t budget;
    char ref_path[1024], text_path[1024], rotate[8], hadamard[8];
    ql_recommendation rec; /* indices into rows */
} ql_sweep_results;

/* DIR/runs/W__K_V.qlrun: where a configuration's per-token values are kept. */
void ql_sweep_run_path(const char *out_dir, const char *weights_label, ql_type k, ql_type v,
                       char *out, size_t size);

/* Builds the table from DIR's run files (its shards' with shard_n) for the configurations of p. */
ql_status ql_sweep_results_load(const ql_sweep_params *p, ql_sweep_results *r, ql_error *err);
void ql_sweep_results_free(ql_sweep_results *r);

/* Writers (atomic files). */
ql_status ql_sweep_write_markdown(const ql_sweep_results *r, const char *path, ql_error *err);
ql_status ql_sweep_write_csv(const ql_sweep_results *r, const char *path, ql_error *err);
ql_status ql_sweep_write_json(const ql_sweep_results *r, const char *path, ql_error *err);
ql_status ql_sweep_write_html(const ql_sweep_results *r, const char *path, ql_error *err);

/* The markdown table and the recommendation on a stream (what `qlens sweep` prints). */
void ql_sweep_print_table(const ql_sweep_results *r, FILE *out);
/* The answer in a paragraph: what to run for the budget and context, against the best. */
void ql_sweep_print_recommendation(const ql_sweep_results *r, FILE *out);
/* The fallbacks of a weights file in words ("" when none). */
void ql_sweep_fallback_note(const ql_weights_info *w, char *buf, size_t size);

#endif
