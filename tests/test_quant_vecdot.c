/*
 * test_quant_vecdot.c - every computable type's scalar vec_dot against a
 * double-precision dot product of the dequantized operands.
 *
 * Tolerance. The vec_dot of a block format sums exact integer products per
 * block and combines the per-block results in float, so its error is the
 * float rounding of that combination: at most about (number of float
 * operations) x 2^-24 x sum|x_i y_i|. We allow
 *     tol = 4 * (n / block_size + 8) * 2^-24 * sum_i |x_i y_i|
 * (a factor 4 over the sequential-summation bound for the few extra
 * multiplications per block). Formats paired with q8_1 use the partner's
 * stored block sum s = fp16(d * sum q) for the min term; that sum is rounded
 * to f16, so for them we add sum_blocks max|x| * |sum y| * 2^-10. The
 * f16/bf16/f32 paths are checked with the same bound.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "quant/quant.h"
#include "test.h"

static uint64_t rng_state = 0x9E3779B97F4A7C15ull;

static double rng_uniform(void) {
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return ((rng_state >> 11) + 0.5) * (1.0 / 9007199254740992.0);
}

static double rng_normal(void) {
    return sqrt(-2.0 * log(rng_uniform())) * cos(6.283185307179586 * rng_uniform());
}

static void fill(float *v, int64_t n, int dist) {
    for (int64_t i = 0; i < n; i++) {
        switch (dist) {
        case 0:
            v[i] = (float)rng_normal();
            break;
        case 1:
            v[i] = (float)(rng_normal() * (i % 37 == 0 ? 20.0 : 1.0));
            break;
        case 2:
            v[i] = (float)(2.0 * rng_uniform() - 1.0);
            break;
        case 3:
            v[i] = (float)(rng_uniform() * 0.01);
            break;
        default:
            v[i] = 0.0f;
            break;
        }
    }
}

static void check_type(ql_test_ctx *t, const ql_type_traits *tx, int id) {
    const ql_type_traits *ty = ql_type_traits_get((int)tx->vec_dot_type);
    REQUIRE_MSG(ty && ty->from_float && ty->to_float, "%s: vec_dot_type %d is not computable",
                tx->name, (int)tx->vec_dot_type);
    const int64_t sizes[] = {256, 4096};
    for (int si = 0; si < 2; si++) {
        int64_t n = sizes[si];
        for (int dist = 0; dist < 5; dist++) {
            float *x = malloc((size_t)n * sizeof(float)), *y = malloc((size_t)n * sizeof(float));
            float *xd = malloc((size_t)n * sizeof(float)), *yd = malloc((size_t)n * sizeof(float));
            void *qx = malloc(ql_row_size((ql_type)id, n) + 64);
            void *qy = malloc(ql_row_size(tx->vec_dot_type, n) + 64);
            fill(x, n, dist);
            fill(y, n, dist == 4 ? 4 : 0);
            tx->from_float_ref(x, qx, n);
            ty->from_float(y, qy, n);
            tx->to_float(qx, xd, n);
            ty->to_float(qy, yd, n);
            double exact = 0.0, abs_sum = 0.0, min_term = 0.0;
            for (int64_t i = 0; i < n; i++) {
                exact += (double)xd[i] * yd[i];
                abs_sum += fabs((double)xd[i] * yd[i]);
            }
            if (tx->vec_dot_type == QL_TYPE_Q8_1) {
                for (int64_t b = 0; b < n; b += 32) {
                    double mx = 0.0, sy = 0.0;
                    for (int64_t i = b; i < b + 32; i++) {
                        mx = fmax(mx, fabs(x[i]));
                        sy += yd[i];
                    }
                    min_term += mx * fabs(sy) * 0x1p-10;
                }
            }
            float got = NAN;
            tx->vec_dot(n, &got, qx, qy);
            double tol =
                4.0 * ((double)n / (double)tx->block_size + 8.0) * 0x1p-24 * abs_sum + min_term;
            if (dist == 4) {
                CHECK_MSG(got == 0.0f, "%s n=%lld zeros: vec_dot %.9g, expected 0", tx->name,
                          (long long)n, got);
            } else {
                CHECK_MSG(fabs(got - exact) <= tol,
                          "%s n=%lld dist %d: vec_dot %.9g, double %.9g, |diff| %.3g > tol %.3g",
                          tx->name, (long long)n, dist, got, exact, fabs(got - exact), tol);
            }
            free(x), free(y), free(xd), free(yd), free(qx), free(qy);
        }
    }
}

QL_TEST(quant_vec_dot_all_types) {
    int tested = 0;
    for (int id = 0; id < QL_TYPE_COUNT; id++) {
        if (!ql_type_is_computable(id)) continue;
        check_type(t, ql_type_traits_get(id), id);
        tested++;
    }
    /* f32 f16 bf16 q4_0 q4_1 q5_0 q5_1 q8_0 q8_1 q2_K..q6_K q8_K iq4_nl iq4_xs mxfp4 */
    CHECK_MSG(tested == 18, "%d computable types, expected 18", tested);
}

QL_TEST(quant_type_names_and_sizes) {
    CHECK_EQ_INT(ql_type_from_name("Q4_K"), QL_TYPE_Q4_K);
    CHECK_EQ_INT(ql_type_from_name("q8_0"), QL_TYPE_Q8_0);
    CHECK_EQ_INT(ql_type_from_name("BF16"), QL_TYPE_BF16);
    CHECK_EQ_INT(ql_type_from_name("q4_2"), -1);
    CHECK(!ql_type_is_known(4));  /* Q4_2, removed from ggml */
    CHECK(!ql_type_is_known(43)); /* past the last id */
    CHECK_EQ_INT(ql_row_size(QL_TYPE_Q4_0, 4096), 4096 / 32 * 18);
    CHECK_EQ_INT(ql_row_size(QL_TYPE_Q6_K, 4096), 4096 / 256 * 210);
    CHECK_EQ_INT(ql_row_size(QL_TYPE_F16, 100), 200);
}
