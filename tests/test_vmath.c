/*
 * test_vmath.c - ggml's vector exp and the row reductions against libm in
 * double. exp: within 3 ulp of the correctly rounded result over [-87, 88]
 * (ggml's polynomial reaches 2.2 ulp);
 * row sums: relative error below 1e-6 (each term is within 2 ulp, the sum is
 * in double).
 */
#include <math.h>
#include <stdlib.h>

#include "kernels/vecmath.h"
#include "kernels/vmath.h"
#include "test.h"

static double ulp_of(float x) {
    return nextafterf(fabsf(x), INFINITY) - fabsf(x);
}

QL_TEST(vmath_exp_accuracy) {
    double worst = 0;
    for (int i = 0; i <= 200000; i++) {
        const float x = -87.0f + 175.0f * (float)i / 200000.0f;
        const double want = exp((double)x);
        const float got = ql_vexpf(x);
        const double err = fabs(got - want) / ulp_of((float)want);
        if (err > worst) worst = err;
    }
    printf("max error %.2f ulp\n", worst);
    CHECK_MSG(worst <= 3.0, "exp error %.2f ulp", worst);
    CHECK(ql_vexpf(-120.0f) == 0.0f);
    CHECK(ql_vexpf(0.0f) == 1.0f);
}

QL_TEST(vmath_row_reductions) {
    const int64_t n = 50257;
    float *x = malloc((size_t)n * sizeof *x), *e = malloc((size_t)n * sizeof *e);
    float *y = malloc((size_t)n * sizeof *y);
    uint64_t s = 12345;
    for (int64_t i = 0; i < n; i++) {
        s = s * 6364136223846793005ull + 1442695040888963407ull;
        x[i] = (float)((double)(s >> 11) / 9007199254740992.0 * 30.0 - 20.0);
        y[i] = x[i] + (float)((i % 7) - 3) * 0.01f;
    }
    x[31337] = 25.0f;
    x[40000] = 25.0f; /* a tie: the first index wins */
    int64_t imax;
    CHECK(ql_row_max(x, n, &imax) == 25.0f);
    CHECK_EQ_INT(imax, 31337);
    double want = 0, wd = 0;
    for (int64_t i = 0; i < n; i++) want += exp((double)x[i] - 25.0);
    const double got = ql_row_sum_exp(x, n, 25.0f, e);
    CHECK_MSG(fabs(got / want - 1) < 1e-6, "sum %.12g vs %.12g", got, want);
    for (int64_t i = 0; i < n; i++) wd += exp((double)x[i] - 25.0) * ((double)x[i] - y[i] + 0.5);
    const double gd = ql_row_weighted_diff(e, x, y, 0.5, n);
    CHECK_MSG(fabs(gd / wd - 1) < 1e-6, "weighted %.12g vs %.12g", gd, wd);
    free(x), free(e), free(y);
}
