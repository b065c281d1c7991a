/*
 * test_ppl_golden.c - every row of ../shared/golden/synth/ppl.tsv and
 * golden/current/ppl.tsv: the four synthetic architectures, several K/V
 * cache types, rotation auto/off, n_ctx 128 and 512, measured by two
 * llama.cpp versions on two CPUs on wiki.test.raw; golden/hybrid/ppl.tsv (qwen35,
 * qwen35moe) and tests/data/qwen3moe-ppl.tsv (the synthetic qwen3moe, measured here). Our per-chunk
 * running PPL and final PPL must agree within |d ln PPL| <= 1e-6: the
 * engine reproduces llama.cpp's arithmetic bit for bit (see src/kernels), so
 * what remains is the printed precision of the golden values (4 decimals,
 * ~5e-10 relative). Anything else means a kernel lost ggml's float order:
 * last-bit differences in one kernel were measured to move ln PPL by 5e-5
 * (the output product alone) to 3e-3 (attention with a q4_0 cache).
 *
 * Tokens come from the golden id files (tokenizer exactness is tested
 * separately), with BOS prepended for the SentencePiece vocabulary as
 * llama-perplexity does.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "eval/perplexity.h"
#include "test.h"

int32_t *ql_test_load_ids(const char *path, int64_t *n, bool prepend_bos, int32_t bos);

int32_t *ql_test_load_ids(const char *path, int64_t *n, bool prepend_bos, int32_t bos) {
    size_t size;
    char *text = (char *)ql_test_read_file(path, &size);
    if (!text) return NULL;
    int64_t cap = 1 + (int64_t)size / 2 + 2, count = 0;
    int32_t *ids = malloc((size_t)cap * sizeof *ids);
    if (prepend_bos) ids[count++] = bos;
    char *p = text;
    while (*p) {
        char *end;
        long v = strtol(p, &end, 10);
        if (end == p) {
            p++;
            continue;
        }
        ids[count++] = (int32_t)v;
        p = end;
    }
    free(text);
    *n = count;
    return ids;
}

typedef struct {
    char model[24], ctk[16], ctv[16], rot[8];
    int n_ctx, chunks;
    double chunk_ppl[64];
    double final_ppl, final_unc;
} ppl_row;

/*
 * Which llama.cpp measured a golden set: synth/ the older one (dense
 * rotation) on a CPU with AVX512-FP16, current/ the pinned one (FWHT) on a
 * CPU without; qlens reproduces either with the matching settings.
 */
typedef struct {
    const char *tsv;
    ql_hadamard_mode hadamard;
    ql_numerics numerics;
    bool in_repo; /* tsv is this repository's own (tests/data), not the shared golden data */
} golden_set;

static const golden_set synth_set = {"golden/synth/ppl.tsv", QL_HADAMARD_DENSE, QL_NUMERICS_FP16,
                                     false};
static const golden_set current_set = {"golden/current/ppl.tsv", QL_HADAMARD_FWHT, QL_NUMERICS_F32,
                                       false};
static const golden_set hybrid_set = {"golden/hybrid/ppl.tsv", QL_HADAMARD_FWHT, QL_NUMERICS_F32,
                                      false};
/* no shared golden data covers qwen3moe: scripts/measure-qwen3moe.sh measured it with the pinned
 * llama.cpp built for AVX-512 without AVX512-FP16 (the file's header says how) */
static const golden_set qwen3moe_set = {"tests/data/qwen3moe-ppl.tsv", QL_HADAMARD_FWHT,
                                        QL_NUMERICS_F32, true};

static int parse_rows(ql_test_ctx *t, const golden_set *g, ppl_row *rows, int max) {
    char *tsv = (char *)ql_test_read_file(g->in_repo ? g->tsv : ql_test_shared_path(g->tsv), NULL);
    if (!tsv) {
        ql_test_failf(t, __FILE__, __LINE__, "cannot read %s", g->tsv);
        return 0;
    }
    int n = 0;
    char *save = NULL;
    char *line = strtok_r(tsv, "\n", &save); /* the header (a comment line first, in tests/data) */
    while ((line = strtok_r(NULL, "\n", &save)) && n < max) {
        ppl_row *r = &rows[n];
        char chunks_field[4096];
        if (sscanf(line, "%23s %15s %15s %7s %d %d %4095s %lf %lf", r->model, r->ctk, r->ctv,
                   r->rot, &r->n_ctx, &r->chunks, chunks_field, &r->final_ppl, &r->final_unc) != 9)
            continue;
        char *c = chunks_field;
        for (int k = 0; k < r->chunks && k < 64; k++) {
            c = strchr(c, ']');
            if (!c) break;
            r->chunk_ppl[k] = strtod(c + 1, &c);
        }
        n++;
    }
    free(tsv);
    return n;
}

static void check_row(ql_test_ctx *t, const golden_set *g, const ppl_row *r) {
    ql_error err;
    ql_model *m;
    REQUIRE_MSG(ql_model_load(ql_test_synth_model(r->model), &m, &err) == QL_OK, "%s", err.msg);
    const bool spm = strcmp(r->model, "gemma3") == 0;
    int64_t n_ids;
    int32_t *ids = ql_test_load_ids(ql_test_shared_path(spm ? "golden/tokenizer/wikitext-spm.ids"
                                                            : "golden/tokenizer/wikitext-gpt2.ids"),
                                    &n_ids, spm, 1);
    REQUIRE(ids != NULL);
    ql_context_params cp = ql_context_default_params();
    cp.n_ctx = r->n_ctx;
    cp.type_k = (ql_type)ql_type_from_name(r->ctk);
    cp.type_v = (ql_type)ql_type_from_name(r->ctv);
    cp.rotate = strcmp(r->rot, "off") == 0 ? QL_ROTATE_OFF : QL_ROTATE_AUTO;
    cp.hadamard = g->hadamard;
    cp.numerics = g->numerics;
    cp.n_threads = 1;
    ql_context *ctx;
    REQUIRE_MSG(ql_context_create(m, &cp, &ctx, &err) == QL_OK, "%s", err.msg);
    ql_eval_params ep = {.n_ctx = r->n_ctx, .n_chunks = r->chunks, .replace_bos = spm, .bos_id = 1};
    ql_ppl_result res;
    ql_status st = ql_perplexity(ctx, ids, n_ids, &ep, NULL, NULL, NULL, NULL, &res, &err);
    CHECK_MSG(st == QL_OK, "%s", err.msg);
    if (st == QL_OK) {
        double worst = 0.0;
        for (int k = 0; k < r->chunks; k++) {
            double d = fabs(log(res.chunk_ppl[k]) - log(r->chunk_ppl[k]));
            if (d > worst) worst = d;
            CHECK_MSG(d <= 1e-6,
                      "%s %s/%s rot=%s c=%d chunk %d: PPL %.4f, llama.cpp %.4f (|d ln| %.2e)",
                      r->model, r->ctk, r->ctv, r->rot, r->n_ctx, k + 1, res.chunk_ppl[k],
                      r->chunk_ppl[k], d);
        }
        double d = fabs(log(res.ppl) - log(r->final_ppl));
        CHECK_MSG(d <= 1e-6, "%s final PPL %.4f vs %.4f", r->model, res.ppl, r->final_ppl);
        CHECK_MSG(fabs(res.ppl_unc / r->final_unc - 1.0) < 0.01, "%s uncertainty %.5f vs %.5f",
                  r->model, res.ppl_unc, r->final_unc);
        printf("%-6s %-4s/%-4s rot=%-4s c=%-3d  PPL %.4f +/- %.5f  golden %.4f  max|d ln| %.2e\n",
               r->model, r->ctk, r->ctv, r->rot, r->n_ctx, res.ppl, res.ppl_unc, r->final_ppl,
               worst);
        ql_ppl_result_free(&res);
    }
    ql_context_free(ctx);
    ql_model_free(m);
    free(ids);
}

static void check_model(ql_test_ctx *t, const golden_set *g, const char *model) {
    static ppl_row rows[64];
    int n = parse_rows(t, g, rows, 64);
    int done = 0, k = 0;
    for (int i = 0; i < n; i++) {
        if (strcmp(rows[i].model, model) != 0) continue;
        if (ql_test_pick(k++, ql_test_arch_index(model))) {
            check_row(t, g, &rows[i]);
            done++;
        }
    }
    CHECK_MSG(k >= 5 && done >= ql_test_picked(5, ql_test_arch_index(model)),
              "%s: %d of %d golden rows checked", model, done, k);
    if (ql_test_light()) printf("light run: %d of %d configurations\n", done, k);
}

QL_TEST(ppl_golden_llama) {
    check_model(t, &synth_set, "llama");
}
QL_TEST(ppl_golden_qwen2) {
    check_model(t, &synth_set, "qwen2");
}
QL_TEST(ppl_golden_qwen3) {
    check_model(t, &synth_set, "qwen3");
}
QL_TEST(ppl_golden_gemma3) {
    check_model(t, &synth_set, "gemma3");
}

/* golden/current: the pinned llama.cpp with its defaults, on a CPU without AVX512-FP16 */
QL_TEST(ppl_golden_current_llama) {
    check_model(t, &current_set, "llama");
}
QL_TEST(ppl_golden_current_qwen2) {
    check_model(t, &current_set, "qwen2");
}
QL_TEST(ppl_golden_current_qwen3) {
    check_model(t, &current_set, "qwen3");
}
QL_TEST(ppl_golden_current_gemma3) {
    check_model(t, &current_set, "gemma3");
}

/* golden/hybrid: the pinned llama.cpp on the Gated DeltaNet hybrids, dense and MoE (the issue
 * asks |d ln PPL| <= 1e-3; the arithmetic is llama.cpp's, so the same 1e-6 holds) */
QL_TEST(ppl_golden_hybrid_qwen35) {
    check_model(t, &hybrid_set, "qwen35");
}
QL_TEST(ppl_golden_hybrid_qwen35moe) {
    check_model(t, &hybrid_set, "qwen35moe");
}
QL_TEST(ppl_golden_qwen3moe) {
    check_model(t, &qwen3moe_set, "qwen3moe");
}
