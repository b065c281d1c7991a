/*
 * ops.c - row-wise transformer steps. See ops.h for why the arithmetic
 * follows ggml's order. These are not the hot spots (matmul and attention
 * are); SiLU and the dense rotation use the vector kernels of vecmath.c and
 * kernels.c because their rounding must be ggml's.
 */
#include "ops.h"

#include <math.h>
#include <pthread.h>
#include <stdlib.h>

#if defined(__AVX512F__)
#include <immintrin.h>
#endif

#include "../core/fp16.h"
#include "kernels.h"
#include "vecmath.h"

void ql_rms_norm(float *y, const float *x, const float *w, int64_t n, float eps) {
    double sum = 0.0;
    for (int64_t i = 0; i < n; i++) sum += (double)(x[i] * x[i]);
    const float mean = (float)(sum / (double)n);
    const float scale = 1.0f / sqrtf(mean + eps);
    if (w)
        for (int64_t i = 0; i < n; i++) y[i] = x[i] * scale * w[i];
    else
        for (int64_t i = 0; i < n; i++) y[i] = x[i] * scale;
}

void ql_rms_norm_rows(float *y, const float *x, const float *w, int64_t n_rows, int64_t width,
                      float eps) {
    for (int64_t r = 0; r < n_rows; r++) ql_rms_norm(y + r * width, x + r * width, w, width, eps);
}

void ql_rope_cache(float *cs, int64_t pos, int n_dims, float freq_base, float freq_scale,
                   const float *freq_factors) {
    /* ggml advances the angle by repeated float multiplication; doing the same
     * keeps the last bits of cos/sin identical at long positions */
    const float theta_scale = powf(freq_base, -2.0f / (float)n_dims);
    float theta = (float)pos;
    for (int i = 0; i < n_dims / 2; i++) {
        const float t = freq_scale * (freq_factors ? theta / freq_factors[i] : theta);
        cs[2 * i] = cosf(t);
        cs[2 * i + 1] = sinf(t);
        theta *= theta_scale;
    }
}

void ql_rope_apply(float *x, const float *cs, int n_dims, bool neox) {
    const int half = n_dims / 2;
    for (int i = 0; i < half; i++) {
        const float c = cs[2 * i], s = cs[2 * i + 1];
        const int a = neox ? i : 2 * i;
        const int b = neox ? i + half : 2 * i + 1;
        const float x0 = x[a], x1 = x[b];
        /* ggml's ops.cpp is C++ built with GCC's default contraction, which
         * fuses the x0 products: x0*c - x1*s and x0*s + x1*c each round once
         * after the multiply by x0 */
        x[a] = fmaf(x0, c, -(x1 * s));
        x[b] = fmaf(x0, s, x1 * c);
    }
}

void ql_swiglu(float *g, const float *u, int64_t n_rows, int64_t width) {
    for (int64_t r = 0; r < n_rows; r++) ql_swiglu_row(g + r * width, u + r * width, width);
}

static ql_fp16 gelu_table[65536];
static pthread_once_t gelu_once = PTHREAD_ONCE_INIT;

/* ggml-cpu.c fills its table with GCC's default contraction, which fuses
 * 1 + a*x*x; one f16 entry in 65536 depends on it */
static float gelu_tanh(float x) {
    const float sqrt_2_over_pi = 0.79788456080286535587989211986876f;
    const float coef_a = 0.044715f;
    return 0.5f * x * (1.0f + tanhf(sqrt_2_over_pi * x * fmaf(coef_a * x, x, 1.0f)));
}

static void gelu_table_init(void) {
    for (uint32_t i = 0; i < 65536; i++)
        gelu_table[i] = ql_fp32_to_fp16(gelu_tanh(ql_fp16_to_fp32((ql_fp16)i)));
}

void ql_geglu(float *g, const float *u, int64_t n_rows, int64_t width) {
    const int64_t n = n_rows * width;
    pthread_once(&gelu_once, gelu_table_init);
    for (int64_t i = 0; i < n; i++) {
        const float x = g[i];
        float y;
        if (x <= -10.0f)
            y = 0.0f;
        else if (x >= 10.0f)
            y = x;
        else
            y = ql_fp16_to_fp32(gelu_table[ql_fp32_to_fp16(x)]);
        g[i] = y * u[i];
    }
}

void ql_add(float *y, const float *x, int64_t n) {
    for (int64_t i = 0; i < n; i++) y[i] += x[i];
}

void ql_scale(float *y, float s, int64_t n) {
    for (int64_t i = 0; i < n; i++) y[i] *= s;
}

/*
 * The dense form: llama.cpp before its CPU FWHT (May 2026, the version our
 * golden numbers come from) rotated with a plain matrix product, an f32
 * Sylvester matrix (first entry 1/sqrtf(n), computed in double, then sign
 * copies) times the activations through tinyBLAS. So each rotated value is
 * ql_dot_f32_tinyblas of a matrix row with the block - 16 FMA lanes and a
 * halving sum - not a butterfly transform, whose roundings differ.
 */
enum { MAX_HADAMARD_LOG2 = 12 };
static float *hadamard_tables[MAX_HADAMARD_LOG2 + 1];
static pthread_mutex_t hadamard_lock = PTHREAD_MUTEX_INITIALIZER;

static const float *hadamard_matrix(int n) {
    int lg = 0;
    while ((1 << lg) < n) lg++;
    pthread_mutex_lock(&hadamard_lock);
    float *h = hadamard_tables[lg];
    if (!h) {
        h = malloc((size_t)n * (size_t)n * sizeof(float));
        if (h) {
            h[0] = (float)(1.0 / sqrtf((float)n));
            for (int s = 1; s < n; s *= 2)
                for (int i = 0; i < s; i++)
                    for (int j = 0; j < s; j++) {
                        const float v = h[i * n + j];
                        h[(i + s) * n + j] = v;
                        h[i * n + j + s] = v;
                        h[(i + s) * n + j + s] = -v;
                    }
            hadamard_tables[lg] = h;
        }
    }
    pthread_mutex_unlock(&hadamard_lock);
    return h;
}

void ql_hadamard_dense(float *x, int64_t n, int block) {
    const float *h = hadamard_matrix(block);
    float in[1 << MAX_HADAMARD_LOG2];
    for (int64_t b = 0; b < n; b += block) {
        for (int i = 0; i < block; i++) in[i] = x[b + i];
        for (int i = 0; i < block; i++)
            x[b + i] = ql_dot_f32_tinyblas(h + (size_t)i * (size_t)block, in, block);
    }
}

#if defined(__AVX512F__)
/* One butterfly stage inside a register: the lower lane of each pair gets u + v, the upper u - v.
 */
static inline __m512 fwht_stage(__m512 x, __m512 partner, __mmask16 upper) {
    return _mm512_mask_sub_ps(_mm512_add_ps(x, partner), upper, partner, x);
}
#endif

/*
 * ggml_compute_forward_fwht_f32's order: scale first (by 1.0f/sqrtf(n) in
 * float, not the dense form's double-computed entry), then the butterfly
 * stages over pairs (j, j + len) of each run of 2 len elements, len = 1,
 * 2, 4, ... ggml's SIMD stages write u - v as fma(v, -1, u), which rounds
 * exactly like u - v, so its vector width does not show in the result and
 * these stages give its bits on any CPU: with AVX-512 the four inside 16
 * lanes are shuffles and one add-or-subtract each and the longer ones add
 * whole registers; otherwise a plain loop.
 */
void ql_hadamard_fwht(float *x, int64_t n, int block) {
    const float scale = 1.0f / sqrtf((float)block);
    for (int64_t b = 0; b < n; b += block) {
        float *y = x + b;
        int len = 1;
#if defined(__AVX512F__)
        if (block % 16 == 0) {
            const __m512 sc = _mm512_set1_ps(scale);
            for (int i = 0; i < block; i += 16) {
                __m512 v = _mm512_mul_ps(_mm512_loadu_ps(y + i), sc);
                v = fwht_stage(v, _mm512_permute_ps(v, 0xb1), 0xaaaa);       /* len 1 */
                v = fwht_stage(v, _mm512_permute_ps(v, 0x4e), 0xcccc);       /* len 2 */
                v = fwht_stage(v, _mm512_shuffle_f32x4(v, v, 0xb1), 0xf0f0); /* len 4 */
                v = fwht_stage(v, _mm512_shuffle_f32x4(v, v, 0x4e), 0xff00); /* len 8 */
                _mm512_storeu_ps(y + i, v);
            }
            for (len = 16; len < block; len <<= 1)
                for (int i = 0; i < block; i += 2 * len)
                    for (int j = 0; j < len; j += 16) {
                        const __m512 u = _mm512_loadu_ps(y + i + j);
                        const __m512 v = _mm512_loadu_ps(y + i + len + j);
                        _mm512_storeu_ps(y + i + j, _mm512_add_ps(u, v));
                        _mm512_storeu_ps(y + i + len + j, _mm512_sub_ps(u, v));
                    }
            continue;
        }
#endif
        for (int i = 0; i < block; i++) y[i] = y[i] * scale;
        for (; len < block; len <<= 1)
            for (int i = 0; i < block; i += 2 * len)
                for (int j = 0; j < len; j++) {
                    const float u = y[i + j], v = y[i + len + j];
                    y[i + j] = u + v;
                    y[i + len + j] = u - v;
                }
    }
}
