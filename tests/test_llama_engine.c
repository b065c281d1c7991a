/*
 * test_llama_engine.c - `--engine llama.cpp`: qlens's evaluation code driving
 * llama.cpp's libllama (src/engine/llama_engine.c).
 *
 * With the pinned library installed (scripts/install-llama-engine.sh), the
 * engine must print llama-perplexity's numbers to every printed digit: the
 * expected values in tests/data/llama-engine.tsv were measured with
 * llama-perplexity built from the same llama.cpp source (the file names the
 * command), and both tokenizers must give the same tokens. Without the
 * library the tests that need it skip. A missing or
 * wrong library must be one "qlens: error: " line and a non-zero exit.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "qlens.h"
#include "engine/llama_engine.h"
#include "gguf/gguf.h"
#include "test.h"
#include "tokenizer/tokenizer.h"

#define WIKI    "data/wikitext-2-raw/wiki.test.raw"
#define SMOLLM2 "models/SmolLM2-135M-Instruct.Q4_1.gguf"
#define GEMMA3  "models/gemma-3-270m-Q4_K_M.gguf"

/* Whether the pinned libllama is installed where qlens looks for it (else why not, in why). */
static bool have_llama(char *why, size_t size) {
    ql_error err = {0};
    char path[1024], version[64];
    if (ql_llama_probe(NULL, path, sizeof path, version, sizeof version, &err)) {
        snprintf(why, size, "llama.cpp engine not installed (scripts/install-llama-engine.sh): %s",
                 err.msg);
        return false;
    }
    return true;
}

/*
 * The text's first 100 kB: the runs that are not llama-perplexity's own
 * command need only the first chunks, and tokenizing the whole file is most
 * of a short run's time. The chunks at its start are the same tokens.
 */
static const char *short_text(ql_test_ctx *t) {
    static char path[1024];
    size_t len = 0;
    unsigned char *text = ql_test_read_file(ql_test_shared_path(WIKI), &len);
    snprintf(path, sizeof path, "%s/wiki-head.txt", ql_test_tmpdir(t));
    if (!text || !ql_test_write_file(path, text, len < 100000 ? len : 100000))
        ql_test_failf(t, __FILE__, __LINE__, "cannot write %s", path);
    free(text);
    return path;
}

static int count_lines(const char *s) {
    int n = 0;
    for (; s && *s; s++) n += *s == '\n';
    return n;
}

typedef struct {
    char model[64], cache[16], running[256], final_line[128];
} expected_row;

static int load_expected(ql_test_ctx *t, expected_row *rows, int max) {
    char *tsv = (char *)ql_test_read_file("tests/data/llama-engine.tsv", NULL);
    if (!tsv) {
        ql_test_failf(t, __FILE__, __LINE__, "cannot read tests/data/llama-engine.tsv");
        return 0;
    }
    int n = 0;
    for (char *line = strtok(tsv, "\n"); line && n < max; line = strtok(NULL, "\n")) {
        if (line[0] == '#' || strncmp(line, "model\t", 6) == 0) continue;
        expected_row *r = &rows[n];
        if (sscanf(line, "%63[^\t]\t%15[^\t]\t%255[^\t]\t%127[^\n]", r->model, r->cache, r->running,
                   r->final_line) == 4)
            n++;
    }
    free(tsv);
    return n;
}

static void check_parity(ql_test_ctx *t, const char *model) {
    char why[1200];
    if (!have_llama(why, sizeof why)) SKIP("%s", why);
    if (access(model, R_OK) != 0) SKIP("%s is not there (scripts/fetch-models.sh)", model);
    static expected_row rows[32];
    const int n = load_expected(t, rows, 32);
    const char *base = strrchr(model, '/') + 1;
    int checked = 0;
    for (int i = 0; i < n; i++) {
        const expected_row *r = &rows[i];
        if (strcmp(r->model, base) != 0) continue;
        /* one configuration under the sanitizers, whose runs are several times slower */
        if (ql_test_light() && checked > 0) break;
        char args[2048];
        snprintf(args, sizeof args,
                 "perplexity --engine llama.cpp -m %s -f %s -c 512 --chunks 4 -t 2 --no-repack "
                 "-ctk %s -ctv %s",
                 model, ql_test_shared_path(WIKI), r->cache, r->cache);
        char *out = NULL, *err = NULL;
        const int rc = ql_test_run_qlens(args, &out, &err);
        CHECK_MSG(rc == 0, "%s: exit %d: %s", args, rc, err ? err : "");
        /* the running values and the final line, character for character */
        CHECK_MSG(out && strstr(out, r->running), "%s %s: running values %s expected in: %s", base,
                  r->cache, r->running, out ? out : "");
        CHECK_MSG(out && strstr(out, r->final_line), "%s %s: '%s' expected in: %s", base, r->cache,
                  r->final_line, out ? out : "");
        CHECK_MSG(err && strstr(err, "engine llama.cpp 0.5.0") && strstr(err, "backend CPU"),
                  "%s: the run names no engine and backend: %s", args, err ? err : "");
        const char *fin = out ? strstr(out, "Final estimate") : NULL;
        printf("%-34s %s/%s  qlens --engine llama.cpp: %.*s  llama-perplexity: %s\n", base,
               r->cache, r->cache, fin ? (int)strcspn(fin, "\n") : 0, fin ? fin : "",
               r->final_line);
        free(out);
        free(err);
        checked++;
    }
    CHECK_MSG(checked >= 1, "%s: no expected values in tests/data/llama-engine.tsv", base);
}

QL_TEST(llama_engine_smollm2_is_llama_perplexity) {
    check_parity(t, SMOLLM2);
}

QL_TEST(llama_engine_gemma3_is_llama_perplexity) {
    check_parity(t, GEMMA3);
}

/* A JSON result names the engine, its backend and its device. */
QL_TEST(llama_engine_json_names_engine) {
    char why[1200];
    if (!have_llama(why, sizeof why)) SKIP("%s", why);
    if (access(SMOLLM2, R_OK) != 0) SKIP("%s is not there (scripts/fetch-models.sh)", SMOLLM2);
    char json[1024], args[2048];
    snprintf(json, sizeof json, "%s/run.json", ql_test_tmpdir(t));
    snprintf(args, sizeof args,
             "perplexity --engine llama.cpp -m %s -f %s -c 128 --chunks 2 -t 2 --no-repack "
             "--json %s",
             SMOLLM2, short_text(t), json);
    char *err = NULL;
    const int rc = ql_test_run_qlens(args, NULL, &err);
    CHECK_MSG(rc == 0, "%s: exit %d: %s", args, rc, err ? err : "");
    char *doc = (char *)ql_test_read_file(json, NULL);
    REQUIRE_MSG(doc, "no JSON written");
    CHECK_MSG(strstr(doc, "\"engine\": \"llama.cpp\"") || strstr(doc, "\"engine\":\"llama.cpp\""),
              "engine not named: %.400s", doc);
    CHECK_MSG(strstr(doc, "\"backend\": \"CPU\"") || strstr(doc, "\"backend\":\"CPU\""),
              "backend not named: %.400s", doc);
    CHECK_MSG(strstr(doc, "\"device\""), "device not named: %.400s", doc);
    free(doc);
    free(err);
}

/*
 * The two engines on the same model: kld runs the reference on qlens and the
 * model under test on llama.cpp, so the KLD is the engines' difference.
 */
QL_TEST(llama_engine_kld_between_engines) {
    char why[1200];
    if (!have_llama(why, sizeof why)) SKIP("%s", why);
    if (access(SMOLLM2, R_OK) != 0) SKIP("%s is not there (scripts/fetch-models.sh)", SMOLLM2);
    char args[2048];
    snprintf(args, sizeof args,
             "kld --ref %s -m %s --engine llama.cpp -f %s -c 512 --chunks %d -t 2 --no-repack",
             SMOLLM2, SMOLLM2, short_text(t), ql_test_light() ? 1 : 2);
    char *out = NULL, *err = NULL;
    const int rc = ql_test_run_qlens(args, &out, &err);
    CHECK_MSG(rc == 0, "%s: exit %d: %s", args, rc, err ? err : "");
    const char *m = out ? strstr(out, "Mean    KLD:") : NULL;
    REQUIRE_MSG(m, "no mean KLD in: %s", out ? out : "");
    const double kld = strtod(m + strlen("Mean    KLD:"), NULL);
    /* the same weights, the same arithmetic order: the engines agree to rounding */
    CHECK_MSG(kld >= 0 && kld < 1e-4, "KLD between the engines %g", kld);
    const char *same = strstr(out, "Same top p:");
    printf("SmolLM2 Q4_1 f16/f16, qlens vs llama.cpp engine: %.*s; %.*s\n", (int)strcspn(m, "\n"),
           m, same ? (int)strcspn(same, "\n") : 0, same ? same : "");
    free(out);
    free(err);
}

/* A missing library, or one that is not libllama, is one error line. */
QL_TEST(llama_engine_bad_library_is_one_error) {
    if (access(SMOLLM2, R_OK) != 0) SKIP("%s is not there (scripts/fetch-models.sh)", SMOLLM2);
    const char *libm = access("/lib/x86_64-linux-gnu/libm.so.6", R_OK) == 0
                           ? "/lib/x86_64-linux-gnu/libm.so.6"
                           : "libm.so.6";
    const struct {
        const char *lib, *says;
    } cases[] = {
        {"/nonexistent/libllama.so", "cannot load libllama"},
        {libm, "not a usable libllama (no llama_version)"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char args[2048];
        snprintf(args, sizeof args,
                 "perplexity --engine llama.cpp --llama-lib %s -m %s -f %s -c 128 --chunks 2 -t 2",
                 cases[i].lib, SMOLLM2, ql_test_shared_path(WIKI));
        char *out = NULL, *err = NULL;
        const int rc = ql_test_run_qlens(args, &out, &err);
        CHECK_MSG(rc != 0, "%s: exit 0", args);
        CHECK_MSG(err && strncmp(err, "qlens: error: ", 14) == 0 && count_lines(err) == 1 &&
                      strstr(err, cases[i].says),
                  "%s: one error line saying '%s' expected, got: %s", args, cases[i].says,
                  err ? err : "");
        CHECK_MSG(out && !*out, "%s: output on stdout: %s", args, out ? out : "");
        free(out);
        free(err);
    }
    /* the environment variable names a library the same way */
    char args[2048];
    snprintf(args, sizeof args, "perplexity --engine llama.cpp -m %s -f %s -c 128 --chunks 2 -t 2",
             SMOLLM2, ql_test_shared_path(WIKI));
    char *err = NULL;
    const int rc =
        ql_test_run_qlens_prefixed("QLENS_LLAMA_LIB=/nonexistent/libllama.so", args, NULL, &err);
    CHECK_MSG(rc != 0 && err && count_lines(err) == 1 && strstr(err, "QLENS_LLAMA_LIB"),
              "QLENS_LLAMA_LIB: exit %d: %s", rc, err ? err : "");
    free(err);
    /* an unknown engine is a usage error */
    snprintf(args, sizeof args, "perplexity --engine vllm -m %s -f %s", SMOLLM2,
             ql_test_shared_path(WIKI));
    err = NULL;
    CHECK(ql_test_run_qlens(args, NULL, &err) != 0 && err && strstr(err, "--engine"));
    free(err);
}

/*
 * The engine tokenizes with llama.cpp's tokenizer, qlens's engine with its
 * own: on these models and this text they must give the same tokens, which is
 * what lets a reference made by one engine be scored by the other.
 */
static void check_same_tokens(ql_test_ctx *t, const char *model) {
    char why[1200];
    if (!have_llama(why, sizeof why)) SKIP("%s", why);
    if (access(model, R_OK) != 0) SKIP("%s is not there (scripts/fetch-models.sh)", model);
    size_t len = 0;
    char *text = (char *)ql_test_read_file(ql_test_shared_path(WIKI), &len);
    REQUIRE_MSG(text, "cannot read %s", WIKI);
    ql_error err = {0};
    gguf_file *f = NULL;
    tok_vocab *v = NULL;
    REQUIRE_MSG(!gguf_open(model, &f, &err) && !tok_load(f, &v, &err), "%s", err.msg);
    int32_t *ours = NULL;
    size_t n_ours = 0;
    REQUIRE_MSG(!tok_encode(v, text, len, true, false, &ours, &n_ours, &err), "%s", err.msg);
    /* vocab only would do, but the engine's handle loads the model: a small context */
    const ql_llama_params lp = {.model_path = model,
                                .n_gpu_layers = 0,
                                .no_repack = true,
                                .n_ctx = 64,
                                .n_batch = 64,
                                .n_ubatch = 64,
                                .n_threads = 1,
                                .type_k = 1,
                                .type_v = 1,
                                .flash_attn = -1};
    ql_llama *l = NULL;
    REQUIRE_MSG(!ql_llama_open(&lp, &l, &err), "%s", err.msg);
    int32_t *theirs = NULL;
    int64_t n_theirs = 0;
    CHECK_MSG(!ql_llama_tokenize(l, text, len, &theirs, &n_theirs, &err), "%s", err.msg);
    CHECK_MSG((size_t)n_theirs == n_ours, "%s: llama.cpp %lld tokens, qlens %zu", model,
              (long long)n_theirs, n_ours);
    size_t first_diff = n_ours;
    for (size_t i = 0; i < n_ours && i < (size_t)n_theirs; i++)
        if (ours[i] != theirs[i]) {
            first_diff = i;
            break;
        }
    CHECK_MSG(first_diff == n_ours, "%s: token %zu differs: llama.cpp %d, qlens %d", model,
              first_diff, first_diff < n_ours ? theirs[first_diff] : 0,
              first_diff < n_ours ? ours[first_diff] : 0);
    CHECK(ql_llama_add_bos(l) == tok_add_bos(v) && ql_llama_bos(l) == tok_bos(v));
    printf("%s: %zu tokens, the same from both tokenizers\n", model, n_ours);
    free(theirs);
    ql_llama_close(l);
    free(ours);
    tok_free(v);
    gguf_close(f);
    free(text);
}

QL_TEST(llama_engine_same_tokens_smollm2) {
    check_same_tokens(t, SMOLLM2);
}

QL_TEST(llama_engine_same_tokens_gemma3) {
    check_same_tokens(t, GEMMA3);
}

/* The public API's qlens_perplexity_llama: the same numbers as the CLI's engine. */
QL_TEST(llama_engine_public_api) {
    char why[1200];
    if (!have_llama(why, sizeof why)) SKIP("%s", why);
    if (access(SMOLLM2, R_OK) != 0) SKIP("%s is not there (scripts/fetch-models.sh)", SMOLLM2);
    size_t len = 0;
    char *text = (char *)ql_test_read_file(short_text(t), &len);
    REQUIRE_MSG(text, "cannot read the text");
    qlens_error err = {0};
    qlens_model *m = NULL;
    REQUIRE_MSG(qlens_model_open(SMOLLM2, &m, &err) == QLENS_OK, "%s", err.msg);
    int32_t *ids = NULL;
    size_t n = 0;
    REQUIRE_MSG(qlens_tokenize(m, text, len, 1, &ids, &n, &err) == QLENS_OK, "%s", err.msg);
    qlens_eval_params p;
    qlens_eval_params_default(&p);
    p.n_ctx = 512;
    p.n_chunks = 4;
    p.n_threads = 2;
    const qlens_llama_options lo = {.no_repack = 1};
    qlens_ppl ppl = {0};
    CHECK_MSG(qlens_perplexity_llama(m, &p, &lo, ids, n, &ppl, &err) == QLENS_OK, "%s", err.msg);
    /* tests/data/llama-engine.tsv, SmolLM2 f16: Final estimate: PPL = 24.0552 +/- 2.42382 */
    char got[96];
    snprintf(got, sizeof got, "PPL = %.4f +/- %.5f", ppl.ppl, ppl.ppl_unc);
    CHECK_MSG(strcmp(got, "PPL = 24.0552 +/- 2.42382") == 0, "qlens_perplexity_llama: %s", got);
    CHECK(ppl.n_chunks == 4 && ppl.n_scored == 4 * 255);
    /* a library that is not libllama is an error, not a crash */
    const qlens_llama_options bad = {.lib_path = "/nonexistent/libllama.so"};
    CHECK(qlens_perplexity_llama(m, &p, &bad, ids, n, &ppl, &err) != QLENS_OK &&
          strstr(err.msg, "cannot load libllama"));
    p.kv_rotate = "on";
    CHECK(qlens_perplexity_llama(m, &p, &lo, ids, n, &ppl, &err) != QLENS_OK);
    qlens_free(ids);
    qlens_model_close(m);
    free(text);
}

/*
 * --kv-rotate off reaches llama.cpp (LLAMA_ATTN_ROT_DISABLE): on a q4_0 cache
 * both engines give the same numbers with the rotation and without it, and
 * the two differ.
 */
QL_TEST(llama_engine_rotation_switch) {
    char why[1200];
    if (!have_llama(why, sizeof why)) SKIP("%s", why);
    if (access(SMOLLM2, R_OK) != 0) SKIP("%s is not there (scripts/fetch-models.sh)", SMOLLM2);
    char final_line[2][2][128];
    const char *text = short_text(t);
    const char *engines[2] = {"qlens", "llama.cpp"}, *modes[2] = {"auto", "off"};
    for (int e = 0; e < 2; e++)
        for (int r = 0; r < 2; r++) {
            char args[2048];
            snprintf(args, sizeof args,
                     "perplexity --engine %s -m %s -f %s -c 128 --chunks 2 -t 2 --no-repack "
                     "-ctk q4_0 -ctv q4_0 --kv-rotate %s",
                     engines[e], SMOLLM2, text, modes[r]);
            char *out = NULL;
            const int rc = ql_test_run_qlens(args, &out, NULL);
            const char *f = out ? strstr(out, "Final estimate") : NULL;
            CHECK_MSG(rc == 0 && f, "%s: exit %d: %s", args, rc, out ? out : "");
            snprintf(final_line[e][r], sizeof final_line[e][r], "%.*s",
                     f ? (int)strcspn(f, "\n") : 0, f ? f : "");
            free(out);
        }
    for (int r = 0; r < 2; r++)
        CHECK_MSG(strcmp(final_line[0][r], final_line[1][r]) == 0,
                  "--kv-rotate %s: qlens '%s', llama.cpp '%s'", modes[r], final_line[0][r],
                  final_line[1][r]);
    CHECK_MSG(strcmp(final_line[1][0], final_line[1][1]) != 0,
              "llama.cpp: the same numbers with and without the rotation: %s", final_line[1][0]);
}

/*
 * A sweep mixing the engines: the same weights and cache on qlens and on
 * llama.cpp are two rows of one table, and here the same numbers.
 */
QL_TEST(llama_engine_sweep_mixes_engines) {
    char why[1200];
    if (!have_llama(why, sizeof why)) SKIP("%s", why);
    if (access(SMOLLM2, R_OK) != 0) SKIP("%s is not there (scripts/fetch-models.sh)", SMOLLM2);
    const char *dir = ql_test_tmpdir(t);
    char args[2048];
    snprintf(args, sizeof args,
             "sweep --ref %s --weights %s --cache f16/f16,f16/f16@llama.cpp -f %s -c 256 "
             "--chunks 2 -t 2 --no-repack --out %s/sweep",
             SMOLLM2, SMOLLM2, short_text(t), dir);
    char *out = NULL, *err = NULL;
    const int rc = ql_test_run_qlens(args, &out, &err);
    CHECK_MSG(rc == 0, "%s: exit %d: %s", args, rc, err ? err : "");
    char path[1024];
    snprintf(path, sizeof path,
             "%s/sweep/runs/SmolLM2-135M-Instruct.Q4_1.gguf__f16_f16__llama.cpp.json", dir);
    char *json = (char *)ql_test_read_file(path, NULL);
    CHECK_MSG(json && strstr(json, "\"llama.cpp\""), "%s: no llama.cpp run", path);
    free(json);
    /* both rows, with the same PPL */
    const char *a = out ? strstr(out, "| 1 | SmolLM2-135M-Instruct.Q4_1.gguf") : NULL;
    const char *b = out ? strstr(out, "SmolLM2-135M-Instruct.Q4_1.gguf@llama.cpp (") : NULL;
    REQUIRE_MSG(a && b, "rows missing: %s", out ? out : "");
    const char *pa = strstr(a, "| 27."), *pb = strstr(b, "| 27.");
    CHECK_MSG(pa && pb && strncmp(pa, pb, 20) == 0, "the rows differ: %.300s / %.300s", a, b);
    free(out);
    free(err);
}
