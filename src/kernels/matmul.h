/*
 * matmul.h - Y = X W^T for a batch of activation rows against a weight
 * matrix in any computable type, on the thread pool.
 *
 * W has n_out rows of n_in elements (a GGUF tensor with ne0 = n_in,
 * ne1 = n_out). X has n_rows rows of n_in floats (stride x_stride); Y gets
 * n_rows rows of n_out floats (stride y_stride). Activations are prepared
 * once per call (rounded or quantized to the weight's partner type, as ggml
 * does); each output element is one dot product computed by one thread, so
 * the result does not depend on the number of threads. The dot's order is
 * the one ggml picks for the product's shape (kernels.h).
 */
#ifndef QL_KERNELS_MATMUL_H
#define QL_KERNELS_MATMUL_H

#include <stddef.h>
#include <stdint.h>

#include "../core/threadpool.h"
#include "../quant/quant.h"

typedef struct {
    const void *data;
    ql_type type;
    int64_t n_in;  /* ne0: elements per row */
    int64_t n_out; /* ne1: rows */
    size_t row_bytes;
} ql_matrix;

/* Scratch bytes ql_matmul needs for n_rows activation rows against type/n_in. */
size_t ql_matmul_scratch_size(ql_type type, int64_t n_in, int64_t n_rows);

/* Y[r][o] = dot(W[o], X[r]); scratch must hold ql_matmul_scratch_size bytes. */
void ql_matmul(ql_pool *pool, const ql_matrix *w, const float *x, int64_t x_stride, int64_t n_rows,
               float *y, int64_t y_stride, void *scratch);

/* The same, restricted to output columns [o_begin, o_end) (for blocked output projection). */
void ql_matmul_cols(ql_pool *pool, const ql_matrix *w, const float *x, int64_t x_stride,
                    int64_t n_rows, float *y, int64_t y_stride, void *scratch, int64_t o_begin,
                    int64_t o_end);

/*
 * Y_i = X W_i^T for n_mats (<= QL_MATMUL_MULTI_MAX) weight matrices of one
 * activation matrix X (a layer's Q, K and V projections, or its gate and
 * up): where all have the same quantized type and width, X is prepared once
 * and the products share one pass of the thread pool; the results are
 * those of separate ql_matmul calls, which is what the other cases make.
 * scratch: as ql_matmul's for the largest of them.
 */
enum { QL_MATMUL_MULTI_MAX = 4 };
void ql_matmul_multi(ql_pool *pool, int n_mats, const ql_matrix *const *w, const float *x,
                     int64_t x_stride, int64_t n_rows, float *const *y, const int64_t *y_stride,
                     void *scratch);

/*
 * ql_matmul on n_rows rows that are part of a product ggml computes over
 * batch_rows rows at once (the scored rows of a micro-batch, handed out in
 * blocks): the dot's accumulation order follows ggml's choice for the whole
 * batch, so blocking does not change a result.
 */
void ql_matmul_part(ql_pool *pool, const ql_matrix *w, const float *x, int64_t x_stride,
                    int64_t n_rows, int64_t batch_rows, float *y, int64_t y_stride, void *scratch);

#endif
