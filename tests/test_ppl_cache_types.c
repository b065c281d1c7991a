/*
 * test_ppl_cache_types.c - the KV cache types ppl.tsv does not cover (bf16,
 * q4_1, q5_0, q5_1, iq4_nl, mixed K/V), against the perplexities llama.cpp
 * printed in ../shared/golden/synth/kld.tsv (column ppl_q; F16 weights,
 * n_ctx 128, 8 chunks). Each type has its own attention dot (bf16 pairs,
 * integer lanes with q8_0 or q8_1 partners), so matching them bit for bit
 * is what shows each dot follows ggml.
 *
 * Bound: kld mode sums each token's NLL in float, which moves its PPL by
 * ~1e-8 relative against our double sum (the f16 rows agree to 1.4e-8), so
 * we require |d ln PPL| <= 1e-6; one flipped rounding in a quantized cache
 * moves it by 1e-5 or more.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "eval/perplexity.h"
#include "test.h"

int32_t *ql_test_load_ids(const char *path, int64_t *n, bool prepend_bos, int32_t bos);

typedef struct {
    char model[16], ctk[16], ctv[16], rot[8];
    int n_ctx, chunks;
    double ppl;
} kld_row;

static bool find_row(kld_row *out, const char *model, const char *ctk, const char *ctv,
                     const char *rot) {
    char *tsv = (char *)ql_test_read_file(ql_test_shared_path("golden/synth/kld.tsv"), NULL);
    if (!tsv) return false;
    bool found = false;
    char *save = NULL;
    for (char *line = strtok_r(tsv, "\n", &save); line && !found;
         line = strtok_r(NULL, "\n", &save)) {
        kld_row r;
        char weights[16];
        if (sscanf(line, "%15s %15s %15s %15s %7s %d %d %lf", r.model, weights, r.ctk, r.ctv, r.rot,
                   &r.n_ctx, &r.chunks, &r.ppl) != 8)
            continue;
        if (!strcmp(weights, "F16") && !strcmp(r.model, model) && !strcmp(r.ctk, ctk) &&
            !strcmp(r.ctv, ctv) && !strcmp(r.rot, rot)) {
            *out = r;
            found = true;
        }
    }
    free(tsv);
    return found;
}

static void check(ql_test_ctx *t, const char *model, const char *ctk, const char *ctv,
                  const char *rot) {
    kld_row r;
    REQUIRE_MSG(find_row(&r, model, ctk, ctv, rot), "kld.tsv has no F16 row %s %s/%s %s", model,
                ctk, ctv, rot);
    ql_error err;
    ql_model *m;
    REQUIRE_MSG(ql_model_load(ql_test_synth_model(model), &m, &err) == QL_OK, "%s", err.msg);
    const bool spm = strcmp(model, "gemma3") == 0;
    int64_t n_ids;
    int32_t *ids = ql_test_load_ids(ql_test_shared_path(spm ? "golden/tokenizer/wikitext-spm.ids"
                                                            : "golden/tokenizer/wikitext-gpt2.ids"),
                                    &n_ids, spm, 1);
    REQUIRE(ids != NULL);
    ql_context_params cp = ql_context_default_params();
    cp.n_ctx = r.n_ctx;
    cp.type_k = (ql_type)ql_type_from_name(ctk);
    cp.type_v = (ql_type)ql_type_from_name(ctv);
    cp.rotate = strcmp(rot, "off") == 0 ? QL_ROTATE_OFF : QL_ROTATE_AUTO;
    /* the golden numbers come from the older llama.cpp (dense rotation, before its FWHT) on a
     * CPU with AVX512-FP16 */
    cp.hadamard = QL_HADAMARD_DENSE;
    cp.numerics = QL_NUMERICS_FP16;
    cp.n_threads = 1;
    ql_context *ctx;
    REQUIRE_MSG(ql_context_create(m, &cp, &ctx, &err) == QL_OK, "%s", err.msg);
    ql_eval_params ep = {.n_ctx = r.n_ctx, .n_chunks = r.chunks, .replace_bos = spm, .bos_id = 1};
    ql_ppl_result res;
    ql_status st = ql_perplexity(ctx, ids, n_ids, &ep, NULL, NULL, NULL, NULL, &res, &err);
    CHECK_MSG(st == QL_OK, "%s", err.msg);
    if (st == QL_OK) {
        const double d = fabs(log(res.ppl) - log(r.ppl));
        CHECK_MSG(d <= 1e-6, "%s %s/%s rot=%s: PPL %.6f, llama.cpp %.6f (|d ln| %.2e)", model, ctk,
                  ctv, rot, res.ppl, r.ppl, d);
        printf("%-6s %-6s/%-6s rot=%-4s PPL %.6f  llama.cpp %.6f  |d ln| %.2e\n", model, ctk, ctv,
               rot, res.ppl, r.ppl, d);
        ql_ppl_result_free(&res);
    }
    ql_context_free(ctx);
    ql_model_free(m);
    free(ids);
}

/* gemma3's 32000-token vocabulary keeps the output product fast */
QL_TEST(ppl_cache_types_gemma3) {
    check(t, "gemma3", "bf16", "bf16", "auto");
    check(t, "gemma3", "q4_1", "q4_1", "auto");
    check(t, "gemma3", "q5_0", "q5_0", "auto");
    check(t, "gemma3", "q5_1", "q5_1", "auto");
    check(t, "gemma3", "iq4_nl", "iq4_nl", "auto");
    check(t, "gemma3", "iq4_nl", "iq4_nl", "off");
    check(t, "gemma3", "q8_0", "q4_0", "auto");
    check(t, "gemma3", "q8_0", "q5_1", "off");
}

/* normal RoPE, no q/k norm */
QL_TEST(ppl_cache_types_llama) {
    check(t, "llama", "bf16", "bf16", "auto");
    check(t, "llama", "q5_1", "q5_1", "auto");
    check(t, "llama", "q8_0", "q4_0", "auto");
}
