/*
 * vmath.c - see vmath.h. The AVX-512 paths and the scalar tail evaluate the
 * same polynomial, so a row's result does not depend on where it is split.
 */
#include "vmath.h"

#include <math.h>
#include <string.h>

#if defined(__AVX512F__)
#include <immintrin.h>
#endif

#define EXP_HI 88.3762626647949f
#define EXP_LO -87.3365447505531f
#define LOG2E 1.44269504088896341f
#define LN2_HI 0.693359375f
#define LN2_LO -2.12194440e-4f
#define P0 1.9875691500e-4f
#define P1 1.3981999507e-3f
#define P2 8.3334519073e-3f
#define P3 4.1665795894e-2f
#define P4 1.6666665459e-1f
#define P5 5.0000001201e-1f

float ql_expf_poly(float x) {
    if (x < EXP_LO) return 0.0f;
    if (x > EXP_HI) x = EXP_HI;
    const float n = nearbyintf(x * LOG2E);
    float r = fmaf(-n, LN2_HI, x);
    r = fmaf(-n, LN2_LO, r);
    float p = P0;
    p = fmaf(p, r, P1);
    p = fmaf(p, r, P2);
    p = fmaf(p, r, P3);
    p = fmaf(p, r, P4);
    p = fmaf(p, r, P5);
    const float y = fmaf(p, r * r, r) + 1.0f;
    uint32_t bits = (uint32_t)((int32_t)n + 127) << 23;
    float scale;
    memcpy(&scale, &bits, 4);
    return y * scale;
}

#if defined(__AVX512F__)
static inline __m512 exp512(__m512 x) {
    const __mmask16 under = _mm512_cmp_ps_mask(x, _mm512_set1_ps(EXP_LO), _CMP_LT_OQ);
    x = _mm512_min_ps(x, _mm512_set1_ps(EXP_HI));
    const __m512 n = _mm512_roundscale_ps(_mm512_mul_ps(x, _mm512_set1_ps(LOG2E)),
                                          _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __m512 r = _mm512_fmadd_ps(_mm512_sub_ps(_mm512_setzero_ps(), n), _mm512_set1_ps(LN2_HI), x);
    r = _mm512_fmadd_ps(_mm512_sub_ps(_mm512_setzero_ps(), n), _mm512_set1_ps(LN2_LO), r);
    __m512 p = _mm512_set1_ps(P0);
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(P1));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(P2));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(P3));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(P4));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(P5));
    const __m512 y = _mm512_add_ps(_mm512_fmadd_ps(p, _mm512_mul_ps(r, r), r), _mm512_set1_ps(1.0f));
    const __m512i e = _mm512_slli_epi32(_mm512_add_epi32(_mm512_cvtps_epi32(n), _mm512_set1_epi32(127)), 23);
    return _mm512_maskz_mul_ps(~under, y, _mm512_castsi512_ps(e));
}
#endif

float ql_row_max(const float *x, int64_t n, int64_t *imax) {
    float m = x[0];
    int64_t i = 0;
#if defined(__AVX512F__)
    if (n >= 16) {
        __m512 vm = _mm512_loadu_ps(x);
        for (i = 16; i + 16 <= n; i += 16) vm = _mm512_max_ps(vm, _mm512_loadu_ps(x + i));
        m = _mm512_reduce_max_ps(vm);
    }
#endif
    for (; i < n; i++)
        if (x[i] > m) m = x[i];
    int64_t k = 0;
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
    for (; i + 16 <= n; i += 16) {
        const __m512 v = exp512(_mm512_sub_ps(_mm512_loadu_ps(x + i), s));
        if (e) _mm512_storeu_ps(e + i, v);
        acc0 = _mm512_add_pd(acc0, _mm512_cvtps_pd(_mm512_castps512_ps256(v)));
        acc1 = _mm512_add_pd(acc1, _mm512_cvtps_pd(_mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(v), 1))));
    }
    sum = _mm512_reduce_add_pd(_mm512_add_pd(acc0, acc1));
#endif
    for (; i < n; i++) {
        const float v = ql_expf_poly(x[i] - shift);
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
