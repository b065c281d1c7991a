/*
 * vmath.c - see vmath.h. exp is ggml's vector exponential (vecmath.h), whose
 * portable form gives the same bits, so a row's result does not depend on
 * where it is split into vectors.
 */
#include "vmath.h"

#include "vecmath.h"

#include <math.h>
#include <stdbool.h>
#include <string.h>

#if defined(__AVX512F__)
#include <immintrin.h>
#endif

float ql_row_max(const float *x, int64_t n, int64_t *imax) {
    float m = x[0];
    int64_t i = 0;
    /* comparisons with NaN are false, so NaN is tracked on the side: it has no index to find */
    bool has_nan = false;
#if defined(__AVX512F__)
    if (n >= 16) {
        __m512 vm = _mm512_loadu_ps(x);
        __mmask16 nan_lanes = _mm512_cmp_ps_mask(vm, vm, _CMP_UNORD_Q);
        for (i = 16; i + 16 <= n; i += 16) {
            const __m512 v = _mm512_loadu_ps(x + i);
            nan_lanes |= _mm512_cmp_ps_mask(v, v, _CMP_UNORD_Q);
            vm = _mm512_max_ps(vm, v);
        }
        m = _mm512_reduce_max_ps(vm);
        has_nan = nan_lanes != 0;
    }
#endif
    for (; i < n; i++) {
        if (x[i] > m) m = x[i];
        has_nan |= isnan(x[i]);
    }
    int64_t k = 0;
    if (has_nan || isnan(m)) {
        while (k < n && !isnan(x[k])) k++;
        *imax = k < n ? k : 0;
        return NAN;
    }
    while (x[k] != m) k++;
    *imax = k;
    return m;
}

double ql_row_sum_exp(const float *x, int64_t n, float shift, float *e) {
    double sum = 0.0;
    int64_t i = 0;
#if defined(__AVX512F__)
    __m512d acc0 = _mm512_setzero_pd(), acc1 = _mm512_setzero_pd();
    const __m512 s = _mm512_set1_ps(shift);
    float d[16], v16[16];
    for (; i + 16 <= n; i += 16) {
        _mm512_storeu_ps(d, _mm512_sub_ps(_mm512_loadu_ps(x + i), s));
        ql_vexpf16(v16, d);
        const __m512 v = _mm512_loadu_ps(v16);
        if (e) _mm512_storeu_ps(e + i, v);
        acc0 = _mm512_add_pd(acc0, _mm512_cvtps_pd(_mm512_castps512_ps256(v)));
        acc1 = _mm512_add_pd(acc1, _mm512_cvtps_pd(_mm256_castpd_ps(
                                       _mm512_extractf64x4_pd(_mm512_castps_pd(v), 1))));
    }
    sum = _mm512_reduce_add_pd(_mm512_add_pd(acc0, acc1));
#endif
    for (; i < n; i++) {
        const float v = ql_vexpf(x[i] - shift);
        if (e) e[i] = v;
        sum += v;
    }
    return sum;
}

double ql_row_weighted_diff(const float *e, const float *a, const float *b, double c, int64_t n) {
    double sum = 0.0;
    int64_t i = 0;
#if defined(__AVX512F__)
    __m512d acc = _mm512_setzero_pd();
    const __m512d vc = _mm512_set1_pd(c);
    for (; i + 8 <= n; i += 8) {
        const __m512d ve = _mm512_cvtps_pd(_mm256_loadu_ps(e + i));
        const __m512d d = _mm512_sub_pd(_mm512_cvtps_pd(_mm256_loadu_ps(a + i)),
                                        _mm512_cvtps_pd(_mm256_loadu_ps(b + i)));
        acc = _mm512_fmadd_pd(ve, _mm512_add_pd(d, vc), acc);
    }
    sum = _mm512_reduce_add_pd(acc);
#endif
    for (; i < n; i++) sum += (double)e[i] * (((double)a[i] - (double)b[i]) + c);
    return sum;
}
