/*
 * vecmath.c - ggml's vector exp, SiLU rows and softmax exp-sums (see
 * vecmath.h). The constants and the order of operations are those of
 * ggml_v_expf's AVX-512 form; the portable lane is written with fmaf
 * exactly where that form uses a fused multiply-add, so both give the same
 * bits (our build contracts nothing on its own: -ffp-contract=off).
 */
#include "vecmath.h"

#include <math.h>
#include <pthread.h>
#include <stdbool.h>

#include "../core/fp16.h"

#if defined(__AVX512F__) || defined(__AVX2__)
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

void ql_silu_row(float *y, const float *x, int64_t n) {
    int64_t i = 0;
#if defined(__AVX512F__)
    const __m512 one = _mm512_set1_ps(1.0f), zero = _mm512_setzero_ps();
    for (; i + 16 <= n; i += 16) {
        const __m512 v = _mm512_loadu_ps(x + i);
        const __m512 e = vexpf512(_mm512_sub_ps(zero, v));
        _mm512_storeu_ps(y + i, _mm512_div_ps(v, _mm512_add_ps(one, e)));
    }
#else
    for (; i + 16 <= n; i += 16)
        for (int l = 0; l < 16; l++) y[i + l] = x[i + l] / (1.0f + ql_vexpf(0.0f - x[i + l]));
#endif
    for (; i < n; i++) y[i] = x[i] / (1.0f + expf(-x[i]));
}

void ql_silu_row_portable(float *y, const float *x, int64_t n) {
    int64_t i = 0;
    for (; i + 16 <= n; i += 16)
        for (int l = 0; l < 16; l++) y[i + l] = x[i + l] / (1.0f + ql_vexpf(0.0f - x[i + l]));
    for (; i < n; i++) y[i] = x[i] / (1.0f + expf(-x[i]));
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

/* ---- libm's expf, in vectors ---- */

/*
 * glibc's expf: x * 32 / ln 2 rounded to an integer k by adding 1.5 * 2^52;
 * 2^(k/32) from a 32-entry table of 2^(i/32) with the integer part added to
 * the exponent bits; a cubic in the remainder r for 2^(r/32); the product
 * rounded once to float. Inputs of magnitude 88 and more branch to the
 * overflow and underflow cases first. These are the constants of that code
 * (2^(i/32) as bits minus i << 47, the scaled polynomial), the operations in
 * the order and with the fusions of its FMA build.
 */
#if (defined(__AVX512F__) || defined(__AVX2__)) && defined(__FMA__)
static const uint64_t expf_table[32] = {
    0x3ff0000000000000, 0x3fefd9b0d3158574, 0x3fefb5586cf9890f, 0x3fef9301d0125b51,
    0x3fef72b83c7d517b, 0x3fef54873168b9aa, 0x3fef387a6e756238, 0x3fef1e9df51fdee1,
    0x3fef06fe0a31b715, 0x3feef1a7373aa9cb, 0x3feedea64c123422, 0x3feece086061892d,
    0x3feebfdad5362a27, 0x3feeb42b569d4f82, 0x3feeab07dd485429, 0x3feea47eb03a5585,
    0x3feea09e667f3bcd, 0x3fee9f75e8ec5f74, 0x3feea11473eb0187, 0x3feea589994cce13,
    0x3feeace5422aa0db, 0x3feeb737b0cdc5e5, 0x3feec49182a3f090, 0x3feed503b23e255d,
    0x3feee89f995ad3ad, 0x3feeff76f2fb5e47, 0x3fef199bdd85529c, 0x3fef3720dcef9069,
    0x3fef5818dcfba487, 0x3fef7c97337b9b5f, 0x3fefa4afa2a490da, 0x3fefd0765b6e4540,
};
#define EXPF_INV_LN2_32 0x1.71547652b82fep+5 /* 32 / ln 2 */
#define EXPF_SHIFT      0x1.8p+52
#define EXPF_C0         0x1.c6af84b912394p-20 /* the cubic in r, scaled for k/32 */
#define EXPF_C1         0x1.ebfce50fac4f3p-13
#define EXPF_C2         0x1.62e42ff0c52d6p-6
#define EXPF_OVERFLOW   0x1.62e42ep6f  /* above: +inf */
#define EXPF_UNDERFLOW  -0x1.9fe368p6f /* below: 0 */
#define EXPF_SUBNORMAL  -0x1.9d1d9ep6f /* below (down to EXPF_UNDERFLOW): the least subnormal */

/* The special results for |x| >= 88, or NaN, in scalar code as glibc has them. */
static bool expf_special(float x, float *y) {
    const uint32_t top = (ql_f32_bits(x) >> 20) & 0x7ff;
    if (top < 0x42b) return false;
    if (ql_f32_bits(x) == 0xff800000u)
        *y = 0.0f;
    else if (top >= 0x7f8)
        *y = x + x;
    else if (x > EXPF_OVERFLOW)
        *y = INFINITY;
    else if (x < EXPF_UNDERFLOW)
        *y = 0.0f;
    else if (x < EXPF_SUBNORMAL)
        *y = 0x1p-149f;
    else
        return false;
    return true;
}

#if defined(__AVX512F__)
#define EXPF_LANES 8
static void expf_lanes(const float *x, float *y) {
    const __m512d xd = _mm512_cvtps_pd(_mm256_loadu_ps(x));
    const __m512d inv = _mm512_set1_pd(EXPF_INV_LN2_32), shift = _mm512_set1_pd(EXPF_SHIFT);
    const __m512d kd_shifted = _mm512_fmadd_pd(inv, xd, shift);
    const __m512i ki = _mm512_castpd_si512(kd_shifted);
    const __m512d kd = _mm512_sub_pd(kd_shifted, shift);
    const __m512i t = _mm512_add_epi64(
        _mm512_i64gather_epi64(_mm512_and_si512(ki, _mm512_set1_epi64(31)), expf_table, 8),
        _mm512_slli_epi64(ki, 47));
    const __m512d r = _mm512_fmsub_pd(inv, xd, kd);
    const __m512d z = _mm512_fmadd_pd(r, _mm512_set1_pd(EXPF_C0), _mm512_set1_pd(EXPF_C1));
    const __m512d r2 = _mm512_mul_pd(r, r);
    __m512d p = _mm512_fmadd_pd(r, _mm512_set1_pd(EXPF_C2), _mm512_set1_pd(1.0));
    p = _mm512_fmadd_pd(z, r2, p);
    _mm256_storeu_ps(y, _mm512_cvtpd_ps(_mm512_mul_pd(p, _mm512_castsi512_pd(t))));
}
#else
#define EXPF_LANES 4
static void expf_lanes(const float *x, float *y) {
    const __m256d xd = _mm256_cvtps_pd(_mm_loadu_ps(x));
    const __m256d inv = _mm256_set1_pd(EXPF_INV_LN2_32), shift = _mm256_set1_pd(EXPF_SHIFT);
    const __m256d kd_shifted = _mm256_fmadd_pd(inv, xd, shift);
    const __m256i ki = _mm256_castpd_si256(kd_shifted);
    const __m256d kd = _mm256_sub_pd(kd_shifted, shift);
    const __m256i t =
        _mm256_add_epi64(_mm256_i64gather_epi64((const long long *)expf_table,
                                                _mm256_and_si256(ki, _mm256_set1_epi64x(31)), 8),
                         _mm256_slli_epi64(ki, 47));
    const __m256d r = _mm256_fmsub_pd(inv, xd, kd);
    const __m256d z = _mm256_fmadd_pd(r, _mm256_set1_pd(EXPF_C0), _mm256_set1_pd(EXPF_C1));
    const __m256d r2 = _mm256_mul_pd(r, r);
    __m256d p = _mm256_fmadd_pd(r, _mm256_set1_pd(EXPF_C2), _mm256_set1_pd(1.0));
    p = _mm256_fmadd_pd(z, r2, p);
    _mm_storeu_ps(y, _mm256_cvtpd_ps(_mm256_mul_pd(p, _mm256_castsi256_pd(t))));
}
#endif
#endif /* AVX2 or AVX-512, with FMA */

#if defined(EXPF_LANES)
static void expf_vector_row(const float *x, float *y, int64_t n) {
    int64_t i = 0;
    for (; i + EXPF_LANES <= n; i += EXPF_LANES) {
        bool special = false;
        for (int l = 0; l < EXPF_LANES; l++)
            special |= ((ql_f32_bits(x[i + l]) >> 20) & 0x7ff) >= 0x42b;
        expf_lanes(x + i, y + i);
        if (special)
            for (int l = 0; l < EXPF_LANES; l++) expf_special(x[i + l], &y[i + l]);
    }
    if (i < n) {
        float xt[EXPF_LANES] = {0}, yt[EXPF_LANES];
        for (int64_t l = 0; l < n - i; l++) xt[l] = x[i + l];
        expf_lanes(xt, yt);
        for (int64_t l = 0; l < n - i; l++) {
            y[i + l] = yt[l];
            expf_special(x[i + l], &y[i + l]);
        }
    }
}

static bool expf_vector_agrees(void) {
    const float edges[] = {0.0f,
                           -0.0f,
                           1.0f,
                           -1.0f,
                           88.0f,
                           -88.0f,
                           EXPF_OVERFLOW,
                           nextafterf(EXPF_OVERFLOW, INFINITY),
                           EXPF_UNDERFLOW,
                           nextafterf(EXPF_UNDERFLOW, -INFINITY),
                           EXPF_SUBNORMAL,
                           nextafterf(EXPF_SUBNORMAL, -INFINITY),
                           INFINITY,
                           -INFINITY,
                           NAN,
                           0x1p-149f,
                           -0x1p-149f,
                           1e-30f};
    enum { N_EDGES = sizeof edges / sizeof edges[0], N = 4096 };
    float x[N], y[N];
    for (int i = 0; i < N; i++) {
        /* spread over [-110, 95], most of it where softmax arguments fall */
        const double u = (double)i / (N - 1);
        x[i] = i < N_EDGES ? edges[i] : (float)(-110.0 + 205.0 * u * u * u + 1e-3 * (i % 7));
    }
    expf_vector_row(x, y, N);
    for (int i = 0; i < N; i++) {
        const float want = expf(x[i]);
        if (isnan(want) ? !isnan(y[i]) : ql_f32_bits(want) != ql_f32_bits(y[i])) return false;
    }
    return true;
}
#endif

static pthread_once_t expf_once = PTHREAD_ONCE_INIT;
static bool expf_use_vector;

static void expf_decide(void) {
#if defined(EXPF_LANES)
    expf_use_vector = expf_vector_agrees();
#endif
}

bool ql_expf_row_is_vector(void) {
    pthread_once(&expf_once, expf_decide);
    return expf_use_vector;
}

void ql_expf_row(const float *x, float *y, int64_t n) {
#if defined(EXPF_LANES)
    if (ql_expf_row_is_vector()) {
        expf_vector_row(x, y, n);
        return;
    }
#endif
    for (int64_t i = 0; i < n; i++) y[i] = expf(x[i]);
}
