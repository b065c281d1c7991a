/*
 * half512.h - f16 arithmetic on 16 f32 lanes that hold f16 values, with
 * the roundings of ggml's F16 vectors: shared by the f16 dots (kernels.c)
 * and the f16 V accumulation of attention (attention.c).
 */
#ifndef QL_KERNELS_HALF512_H
#define QL_KERNELS_HALF512_H

#if defined(__AVX512F__)
#include <immintrin.h>

/* f16 rounding of 16 lanes (RNE, as vcvtps2ph) */
static inline __m512 h16(__m512 v) {
    return _mm512_cvtph_ps(_mm512_cvtps_ph(v, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC));
}

/*
 * f16(a*b + c) for f16 values a, b, c, rounded once. a*b is exact in f32;
 * the f32 sum rounded to odd (toward zero, lowest bit set if inexact) keeps
 * 13 more bits than f16 and a sticky bit, so rounding it to f16 gives the
 * correctly rounded result, with no special cases and no branches.
 */
static inline __m512 h_fma512(__m512 a, __m512 b, __m512 c) {
    const __m512 rz = _mm512_fmadd_round_ps(a, b, c, _MM_FROUND_TO_ZERO | _MM_FROUND_NO_EXC);
    const __m512 ru = _mm512_fmadd_round_ps(a, b, c, _MM_FROUND_TO_POS_INF | _MM_FROUND_NO_EXC);
    const __m512 rd = _mm512_fmadd_round_ps(a, b, c, _MM_FROUND_TO_NEG_INF | _MM_FROUND_NO_EXC);
    const __mmask16 inexact = _mm512_cmp_ps_mask(ru, rd, _CMP_NEQ_UQ);
    const __m512i odd = _mm512_mask_or_epi32(_mm512_castps_si512(rz), inexact,
                                             _mm512_castps_si512(rz), _mm512_set1_epi32(1));
    return h16(_mm512_castsi512_ps(odd));
}
#endif

#endif
