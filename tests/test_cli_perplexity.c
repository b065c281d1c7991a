/*
 * test_cli_perplexity.c - `qlens perplexity` and `qlens kld` end to end:
 * the printed numbers against llama.cpp's golden ones, the JSON, the
 * reference-file round trip, and every documented error.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "json_check.h"
#include "model_builder.h"
#include "test.h"

#define WIKI "../shared/data/wikitext-2-raw/wiki.test.raw"

static char *wiki(void) {
    static char path[1024];
    snprintf(path, sizeof path, "%s/data/wikitext-2-raw/wiki.test.raw", ql_test_shared_dir());
    return path;
}

static double final_ppl(const char *out) {
    const char *p = strstr(out, "Final estimate: PPL = ");
    return p ? strtod(p + strlen("Final estimate: PPL = "), NULL) : NAN;
}

/* One line on stderr, starting "qlens: error: ", and nothing on stdout. */
static void check_one_error(ql_test_ctx *t, int rc, int want_rc, const char *out, const char *err,
                            const char *needle) {
    CHECK_MSG(rc == want_rc, "exit status %d, expected %d (stderr: %s)", rc, want_rc, err);
    CHECK_MSG(strncmp(err, "qlens: error: ", 14) == 0, "stderr does not start with the prefix: %s",
              err);
    const char *nl = strchr(err, '\n');
    CHECK_MSG(nl && nl[1] == '\0', "not exactly one line: %s", err);
    CHECK_MSG(strstr(err, needle) != NULL, "'%s' not in: %s", needle, err);
    CHECK_MSG(out[0] == '\0', "stdout not empty: %s", out);
}

QL_TEST(cli_perplexity_matches_golden) {
    char args[2048], *out, *err;
    snprintf(args, sizeof args, "perplexity -m %s -f %s -c 128 --chunks 8 -t 2",
             ql_test_synth_model("llama"), wiki());
    int rc = ql_test_run_qlens(args, &out, &err);
    CHECK_EQ_INT(rc, 0);
    /* llama.cpp: 192748.6765 (golden/synth/ppl.tsv, f16 cache) */
    const double ppl = final_ppl(out);
    CHECK_MSG(fabs(log(ppl / 192748.6765)) <= 1e-3, "PPL %.4f vs 192748.6765", ppl);
    CHECK(strstr(out, "[1]") == out);
    CHECK(strstr(out, ",[8]") != NULL);
    free(out), free(err);
}

QL_TEST(cli_perplexity_json_and_reference_round_trip) {
    const char *dir = ql_test_tmpdir(t);
    char args[4096], *out, *err;
    snprintf(args, sizeof args,
             "perplexity -m %s -f %s -c 64 --chunks 3 --kl-divergence-base %s/base.qlref --json "
             "%s/base.json",
             ql_test_synth_model("qwen3"), wiki(), dir, dir);
    REQUIRE_MSG(ql_test_run_qlens(args, &out, &err) == 0, "%s", err);
    const double ppl = final_ppl(out);
    free(out), free(err);
    char path[1024];
    snprintf(path, sizeof path, "%s/base.json", dir);
    size_t n;
    char *text = (char *)ql_test_read_file(path, &n);
    REQUIRE(text);
    char why[256];
    jc_node *doc = jc_parse(text, n, why, sizeof why);
    REQUIRE_MSG(doc, "JSON: %s", why);
    CHECK(strcmp(jc_str(doc, "kind"), "perplexity") == 0);
    const jc_node *fin = jc_get(doc, "final");
    CHECK_NEAR(jc_num(fin, "ppl"), ppl, 1e-4 * ppl);
    CHECK_EQ_INT(jc_get(jc_get(doc, "tokens"), "nll")->n, 3 * 31);
    CHECK_EQ_INT(jc_get(doc, "chunks")->n, 3);
    jc_free(doc);
    free(text);

    /* the model against its own reference: KLD exactly 0, same top 100%, PPL(base) = PPL */
    snprintf(args, sizeof args,
             "perplexity -m %s --kl-divergence-base %s/base.qlref --kl-divergence --json %s/k.json "
             "--kld-positions 3",
             ql_test_synth_model("qwen3"), dir, dir);
    REQUIRE_MSG(ql_test_run_qlens(args, &out, &err) == 0, "%s", err);
    free(out), free(err);
    snprintf(path, sizeof path, "%s/k.json", dir);
    text = (char *)ql_test_read_file(path, &n);
    REQUIRE(text);
    doc = jc_parse(text, n, why, sizeof why);
    REQUIRE_MSG(doc, "JSON: %s", why);
    const jc_node *st = jc_get(doc, "statistics");
    CHECK(jc_num(jc_get(st, "kld"), "value") == 0.0);
    CHECK(jc_num(jc_get(st, "same_top"), "value") == 1.0);
    CHECK_NEAR(jc_num(jc_get(st, "ppl_base"), "value"), ppl, 1e-4 * ppl);
    CHECK_EQ_INT(jc_get(doc, "positions")->n, 3);
    CHECK_EQ_INT(jc_get(jc_get(doc, "tokens"), "kld")->n, 3 * 31);
    jc_free(doc);
    free(text);
}

QL_TEST(cli_kld_lockstep_equals_file) {
    const char *dir = ql_test_tmpdir(t);
    char args[4096], *out1, *out2, *err;
    snprintf(args, sizeof args,
             "perplexity -m %s -f %s -c 64 --chunks 3 --kl-divergence-base %s/b.qlref",
             ql_test_synth_model("gemma3"), wiki(), dir);
    REQUIRE_MSG(ql_test_run_qlens(args, NULL, &err) == 0, "%s", err);
    free(err);
    snprintf(args, sizeof args,
             "perplexity -m %s --kl-divergence-base %s/b.qlref --kl-divergence -ctk q8_0 -ctv q4_0",
             ql_test_synth_model("gemma3"), dir);
    REQUIRE_MSG(ql_test_run_qlens(args, &out1, &err) == 0, "%s", err);
    free(err);
    snprintf(args, sizeof args, "kld --ref %s -m %s -f %s -c 64 --chunks 3 -ctk q8_0 -ctv q4_0",
             ql_test_synth_model("gemma3"), ql_test_synth_model("gemma3"), wiki());
    REQUIRE_MSG(ql_test_run_qlens(args, &out2, &err) == 0, "%s", err);
    free(err);
    /* the printed report, chunk table and statistics, is identical */
    CHECK_MSG(strcmp(out1, out2) == 0, "file:\n%s\nlockstep:\n%s", out1, out2);
    CHECK(strstr(out1, "Mean    KLD:") != NULL);
    free(out1), free(out2);
}

QL_TEST(cli_perplexity_errors) {
    const char *dir = ql_test_tmpdir(t);
    char args[4096], *out, *err, path[1024];
    snprintf(path, sizeof path, "%s/short.txt", dir);
    ql_test_write_file(path, "Only a few words here.", 22);

    snprintf(args, sizeof args, "perplexity -m %s -f %s -c 128", ql_test_synth_model("llama"),
             path);
    int rc = ql_test_run_qlens(args, &out, &err);
    check_one_error(t, rc, 1, out, err, "at least 256");
    CHECK_MSG(strstr(err, "has 5 tokens") || strstr(err, "has 6 tokens"), "token count: %s", err);
    free(out), free(err);

    snprintf(args, sizeof args, "perplexity -m %s -f %s -ctk q3_K", ql_test_synth_model("llama"),
             wiki());
    rc = ql_test_run_qlens(args, &out, &err);
    /* a bad option value is a command-line error */
    check_one_error(t, rc, 2, out, err,
                    "valid: f32, f16, bf16, q8_0, q5_1, q5_0, q4_1, q4_0, iq4_nl");
    free(out), free(err);

    /* a head size of 40 cannot hold blocks of 32 */
    snprintf(path, sizeof path, "%s/head40.gguf", dir);
    ql_test_model_shape shape = {
        "llama", 80,  2, 2,
        40,      128, 2, ql_test_shared_path("golden/tokenizer/ggml-vocab-gpt-2.gguf"),
        0};
    REQUIRE(ql_test_build_model(path, &shape));
    snprintf(args, sizeof args, "perplexity -m %s -f %s -c 64 --chunks 1 -ctv q8_0", path, wiki());
    rc = ql_test_run_qlens(args, &out, &err);
    check_one_error(t, rc, 1, out, err, "head size is 40");
    free(out), free(err);
    /* ... while f16 works on it */
    snprintf(args, sizeof args, "perplexity -m %s -f %s -c 64 --chunks 1", path, wiki());
    CHECK_EQ_INT(ql_test_run_qlens(args, NULL, NULL), 0);

    const char *usage_cases[][2] = {
        {"perplexity -f " WIKI, "-m MODEL.gguf is required"},
        {"perplexity -m x.gguf", "-f FILE"},
        {"perplexity -m x.gguf --kl-divergence", "--kl-divergence-base"},
        {"perplexity -m x.gguf -f x -c 2", "out of range"},
        {"perplexity -m x.gguf -f x --kv-rotate maybe", "auto, on or off"},
        {"perplexity -m x.gguf -f x --bogus", "unknown option '--bogus'"},
    };
    for (size_t i = 0; i < sizeof usage_cases / sizeof usage_cases[0]; i++) {
        rc = ql_test_run_qlens(usage_cases[i][0], &out, &err);
        check_one_error(t, rc, 2, out, err, usage_cases[i][1]);
        free(out), free(err);
    }

    snprintf(args, sizeof args, "perplexity -m %s/missing.gguf -f %s", dir, wiki());
    rc = ql_test_run_qlens(args, &out, &err);
    check_one_error(t, rc, 1, out, err, "missing.gguf");
    free(out), free(err);
}

QL_TEST(cli_kld_reference_mismatches) {
    const char *dir = ql_test_tmpdir(t);
    char args[4096], *out, *err;
    snprintf(args, sizeof args,
             "perplexity -m %s -f %s -c 64 --chunks 2 --kl-divergence-base %s/b.qlref",
             ql_test_synth_model("llama"), wiki(), dir);
    REQUIRE_MSG(ql_test_run_qlens(args, NULL, &err) == 0, "%s", err);
    free(err);
    /* another vocabulary (gemma3 uses the SentencePiece one) */
    snprintf(args, sizeof args, "perplexity -m %s --kl-divergence-base %s/b.qlref --kl-divergence",
             ql_test_synth_model("gemma3"), dir);
    int rc = ql_test_run_qlens(args, &out, &err);
    check_one_error(t, rc, 1, out, err, "vocabulary");
    free(out), free(err);
    /* another n_ctx */
    snprintf(args, sizeof args,
             "perplexity -m %s --kl-divergence-base %s/b.qlref --kl-divergence -c 128",
             ql_test_synth_model("llama"), dir);
    rc = ql_test_run_qlens(args, &out, &err);
    check_one_error(t, rc, 2, out, err, "-c 64");
    free(out), free(err);
    /* truncated */
    char path[1024], bad[1024];
    snprintf(path, sizeof path, "%s/b.qlref", dir);
    snprintf(bad, sizeof bad, "%s/bad.qlref", dir);
    size_t n;
    unsigned char *bytes = ql_test_read_file(path, &n);
    REQUIRE(bytes);
    ql_test_write_file(bad, bytes, n / 2);
    free(bytes);
    snprintf(args, sizeof args, "perplexity -m %s --kl-divergence-base %s --kl-divergence",
             ql_test_synth_model("llama"), bad);
    rc = ql_test_run_qlens(args, &out, &err);
    check_one_error(t, rc, 1, out, err, "truncated");
    free(out), free(err);
}

/*
 * The two real models: 2 chunks at -c 512 give finite, plausible perplexities
 * (a light run: one chunk of 128, which still loads every quantized tensor
 * and runs every layer; both models give about 10 there).
 */
static void real_model(ql_test_ctx *t, const char *path, double lo, double hi) {
    struct stat sb;
    REQUIRE_MSG(stat(path, &sb) == 0, "%s missing: run scripts/fetch-models.sh", path);
    char args[2048], *out, *err;
    snprintf(args, sizeof args, "perplexity -m %s -f %s %s -t 2", path, wiki(),
             ql_test_light() ? "-c 128 --chunks 1" : "-c 512 --chunks 2");
    REQUIRE_MSG(ql_test_run_qlens(args, &out, &err) == 0, "%s", err);
    const double ppl = final_ppl(out);
    printf("%s: %s\n", path, strstr(out, "Final estimate"));
    CHECK_MSG(isfinite(ppl) && ppl > lo && ppl < hi, "PPL %.4f outside (%g, %g)", ppl, lo, hi);
    free(out), free(err);
}

QL_TEST(real_smollm2_perplexity) {
    real_model(t, "models/SmolLM2-135M-Instruct.Q4_1.gguf", 5, 60);
}
QL_TEST(real_gemma3_perplexity) {
    real_model(t, "models/gemma-3-270m-Q4_K_M.gguf", 5, 60);
}
