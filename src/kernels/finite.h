/*
 * finite.h - finding the first value that is not a number (NaN) or is
 * infinite, in a row or in a block of rows. The forward pass checks its
 * residual stream after every layer and its logits with it, so a model that
 * overflows is stopped where it first did, instead of printing NaN as a
 * result (or crashing a consumer that assumes numbers).
 *
 * A scan is one read of the data the layer has just written, in blocks
 * without a branch per element: next to a layer's matrix products it costs
 * nothing measurable.
 */
#ifndef QL_KERNELS_FINITE_H
#define QL_KERNELS_FINITE_H

#include <stdint.h>

#include "../core/threadpool.h"

/* Index of the first element of x[0..n) that is NaN or infinite, or -1. */
int64_t ql_first_nonfinite(const float *x, int64_t n);

/*
 * The first of n_rows rows (each width floats, stored one after the other)
 * holding a NaN or an infinity, or -1; the rows are split over the pool's
 * threads (NULL: the calling thread alone). *col, if not NULL, receives the
 * column of the first such value in that row.
 */
int64_t ql_first_nonfinite_row(ql_pool *pool, const float *rows, int64_t n_rows, int64_t width,
                               int64_t *col);

/* "NaN", "+inf" or "-inf" for a value ql_first_nonfinite found. */
const char *ql_nonfinite_name(float v);

#endif
