/*
 * matmul.c - throughput of the batched matrix product for each weight type,
 * on the shapes of SmolLM2-135M (the projections of one layer and the
 * output projection) with a batch of 512 activation rows: the kernel-level
 * view of `bench/perplexity.sh`, fast enough to run after every change.
 *
 * usage: build/bench-matmul [-t THREADS] [-n RUNS] [-r ROWS] [-v 1] [TYPE ...]
 * (-v 1 adds a line per shape)
 * Prints, per type, the time of one layer's products (the median and the
 * fastest run of each: this machine is noisy) and multiply-adds per second.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/threadpool.h"
#include "kernels/matmul.h"
#include "quant/quant.h"

typedef struct {
    const char *name;
    int64_t n_in, n_out;
} shape;

/* SmolLM2-135M: hidden 576, 9 heads of 64, 3 KV heads, FFN 1536, vocabulary 49152 */
static const shape shapes[] = {
    {"attn_q/o", 576, 576},  {"attn_k/v", 576, 192},     {"ffn_up/gate", 576, 1536},
    {"ffn_down", 1536, 576}, {"output", 576, 49152 / 8}, /* an eighth: the vocabulary is blocked */
};
/* how often each shape runs per layer (the output once per model, 1/30 layer, blocked by 8) */
static const double per_layer[] = {2, 2, 2, 1, 8.0 / 30.0};

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static int cmp_double(const void *a, const void *b) {
    const double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static float frand(uint64_t *s) {
    *s = *s * 6364136223846793005ULL + 1442695040888963407ULL;
    return (float)((double)(*s >> 40) / (double)(1 << 24) - 0.5);
}

int main(int argc, char **argv) {
    int threads = 1, runs = 5, rows = 512, verbose = 0, a = 1;
    for (; a < argc && argv[a][0] == '-'; a += 2) {
        if (a + 1 >= argc) break;
        if (!strcmp(argv[a], "-t"))
            threads = atoi(argv[a + 1]);
        else if (!strcmp(argv[a], "-n"))
            runs = atoi(argv[a + 1]);
        else if (!strcmp(argv[a], "-r"))
            rows = atoi(argv[a + 1]);
        else if (!strcmp(argv[a], "-v"))
            verbose = atoi(argv[a + 1]);
        else
            break;
    }
    static const char *default_types[] = {"q4_1", "q8_0", "q4_K", "q5_K", "q6_K", "q4_0", "f16"};
    const char **types = a < argc ? (const char **)argv + a : default_types;
    const int n_types = a < argc ? argc - a : (int)(sizeof default_types / sizeof *default_types);
    if (runs < 1 || runs > 99 || threads < 1 || rows < 1) {
        fprintf(stderr, "usage: bench-matmul [-t THREADS] [-n RUNS] [-r ROWS] [TYPE ...]\n");
        return 2;
    }
    ql_pool *pool;
    ql_error err;
    if (ql_pool_create(threads, &pool, &err) != QL_OK) return 1;
    printf("%d activation rows, %d thread(s), median of %d runs\n", rows, threads, runs);
    printf("%-8s %10s %10s %10s %10s\n", "type", "ms/layer", "GMAC/s", "best ms", "GMAC/s");
    for (int t = 0; t < n_types; t++) {
        const int id = ql_type_from_name(types[t]);
        const ql_type_traits *tr = id >= 0 ? ql_type_traits_get(id) : NULL;
        if (!tr || !tr->from_float) {
            fprintf(stderr, "bench-matmul: unknown type %s\n", types[t]);
            return 2;
        }
        double ms_layer = 0, ms_best = 0, macs_layer = 0;
        for (size_t s = 0; s < sizeof shapes / sizeof *shapes; s++) {
            const shape *sh = &shapes[s];
            uint64_t seed = 42 + s;
            const size_t row_bytes = ql_row_size((ql_type)id, sh->n_in);
            float *wf = malloc(sizeof(float) * (size_t)sh->n_in);
            unsigned char *wq = malloc(row_bytes * (size_t)sh->n_out);
            float *x = malloc(sizeof(float) * (size_t)(sh->n_in * rows));
            float *y = malloc(sizeof(float) * (size_t)(sh->n_out * rows));
            void *scratch =
                malloc(ql_matmul_scratch_size((ql_type)id, sh->n_in, rows, ql_pool_size(pool)));
            if (!wf || !wq || !x || !y || !scratch) {
                fprintf(stderr, "bench-matmul: error: out of memory for %d rows\n", rows);
                return 1;
            }
            for (int64_t o = 0; o < sh->n_out; o++) {
                for (int64_t i = 0; i < sh->n_in; i++) wf[i] = frand(&seed);
                tr->from_float(wf, wq + (size_t)o * row_bytes, sh->n_in);
            }
            for (int64_t i = 0; i < sh->n_in * rows; i++) x[i] = frand(&seed);
            const ql_matrix w = {wq, (ql_type)id, sh->n_in, sh->n_out, row_bytes, false};
            double times[99];
            for (int r = 0; r < runs; r++) {
                const double t0 = now();
                ql_matmul(pool, NULL, &w, x, sh->n_in, rows, y, sh->n_out, scratch);
                times[r] = now() - t0;
            }
            qsort(times, (size_t)runs, sizeof *times, cmp_double);
            ms_layer += per_layer[s] * times[runs / 2] * 1e3;
            ms_best += per_layer[s] * times[0] * 1e3;
            if (verbose)
                printf("  %-12s %5lld x %5lld  %8.3f ms %8.2f GMAC/s (best %.2f)\n", sh->name,
                       (long long)sh->n_out, (long long)sh->n_in, times[runs / 2] * 1e3,
                       (double)sh->n_in * (double)sh->n_out * rows / times[runs / 2] * 1e-9,
                       (double)sh->n_in * (double)sh->n_out * rows / times[0] * 1e-9);
            macs_layer += per_layer[s] * (double)sh->n_in * (double)sh->n_out * rows;
            free(wf), free(wq), free(x), free(y), free(scratch);
        }
        printf("%-8s %10.2f %10.2f %10.2f %10.2f\n", tr->name, ms_layer,
               macs_layer / ms_layer * 1e-6, ms_best, macs_layer / ms_best * 1e-6);
        fflush(stdout);
    }
    ql_pool_free(pool);
    return 0;
}
