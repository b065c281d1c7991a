/*
 * test_kld.c - KL divergence against llama.cpp's measurements and between
 * our three ways of computing it.
 *
 * Golden rows (../shared/golden/synth/kld.tsv) come from llama-perplexity
 * with its uint16 base file; we compare them with KLD against a base made by
 * qlens from the same F16 model (f16 cache): Mean KLD within 5% relative or
 * 2 sigma of the golden uncertainty, Same top p and ln(PPL ratio) within
 * 2 sigma. The tsv prints 6 (KLD, ln ratio) and 3 (percent) decimals, so half
 * a unit of the last printed digit is added to every bound.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "eval/kldrun.h"
#include "test.h"

int32_t *ql_test_load_ids(const char *path, int64_t *n, bool prepend_bos, int32_t bos);

typedef struct {
    char model[16], weights[16], ctk[16], ctv[16], rot[8];
    int n_ctx, chunks;
    double ppl_q, ppl_q_unc, ppl_base, ln_ratio, ln_ratio_unc, kld, kld_unc, kld_max, kld_p999,
        kld_p99, kld_median, same_top, same_top_unc, rms_dp, rms_dp_unc;
} kld_row;

/* A number, or 0 for a field llama.cpp printed as "-" (an undefined uncertainty). */
static double field_num(char **cursor) {
    char *f = strsep(cursor, "\t");
    if (!f) return NAN;
    char *end;
    double v = strtod(f, &end);
    return end == f ? 0.0 : v;
}

static void field_str(char **cursor, char *dst, size_t size) {
    char *f = strsep(cursor, "\t");
    snprintf(dst, size, "%s", f ? f : "");
}

static int parse_kld_rows(ql_test_ctx *t, kld_row *rows, int max) {
    char *tsv = (char *)ql_test_read_file(ql_test_shared_path("golden/synth/kld.tsv"), NULL);
    if (!tsv) {
        ql_test_failf(t, __FILE__, __LINE__, "cannot read golden/synth/kld.tsv");
        return 0;
    }
    int n = 0;
    char *save = NULL, *line = strtok_r(tsv, "\n", &save);
    while ((line = strtok_r(NULL, "\n", &save)) && n < max) {
        kld_row *r = &rows[n];
        char *c = line;
        field_str(&c, r->model, sizeof r->model);
        field_str(&c, r->weights, sizeof r->weights);
        field_str(&c, r->ctk, sizeof r->ctk);
        field_str(&c, r->ctv, sizeof r->ctv);
        field_str(&c, r->rot, sizeof r->rot);
        r->n_ctx = (int)field_num(&c);
        r->chunks = (int)field_num(&c);
        double *dst[] = {&r->ppl_q,    &r->ppl_q_unc, &r->ppl_base,   &r->ln_ratio, &r->ln_ratio_unc,
                         &r->kld,      &r->kld_unc,   &r->kld_max,    &r->kld_p999, &r->kld_p99,
                         &r->kld_median, &r->same_top, &r->same_top_unc, &r->rms_dp,
                         &r->rms_dp_unc};
        bool ok = true;
        for (size_t i = 0; i < sizeof dst / sizeof dst[0]; i++) {
            *dst[i] = field_num(&c);
            if (isnan(*dst[i])) ok = false;
        }
        if (ok) n++;
    }
    free(tsv);
    return n;
}

static int32_t *wikitext_ids(const char *model, int64_t *n, ql_eval_params *ep, int n_ctx,
                             int chunks) {
    const bool spm = strcmp(model, "gemma3") == 0;
    *ep = (ql_eval_params){.n_ctx = n_ctx, .n_chunks = chunks, .replace_bos = spm, .bos_id = 1};
    return ql_test_load_ids(ql_test_shared_path(spm ? "golden/tokenizer/wikitext-spm.ids"
                                                    : "golden/tokenizer/wikitext-gpt2.ids"),
                            n, spm, 1);
}

static ql_context *make_ctx(ql_test_ctx *t, const ql_model *m, const char *ctk, const char *ctv,
                            const char *rot, int n_ctx, int threads) {
    ql_context_params cp = ql_context_default_params();
    cp.n_ctx = n_ctx;
    cp.type_k = (ql_type)ql_type_from_name(ctk);
    cp.type_v = (ql_type)ql_type_from_name(ctv);
    cp.rotate = strcmp(rot, "off") == 0 ? QL_ROTATE_OFF : QL_ROTATE_AUTO;
    cp.n_threads = threads;
    ql_context *ctx = NULL;
    ql_error err;
    if (ql_context_create(m, &cp, &ctx, &err) != QL_OK)
        ql_test_failf(t, __FILE__, __LINE__, "context: %s", err.msg);
    return ctx;
}

/* Makes an F16 base file at path for model (f16 cache, rotation auto). */
static bool make_base(ql_test_ctx *t, ql_model *m, const char *model, const char *path,
                      ql_ref_format fmt, int n_ctx, int chunks) {
    ql_eval_params ep;
    int64_t n_ids;
    int32_t *ids = wikitext_ids(model, &n_ids, &ep, n_ctx, chunks);
    ql_context *ctx = make_ctx(t, m, "f16", "f16", "auto", n_ctx, 2);
    ql_error err;
    ql_ppl_result ppl;
    ql_status st = ctx ? ql_kld_save_base(ctx, m->file, ids, n_ids, &ep, path, fmt, "test", NULL,
                                          NULL, &ppl, &err)
                       : QL_ERR_INTERNAL;
    if (st == QL_OK) ql_ppl_result_free(&ppl);
    else if (ctx) ql_test_failf(t, __FILE__, __LINE__, "save base: %s", err.msg);
    ql_context_free(ctx);
    free(ids);
    return st == QL_OK;
}

static bool kld_against_file(ql_test_ctx *t, ql_model *m, const char *ref_path, const char *ctk,
                             const char *ctv, const char *rot, int threads, ql_kld_acc *acc,
                             ql_kld_stats *stats) {
    ql_error err;
    ql_ref_file *ref;
    if (ql_ref_open(ref_path, &ref, &err) != QL_OK) {
        ql_test_failf(t, __FILE__, __LINE__, "%s", err.msg);
        return false;
    }
    ql_context *ctx = make_ctx(t, m, ctk, ctv, rot, (int)ql_ref_info_of(ref)->n_ctx, threads);
    bool ok = ctx && ql_kld_acc_init(acc, 1024, &err) == QL_OK &&
              ql_kld_run_file(ctx, m->file, ref, 0, NULL, NULL, acc, &err) == QL_OK &&
              ql_kld_stats_from(acc, stats, &err) == QL_OK;
    if (!ok && ctx) ql_test_failf(t, __FILE__, __LINE__, "kld run: %s", err.msg);
    ql_context_free(ctx);
    ql_ref_close(ref);
    return ok;
}

static void check_golden_model(ql_test_ctx *t, const char *model) {
    static kld_row rows[256];
    const int n = parse_kld_rows(t, rows, 256);
    ql_error err;
    ql_model *m;
    REQUIRE_MSG(ql_model_load(ql_test_synth_model(model), &m, &err) == QL_OK, "%s", err.msg);
    char path[512];
    snprintf(path, sizeof path, "%s/base.qlref", ql_test_tmpdir(t));
    REQUIRE(make_base(t, m, model, path, QL_REF_QLENS, 128, 8));
    int done = 0;
    for (int i = 0; i < n; i++) {
        const kld_row *r = &rows[i];
        if (strcmp(r->model, model) != 0 || strcmp(r->weights, "F16") != 0) continue;
        ql_kld_acc acc;
        ql_kld_stats s;
        if (!kld_against_file(t, m, path, r->ctk, r->ctv, r->rot, 2, &acc, &s)) continue;
        const double kld_tol = fmax(0.05 * fabs(r->kld), 2 * r->kld_unc) + 5e-7;
        const double top_tol = 2 * r->same_top_unc + 5e-4; /* percent */
        const double ln_tol = 2 * r->ln_ratio_unc + 5e-7;
        printf("%-6s %-6s/%-6s rot=%-4s KLD %.6f (golden %.6f +/- %.6f)  same top %.3f%% "
               "(%.3f)  ln ratio %+.6f (%+.6f)\n",
               model, r->ctk, r->ctv, r->rot, s.kld.value, r->kld, r->kld_unc,
               100 * s.same_top.value, r->same_top, s.ln_ratio.value, r->ln_ratio);
        CHECK_MSG(fabs(s.kld.value - r->kld) <= kld_tol, "%s %s/%s %s: KLD %.6f vs golden %.6f",
                  model, r->ctk, r->ctv, r->rot, s.kld.value, r->kld);
        CHECK_MSG(fabs(100 * s.same_top.value - r->same_top) <= top_tol,
                  "%s %s/%s %s: same top %.3f%% vs golden %.3f%%", model, r->ctk, r->ctv, r->rot,
                  100 * s.same_top.value, r->same_top);
        CHECK_MSG(fabs(s.ln_ratio.value - r->ln_ratio) <= ln_tol,
                  "%s %s/%s %s: ln ratio %.6f vs golden %.6f", model, r->ctk, r->ctv, r->rot,
                  s.ln_ratio.value, r->ln_ratio);
        CHECK_EQ_INT(s.count, 8 * 63);
        ql_kld_acc_free(&acc);
        done++;
    }
    CHECK_MSG(done >= 13, "%s: %d F16 golden rows checked", model, done);
    ql_model_free(m);
}

QL_TEST(kld_golden_llama) { check_golden_model(t, "llama"); }
QL_TEST(kld_golden_qwen2) { check_golden_model(t, "qwen2"); }
QL_TEST(kld_golden_qwen3) { check_golden_model(t, "qwen3"); }
QL_TEST(kld_golden_gemma3) { check_golden_model(t, "gemma3"); }
