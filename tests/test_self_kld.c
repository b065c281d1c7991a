/*
 * test_self_kld.c - a model compared with itself is exactly itself: every
 * token's KL divergence, Δp and NLL difference 0.0, every top token the
 * same, whatever the context size and micro-batch - including ones whose
 * last micro-batch scores a single row, where ggml multiplies the output
 * matrix with another kernel (vec_dot instead of tinyBLAS or its tiled
 * k-quant product) - for an f16 output matrix and a k-quant one.
 *
 * The reference file keeps the reference's hidden states and recomputes its
 * logits; that is only exact when each row is recomputed as a row of the
 * product that made it, which is what this checks.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "eval/kldrun.h"
#include "test.h"

int32_t *ql_test_load_ids(const char *path, int64_t *n, bool prepend_bos, int32_t bos);

typedef struct {
    int n_ctx, n_ubatch, chunks;
} shape;

static ql_context *open_ctx(ql_test_ctx *t, const ql_model *m, const shape *s) {
    ql_context_params cp = ql_context_default_params();
    cp.n_ctx = s->n_ctx;
    cp.n_ubatch = s->n_ubatch;
    cp.n_threads = 2;
    ql_context *ctx = NULL;
    ql_error err;
    if (ql_context_create(m, &cp, &ctx, &err) != QL_OK)
        ql_test_failf(t, __FILE__, __LINE__, "context: %s", err.msg);
    return ctx;
}

/* Every token of acc is a perfect match; returns how many were checked. */
static int64_t check_zero(ql_test_ctx *t, const ql_kld_acc *acc, const char *what) {
    int64_t bad = 0;
    for (int64_t i = 0; i < acc->count; i++) {
        const ql_kld_token *k = &acc->tokens[i];
        if (k->kld == 0.0 && k->p_diff == 0.0f && k->nll == k->nll_base && k->same_top) continue;
        if (bad++ < 3)
            CHECK_MSG(0, "%s: token %lld: KLD %.3g, dp %.3g, NLL %.9g vs base %.9g, same top %d",
                      what, (long long)i, k->kld, k->p_diff, k->nll, k->nll_base, k->same_top);
    }
    CHECK_EQ_INT(bad, 0);
    ql_kld_stats s;
    ql_error err;
    if (ql_kld_stats_from(acc, &s, &err) == QL_OK) {
        CHECK_MSG(s.kld.value == 0.0 && s.ln_ratio.value == 0.0 && s.rms_dp.value == 0.0 &&
                      s.same_top.value == 1.0 && s.kld_pct[0] == 0.0 && s.dp_pct[0] == 0.0 &&
                      s.dp_pct[12] == 0.0,
                  "%s: mean KLD %.3g, ln ratio %.3g, RMS dp %.3g, same top %.6f", what, s.kld.value,
                  s.ln_ratio.value, s.rms_dp.value, s.same_top.value);
    }
    return acc->count;
}

static void self_kld(ql_test_ctx *t, const char *dir, const char *model_path, bool spm,
                     const shape *s) {
    ql_error err;
    ql_model *m;
    REQUIRE_MSG(ql_model_load(model_path, &m, &err) == QL_OK, "%s", err.msg);
    int64_t n_ids;
    int32_t *ids = ql_test_load_ids(ql_test_shared_path(spm ? "golden/tokenizer/wikitext-spm.ids"
                                                            : "golden/tokenizer/wikitext-gpt2.ids"),
                                    &n_ids, spm, 1);
    REQUIRE(ids != NULL);
    ql_eval_params ep = {.n_ctx = s->n_ctx, .n_chunks = s->chunks, .replace_bos = spm, .bos_id = 1};
    char path[512], what[256];
    snprintf(path, sizeof path, "%s/self-%d-%d.qlref", dir, s->n_ctx, s->n_ubatch);
    snprintf(what, sizeof what, "%s -c %d -ub %d", model_path, s->n_ctx, s->n_ubatch);

    ql_context *ref = open_ctx(t, m, s), *cand = open_ctx(t, m, s);
    REQUIRE(ref && cand);
    ql_ppl_result ppl;
    REQUIRE_MSG(ql_kld_save_base(ref, m->file, ids, n_ids, &ep, path, QL_REF_QLENS, "self", NULL,
                                 NULL, &ppl, &err) == QL_OK,
                "%s", err.msg);
    ql_ppl_result_free(&ppl);
    ql_ref_file *rf;
    REQUIRE_MSG(ql_ref_open(path, &rf, &err) == QL_OK, "%s", err.msg);
    ql_kld_acc acc;
    REQUIRE(ql_kld_acc_init(&acc, 1024, &err) == QL_OK);
    CHECK_MSG(ql_kld_run_file(cand, m->file, rf, 0, NULL, NULL, &acc, &err) == QL_OK, "%s",
              err.msg);
    const int64_t n_file = check_zero(t, &acc, what);
    ql_kld_acc_free(&acc);
    ql_ref_close(rf);

    REQUIRE(ql_kld_acc_init(&acc, 1024, &err) == QL_OK);
    CHECK_MSG(ql_kld_run_lockstep(ref, cand, ids, n_ids, &ep, NULL, NULL, &acc, &err) == QL_OK,
              "%s", err.msg);
    const int64_t n_lock = check_zero(t, &acc, what);
    ql_kld_acc_free(&acc);
    CHECK_EQ_INT(n_file, (int64_t)s->chunks * (s->n_ctx - 1 - s->n_ctx / 2));
    CHECK_EQ_INT(n_lock, n_file);
    printf("%s: %lld tokens checked (file and lockstep)\n", what, (long long)n_file);
    ql_context_free(ref);
    ql_context_free(cand);
    ql_model_free(m);
    free(ids);
}

/*
 * The micro-batches: 514 / 512 ends in a batch of two output rows (one
 * scored); 200 / 64 puts the first scored row inside a batch; -ub 1 makes
 * every output product a single row; 130 in one batch.
 */
static const shape shapes[] = {{514, 512, 1}, {200, 64, 2}, {40, 1, 1}, {130, 512, 2}};

/* f16 output matrix of 32000 rows: tinyBLAS for two rows or more, vec_dot for one */
QL_TEST(self_kld_is_exactly_zero_f16_output) {
    const char *dir = ql_test_tmpdir(t);
    for (size_t i = 0; i < sizeof shapes / sizeof shapes[0]; i++)
        self_kld(t, dir, ql_test_synth_model("gemma3"), true, &shapes[i]);
}

/* q6_K output matrix: ggml's tiled k-quant product from 8 rows, vec_dot below */
QL_TEST(self_kld_is_exactly_zero_kquant_output) {
    const char *dir = ql_test_tmpdir(t);
    char path[512], args[1024];
    snprintf(path, sizeof path, "%s/q4km.gguf", dir);
    snprintf(args, sizeof args, "quantize %s %s Q4_K_M", ql_test_synth_model("qwen3"), path);
    REQUIRE(ql_test_run_qlens(args, NULL, NULL) == 0);
    for (size_t i = 0; i < sizeof shapes / sizeof shapes[0]; i++)
        self_kld(t, dir, path, false, &shapes[i]);
}
