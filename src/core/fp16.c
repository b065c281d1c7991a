/*
 * fp16.c - binary16 <-> binary32 conversions done on the bits, so results do
 * not depend on the compiler's or the CPU's floating-point environment. The
 * row helpers use F16C when the build targets it (identical results: F16C
 * also rounds to nearest even).
 */
#include "fp16.h"

#include <pthread.h>

#if defined(__F16C__)
#include <immintrin.h>
#endif

float ql_fp16_table[65536];

float ql_fp16_to_fp32(ql_fp16 h) {
    uint32_t sign = (uint32_t)(h & 0x8000u) << 16;
    uint32_t exp = (h >> 10) & 0x1fu;
    uint32_t mant = h & 0x3ffu;
    uint32_t bits;
    if (exp == 0x1f) {
        bits = sign | 0x7f800000u | (mant << 13); /* Inf or NaN, payload kept */
    } else if (exp != 0) {
        bits = sign | ((exp + 112u) << 23) | (mant << 13);
    } else if (mant == 0) {
        bits = sign;
    } else {
        /* subnormal: normalise the mantissa */
        int shift = 0;
        while (!(mant & 0x400u)) {
            mant <<= 1;
            shift++;
        }
        mant &= 0x3ffu;
        bits = sign | ((uint32_t)(113 - shift) << 23) | (mant << 13);
    }
    return ql_bits_f32(bits);
}

ql_fp16 ql_fp32_to_fp16(float f) {
    uint32_t u = ql_f32_bits(f);
    uint32_t sign = (u >> 16) & 0x8000u;
    uint32_t abs = u & 0x7fffffffu;
    if (abs > 0x7f800000u) {
        /* NaN: keep the top payload bits, force quiet so it cannot become Inf */
        return (ql_fp16)(sign | 0x7e00u | ((abs >> 13) & 0x3ffu));
    }
    if (abs >= 0x477ff000u) {
        /* >= 65520 rounds to Inf (65504 is the largest finite half) */
        return (ql_fp16)(sign | 0x7c00u);
    }
    if (abs < 0x38800000u) {
        /* result is subnormal or zero: value = abs * 2^24 in units of 2^-24 */
        if (abs < 0x33000000u) return (ql_fp16)sign; /* below half the smallest subnormal */
        uint32_t exp = abs >> 23;
        uint32_t mant = (abs & 0x7fffffu) | 0x800000u;
        uint32_t shift = 126u - exp; /* 14..24 */
        uint32_t q = mant >> shift;
        uint32_t rem = mant & ((1u << shift) - 1u);
        uint32_t half = 1u << (shift - 1u);
        if (rem > half || (rem == half && (q & 1u))) q++;
        return (ql_fp16)(sign | q);
    }
    /* normal: rebias the exponent and round the 13 dropped mantissa bits */
    uint32_t r = abs - 0x38000000u; /* exponent 127 -> 15 */
    uint32_t q = r >> 13;
    uint32_t rem = r & 0x1fffu;
    if (rem > 0x1000u || (rem == 0x1000u && (q & 1u))) q++;
    return (ql_fp16)(sign | q);
}

void ql_fp16_to_fp32_row(const ql_fp16 *src, float *dst, int64_t n) {
    int64_t i = 0;
#if defined(__F16C__)
    for (; i + 8 <= n; i += 8) {
        __m128i h = _mm_loadu_si128((const __m128i *)(src + i));
        _mm256_storeu_ps(dst + i, _mm256_cvtph_ps(h));
    }
#endif
    for (; i < n; i++) dst[i] = ql_fp16_to_fp32(src[i]);
}

void ql_fp32_to_fp16_row(const float *src, ql_fp16 *dst, int64_t n) {
    int64_t i = 0;
#if defined(__F16C__)
    for (; i + 8 <= n; i += 8) {
        __m256 v = _mm256_loadu_ps(src + i);
        _mm_storeu_si128((__m128i *)(dst + i),
                         _mm256_cvtps_ph(v, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC));
    }
#endif
    for (; i < n; i++) dst[i] = ql_fp32_to_fp16(src[i]);
}

void ql_bf16_to_fp32_row(const ql_bf16 *src, float *dst, int64_t n) {
    for (int64_t i = 0; i < n; i++) dst[i] = ql_bf16_to_fp32(src[i]);
}

void ql_fp32_to_bf16_row(const float *src, ql_bf16 *dst, int64_t n) {
    for (int64_t i = 0; i < n; i++) dst[i] = ql_fp32_to_bf16(src[i]);
}

static pthread_once_t fp16_once = PTHREAD_ONCE_INIT;

static void fp16_fill_table(void) {
    for (uint32_t i = 0; i < 65536; i++) ql_fp16_table[i] = ql_fp16_to_fp32((ql_fp16)i);
}

void ql_fp16_init(void) {
    pthread_once(&fp16_once, fp16_fill_table);
}
