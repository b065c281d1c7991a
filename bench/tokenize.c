/*
 * tokenize.c - benchmark: how long tok_encode takes over the whole of
 * wikitext-2's test split (1.3 MB), per vocabulary, on one core. Prints the
 * median of several runs; loading the vocabulary is not timed.
 *
 * usage: bench-tokenize [-n RUNS] TEXT VOCAB.gguf...
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "gguf/gguf.h"
#include "tokenizer/tokenizer.h"

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

static int compare_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static char *read_all(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    rewind(f);
    char *buf = n >= 0 ? malloc((size_t)n + 1) : NULL;
    if (buf && fread(buf, 1, (size_t)n, f) != (size_t)n) {
        free(buf);
        buf = NULL;
    }
    fclose(f);
    if (buf) *len = (size_t)n;
    return buf;
}

int main(int argc, char **argv) {
    int runs = 9, first = 1;
    if (argc > 2 && strcmp(argv[1], "-n") == 0) {
        runs = atoi(argv[2]);
        first = 3;
    }
    if (argc - first < 2 || runs < 1 || runs > 1000) {
        fprintf(stderr, "usage: %s [-n RUNS] TEXT VOCAB.gguf...\n", argv[0]);
        return 2;
    }
    size_t len;
    char *text = read_all(argv[first], &len);
    if (!text) {
        fprintf(stderr, "bench-tokenize: cannot read %s\n", argv[first]);
        return 1;
    }
    printf("%s: %zu bytes, median of %d runs\n", argv[first], len, runs);
    for (int v = first + 1; v < argc; v++) {
        ql_error err;
        gguf_file *f;
        tok_vocab *vocab;
        if (gguf_open(argv[v], &f, &err) || tok_load(f, &vocab, &err)) {
            fprintf(stderr, "bench-tokenize: %s: %s\n", argv[v], err.msg);
            return 1;
        }
        double *t = malloc((size_t)runs * sizeof *t);
        size_t n_ids = 0;
        for (int r = 0; r < runs; r++) {
            int32_t *ids;
            double t0 = now_s();
            if (tok_encode(vocab, text, len, false, false, &ids, &n_ids, &err)) {
                fprintf(stderr, "bench-tokenize: %s\n", err.msg);
                return 1;
            }
            t[r] = now_s() - t0;
            free(ids);
        }
        qsort(t, (size_t)runs, sizeof *t, compare_double);
        const char *slash = strrchr(argv[v], '/');
        printf("  %-32s %-6s %-15s %7zu tokens  %7.1f ms  (%.1f MB/s)\n",
               slash ? slash + 1 : argv[v], tok_model_name(vocab),
               tok_pre_name(vocab)[0] ? tok_pre_name(vocab) : "-", n_ids, t[runs / 2] * 1e3,
               (double)len / t[runs / 2] / 1e6);
        free(t);
        tok_free(vocab);
        gguf_close(f);
    }
    free(text);
    return 0;
}
