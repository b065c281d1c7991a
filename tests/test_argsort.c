/*
 * test_argsort.c - the router's expert ranking against C++'s std::sort, the
 * sort ggml's CPU argsort uses: tests/data/argsort-std-sort.txt holds the
 * index orders GCC's libstdc++ gives (made by tests/tools/gen_argsort_cases.cpp)
 * for rows full of ties, where an unstable sort decides the order, and for
 * adversarial rows that push introsort into its heap-sort fallback.
 */
#include <stdlib.h>
#include <string.h>

#include "kernels/argsort.h"
#include "test.h"

QL_TEST(argsort_ties_as_std_sort_orders_them) {
    char *text = (char *)ql_test_read_file("tests/data/argsort-std-sort.txt", NULL);
    REQUIRE(text);
    int cases = 0, with_ties_out_of_order = 0;
    char *save = NULL;
    for (char *line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        if (line[0] == '#') continue;
        char *p = line;
        const long n = strtol(p, &p, 10);
        REQUIRE(n > 0 && n <= 4096);
        float *v = malloc((size_t)n * sizeof *v);
        int32_t *want = malloc((size_t)n * sizeof *want), *got = malloc((size_t)n * sizeof *got);
        for (long i = 0; i < n; i++) v[i] = strtof(p, &p);
        p = strchr(p, '|');
        REQUIRE(p);
        p++;
        for (long i = 0; i < n; i++) want[i] = (int32_t)strtol(p, &p, 10);
        ql_argsort_desc(v, got, n);
        bool same = memcmp(want, got, (size_t)n * sizeof *got) == 0;
        CHECK_MSG(same, "case %d (n = %ld): another order than std::sort's", cases, n);
        /* rows where equal values do not keep their index order: a stable sort would fail */
        for (long i = 1; i < n; i++)
            if (v[want[i]] == v[want[i - 1]] && want[i] < want[i - 1]) {
                with_ties_out_of_order++;
                break;
            }
        free(v), free(want), free(got);
        cases++;
    }
    free(text);
    CHECK(cases >= 150);
    /* the file must exercise the unstable part of the algorithm */
    CHECK_MSG(with_ties_out_of_order >= 20, "only %d cases order ties against index order",
              with_ties_out_of_order);
}
