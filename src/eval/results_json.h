/*
 * results_json.h - the JSON form of perplexity and KL-divergence results,
 * shared by `qlens perplexity --json`, `qlens kld --json` and the sweep
 * (which reads per-token values back for paired comparisons). Keys are
 * documented in docs/results-json.md.
 */
#ifndef QL_EVAL_RESULTS_JSON_H
#define QL_EVAL_RESULTS_JSON_H

#include "../core/json.h"
#include "kld.h"
#include "perplexity.h"

void ql_json_val_unc(ql_json *j, const char *key, ql_val_unc v);

/*
 * The engine that computed the numbers, as every run's JSON records it,
 * decided here and nowhere else ("qlens").
 */
const char *ql_engine_name(void);

/* A file a run read: its path as given, its sha256 and what kind of file it is. */
typedef struct {
    const char *path;   /* NULL: the run had none (written as null) */
    const char *format; /* "text", "gguf", "qlens" (reference file), "llama" (_logits_ file) */
} ql_json_input;

/*
 * "inputs": {"reference": {...} | null, "text": {...} | null}; each file is
 * hashed here (sha256 null when it cannot be read again).
 */
void ql_json_inputs(ql_json *j, const ql_json_input *reference, const ql_json_input *text);

/* Where a run's time went. */
typedef struct {
    double load_s; /* opening the model(s), tokenizing, everything before the first chunk */
    double eval_s; /* evaluating the chunks */
    int64_t tokens;
} ql_run_timing;

/* "timing": {"load_s", "eval_s", "tokens", "tokens_per_s"} */
void ql_json_timing(ql_json *j, const ql_run_timing *t);

/* "chunks": [...], "final": {...}, "tokens": {"nll": [...]} */
void ql_json_ppl_result(ql_json *j, const ql_ppl_result *r);

/* "statistics", "chunks", "positions" (if n_buckets > 0) and "tokens" of a KLD run. */
void ql_json_kld_result(ql_json *j, const ql_kld_acc *acc, const ql_kld_stats *s,
                        const ql_kld_chunk_row *chunks, int64_t n_chunks,
                        const ql_kld_bucket *buckets, int n_buckets);

#endif
