/*
 * hsum8.h - ggml's hsum_float_8 (lanes i + i+4, then i + i+2, then 0 + 1)
 * of eight registers at once: the same additions on the same operands,
 * hence the same bits, with the partial sums of several registers shuffled
 * into one. For the x86 kernels (AVX2).
 */
#ifndef QL_KERNELS_HSUM8_H
#define QL_KERNELS_HSUM8_H

#if defined(__AVX2__)
#include <immintrin.h>

#if defined(__clang__)
#define QL_HSUM8_UNROLL _Pragma("unroll")
#else
#define QL_HSUM8_UNROLL _Pragma("GCC unroll 4")
#endif

/* lane k of the result: hsum_float_8(v[k]) */
static inline __m256 ql_hsum8_x8(const __m256 v[8]) {
    __m256 w[4], z[2];
    QL_HSUM8_UNROLL for (int k = 0; k < 4; k++) /* 128-bit half h: v[2k + h], i + i+4 */
        w[k] = _mm256_add_ps(_mm256_permute2f128_ps(v[2 * k], v[2 * k + 1], 0x20),
                             _mm256_permute2f128_ps(v[2 * k], v[2 * k + 1], 0x31));
    QL_HSUM8_UNROLL for (int k = 0; k < 2; k++) /* half h: [v[4k+h] i0+i2, i1+i3, v[4k+2+h] i0+i2, i1+i3] */
        z[k] = _mm256_add_ps(_mm256_shuffle_ps(w[2 * k], w[2 * k + 1], 0x44),
                             _mm256_shuffle_ps(w[2 * k], w[2 * k + 1], 0xee));
    /* half h: v[h], v[2+h], v[4+h], v[6+h] */
    const __m256 r =
        _mm256_add_ps(_mm256_shuffle_ps(z[0], z[1], 0x88), _mm256_shuffle_ps(z[0], z[1], 0xdd));
    return _mm256_permutevar8x32_ps(r, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7));
}
#endif

#endif
