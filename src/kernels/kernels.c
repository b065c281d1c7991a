/*
 * kernels.c - the CPU kernel table and the SIMD dot products. Each SIMD dot
 * has the scalar one in src/quant as its specification; the accumulation
 * order differs (several vector accumulators), so results agree to float
 * rounding, not bit for bit. Within one build the same dot is always used,
 * which is what keeps results independent of the thread count.
 */
#include "kernels.h"

#include <string.h>

#include "../core/fp16.h"
#include "qgemm.h"

#if defined(__AVX512F__) || defined(__AVX2__)
#include <immintrin.h>
#endif

/* ---- activation preparation for float weights ---- */

static void act_to_f32(const float *restrict x, void *restrict dst, int64_t n) {
    memcpy(dst, x, (size_t)n * sizeof(float));
}

static void act_round_f16(const float *restrict x, void *restrict dst, int64_t n) {
    float *y = dst;
    int64_t i = 0;
#if defined(__F16C__) && defined(__AVX__)
    for (; i + 8 <= n; i += 8) {
        __m128i h = _mm256_cvtps_ph(_mm256_loadu_ps(x + i), _MM_FROUND_TO_NEAREST_INT);
        _mm256_storeu_ps(y + i, _mm256_cvtph_ps(h));
    }
#endif
    for (; i < n; i++) y[i] = ql_round_fp16(x[i]);
}

static void act_round_bf16(const float *restrict x, void *restrict dst, int64_t n) {
    float *y = dst;
    for (int64_t i = 0; i < n; i++) y[i] = ql_bf16_to_fp32(ql_fp32_to_bf16(x[i]));
}

/* ---- dots of float weights with f32 activations ---- */

#if !defined(__AVX512F__)

static void dot_f32_scalar(int64_t n, float *restrict out, const void *restrict vx,
                           const void *restrict vy) {
    const float *x = vx, *y = vy;
    float acc[8] = {0};
    int64_t i = 0;
    for (; i + 8 <= n; i += 8)
        for (int j = 0; j < 8; j++) acc[j] += x[i + j] * y[i + j];
    float sum = 0.0f;
    for (int j = 0; j < 8; j++) sum += acc[j];
    for (; i < n; i++) sum += x[i] * y[i];
    *out = sum;
}

static void dot_f16_f32_scalar(int64_t n, float *restrict out, const void *restrict vx,
                               const void *restrict vy) {
    const ql_fp16 *x = vx;
    const float *y = vy;
    float acc[8] = {0};
    int64_t i = 0;
    for (; i + 8 <= n; i += 8)
        for (int j = 0; j < 8; j++) acc[j] += ql_fp16_to_fp32(x[i + j]) * y[i + j];
    float sum = 0.0f;
    for (int j = 0; j < 8; j++) sum += acc[j];
    for (; i < n; i++) sum += ql_fp16_to_fp32(x[i]) * y[i];
    *out = sum;
}

static void dot_bf16_f32_scalar(int64_t n, float *restrict out, const void *restrict vx,
                                const void *restrict vy) {
    const ql_bf16 *x = vx;
    const float *y = vy;
    float sum = 0.0f;
    for (int64_t i = 0; i < n; i++) sum += ql_bf16_to_fp32(x[i]) * y[i];
    *out = sum;
}

#endif

#if defined(__AVX512F__)
static inline float hsum512(__m512 v) { return _mm512_reduce_add_ps(v); }

static void dot_f32_avx512(int64_t n, float *restrict out, const void *restrict vx,
                           const void *restrict vy) {
    const float *x = vx, *y = vy;
    __m512 a0 = _mm512_setzero_ps(), a1 = _mm512_setzero_ps();
    __m512 a2 = _mm512_setzero_ps(), a3 = _mm512_setzero_ps();
    int64_t i = 0;
    for (; i + 64 <= n; i += 64) {
        a0 = _mm512_fmadd_ps(_mm512_loadu_ps(x + i), _mm512_loadu_ps(y + i), a0);
        a1 = _mm512_fmadd_ps(_mm512_loadu_ps(x + i + 16), _mm512_loadu_ps(y + i + 16), a1);
        a2 = _mm512_fmadd_ps(_mm512_loadu_ps(x + i + 32), _mm512_loadu_ps(y + i + 32), a2);
        a3 = _mm512_fmadd_ps(_mm512_loadu_ps(x + i + 48), _mm512_loadu_ps(y + i + 48), a3);
    }
    for (; i + 16 <= n; i += 16)
        a0 = _mm512_fmadd_ps(_mm512_loadu_ps(x + i), _mm512_loadu_ps(y + i), a0);
    float sum = hsum512(_mm512_add_ps(_mm512_add_ps(a0, a1), _mm512_add_ps(a2, a3)));
    for (; i < n; i++) sum += x[i] * y[i];
    *out = sum;
}

/*
 * ggml multiplies f16 weights with its tinyBLAS kernel: one 16-lane FMA
 * accumulator per output element over k, then a fixed halving reduction.
 * Following that order makes our products bit-identical to llama.cpp's,
 * which matters once a quantized KV cache amplifies last-bit differences
 * into different rounding decisions.
 */
static inline float reduce_halving_512(__m512 v) {
    const __m256 lo = _mm512_castps512_ps256(v);
    const __m256 hi = _mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(v), 1));
    const __m256 s8 = _mm256_add_ps(hi, lo);
    const __m128 s4 = _mm_add_ps(_mm256_extractf128_ps(s8, 1), _mm256_castps256_ps128(s8));
    const __m128 s2 = _mm_add_ps(s4, _mm_shuffle_ps(s4, s4, _MM_SHUFFLE(1, 0, 3, 2)));
    return _mm_cvtss_f32(s2) + _mm_cvtss_f32(_mm_shuffle_ps(s2, s2, _MM_SHUFFLE(1, 1, 1, 1)));
}

static void dot_f16_f32_avx512(int64_t n, float *restrict out, const void *restrict vx,
                               const void *restrict vy) {
    const ql_fp16 *x = vx;
    const float *y = vy;
    __m512 acc = _mm512_setzero_ps();
    int64_t i = 0;
    for (; i + 16 <= n; i += 16) {
        const __m512 w = _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(x + i)));
        acc = _mm512_fmadd_ps(w, _mm512_loadu_ps(y + i), acc);
    }
    float sum = reduce_halving_512(acc);
    for (; i < n; i++) sum += ql_fp16_to_fp32(x[i]) * y[i];
    *out = sum;
}

static void dot_bf16_f32_avx512(int64_t n, float *restrict out, const void *restrict vx,
                                const void *restrict vy) {
    const ql_bf16 *x = vx;
    const float *y = vy;
    __m512 a0 = _mm512_setzero_ps(), a1 = _mm512_setzero_ps();
    int64_t i = 0;
#define LOADB(p)                                                                                   \
    _mm512_castsi512_ps(                                                                           \
        _mm512_slli_epi32(_mm512_cvtepu16_epi32(_mm256_loadu_si256((const __m256i *)(p))), 16))
    for (; i + 32 <= n; i += 32) {
        a0 = _mm512_fmadd_ps(LOADB(x + i), _mm512_loadu_ps(y + i), a0);
        a1 = _mm512_fmadd_ps(LOADB(x + i + 16), _mm512_loadu_ps(y + i + 16), a1);
    }
    for (; i + 16 <= n; i += 16) a0 = _mm512_fmadd_ps(LOADB(x + i), _mm512_loadu_ps(y + i), a0);
#undef LOADB
    float sum = hsum512(_mm512_add_ps(a0, a1));
    for (; i < n; i++) sum += ql_bf16_to_fp32(x[i]) * y[i];
    *out = sum;
}
#define DOT_F32 dot_f32_avx512
#define DOT_F16 dot_f16_f32_avx512
#define DOT_BF16 dot_bf16_f32_avx512
#define FLOAT_IMPL "avx512"
#else
#define DOT_F32 dot_f32_scalar
#define DOT_F16 dot_f16_f32_scalar
#define DOT_BF16 dot_bf16_f32_scalar
#define FLOAT_IMPL "scalar"
#endif

static ql_matmul_kernel kernels[QL_TYPE_COUNT];
static ql_vec_dot_fn simd_dots[QL_TYPE_COUNT];

static void kernels_init(void) {
    for (int id = 0; id < QL_TYPE_COUNT; id++) simd_dots[id] = ql_qdot_get((ql_type)id);
    kernels[QL_TYPE_F32] = (ql_matmul_kernel){QL_TYPE_F32, act_to_f32, DOT_F32, FLOAT_IMPL};
    kernels[QL_TYPE_F16] = (ql_matmul_kernel){QL_TYPE_F32, act_round_f16, DOT_F16, FLOAT_IMPL};
    kernels[QL_TYPE_BF16] = (ql_matmul_kernel){QL_TYPE_F32, act_round_bf16, DOT_BF16, FLOAT_IMPL};
    for (int id = 0; id < QL_TYPE_COUNT; id++) {
        const ql_type_traits *t = ql_type_traits_get(id);
        if (!t || !t->is_quantized || !ql_type_is_computable(id)) continue;
        const ql_type_traits *vt = ql_type_traits_get((int)t->vec_dot_type);
        if (!vt || !vt->from_float) continue;
        ql_vec_dot_fn dot = simd_dots[id] ? simd_dots[id] : t->vec_dot;
        kernels[id] = (ql_matmul_kernel){t->vec_dot_type, vt->from_float, dot,
                                         simd_dots[id] ? "simd" : "scalar"};
    }
}

#include <pthread.h>
static pthread_once_t kernels_once = PTHREAD_ONCE_INIT;

const ql_matmul_kernel *ql_kernel_get(ql_type weight_type) {
    pthread_once(&kernels_once, kernels_init);
    if ((int)weight_type < 0 || weight_type >= QL_TYPE_COUNT || !kernels[weight_type].dot)
        return NULL;
    return &kernels[weight_type];
}

size_t ql_kernel_act_row_size(const ql_matmul_kernel *k, int64_t n) {
    return ql_row_size(k->act_type, n);
}

ql_vec_dot_fn ql_kernel_simd_dot(ql_type weight_type) {
    pthread_once(&kernels_once, kernels_init);
    if ((int)weight_type < 0 || weight_type >= QL_TYPE_COUNT) return NULL;
    if (weight_type == QL_TYPE_F32 || weight_type == QL_TYPE_F16 || weight_type == QL_TYPE_BF16)
        return kernels[weight_type].dot;
    return simd_dots[weight_type];
}
