/*
 * ops.c - row-wise transformer steps. See ops.h for why the arithmetic
 * follows ggml's order. These are not the hot spots (matmul and attention
 * are), so they stay scalar unless profiling says otherwise.
 */
#include "ops.h"

#include <math.h>
#include <pthread.h>

#include "../core/fp16.h"

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
        x[a] = x0 * c - x1 * s;
        x[b] = x0 * s + x1 * c;
    }
}

void ql_swiglu(float *g, const float *u, int64_t n) {
    for (int64_t i = 0; i < n; i++) g[i] = g[i] / (1.0f + expf(-g[i])) * u[i];
}

static ql_fp16 gelu_table[65536];
static pthread_once_t gelu_once = PTHREAD_ONCE_INIT;

static float gelu_tanh(float x) {
    const float sqrt_2_over_pi = 0.79788456080286535587989211986876f;
    const float coef_a = 0.044715f;
    return 0.5f * x * (1.0f + tanhf(sqrt_2_over_pi * x * (1.0f + coef_a * x * x)));
}

static void gelu_table_init(void) {
    for (uint32_t i = 0; i < 65536; i++)
        gelu_table[i] = ql_fp32_to_fp16(gelu_tanh(ql_fp16_to_fp32((ql_fp16)i)));
}

void ql_geglu(float *g, const float *u, int64_t n) {
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

void ql_hadamard(float *x, int64_t n, int block) {
    /* scale first, then butterflies: the order ggml's transform uses, so the
     * rotated values (and the cache bytes quantized from them) match llama.cpp's */
    const float norm = 1.0f / sqrtf((float)block);
    for (int64_t b = 0; b < n; b += block) {
        float *v = x + b;
        for (int i = 0; i < block; i++) v[i] *= norm;
        for (int len = 1; len < block; len <<= 1) {
            for (int i = 0; i < block; i += len << 1) {
                for (int j = i; j < i + len; j++) {
                    const float a = v[j], c = v[j + len];
                    v[j] = a + c;
                    v[j + len] = a - c;
                }
            }
        }
    }
}
