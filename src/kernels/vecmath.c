/*
 * vecmath.c - ggml's vector exp, SiLU rows and softmax exp-sums (see
 * vecmath.h). The constants and the order of operations are those of
 * ggml_v_expf's AVX-512 form; the portable lane is written with fmaf
 * exactly where that form uses a fused multiply-add, so both give the same
 * bits (our build contracts nothing on its own: -ffp-contract=off).
 */
#include "vecmath.h"

#include <math.h>
#include <stdbool.h>

#include "../core/fp16.h"

#if defined(__AVX512F__)
#include <immintrin.h>
#endif

/* x is an f32 value exactly halfway between two neighbouring f16 values */
static bool on_f16_midpoint(float x) {
    const float a = fabsf(x);
    if (a == 0.0f || !(a < 65536.0f)) return false;
    if (a >= 0x1p-14f) return (ql_f32_bits(a) & 0x1fffu) == 0x1000u;
    const float t = a * 0x1p25f; /* subnormal f16: the grid is 2^-24 */
    return t == floorf(t) && ((int32_t)t & 1);
}

/* f16(p + c) with one rounding: p + c in f32, then f16, unless the f32 sum
 * sits on an f16 midpoint while the exact sum does not (then the f32 error,
 * exact by TwoSum, decides the direction) */
static float h_sum(float p, float c) {
    const float s = p + c;
    if (!on_f16_midpoint(s)) return ql_round_fp16(s);
    const float bb = s - p;
    const float err = (p - (s - bb)) + (c - bb);
    if (err == 0.0f) return ql_round_fp16(s);
    return ql_round_fp16(nextafterf(s, err > 0.0f ? INFINITY : -INFINITY));
}

float ql_h_add(float a, float b) {
    return h_sum(a, b);
}
float ql_h_fma(float a, float b, float c) {
    return h_sum(a * b, c);
}
float ql_h_mul(float a, float b) {
    return ql_round_fp16(a * b);
}

float ql_vexpf(float x) {
    const float r = 0x1.8p23f;
    const float z = fmaf(x, 0x1.715476p+0f, r);
    const float n = z - r;
    /* fnmadd(a, b, c) = c - a*b with one rounding */
    const float b = fmaf(-n, 0x1.7f7d1cp-20f, fmaf(-n, 0x1.62e4p-1f, x));
    const float u = b * b;
    const float j = fmaf(
        fmaf(fmaf(0x1.0e4020p-7f, b, 0x1.573e2ep-5f), u, fmaf(0x1.555e66p-3f, b, 0x1.fffdb6p-2f)),
        u, fmaf(0x1.ffffecp-1f, b, 1.0f));
    if (fabsf(n) > 192.0f) return n <= 0.0f ? 0.0f : INFINITY;
    if (n != n) return n; /* NaN in, NaN out, as scalef gives */
    /* scalef(j, n) = j * 2^floor(n), n is integral here; ldexpf rounds the
     * same way when the result is subnormal */
    return ldexpf(j, (int)n);
}

#if defined(__AVX512F__)
static inline __m512 vexpf512(__m512 x) {
    const __m512 r = _mm512_set1_ps(0x1.8p23f);
    const __m512 z = _mm512_fmadd_ps(x, _mm512_set1_ps(0x1.715476p+0f), r);
    const __m512 n = _mm512_sub_ps(z, r);
    const __m512 b = _mm512_fnmadd_ps(n, _mm512_set1_ps(0x1.7f7d1cp-20f),
                                      _mm512_fnmadd_ps(n, _mm512_set1_ps(0x1.62e4p-1f), x));
    const __mmask16 d = _mm512_cmp_ps_mask(_mm512_abs_ps(n), _mm512_set1_ps(192), _CMP_GT_OQ);
    const __m512 u = _mm512_mul_ps(b, b);
    const __m512 j = _mm512_fmadd_ps(
        _mm512_fmadd_ps(
            _mm512_fmadd_ps(_mm512_set1_ps(0x1.0e4020p-7f), b, _mm512_set1_ps(0x1.573e2ep-5f)), u,
            _mm512_fmadd_ps(_mm512_set1_ps(0x1.555e66p-3f), b, _mm512_set1_ps(0x1.fffdb6p-2f))),
        u, _mm512_fmadd_ps(_mm512_set1_ps(0x1.ffffecp-1f), b, _mm512_set1_ps(1.0f)));
    const __m512 res = _mm512_scalef_ps(j, n);
    if (_mm512_kortestz(d, d)) return res;
    const __m512 zero = _mm512_setzero_ps();
    const __m512 alt = _mm512_mask_blend_ps(_mm512_cmp_ps_mask(n, zero, _CMP_LE_OQ),
                                            _mm512_set1_ps(INFINITY), zero);
    return _mm512_mask_blend_ps(d, res, alt);
}
#endif

void ql_vexpf16(float *y, const float *x) {
#if defined(__AVX512F__)
    _mm512_storeu_ps(y, vexpf512(_mm512_loadu_ps(x)));
#else
    for (int i = 0; i < 16; i++) y[i] = ql_vexpf(x[i]);
#endif
}

void ql_swiglu_row_portable(float *g, const float *u, int64_t n) {
    int64_t i = 0;
    for (; i + 16 <= n; i += 16)
        for (int l = 0; l < 16; l++) {
            const float x = g[i + l];
            g[i + l] = x / (1.0f + ql_vexpf(0.0f - x)) * u[i + l];
        }
    for (; i < n; i++) g[i] = g[i] / (1.0f + expf(-g[i])) * u[i];
}

void ql_swiglu_row(float *g, const float *u, int64_t n) {
#if defined(__AVX512F__)
    int64_t i = 0;
    const __m512 one = _mm512_set1_ps(1.0f), zero = _mm512_setzero_ps();
    for (; i + 16 <= n; i += 16) {
        const __m512 x = _mm512_loadu_ps(g + i);
        const __m512 e = vexpf512(_mm512_sub_ps(zero, x));
        const __m512 s = _mm512_div_ps(x, _mm512_add_ps(one, e));
        _mm512_storeu_ps(g + i, _mm512_mul_ps(s, _mm512_loadu_ps(u + i)));
    }
    for (; i < n; i++) g[i] = g[i] / (1.0f + expf(-g[i])) * u[i];
#else
    ql_swiglu_row_portable(g, u, n);
#endif
}

double ql_exp_sum(float *p, const float *s, int64_t n, float max) {
    double sum = 0.0;
    int64_t i = 0;
    for (; i + 16 <= n; i += 16) {
        float d[16];
        for (int l = 0; l < 16; l++) d[l] = s[i + l] - max;
        ql_vexpf16(p + i, d);
        sum += (double)ql_reduce16(p + i);
    }
    for (; i < n; i++) {
        p[i] = expf(s[i] - max);
        sum += (double)p[i];
    }
    return sum;
}
