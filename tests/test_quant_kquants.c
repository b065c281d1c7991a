/*
 * test_quant_kquants.c - properties of the k-quants (q2_K .. q6_K) that hold
 * on any input, beyond the 48 golden rows: how far a round trip may move a
 * value, and that the quantizer commutes exactly with scaling by powers of two.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "quant/quant.h"
#include "test.h"

typedef struct {
    ql_type type;
    int bits;       /* bits per quant: the grid has 2^bits - 1 steps */
    bool symmetric; /* x = d*q (q3_K, q6_K) rather than x = d*q - min */
} kquant_case;

static const kquant_case kquant_cases[] = {
    {QL_TYPE_Q2_K, 2, false}, {QL_TYPE_Q3_K, 3, true}, {QL_TYPE_Q4_K, 4, false},
    {QL_TYPE_Q5_K, 5, false}, {QL_TYPE_Q6_K, 6, true},
};
enum { N_KQUANT_CASES = sizeof kquant_cases / sizeof kquant_cases[0] };

static uint64_t rng_state;

static double rng_uniform(void) {
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return ((rng_state >> 11) + 0.5) * (1.0 / 9007199254740992.0);
}

static double rng_normal(void) {
    return sqrt(-2.0 * log(rng_uniform())) * cos(6.283185307179586 * rng_uniform());
}

/*
 * 0 normal; 1 uniform(-1, 1); 2 uniform(0, 1), one-signed so the min is 0;
 * 3 normal with every 37th value x20 (outliers); 4 normal cubed (heavy
 * tails); 5 32-value runs alternating sigma 5 and 0.01, so sub-blocks of one
 * super-block differ in scale by 500x; 6 uniform(-3, 0); 7 constant; 8 zeros.
 */
enum { N_DISTRIBUTIONS = 9 };

static double draw(int64_t i, int dist) {
    switch (dist) {
    case 0:
        return rng_normal();
    case 1:
        return 2.0 * rng_uniform() - 1.0;
    case 2:
        return rng_uniform();
    case 3:
        return rng_normal() * (i % 37 == 0 ? 20.0 : 1.0);
    case 4:
        return pow(rng_normal(), 3.0);
    case 5:
        return rng_normal() * ((i / 32) % 2 ? 5.0 : 0.01);
    case 6:
        return -3.0 * rng_uniform();
    case 7:
        return 0.75;
    default:
        return 0.0;
    }
}

static void fill(float *v, int64_t n, int dist) {
    for (int64_t i = 0; i < n; i++) v[i] = (float)draw(i, dist);
}

/*
 * Round-trip error bound. Let R be the super-block's range (asymmetric
 * types: max(x, 0) - min(x, 0), since the grid's offset is never positive;
 * symmetric types: 2 max|x|) and N = 2^bits - 1, so h = R / N is the step
 * of an ideal grid spread over the whole super-block. Then:
 *  (a) the quantizer's last pass rounds each value to the nearest level of
 *      its sub-block's stored grid, so a value inside that grid's span is
 *      off by at most half the sub-block's step, which is at most about h
 *      (a sub-block's range is at most R, and the fit spreads N - 1 to
 *      N + 1 steps over it);
 *  (b) a value beyond the span is clipped to the end level. The span falls
 *      short of the sub-block's range by at most the stretch of the fit's
 *      search grids (one step: they try up to N + 1 steps over the range),
 *      plus the rounding of the sub-block's scale and min to 4 bits (q2_K),
 *      6 bits (q3_K, q4_K, q5_K) or 8 bits (q6_K) of the super-block's
 *      largest: R/30 + R/30 for q2_K (0.2 h), R/126 + R/126 for q4_K and
 *      q5_K (0.24 h and 0.49 h), less for the symmetric types (no min);
 *  (c) f16 rounding of d and dmin moves the grid by 2^-11 of itself.
 * That gives under 1.5 h. It is an estimate, not a proof: the fit is a
 * weighted least-squares one, and q4_K/q5_K weight values by rms + |x|, so
 * a fit may give up a little more at the lightly weighted end near zero.
 * The worst we measured is 1.50 h (q5_K, uniform(-1, 0), 20000 blocks);
 * we allow |x - x'| <= 2 h. An all-zero block must come back exactly zero.
 */
static double super_block_range(const float *x, bool symmetric) {
    double lo = 0.0, hi = 0.0, amax = 0.0;
    for (int i = 0; i < QL_QK_K; i++) {
        lo = fmin(lo, x[i]);
        hi = fmax(hi, x[i]);
        amax = fmax(amax, fabs(x[i]));
    }
    return symmetric ? 2.0 * amax : hi - lo;
}

QL_TEST(quant_kquants_round_trip_error_bound) {
    const int64_t n_blocks = 64, n = n_blocks * QL_QK_K;
    float *x = malloc((size_t)n * sizeof(float)), *back = malloc((size_t)n * sizeof(float));
    void *q = malloc(ql_row_size(QL_TYPE_Q6_K, n)); /* the largest of the five */
    REQUIRE(x && back && q);
    for (int c = 0; c < N_KQUANT_CASES; c++) {
        const kquant_case *kc = &kquant_cases[c];
        const ql_type_traits *tr = ql_type_traits_get((int)kc->type);
        REQUIRE_MSG(tr && tr->from_float_ref && tr->to_float, "type %d not computable",
                    (int)kc->type);
        const double steps = (double)((1 << kc->bits) - 1);
        rng_state = 0x243F6A8885A308D3ull + (uint64_t)c;
        for (int dist = 0; dist < N_DISTRIBUTIONS; dist++) {
            fill(x, n, dist);
            tr->from_float_ref(x, q, n);
            tr->to_float(q, back, n);
            double worst_ratio = 0.0;
            int64_t worst_at = 0;
            bool over = false;
            for (int64_t b = 0; b < n_blocks; b++) {
                const float *xb = x + b * QL_QK_K, *yb = back + b * QL_QK_K;
                const double bound = 2.0 * super_block_range(xb, kc->symmetric) / steps;
                for (int i = 0; i < QL_QK_K; i++) {
                    double err = fabs((double)xb[i] - yb[i]);
                    if (err > bound) over = true;
                    double ratio = bound > 0 ? err / bound : (err > 0 ? INFINITY : 0.0);
                    if (ratio > worst_ratio) {
                        worst_ratio = ratio;
                        worst_at = b * QL_QK_K + i;
                    }
                }
            }
            CHECK_MSG(
                !over, "%s dist %d: value %lld: %.9g came back as %.9g, %.3g x the bound 2 R/N",
                tr->name, dist, (long long)worst_at, x[worst_at], back[worst_at], worst_ratio);
        }
    }
    free(x), free(back), free(q);
}

/*
 * Scaling the input by 2^k scales every quantity the quantizer computes by a
 * power of two: sums, products and quotients of values stay exact multiples
 * of their unscaled selves, the arguments of every rounding to an integer
 * level (iscale * x, (x + min) / d, inv_scale * scale) are scale-free, and
 * every comparison keeps its outcome. So the quants and sub-block scales
 * come out identical and d, dmin are scaled by exactly 2^k, provided that
 * nothing overflows and d and dmin stay normal f16 numbers (rounding to an
 * f16 subnormal is not scale-free). For normal(0,1) data d and dmin lie
 * roughly in [1e-3, 1] (the smallest is q6_K's d, about max|x| / 4096), so
 * k in [-3, 8] keeps them in f16's normal range [6.1e-5, 65504]. The check
 * is bit-exact on the dequantized floats.
 */
QL_TEST(quant_kquants_power_of_two_scaling_is_exact) {
    const int64_t n = 32 * QL_QK_K;
    const int exponents[] = {-3, -1, 1, 4, 8};
    float *x = malloc((size_t)n * sizeof(float)), *xs = malloc((size_t)n * sizeof(float));
    float *back = malloc((size_t)n * sizeof(float)), *back_s = malloc((size_t)n * sizeof(float));
    void *q = malloc(ql_row_size(QL_TYPE_Q6_K, n));
    REQUIRE(x && xs && back && back_s && q);
    rng_state = 0x13198A2E03707344ull;
    fill(x, n, 0);
    for (int c = 0; c < N_KQUANT_CASES; c++) {
        const ql_type_traits *tr = ql_type_traits_get((int)kquant_cases[c].type);
        REQUIRE(tr && tr->from_float_ref && tr->to_float);
        tr->from_float_ref(x, q, n);
        tr->to_float(q, back, n);
        for (size_t e = 0; e < sizeof exponents / sizeof exponents[0]; e++) {
            const int k = exponents[e];
            for (int64_t i = 0; i < n; i++) xs[i] = ldexpf(x[i], k);
            tr->from_float_ref(xs, q, n);
            tr->to_float(q, back_s, n);
            int64_t mismatches = 0, first = -1;
            for (int64_t i = 0; i < n; i++) {
                float want = ldexpf(back[i], k);
                if (memcmp(&want, &back_s[i], sizeof want) != 0) {
                    if (first < 0) first = i;
                    mismatches++;
                }
            }
            CHECK_MSG(mismatches == 0,
                      "%s x 2^%d: %lld of %lld values differ from 2^%d x the unscaled round trip; "
                      "first at %lld: %.9g, expected %.9g",
                      tr->name, k, (long long)mismatches, (long long)n, k, (long long)first,
                      first < 0 ? 0.0 : back_s[first], first < 0 ? 0.0 : ldexpf(back[first], k));
        }
    }
    free(x), free(xs), free(back), free(back_s), free(q);
}
