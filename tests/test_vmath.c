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

/*
 * A row that holds NaN has no maximum: the search for its index must stop at
 * the end of the row (it used to walk past it looking for a value equal to
 * NaN) and report NaN, whichever vector width saw the NaN first.
 */
QL_TEST(vmath_row_max_of_a_row_with_nan_stays_in_the_row) {
    const int64_t sizes[] = {1, 7, 16, 17, 64, 1000};
    for (size_t s = 0; s < sizeof sizes / sizeof sizes[0]; s++) {
        const int64_t n = sizes[s];
        /* an exact-size allocation: a read one past the end is a sanitizer error */
        float *x = malloc((size_t)n * sizeof *x);
        REQUIRE(x);
        for (int64_t where = 0; where<n; where += n> 20 ? n / 7 : 1) {
            for (int64_t i = 0; i < n; i++) x[i] = (float)(i % 5);
            x[where] = NAN;
            int64_t imax = -1;
            const float m = ql_row_max(x, n, &imax);
            CHECK_MSG(imax >= 0 && imax < n, "n %lld, NaN at %lld: index %lld", (long long)n,
                      (long long)where, (long long)imax);
            CHECK_MSG(isnan(m) && imax == where, "n %lld, NaN at %lld: max %g at %lld",
                      (long long)n, (long long)where, m, (long long)imax);
        }
        for (int64_t i = 0; i < n; i++) x[i] = NAN;
        int64_t imax = -1;
        CHECK(isnan(ql_row_max(x, n, &imax)) && imax == 0);
        /* infinities are ordered values: the first +Inf is the maximum */
        for (int64_t i = 0; i < n; i++) x[i] = -INFINITY;
        x[n / 2] = INFINITY;
        CHECK(ql_row_max(x, n, &imax) == INFINITY && imax == n / 2);
        free(x);
    }
}
