/*
 * plan_csv.h - what `qlens plan --sweep DIR` reads: the configurations of a
 * sweep's results.csv, and the model files they name, each read once.
 *
 * The CSV is RFC 4180 (quoted fields may hold commas, quotes and line
 * breaks; lines end in LF or CRLF); its header names the columns, of which
 * weights, weights_path, cache_type_k, cache_type_v, kld and kld_unc are
 * needed, in any order. The file is data from disk: every field is checked
 * (cache types known, KLD finite, names that fit) and a bad row is an error
 * naming its line.
 */
#ifndef QL_LAB_PLAN_CSV_H
#define QL_LAB_PLAN_CSV_H

#include <stddef.h>
#include <stdint.h>

#include "../core/status.h"
#include "../model/model.h"

typedef struct {
    char weights[256], path[1024];
    ql_type k, v;
    double kld, kld_unc;
} ql_plan_entry;

/* Parses a results.csv held in memory (name is for messages); *rows is malloc'd. */
ql_status ql_plan_parse_csv(const char *data, size_t len, const char *name, ql_plan_entry **rows,
                            int64_t *n_rows, ql_error *err);

/* A model file as the planner needs it. */
typedef struct {
    ql_model_config cfg;
    uint64_t weight_bytes; /* every tensor's bytes */
} ql_plan_model;

/*
 * Reads the config of the model at each of paths[0..n) into out[i]. A file
 * named by many rows (a sweep has a handful of weight files and many cache
 * configurations each) is opened once: *n_opened says how many were.
 */
ql_status ql_plan_read_models(const char *const *paths, int64_t n, ql_plan_model *out,
                              int64_t *n_opened, ql_error *err);

#endif
