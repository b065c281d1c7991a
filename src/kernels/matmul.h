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
#include "kernels.h"

typedef struct {
    const void *data;
    ql_type type;
    int64_t n_in;  /* ne0: elements per row */
    int64_t n_out; /* ne1: rows */
    size_t row_bytes;
    /* llama.cpp keeps this tensor out of its repack buffer: the output matrix that is
     * the token embedding, which it also reads row by row */
    bool never_repacked;
} ql_matrix;

/*
 * Scratch bytes a product of n_rows activation rows against type/n_in
 * needs on a pool of n_threads, whichever path the kernel profile picks.
 */
size_t ql_matmul_scratch_size(ql_type type, int64_t n_in, int64_t n_rows, int n_threads);

/*
 * Y[r][o] = dot(W[o], X[r]); scratch must hold ql_matmul_scratch_size
 * bytes. prof picks which of llama.cpp's paths the product follows (NULL:
 * ql_kernel_profile_default()).
 */
void ql_matmul(ql_pool *pool, const ql_kernel_profile *prof, const ql_matrix *w, const float *x,
               int64_t x_stride, int64_t n_rows, float *y, int64_t y_stride, void *scratch);

/*
 * Y_i = X W_i^T for n_mats (<= QL_MATMUL_MULTI_MAX) weight matrices of one
 * activation matrix X (a layer's Q, K and V projections, or its gate and
 * up): where all have the same quantized type and width, X is prepared once
 * and the products share one pass of the thread pool; the results are
 * those of separate ql_matmul calls, which is what the other cases make.
 * scratch: as ql_matmul's for the largest of them.
 */
enum { QL_MATMUL_MULTI_MAX = 4 };
void ql_matmul_multi(ql_pool *pool, const ql_kernel_profile *prof, int n_mats,
                     const ql_matrix *const *w, const float *x, int64_t x_stride, int64_t n_rows,
                     float *const *y, const int64_t *y_stride, void *scratch);

/*
 * ql_matmul on n_rows rows that are rows batch_row0.. of a product ggml
 * computes over batch_rows rows at once (the scored rows of a micro-batch,
 * handed out in blocks): each row's accumulation order follows ggml's
 * choice for the whole batch - which may depend on a row's place in it -
 * so blocking does not change a result.
 */
void ql_matmul_part(ql_pool *pool, const ql_kernel_profile *prof, const ql_matrix *w,
                    const float *x, int64_t x_stride, int64_t n_rows, int64_t batch_rows,
                    int64_t batch_row0, float *y, int64_t y_stride, void *scratch);

/*
 * One expert's product in an MoE layer (ggml's MUL_MAT_ID): the n_rows
 * activation rows routed to the expert whose matrix is w. ggml picks other
 * paths here than for a plain product of as many rows: never tinyBLAS
 * (float weights take their per-row vec_dot), repacked weights always
 * through the one-row form; the tiled k-quant kernel from 8 routed rows on,
 * as for a plain product. Deterministic in the same way as ql_matmul.
 */
void ql_matmul_expert(ql_pool *pool, const ql_kernel_profile *prof, const ql_matrix *w,
                      const float *x, int64_t x_stride, int64_t n_rows, float *y, int64_t y_stride,
                      void *scratch);
/* The scalar statement of ql_matmul_expert's order for n_rows routed rows. */
ql_vec_dot_fn ql_matmul_expert_spec_dot(const ql_kernel_profile *prof, const ql_matrix *w,
                                        int64_t n_rows);

/*
 * The scalar statement (kernels.h, korder.h) of the order in which a
 * product of batch_rows activation rows computes its row `row`: what the
 * tests hold every path to.
 */
ql_vec_dot_fn ql_matmul_spec_dot(const ql_kernel_profile *prof, const ql_matrix *w,
                                 int64_t batch_rows, int64_t row);

#endif
