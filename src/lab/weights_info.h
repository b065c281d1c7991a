/*
 * weights_info.h - what a weights file holds, for the sweep's table: its
 * bits per weight, the type that holds most of its parameters, and how many
 * matrices its file type could not give their intended type because their
 * rows are not whole blocks (SmolLM2's rows of 576 turn most of "Q4_K_M"
 * into q5_0, at 6.17 bits per weight).
 */
#ifndef QL_LAB_WEIGHTS_INFO_H
#define QL_LAB_WEIGHTS_INFO_H

#include <stdbool.h>
#include <stdint.h>

#include "../core/status.h"
#include "../gguf/gguf.h"

typedef struct {
    int64_t n_params;       /* elements of every tensor */
    uint64_t tensor_bytes;  /* bytes of every tensor's data */
    double bits_per_weight; /* 8 x tensor_bytes / n_params */
    ql_type dominant;       /* the type holding the most parameters */
    double dominant_share;  /* its share of the parameters, 0..1 */
    /* from general.file_type, when qlens knows the file type's rules */
    bool rules_known;
    int64_t n_converted;      /* matrices the file type converts */
    int64_t n_fell_back;      /* of them, those whose rows forced another type */
    ql_type wanted, fallback; /* the commonest such pair (q4_K -> q5_0) */
    int64_t row_length;       /* the row length of one that fell back */
} ql_weights_info;

ql_status ql_weights_info_read(const gguf_file *f, ql_weights_info *out, ql_error *err);

#endif
