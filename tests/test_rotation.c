/*
 * test_rotation.c - the two ways of computing the KV cache's Hadamard
 * rotation (--kv-hadamard fwht | dense).
 *
 * The FWHT kernel must give ggml_compute_forward_fwht_f32's bits, so it is
 * compared bit for bit with a reference written here independently (out of
 * place, each butterfly partner found by flipping an index bit, rather than
 * the kernel's nested blocks) that performs the same float operations in the
 * same order, and with a float64 product of the Hadamard matrix within a
 * bound derived from those operations. End to end, the two modes must agree
 * closely with a quantized cache, exactly where nothing rotates, and choose
 * what rotates as their llama.cpp versions do.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "eval/perplexity.h"
#include "json_check.h"
#include "kernels/ops.h"
#include "model/context.h"
#include "model_builder.h"
#include "test.h"

int32_t *ql_test_load_ids(const char *path, int64_t *n, bool prepend_bos, int32_t bos);

static const double U32 = 0x1p-24;

static uint64_t rng = 0x9E3779B97F4A7C15ull;

static double uniform(void) {
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return ((double)(rng >> 11) + 0.5) / 9007199254740992.0;
}

/* Normal values with an outlier channel every 29, as K projections have. */
static void fill(float *v, int n, double scale) {
    for (int i = 0; i < n; i++) {
        const double g = sqrt(-2 * log(uniform())) * cos(6.283185307179586 * uniform());
        v[i] = (float)(g * scale * (i % 29 == 3 ? 20.0 : 1.0));
    }
}

/* ggml's FWHT of one row, written as stages over the whole row. */
static void fwht_reference(const float *x, float *y, int n) {
    float a[256], b[256];
    const float scale = 1.0f / sqrtf((float)n);
    for (int i = 0; i < n; i++) a[i] = x[i] * scale;
    for (int len = 1; len < n; len *= 2) {
        for (int k = 0; k < n; k++) {
            const int partner = k ^ len;
            /* the lower index of a pair gets u + v, the upper u - v */
            b[k] = (k & len) ? a[partner] - a[k] : a[k] + a[partner];
        }
        memcpy(a, b, sizeof(float) * (size_t)n);
    }
    memcpy(y, a, sizeof(float) * (size_t)n);
}

static bool same_bits(float a, float b) {
    return memcmp(&a, &b, sizeof a) == 0;
}

QL_TEST(rotation_fwht_kernel) {
    enum { ROWS = 7 };
    const int sizes[] = {64, 128, 256};
    const double scales[ROWS] = {1.0, 1e-3, 37.0, 1.0, 1e4, 0.5, 1e-6};
    int dense_differs = 0;
    for (int si = 0; si < 3; si++) {
        const int n = sizes[si];
        float x[ROWS * 256], y[ROWS * 256], d[ROWS * 256], ref[256];
        for (int r = 0; r < ROWS; r++) fill(x + r * n, n, scales[r]);
        x[3 * n + 5] = 0.0f; /* a zero and a signed zero in one row */
        x[3 * n + 6] = -0.0f;
        memcpy(y, x, sizeof(float) * ROWS * (size_t)n);
        ql_hadamard_fwht(y, (int64_t)ROWS * n, n);
        memcpy(d, x, sizeof(float) * ROWS * (size_t)n);
        ql_hadamard_dense(d, (int64_t)ROWS * n, n);
        for (int r = 0; r < ROWS; r++) {
            const float *xr = x + r * n, *yr = y + r * n;
            fwht_reference(xr, ref, n);
            int mismatches = 0;
            for (int i = 0; i < n; i++)
                if (!same_bits(yr[i], ref[i])) {
                    if (mismatches++ < 3)
                        ql_test_failf(t, __FILE__, __LINE__,
                                      "n=%d row %d [%d]: kernel %.9g, reference %.9g", n, r, i,
                                      yr[i], ref[i]);
                }
            t->checks++;
            double abs_sum = 0;
            for (int j = 0; j < n; j++) abs_sum += fabs(xr[j]);
            /*
             * Every output sums n terms |x_j|/sqrt(n): the scaling rounds each
             * term once and each of the log2(n) stages rounds every partial sum
             * once, so the error is at most (log2(n) + 1) u sum|x_j| / sqrt(n)
             * to first order; we allow twice that.
             */
            const double stages = log2((double)n);
            const double tol = 2.0 * (stages + 1.0) * U32 * abs_sum / sqrt((double)n);
            for (int i = 0; i < n; i++) {
                double exact = 0;
                for (int j = 0; j < n; j++)
                    exact += (__builtin_popcount((unsigned)(i & j)) & 1 ? -1.0 : 1.0) * xr[j];
                exact /= sqrt((double)n);
                CHECK_MSG(fabs(yr[i] - exact) <= tol,
                          "n=%d row %d [%d]: fwht %.9g, float64 %.17g (|diff| %.3g > %.3g)", n, r,
                          i, yr[i], exact, fabs(yr[i] - exact), tol);
                /* the dense form: the same product with its own roundings (test_kernels.c) */
                const double dense_tol =
                    2.0 * ((double)n / 16.0 + 5.0) * U32 * abs_sum / sqrt((double)n);
                CHECK_MSG(fabs(d[r * n + i] - exact) <= dense_tol,
                          "n=%d row %d [%d]: dense %.9g, float64 %.17g", n, r, i, d[r * n + i],
                          exact);
                dense_differs += !same_bits(d[r * n + i], yr[i]);
            }
        }
        /*
         * H H = I: rotating back restores the input. Each pass errs by at most
         * (log2(n) + 1) u |x|_2 per element (the bound above, with
         * sum|x_j| <= sqrt(n) |x|_2), and the second pass carries the first
         * pass's error vector through H, which keeps its 2-norm; we allow twice
         * the sum.
         */
        ql_hadamard_fwht(y, (int64_t)ROWS * n, n);
        for (int r = 0; r < ROWS; r++) {
            double norm2 = 0;
            for (int j = 0; j < n; j++) norm2 += (double)x[r * n + j] * x[r * n + j];
            const double tol =
                2.0 * (log2((double)n) + 1.0) * U32 * sqrt(norm2) * (1.0 + sqrt((double)n));
            for (int i = r * n; i < (r + 1) * n; i++)
                CHECK_MSG(fabs(y[i] - x[i]) <= tol, "n=%d [%d] twice: %.9g vs %.9g", n, i, y[i],
                          x[i]);
        }
    }
    /* otherwise there would be nothing to choose between */
    CHECK_MSG(dense_differs > 0, "the dense and FWHT results are bit-identical everywhere");
    printf("fwht: %d of %d values differ from the dense form\n", dense_differs,
           ROWS * (64 + 128 + 256));
}

/* ---- end to end on synth-gemma3 (its 32000-token vocabulary keeps this quick) ---- */

typedef struct {
    float *logits;
    int64_t n, cap;
} logit_sink;

static bool keep_logits(void *user, const ql_logits_block *b) {
    logit_sink *s = user;
    const int64_t need = b->n_rows * b->n_vocab;
    if (s->n + need > s->cap) return false;
    memcpy(s->logits + s->n, b->logits, sizeof(float) * (size_t)need);
    s->n += need;
    return true;
}

static ql_context *make_ctx(ql_test_ctx *t, const ql_model *m, const char *ctk, const char *ctv,
                            ql_rotate_mode rot, ql_hadamard_mode had, int64_t n_ctx,
                            ql_numerics numerics) {
    ql_context_params cp = ql_context_default_params();
    cp.n_ctx = n_ctx;
    cp.type_k = (ql_type)ql_type_from_name(ctk);
    cp.type_v = (ql_type)ql_type_from_name(ctv);
    cp.rotate = rot;
    cp.hadamard = had;
    cp.numerics = numerics;
    cp.n_threads = 2;
    ql_context *ctx = NULL;
    ql_error err;
    if (ql_context_create(m, &cp, &ctx, &err) != QL_OK)
        ql_test_failf(t, __FILE__, __LINE__, "context %s/%s: %s", ctk, ctv, err.msg);
    return ctx;
}

/* All logits of tokens[0..n) in one sequence. */
static float *forward_logits(ql_test_ctx *t, const ql_model *m, const int32_t *tokens, int64_t n,
                             const char *ctk, const char *ctv, ql_rotate_mode rot,
                             ql_hadamard_mode had) {
    /* f32 numerics: on an AVX512-FP16 CPU the dense mode (the older llama.cpp's profile) also
     * sums f16 dots in half precision, which is not the rotation these tests compare */
    ql_context *ctx = make_ctx(t, m, ctk, ctv, rot, had, n, QL_NUMERICS_F32);
    if (!ctx) return NULL;
    logit_sink s = {.cap = n * m->cfg.n_vocab};
    s.logits = malloc(sizeof(float) * (size_t)s.cap);
    ql_error err;
    if (!s.logits || ql_forward(ctx, tokens, n, 0, 0, keep_logits, &s, &err) != QL_OK ||
        s.n != s.cap) {
        ql_test_failf(t, __FILE__, __LINE__, "forward %s/%s failed", ctk, ctv);
        free(s.logits);
        s.logits = NULL;
    }
    ql_context_free(ctx);
    return s.logits;
}

static double ppl_of(ql_test_ctx *t, const ql_model *m, const int32_t *ids, int64_t n_ids,
                     const char *ctk, const char *ctv, ql_hadamard_mode had) {
    enum { N_CTX = 128, CHUNKS = 4 };
    ql_context *ctx = make_ctx(t, m, ctk, ctv, QL_ROTATE_AUTO, had, N_CTX, QL_NUMERICS_AUTO);
    if (!ctx) return NAN;
    ql_eval_params ep = {.n_ctx = N_CTX, .n_chunks = CHUNKS, .replace_bos = true, .bos_id = 1};
    ql_ppl_result res;
    ql_error err;
    double ppl = NAN;
    if (ql_perplexity(ctx, ids, n_ids, &ep, NULL, NULL, NULL, NULL, &res, &err) == QL_OK) {
        ppl = res.ppl;
        ql_ppl_result_free(&res);
    } else {
        ql_test_failf(t, __FILE__, __LINE__, "perplexity %s/%s: %s", ctk, ctv, err.msg);
    }
    ql_context_free(ctx);
    return ppl;
}

QL_TEST(rotation_fwht_and_dense_end_to_end) {
    ql_error err;
    ql_model *m;
    REQUIRE_MSG(ql_model_load(ql_test_synth_model("gemma3"), &m, &err) == QL_OK, "%s", err.msg);
    int64_t n_ids;
    int32_t *ids =
        ql_test_load_ids(ql_test_shared_path("golden/tokenizer/wikitext-spm.ids"), &n_ids, true, 1);
    REQUIRE(ids != NULL);

    /* quantized caches rotate: both finite, different, and close */
    const char *caches[][2] = {{"q8_0", "q8_0"}, {"q4_0", "q4_0"}, {"f16", "q4_0"}};
    for (size_t i = 0; i < sizeof caches / sizeof caches[0]; i++) {
        const double f = ppl_of(t, m, ids, n_ids, caches[i][0], caches[i][1], QL_HADAMARD_FWHT);
        const double d = ppl_of(t, m, ids, n_ids, caches[i][0], caches[i][1], QL_HADAMARD_DENSE);
        const double dln = fabs(log(f) - log(d));
        printf("%s/%s: PPL fwht %.6f, dense %.6f, |d ln| %.2e\n", caches[i][0], caches[i][1], f, d,
               dln);
        CHECK_MSG(isfinite(f) && isfinite(d), "%s/%s: PPL fwht %g, dense %g", caches[i][0],
                  caches[i][1], f, d);
        /* a rounding difference: far below what the cache type itself costs */
        CHECK_MSG(dln > 0 && dln < 5e-3, "%s/%s: |d ln PPL| %.3g between fwht and dense",
                  caches[i][0], caches[i][1], dln);
    }

    /* nothing rotates (f16 under auto, or rotation off): the choice changes no bit */
    enum { N = 48 };
    const struct {
        const char *k, *v;
        ql_rotate_mode rot;
    } same[] = {{"f16", "f16", QL_ROTATE_AUTO},
                {"f32", "bf16", QL_ROTATE_AUTO},
                {"q4_0", "q4_0", QL_ROTATE_OFF}};
    for (size_t i = 0; i < sizeof same / sizeof same[0]; i++) {
        float *a =
            forward_logits(t, m, ids, N, same[i].k, same[i].v, same[i].rot, QL_HADAMARD_FWHT);
        float *b =
            forward_logits(t, m, ids, N, same[i].k, same[i].v, same[i].rot, QL_HADAMARD_DENSE);
        if (a && b)
            CHECK_MSG(memcmp(a, b, sizeof(float) * N * (size_t)m->cfg.n_vocab) == 0,
                      "%s/%s: logits differ between fwht and dense", same[i].k, same[i].v);
        free(a), free(b);
    }
    /* ... while a rotated f16 cache does change them */
    float *a = forward_logits(t, m, ids, N, "f16", "f16", QL_ROTATE_ON, QL_HADAMARD_FWHT);
    float *b = forward_logits(t, m, ids, N, "f16", "f16", QL_ROTATE_ON, QL_HADAMARD_DENSE);
    if (a && b)
        CHECK_MSG(memcmp(a, b, sizeof(float) * N * (size_t)m->cfg.n_vocab) != 0,
                  "f16 with --kv-rotate on: fwht and dense give the same logits");
    free(a), free(b);
    free(ids);
    ql_model_free(m);
}

/*
 * Current llama.cpp decides K and V rotation each on its own head size; the
 * dense mode keeps the golden data's rule (both head sizes multiples of 64).
 */
QL_TEST(rotation_conditions_per_mode) {
    const char *dir = ql_test_tmpdir(t);
    const char *vocab = ql_test_shared_path("golden/tokenizer/ggml-vocab-gpt-2.gguf");
    const struct {
        int dk, dv;
        bool fwht_k, fwht_v, dense_k, dense_v;
    } cases[] = {
        {64, 32, true, false, false, false},
        {32, 64, false, true, false, false},
        {128, 64, true, true, true, true},
        {96, 96, false, false, false, false},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char path[1024];
        snprintf(path, sizeof path, "%s/k%d_v%d.gguf", dir, cases[i].dk, cases[i].dv);
        ql_test_model_shape shape = {.arch = "llama",
                                     .n_embd = 64,
                                     .n_head = 2,
                                     .n_head_kv = 1,
                                     .head_dim = cases[i].dk,
                                     .n_ff = 64,
                                     .n_layer = 1,
                                     .vocab_gguf = vocab,
                                     .head_dim_v = cases[i].dv};
        REQUIRE(ql_test_build_model(path, &shape));
        ql_error err;
        ql_model *m;
        REQUIRE_MSG(ql_model_load(path, &m, &err) == QL_OK, "%s", err.msg);
        for (int mode = 0; mode < 2; mode++) {
            const ql_hadamard_mode had = mode ? QL_HADAMARD_DENSE : QL_HADAMARD_FWHT;
            ql_context *ctx =
                make_ctx(t, m, "q8_0", "q8_0", QL_ROTATE_AUTO, had, 16, QL_NUMERICS_AUTO);
            if (!ctx) continue;
            const bool want_k = mode ? cases[i].dense_k : cases[i].fwht_k;
            const bool want_v = mode ? cases[i].dense_v : cases[i].fwht_v;
            CHECK_MSG(ql_context_rotates_k(ctx) == want_k && ql_context_rotates_v(ctx) == want_v,
                      "heads %d/%d, %s: rotates K %d V %d, expected %d %d", cases[i].dk,
                      cases[i].dv, ql_hadamard_mode_name(had), ql_context_rotates_k(ctx),
                      ql_context_rotates_v(ctx), want_k, want_v);
            /* and the model runs with only one side rotated */
            const int32_t tokens[8] = {464, 2068, 7586, 21831, 18045, 625, 262, 16931};
            float *logits = malloc(sizeof(float) * 8 * (size_t)m->cfg.n_vocab);
            logit_sink s = {.logits = logits, .cap = 8 * m->cfg.n_vocab};
            CHECK(logits && ql_forward(ctx, tokens, 8, 0, 0, keep_logits, &s, &err) == QL_OK);
            bool finite = s.n == s.cap;
            for (int64_t j = 0; finite && j < s.n; j++) finite = isfinite(logits[j]);
            CHECK_MSG(finite, "heads %d/%d, %s: logits not all finite", cases[i].dk, cases[i].dv,
                      ql_hadamard_mode_name(had));
            free(logits);
            ql_context_free(ctx);
        }
        ql_model_free(m);
    }
}

/* ---- the command line ---- */

static char *wiki(void) {
    static char path[1024];
    snprintf(path, sizeof path, "%s/data/wikitext-2-raw/wiki.test.raw", ql_test_shared_dir());
    return path;
}

static void check_usage_error(ql_test_ctx *t, const char *args, const char *needle) {
    char *out, *err;
    const int rc = ql_test_run_qlens(args, &out, &err);
    CHECK_MSG(rc == 2, "%s: exit status %d, expected 2 (stderr: %s)", args, rc, err);
    CHECK_MSG(strncmp(err, "qlens: error: ", 14) == 0 && strchr(err, '\n') &&
                  strchr(err, '\n')[1] == '\0',
              "%s: not one error line: %s", args, err);
    CHECK_MSG(strstr(err, needle) != NULL, "%s: '%s' not in: %s", args, needle, err);
    CHECK_MSG(out[0] == '\0', "%s: stdout not empty: %s", args, out);
    free(out), free(err);
}

static jc_node *run_json(ql_test_ctx *t, const char *args, const char *json_path) {
    char *err;
    if (ql_test_run_qlens(args, NULL, &err) != 0) {
        ql_test_failf(t, __FILE__, __LINE__, "%s: %s", args, err);
        free(err);
        return NULL;
    }
    free(err);
    size_t n;
    char *text = (char *)ql_test_read_file(json_path, &n);
    char why[256] = "cannot read it";
    jc_node *doc = text ? jc_parse(text, n, why, sizeof why) : NULL;
    if (!doc) ql_test_failf(t, __FILE__, __LINE__, "%s: %s", json_path, why);
    free(text);
    return doc;
}

QL_TEST(rotation_cli_kv_hadamard) {
    check_usage_error(t, "perplexity -m x.gguf -f x --kv-hadamard fast",
                      "perplexity --kv-hadamard: 'fast' is not fwht or dense");
    check_usage_error(t, "kld --ref x.gguf -m x.gguf -f x --kv-hadamard DENSE",
                      "kld --kv-hadamard: 'DENSE' is not fwht or dense");
    check_usage_error(t, "kld --ref x.gguf -m x.gguf -f x --ref-kv-hadamard x",
                      "kld --ref-kv-hadamard: 'x' is not fwht or dense");
    check_usage_error(t, "sweep --ref x.gguf --weights Q8_0 -f x --out x --kv-hadamard 1",
                      "sweep --kv-hadamard: '1' is not fwht or dense");

    /* the JSON records the mode, fwht unless asked */
    const char *dir = ql_test_tmpdir(t);
    const char *model = ql_test_synth_model("gemma3");
    const char *modes[] = {NULL, "dense", "fwht"};
    for (int i = 0; i < 3; i++) {
        char args[4096], json[1024];
        snprintf(json, sizeof json, "%s/p%d.json", dir, i);
        snprintf(args, sizeof args,
                 "perplexity -m %s -f %s -c 64 --chunks 1 -t 2 -ctk q8_0 -ctv q8_0 %s %s --json %s",
                 model, wiki(), modes[i] ? "--kv-hadamard" : "", modes[i] ? modes[i] : "", json);
        jc_node *doc = run_json(t, args, json);
        if (!doc) continue;
        const jc_node *cfg = jc_get(doc, "config");
        const char *got = jc_str(cfg, "kv_hadamard");
        CHECK_MSG(got && strcmp(got, modes[i] ? modes[i] : "fwht") == 0, "config.kv_hadamard %s",
                  got ? got : "(missing)");
        const jc_node *rk = jc_get(cfg, "rotates_k");
        CHECK(rk && rk->kind == JC_BOOL && rk->boolean);
        jc_free(doc);
    }

    /* --ref-kv-hadamard reaches the reference: the same configuration on both sides is KLD 0 */
    const char *ref_modes[] = {"dense", "fwht"};
    for (int i = 0; i < 2; i++) {
        char args[4096], json[1024];
        snprintf(json, sizeof json, "%s/k%d.json", dir, i);
        snprintf(args, sizeof args,
                 "kld --ref %s -m %s -f %s -c 64 --chunks 2 -t 2 -ctk q4_0 -ctv q4_0 --kv-hadamard "
                 "dense --ref-cache-type-k q4_0 --ref-cache-type-v q4_0 --ref-kv-hadamard %s "
                 "--json %s",
                 model, model, wiki(), ref_modes[i], json);
        jc_node *doc = run_json(t, args, json);
        if (!doc) continue;
        const double kld = jc_num(jc_get(jc_get(doc, "statistics"), "kld"), "value");
        if (i == 0)
            CHECK_MSG(kld == 0.0, "dense against dense: KLD %g", kld);
        else
            CHECK_MSG(kld > 0.0, "dense against fwht: KLD %g", kld);
        jc_free(doc);
    }
}
