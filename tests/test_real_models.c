/*
 * test_real_models.c - the real models (SmolLM2-135M Q4_1 and its Q8_0 and
 * Q4_K_M requantizations, Gemma 3 270M Q4_K_M) give llama.cpp's perplexity
 * for every configuration in tests/data/real-models.tsv, measured with
 * llama-perplexity itself (its header says which llama.cpp, options and
 * CPU; scripts/measure-real-models.sh made it): every chunk's running PPL
 * to the printed digit. Gemma's outlier channels make ggml's q8 activation
 * quantization chaotic, so only the same float order in every product gets
 * there: llama.cpp's own default and --no-repack paths differ by up to 0.7%.
 *
 * The measuring CPU had no AVX512-FP16, so the runs use --numerics f32.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "test.h"

typedef struct {
    char model[32], ctk[16], ctv[16], flags[32];
    int n_ctx, chunks;
    double chunk_ppl[16];
    double final_ppl;
} real_row;

static int load_rows(ql_test_ctx *t, real_row *rows, int max) {
    char *tsv = (char *)ql_test_read_file("tests/data/real-models.tsv", NULL);
    if (!tsv) {
        ql_test_failf(t, __FILE__, __LINE__, "cannot read tests/data/real-models.tsv");
        return 0;
    }
    int n = 0;
    char *save = NULL;
    for (char *line = strtok_r(tsv, "\n", &save); line && n < max;
         line = strtok_r(NULL, "\n", &save)) {
        real_row *r = &rows[n];
        char chunks[512];
        double unc;
        if (line[0] == '#' ||
            sscanf(line, "%31s %15s %15s %d %d %31s %511s %lf %lf", r->model, r->ctk, r->ctv,
                   &r->n_ctx, &r->chunks, r->flags, chunks, &r->final_ppl, &unc) != 9)
            continue;
        const char *c = chunks;
        int k = 0;
        while (k < r->chunks && k < 16 && (c = strchr(c, ']')))
            r->chunk_ppl[k++] = strtod(++c, NULL);
        if (k == r->chunks) n++;
    }
    free(tsv);
    return n;
}

/* The running PPL values printed after each chunk ("[1]13.9468,[2]..."), in order. */
static int parse_running(const char *out, double *ppl, int max) {
    int k = 0;
    for (const char *c = strchr(out, '['); c && k < max; c = strchr(c + 1, '[')) {
        char *end;
        const long chunk = strtol(c + 1, &end, 10);
        if (end == c + 1 || *end != ']' || chunk != k + 1) continue;
        ppl[k++] = strtod(end + 1, NULL);
    }
    return k;
}

static void check_model(ql_test_ctx *t, const char *prefix, const char *path) {
    static real_row rows[64];
    const int n = load_rows(t, rows, 64);
    int checked = 0;
    for (int i = 0; i < n; i++) {
        const real_row *r = &rows[i];
        if (strcmp(r->model, prefix) != 0) continue;
        if (ql_test_light() && checked > 0) break; /* one configuration under the sanitizers */
        char args[2048];
        snprintf(args, sizeof args,
                 "perplexity -m %s -f %s -c %d --chunks %d -t 2 -ctk %s -ctv %s --numerics f32 %s",
                 path, ql_test_shared_path("data/wikitext-2-raw/wiki.test.raw"), r->n_ctx,
                 r->chunks, r->ctk, r->ctv, strcmp(r->flags, "-") == 0 ? "" : r->flags);
        char *out = NULL, *err = NULL;
        const int rc = ql_test_run_qlens(args, &out, &err);
        CHECK_MSG(rc == 0, "%s: exit %d: %s", args, rc, err ? err : "");
        double got[16];
        const int k = out ? parse_running(out, got, 16) : 0;
        CHECK_MSG(k == r->chunks, "%s %s/%s -c %d %s: %d running values in: %s", prefix, r->ctk,
                  r->ctv, r->n_ctx, r->flags, k, out ? out : "");
        for (int c = 0; c < k && c < r->chunks; c++) {
            /* both print 4 decimals: agreement to the printed digit */
            CHECK_MSG(fabs(got[c] - r->chunk_ppl[c]) <= 0.5e-4 + 1e-9 * r->chunk_ppl[c],
                      "%s %s/%s -c %d %s chunk %d: PPL %.4f, llama.cpp %.4f", prefix, r->ctk,
                      r->ctv, r->n_ctx, r->flags, c + 1, got[c], r->chunk_ppl[c]);
        }
        printf("%-14s %-4s/%-4s -c %-4d %-11s PPL %.4f  llama.cpp %.4f\n", prefix, r->ctk, r->ctv,
               r->n_ctx, r->flags, k ? got[k - 1] : 0.0, r->final_ppl);
        free(out);
        free(err);
        checked++;
    }
    CHECK_MSG(checked >= 1, "%s: no configuration checked", prefix);
}

static const char *requantized(ql_test_ctx *t, const char *dir, const char *ftype, char *buf,
                               size_t size) {
    snprintf(buf, size, "%s/smollm2-%s.gguf", dir, ftype);
    char args[1024];
    snprintf(args, sizeof args, "quantize --allow-requantize %s %s %s",
             "models/SmolLM2-135M-Instruct.Q4_1.gguf", buf, ftype);
    char *err = NULL;
    const int rc = ql_test_run_qlens(args, NULL, &err);
    CHECK_MSG(rc == 0, "%s: %s", args, err ? err : "");
    free(err);
    return buf;
}

QL_TEST(real_models_smollm2_q4_1_is_llama_cpp) {
    check_model(t, "smollm2-Q4_1", "models/SmolLM2-135M-Instruct.Q4_1.gguf");
}

QL_TEST(real_models_smollm2_requantized_is_llama_cpp) {
    const char *dir = ql_test_tmpdir(t);
    char q8[512], q4km[512];
    check_model(t, "smollm2-Q8_0", requantized(t, dir, "Q8_0", q8, sizeof q8));
    check_model(t, "smollm2-Q4_K_M", requantized(t, dir, "Q4_K_M", q4km, sizeof q4km));
}

QL_TEST(real_models_gemma3_is_llama_cpp) {
    check_model(t, "gemma3-Q4_K_M", "models/gemma-3-270m-Q4_K_M.gguf");
}
