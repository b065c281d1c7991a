/*
 * test_gemma3_shape.c - a synthetic model with Gemma 3 270M's real
 * attention shape (heads of 256, one KV head, a 512-token sliding window,
 * two rope bases) against a float64 reference: the conventions its real
 * configuration exercises and the tiny synthetic gemma3 does not - the
 * window beyond n_ctx 512, the rope base of each layer kind, K rotated in
 * one block of 256 and V in blocks of 64 for a quantized cache. The
 * expected values and what a wrong convention would cost are in
 * tests/data/gemma3-shape-ref.tsv.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "eval/perplexity.h"
#include "test.h"

int32_t *ql_test_load_ids(const char *path, int64_t *n, bool prepend_bos, int32_t bos);

QL_TEST(gemma3_shape_matches_float64_reference) {
    char *tsv = (char *)ql_test_read_file("tests/data/gemma3-shape-ref.tsv", NULL);
    REQUIRE_MSG(tsv != NULL, "cannot read tests/data/gemma3-shape-ref.tsv");
    ql_error err;
    ql_model *m;
    REQUIRE_MSG(ql_model_load("build/synth/synth-gemma3-270m.gguf", &m, &err) == QL_OK, "%s",
                err.msg);
    int64_t n_ids;
    int32_t *ids =
        ql_test_load_ids(ql_test_shared_path("golden/tokenizer/wikitext-spm.ids"), &n_ids, true, 1);
    REQUIRE(ids != NULL);
    int rows = 0;
    char *save = NULL;
    for (char *line = strtok_r(tsv, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        char cache[16];
        int n_ctx, chunks;
        double ppl_ref, tol;
        if (line[0] == '#' ||
            sscanf(line, "%15s %d %d %lf %lf", cache, &n_ctx, &chunks, &ppl_ref, &tol) != 5)
            continue;
        if (ql_test_light() && rows++ > 0) continue; /* one configuration under the sanitizers */
        ql_context_params cp = ql_context_default_params();
        cp.n_ctx = n_ctx;
        cp.type_k = cp.type_v = (ql_type)ql_type_from_name(cache);
        cp.n_threads = 2;
        ql_context *ctx;
        REQUIRE_MSG(ql_context_create(m, &cp, &ctx, &err) == QL_OK, "%s", err.msg);
        ql_eval_params ep = {.n_ctx = n_ctx, .n_chunks = chunks, .replace_bos = true, .bos_id = 1};
        ql_ppl_result res;
        ql_status st = ql_perplexity(ctx, ids, n_ids, &ep, NULL, NULL, NULL, NULL, &res, &err);
        CHECK_MSG(st == QL_OK, "%s", err.msg);
        if (st == QL_OK) {
            const double d = log(res.ppl) - log(ppl_ref);
            printf(
                "%-5s -c %d x %d: PPL %.6e, float64 reference %.6e, d ln %+.2e (tolerance %.1e)\n",
                cache, n_ctx, chunks, res.ppl, ppl_ref, d, tol);
            CHECK_MSG(fabs(d) <= tol, "%s cache: ln PPL %+.3e from the float64 reference (> %.1e)",
                      cache, d, tol);
            ql_ppl_result_free(&res);
        }
        ql_context_free(ctx);
        if (!ql_test_light()) rows++;
    }
    CHECK_MSG(rows >= 3, "%d configurations in tests/data/gemma3-shape-ref.tsv", rows);
    free(ids);
    free(tsv);
    ql_model_free(m);
}
