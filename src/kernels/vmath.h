/*
 * vmath.h - vectorised reductions over a row of logits: max and its first
 * index, sum of exp(x - shift) in double, and the fused passes KL divergence
 * needs. exp is ggml's vector exponential (about 1.5 ulp); the accumulation
 * is in double, so a row of 262144 logits loses nothing measurable to
 * summation.
 */
#ifndef QL_KERNELS_VMATH_H
#define QL_KERNELS_VMATH_H

#include <stdint.h>

/* max of x[0..n) and the first index holding it; NaN and the first NaN's index if any is NaN */
float ql_row_max(const float *x, int64_t n, int64_t *imax);

/* sum over i of exp(x[i] - shift), in double; if e is not NULL, e[i] = exp(x[i] - shift) */
double ql_row_sum_exp(const float *x, int64_t n, float shift, float *e);

/* sum over i of e[i] * ((double)a[i] - (double)b[i] + c), in double */
double ql_row_weighted_diff(const float *e, const float *a, const float *b, double c, int64_t n);

#endif
