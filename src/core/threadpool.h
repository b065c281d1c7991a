/*
 * threadpool.h - a fork-join pool of persistent worker threads.
 *
 * ql_pool_run(pool, fn, arg) calls fn(arg, ith, nth) once for every ith in
 * [0, nth) - the calling thread runs ith 0 - and returns when all calls have
 * finished. Work is split by the callee from (ith, nth) alone, so a caller
 * that assigns every output element to exactly one ith gets results that do
 * not depend on nth. The pool never allocates after creation.
 */
#ifndef QL_CORE_THREADPOOL_H
#define QL_CORE_THREADPOOL_H

#include "status.h"

typedef struct ql_pool ql_pool;
typedef void (*ql_pool_fn)(void *arg, int ith, int nth);

/* n_threads >= 1; n_threads == 1 creates no threads. */
ql_status ql_pool_create(int n_threads, ql_pool **out, ql_error *err);
void ql_pool_free(ql_pool *pool);
int ql_pool_size(const ql_pool *pool);
void ql_pool_run(ql_pool *pool, ql_pool_fn fn, void *arg);

/* Splits [0, n) into nth nearly equal contiguous ranges; returns thread ith's. */
static inline void ql_split_range(long long n, int ith, int nth, long long *begin, long long *end) {
    long long per = n / nth, extra = n % nth;
    *begin = ith * per + (ith < extra ? ith : extra);
    *end = *begin + per + (ith < extra ? 1 : 0);
}

/* Number of online CPUs (at least 1). */
int ql_cpu_count(void);

#endif
