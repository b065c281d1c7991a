/*
 * finite.c - see finite.h. A float is NaN or infinite exactly when its
 * exponent bits are all ones; testing the bits (rather than isfinite) lets
 * the compiler vectorise the block loop.
 */
#include "finite.h"

#include <math.h>
#include <stdatomic.h>
#include <string.h>

enum { BLOCK = 64 };

static inline uint32_t is_nonfinite(const float *p) {
    uint32_t u;
    memcpy(&u, p, sizeof u);
    return (u & 0x7f800000u) == 0x7f800000u;
}

int64_t ql_first_nonfinite(const float *x, int64_t n) {
    int64_t i = 0;
    for (; i + BLOCK <= n; i += BLOCK) {
        uint32_t any = 0;
        for (int j = 0; j < BLOCK; j++) any |= is_nonfinite(x + i + j);
        if (any) break;
    }
    for (; i < n; i++)
        if (is_nonfinite(x + i)) return i;
    return -1;
}

typedef struct {
    const float *rows;
    int64_t n_rows, width;
    atomic_llong first; /* the smallest bad row found by any thread; n_rows when none */
} scan_job;

static void scan_rows(void *arg, int ith, int nth) {
    scan_job *j = arg;
    long long r0, r1;
    ql_split_range(j->n_rows, ith, nth, &r0, &r1);
    for (long long r = r0; r < r1; r++) {
        if (r >= atomic_load_explicit(&j->first, memory_order_relaxed)) return;
        if (ql_first_nonfinite(j->rows + r * j->width, j->width) < 0) continue;
        long long seen = atomic_load(&j->first);
        while (r < seen && !atomic_compare_exchange_weak(&j->first, &seen, r)) {
        }
        return;
    }
}

int64_t ql_first_nonfinite_row(ql_pool *pool, const float *rows, int64_t n_rows, int64_t width,
                               int64_t *col) {
    scan_job j = {.rows = rows, .n_rows = n_rows, .width = width};
    atomic_init(&j.first, n_rows);
    if (pool)
        ql_pool_run(pool, scan_rows, &j);
    else
        scan_rows(&j, 0, 1);
    const int64_t r = atomic_load(&j.first);
    if (r >= n_rows) return -1;
    if (col) *col = ql_first_nonfinite(rows + r * width, width);
    return r;
}

const char *ql_nonfinite_name(float v) {
    if (isnan(v)) return "NaN";
    return v > 0 ? "+inf" : "-inf";
}
