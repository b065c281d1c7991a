/*
 * runstore.h - one configuration's per-token KL-divergence results on disk
 * (a sweep's DIR/runs/NAME.qlrun): every value a report or a paired
 * comparison needs, so the sweep's tables are rebuilt from these files
 * alone, identically, however many times it was interrupted. CRC-32 checked.
 */
#ifndef QL_LAB_RUNSTORE_H
#define QL_LAB_RUNSTORE_H

#include "../eval/kld.h"

ql_status ql_runstore_write(const char *path, const ql_kld_acc *acc, int64_t n_ctx,
                            int64_t n_chunks, ql_error *err);

/* Fills acc (initialised here) from the file; checks its size, shape and checksum. */
ql_status ql_runstore_read(const char *path, ql_kld_acc *acc, int64_t *n_ctx, int64_t *n_chunks,
                           ql_error *err);

#endif
