/*
 * argsort.h - the expert choice of an MoE router as llama.cpp makes it.
 *
 * ggml's CPU argsort fills 0..n-1 and sorts the indices with C++'s
 * std::sort on "value greater". std::sort is not stable: which of two
 * experts with equal probabilities ranks first depends on its algorithm
 * (introsort over median-of-three partitions, a heap sort past the depth
 * limit, insertion sort for short ranges), so this repeats that algorithm
 * as GCC's standard library implements it, step for step. Then a top-k is
 * the first k indices, with llama.cpp's ties.
 */
#ifndef QL_KERNELS_ARGSORT_H
#define QL_KERNELS_ARGSORT_H

#include <stdint.h>

/* idx[0..n) = 0..n-1 sorted by value[idx] descending, as std::sort with ggml's comparison. */
void ql_argsort_desc(const float *value, int32_t *idx, int64_t n);

#endif
