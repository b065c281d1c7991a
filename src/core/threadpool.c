/*
 * threadpool.c - workers wait on a generation counter. A job is published by
 * bumping the generation; workers spin briefly (jobs in a forward pass come
 * back to back) and then sleep on a condition variable. Completion is a
 * countdown the caller spins on, then sleeps on.
 */
#include "threadpool.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <unistd.h>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define QL_CPU_RELAX() _mm_pause()
#else
#define QL_CPU_RELAX() ((void)0)
#endif

enum { SPIN_ROUNDS = 1 << 14 };

typedef struct {
    ql_pool *pool;
    int ith;
} worker_arg;

struct ql_pool {
    int n_threads;
    pthread_t *threads;
    worker_arg *args;

    pthread_mutex_t mutex;
    pthread_cond_t wake;
    pthread_cond_t done;

    atomic_uint generation;
    atomic_int pending; /* workers still running the current job */
    atomic_bool stop;

    ql_pool_fn fn;
    void *fn_arg;
};

static void *worker_main(void *p) {
    worker_arg *wa = p;
    ql_pool *pool = wa->pool;
    unsigned seen = 0;
    for (;;) {
        unsigned gen;
        int spins = 0;
        while ((gen = atomic_load_explicit(&pool->generation, memory_order_acquire)) == seen &&
               !atomic_load(&pool->stop)) {
            if (++spins < SPIN_ROUNDS) {
                QL_CPU_RELAX();
                continue;
            }
            pthread_mutex_lock(&pool->mutex);
            while (atomic_load(&pool->generation) == seen && !atomic_load(&pool->stop))
                pthread_cond_wait(&pool->wake, &pool->mutex);
            pthread_mutex_unlock(&pool->mutex);
        }
        if (atomic_load(&pool->stop)) return NULL;
        seen = gen;
        pool->fn(pool->fn_arg, wa->ith, pool->n_threads);
        if (atomic_fetch_sub_explicit(&pool->pending, 1, memory_order_acq_rel) == 1) {
            pthread_mutex_lock(&pool->mutex);
            pthread_cond_signal(&pool->done);
            pthread_mutex_unlock(&pool->mutex);
        }
    }
}

ql_status ql_pool_create(int n_threads, ql_pool **out, ql_error *err) {
    *out = NULL;
    if (n_threads < 1 || n_threads > 1024)
        return ql_fail(err, QL_ERR_ARG, "thread count %d is out of range 1..1024", n_threads);
    ql_pool *pool = calloc(1, sizeof *pool);
    if (!pool) return ql_fail(err, QL_ERR_NOMEM, "out of memory creating thread pool");
    pool->n_threads = n_threads;
    pthread_mutex_init(&pool->mutex, NULL);
    pthread_cond_init(&pool->wake, NULL);
    pthread_cond_init(&pool->done, NULL);
    atomic_init(&pool->generation, 0);
    atomic_init(&pool->pending, 0);
    atomic_init(&pool->stop, false);
    if (n_threads > 1) {
        pool->threads = calloc((size_t)n_threads, sizeof *pool->threads);
        pool->args = calloc((size_t)n_threads, sizeof *pool->args);
        if (!pool->threads || !pool->args) {
            ql_pool_free(pool);
            return ql_fail(err, QL_ERR_NOMEM, "out of memory creating thread pool");
        }
        for (int i = 1; i < n_threads; i++) {
            pool->args[i].pool = pool;
            pool->args[i].ith = i;
            if (pthread_create(&pool->threads[i], NULL, worker_main, &pool->args[i]) != 0) {
                pool->n_threads = i; /* join only the ones that started */
                ql_pool_free(pool);
                return ql_fail(err, QL_ERR_IO, "cannot start worker thread %d", i);
            }
        }
    }
    *out = pool;
    return QL_OK;
}

void ql_pool_free(ql_pool *pool) {
    if (!pool) return;
    if (pool->threads) {
        pthread_mutex_lock(&pool->mutex);
        atomic_store(&pool->stop, true);
        pthread_cond_broadcast(&pool->wake);
        pthread_mutex_unlock(&pool->mutex);
        for (int i = 1; i < pool->n_threads; i++) pthread_join(pool->threads[i], NULL);
    }
    pthread_mutex_destroy(&pool->mutex);
    pthread_cond_destroy(&pool->wake);
    pthread_cond_destroy(&pool->done);
    free(pool->threads);
    free(pool->args);
    free(pool);
}

int ql_pool_size(const ql_pool *pool) {
    return pool ? pool->n_threads : 1;
}

void ql_pool_run(ql_pool *pool, ql_pool_fn fn, void *arg) {
    if (!pool || pool->n_threads == 1) {
        fn(arg, 0, 1);
        return;
    }
    pool->fn = fn;
    pool->fn_arg = arg;
    atomic_store_explicit(&pool->pending, pool->n_threads - 1, memory_order_relaxed);
    pthread_mutex_lock(&pool->mutex);
    atomic_fetch_add_explicit(&pool->generation, 1, memory_order_release);
    pthread_cond_broadcast(&pool->wake);
    pthread_mutex_unlock(&pool->mutex);

    fn(arg, 0, pool->n_threads);

    int spins = 0;
    while (atomic_load_explicit(&pool->pending, memory_order_acquire) != 0) {
        if (++spins < SPIN_ROUNDS) {
            QL_CPU_RELAX();
            continue;
        }
        pthread_mutex_lock(&pool->mutex);
        while (atomic_load(&pool->pending) != 0) pthread_cond_wait(&pool->done, &pool->mutex);
        pthread_mutex_unlock(&pool->mutex);
    }
}

int ql_cpu_count(void) {
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n < 1 ? 1 : (int)n;
}
