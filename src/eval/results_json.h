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

/* "chunks": [...], "final": {...}, "tokens": {"nll": [...]} */
void ql_json_ppl_result(ql_json *j, const ql_ppl_result *r);

/* "statistics", "chunks", "positions" (if n_buckets > 0) and "tokens" of a KLD run. */
void ql_json_kld_result(ql_json *j, const ql_kld_acc *acc, const ql_kld_stats *s,
                        const ql_kld_chunk_row *chunks, int64_t n_chunks,
                        const ql_kld_bucket *buckets, int n_buckets);

#endif
