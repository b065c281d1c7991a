/*
 * test_public_api.c - include/qlens.h as a user sees it: only the public
 * header, numbers against llama.cpp's golden ones; and the installed
 * library (make install into a temporary prefix) linked into the example
 * program through its pkg-config file.
 */
#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "qlens.h"
#include "test.h"

QL_TEST(public_api_perplexity_and_kld) {
    qlens_error err;
    qlens_model *m;
    REQUIRE_MSG(qlens_model_open(ql_test_synth_model("llama"), &m, &err) == QLENS_OK, "%s",
                err.msg);
    qlens_model_info info;
    qlens_model_get_info(m, &info);
    CHECK(strcmp(info.arch, "llama") == 0);
    CHECK_EQ_INT(info.n_vocab, 50257);
    CHECK_EQ_INT(info.n_layer, 4);
    /* f16 K and V, 2 KV heads of 64, 4 layers, 1000 positions */
    CHECK_EQ_INT(qlens_kv_cache_bytes(m, "f16", "f16", 1000), 4ull * 1000 * 2 * 2 * 64 * 2);
    CHECK_EQ_INT(qlens_kv_cache_bytes(m, "bogus", "f16", 1000), 0);

    size_t len;
    char path[1024];
    snprintf(path, sizeof path, "%s/data/wikitext-2-raw/wiki.test.raw", ql_test_shared_dir());
    char *text = (char *)ql_test_read_file(path, &len);
    REQUIRE(text);
    int32_t *ids;
    size_t n;
    REQUIRE(qlens_tokenize(m, text, len, 1, &ids, &n, &err) == QLENS_OK);
    free(text);
    qlens_eval_params p;
    qlens_eval_params_default(&p);
    p.n_ctx = 128;
    p.n_chunks = 8;
    char ref[512];
    snprintf(ref, sizeof ref, "%s/api.qlref", ql_test_tmpdir(t));
    qlens_ppl ppl;
    REQUIRE_MSG(qlens_perplexity(m, &p, ids, n, ref, &ppl, &err) == QLENS_OK, "%s", err.msg);
    /* llama.cpp: 192748.6765 (golden/synth/ppl.tsv) */
    CHECK_MSG(fabs(log(ppl.ppl / 192748.6765)) <= 1e-3, "PPL %.4f", ppl.ppl);
    CHECK_EQ_INT(ppl.n_scored, 8 * 63);
    p.cache_type_k = p.cache_type_v = "q8_0";
    p.kv_hadamard = "dense"; /* as the llama.cpp that made the golden data rotated */
    qlens_kld kld;
    REQUIRE_MSG(qlens_kld_against_file(m, &p, ref, &kld, &err) == QLENS_OK, "%s", err.msg);
    /* llama.cpp: 0.000529 +/- 0.000012 (golden/synth/kld.tsv, q8_0/q8_0, rotation auto) */
    CHECK_MSG(fabs(kld.kld - 0.000529) <= 2 * 0.000012 + 5e-7, "KLD %.6f", kld.kld);
    CHECK_NEAR(kld.ppl_base, ppl.ppl, 1e-6 * ppl.ppl);
    p.cache_type_k = "nonsense";
    CHECK(qlens_kld_against_file(m, &p, ref, &kld, &err) == QLENS_ERR_ARG);
    CHECK(strstr(err.msg, "q8_0") != NULL);
    qlens_free(ids);
    qlens_model_close(m);
    CHECK(qlens_model_open("does/not/exist.gguf", &m, &err) == QLENS_ERR_IO);
    CHECK(m == NULL);
}

/* Runs a shell command and returns its stdout (malloc'd) and exit status. */
static char *run_cmd(const char *cmd, int *status) {
    FILE *p = popen(cmd, "r");
    if (!p) return NULL;
    size_t cap = 4096, n = 0;
    char *buf = malloc(cap);
    for (size_t got; buf && (got = fread(buf + n, 1, cap - n - 1, p)) > 0;) {
        n += got;
        if (cap - n < 2) buf = realloc(buf, cap *= 2);
    }
    if (buf) buf[n] = '\0';
    *status = pclose(p);
    return buf;
}

QL_TEST(public_api_installed_library_links) {
    const char *dir = ql_test_tmpdir(t);
    char cmd[10000];
    /* the plain build, whatever build runs the tests: `make test SANITIZE=1` passes SANITIZE=1
     * down through MAKEFLAGS, and a sanitized library needs the sanitizer runtimes to link */
    snprintf(cmd, sizeof cmd,
             "make -s install SANITIZE= PORTABLE= PREFIX=$(pwd)/%s/prefix >/dev/null 2>&1", dir);
    REQUIRE_MSG(system(cmd) == 0, "make install failed");
    /* the shared library exports the qlens_ functions and nothing else, and so does the static
       one (its internal gguf_*, tok_* ... would clash with ggml's in a program using both) */
    int status;
    snprintf(cmd, sizeof cmd, "nm -D --defined-only %s/prefix/lib/libqlens.so | awk '{print $3}'",
             dir);
    char *names = run_cmd(cmd, &status);
    REQUIRE(names && status == 0);
    int exported = 0;
    for (char *line = strtok(names, "\n"); line; line = strtok(NULL, "\n")) {
        CHECK_MSG(strncmp(line, "qlens_", 6) == 0, "libqlens.so exports %s", line);
        exported++;
    }
    CHECK_MSG(exported >= 14, "%d symbols exported", exported);
    free(names);
    snprintf(cmd, sizeof cmd,
             "nm -g --defined-only %s/prefix/lib/libqlens.a | awk 'NF == 3 {print $3}'", dir);
    names = run_cmd(cmd, &status);
    REQUIRE(names && status == 0);
    for (char *line = strtok(names, "\n"); line; line = strtok(NULL, "\n"))
        CHECK_MSG(strncmp(line, "qlens_", 6) == 0, "libqlens.a defines %s globally", line);
    free(names);
    /* flags from the installed .pc file, as pkg-config would give them */
    const char *pc =
        "P=%s/prefix; pc=$P/lib/pkgconfig/qlens.pc; "
        "cflags=$(sed -n 's/^Cflags: //p' $pc | sed \"s|\\${includedir}|$P/include|\"); "
        "libs=$(sed -n 's/^Libs: //p' $pc | sed \"s|\\${libdir}|$P/lib|\"); ";
    char prefix[2048];
    snprintf(prefix, sizeof prefix, pc, dir);
    /* the example against the shared library, and against the static one next to a program
       that has its own gguf_open and tok_load, as a program linking ggml would */
    snprintf(cmd, sizeof cmd,
             "%s cc -std=c11 -Wall -Werror examples/perplexity.c $cflags $libs -o %s/example && "
             "printf 'int gguf_open(void);\\nint gguf_open(void) { return 42; }\\nint "
             "tok_load(void);\\nint tok_load(void) { return 7; }\\n' > %s/ggml_like.c && "
             "cc -std=c11 -Wall -Werror examples/perplexity.c %s/ggml_like.c $cflags "
             "$P/lib/libqlens.a -lm -ldl -pthread -o %s/example-static",
             prefix, dir, dir, dir, dir);
    REQUIRE_MSG(system(cmd) == 0, "the example does not build against the installed library");
    /* the installed library is built for a generic x86-64: no F16C, so f16 weights convert in
       software and are slow there; a Q8_0 model and a short text keep this test short */
    snprintf(cmd, sizeof cmd,
             "%s quantize %s %s/q8.gguf Q8_0 >/dev/null && head -c 20000 "
             "%s/data/wikitext-2-raw/wiki.test.raw > %s/short.txt",
             ql_test_qlens_bin(), ql_test_synth_model("qwen2"), dir, ql_test_shared_dir(), dir);
    REQUIRE(system(cmd) == 0);
    const char *variants[] = {"LD_LIBRARY_PATH=prefix/lib ./example", "./example-static"};
    for (int v = 0; v < 2; v++) {
        snprintf(cmd, sizeof cmd, "cd %s && %s q8.gguf short.txt 32 2", dir, variants[v]);
        char *buf = run_cmd(cmd, &status);
        CHECK_MSG(status == 0 && buf && strstr(buf, "PPL = ") && strstr(buf, "KLD = "), "%s: %s",
                  variants[v], buf ? buf : "");
        free(buf);
    }
    /* the second example: lockstep KLD with progress, percentiles and the planner */
    snprintf(
        cmd, sizeof cmd,
        "%s cc -std=c11 -Wall -Wextra -Werror examples/kld_plan.c $cflags $libs -o %s/kld_plan "
        "&& cd %s && LD_LIBRARY_PATH=prefix/lib ./kld_plan q8.gguf q8.gguf short.txt 32 2 256 "
        "1000 2>/dev/null",
        prefix, dir, dir);
    char *tour = run_cmd(cmd, &status);
    CHECK_MSG(status == 0 && tour && strstr(tour, "KLD ") && strstr(tour, "99.9%") &&
                  strstr(tour, "q4_0/q4_0 at 1000 tokens: weights"),
              "kld_plan: %s", tour ? tour : "");
    free(tour);
    /* the shared one is the installed library's own: ldd names it */
    snprintf(cmd, sizeof cmd, "cd %s && LD_LIBRARY_PATH=prefix/lib ldd ./example", dir);
    char *ldd = run_cmd(cmd, &status);
    CHECK_MSG(ldd && strstr(ldd, "prefix/lib/libqlens.so.0"), "%s", ldd ? ldd : "");
    free(ldd);
}

static int32_t *wiki_tokens(ql_test_ctx *t, qlens_model *m, size_t *n) {
    size_t len;
    char path[1024];
    snprintf(path, sizeof path, "%s/data/wikitext-2-raw/wiki.test.raw", ql_test_shared_dir());
    char *text = (char *)ql_test_read_file(path, &len);
    if (!text) {
        ql_test_failf(t, __FILE__, __LINE__, "cannot read %s", path);
        return NULL;
    }
    int32_t *ids = NULL;
    qlens_error err;
    if (qlens_tokenize(m, text, len, 1, &ids, n, &err) != QLENS_OK)
        ql_test_failf(t, __FILE__, __LINE__, "%s", err.msg);
    free(text);
    return ids;
}

QL_TEST(public_api_refuses_null_arguments_up_front) {
    qlens_error err;
    qlens_model *m;
    REQUIRE(qlens_model_open(ql_test_synth_model("llama"), &m, &err) == QLENS_OK);
    size_t n;
    int32_t *ids = wiki_tokens(t, m, &n);
    REQUIRE(ids);
    qlens_eval_params p;
    qlens_eval_params_default(&p);
    p.n_ctx = 64;
    p.n_chunks = 2;
    char ref[512];
    snprintf(ref, sizeof ref, "%s/r.qlref", ql_test_tmpdir(t));
    /* the call that crashed after the whole evaluation: refused before it, naming the argument */
    CHECK(qlens_perplexity(m, &p, ids, n, ref, NULL, &err) == QLENS_OK); /* out may be NULL */
    qlens_kld k;
    CHECK(qlens_kld_against_file(m, &p, ref, NULL, &err) == QLENS_ERR_ARG);
    CHECK_MSG(strstr(err.msg, "qlens_kld_against_file: out is NULL") != NULL, "%s", err.msg);
    CHECK(qlens_kld_against_file(NULL, &p, ref, &k, &err) == QLENS_ERR_ARG);
    CHECK(qlens_kld_against_file(m, &p, NULL, &k, &err) == QLENS_ERR_ARG);
    CHECK(qlens_kld_lockstep(m, NULL, m, &p, ids, n, NULL, &err) == QLENS_ERR_ARG);
    CHECK(qlens_kld_lockstep(NULL, NULL, m, &p, ids, n, &k, &err) == QLENS_ERR_ARG);
    CHECK(qlens_kld_lockstep(m, NULL, m, &p, NULL, n, &k, &err) == QLENS_ERR_ARG);
    CHECK(qlens_perplexity(NULL, &p, ids, n, NULL, NULL, &err) == QLENS_ERR_ARG);
    CHECK(qlens_perplexity(m, &p, NULL, n, NULL, NULL, &err) == QLENS_ERR_ARG);
    qlens_model *none = m;
    CHECK(qlens_model_open(NULL, &none, NULL) == QLENS_ERR_ARG); /* err may be NULL */
    CHECK(none == NULL);
    CHECK(qlens_model_open("x.gguf", NULL, &err) == QLENS_ERR_ARG);
    int32_t *ids2;
    size_t n2;
    CHECK(qlens_tokenize(m, NULL, 3, 1, &ids2, &n2, &err) == QLENS_ERR_ARG);
    CHECK(qlens_tokenize(m, "abc", 3, 1, NULL, &n2, &err) == QLENS_ERR_ARG);
    CHECK(qlens_tokenize(m, "abc", 3, 1, &ids2, NULL, &err) == QLENS_ERR_ARG);
    CHECK(qlens_tokenize(NULL, "abc", 3, 1, &ids2, &n2, &err) == QLENS_ERR_ARG);
    CHECK(qlens_quantize(NULL, "o.gguf", "Q8_0", 1, 0, &err) == QLENS_ERR_ARG);
    CHECK(qlens_quantize(ref, NULL, "Q8_0", 1, 0, &err) == QLENS_ERR_ARG);
    qlens_memory mem;
    CHECK(qlens_plan_memory(m, "f16", "f16", 100, 0, NULL, &err) == QLENS_ERR_ARG);
    CHECK(qlens_plan_memory(NULL, "f16", "f16", 100, 0, &mem, &err) == QLENS_ERR_ARG);
    CHECK(qlens_plan_memory(m, NULL, "f16", 100, 0, &mem, &err) == QLENS_ERR_ARG);
    CHECK(qlens_plan_max_ctx(m, "f16", "f16", 1 << 30, 0, NULL, NULL, &err) == QLENS_ERR_ARG);
    CHECK_EQ_INT(qlens_kv_cache_bytes(NULL, "f16", "f16", 100), 0);
    /* those documented as doing nothing with NULL do nothing */
    qlens_model_get_info(NULL, NULL);
    qlens_model_get_info(m, NULL);
    qlens_eval_params_default(NULL);
    qlens_model_close(NULL);
    /* NULL parameters are the defaults: chunks of 512, as many as 1100 tokens hold (two) */
    qlens_ppl ppl;
    CHECK_MSG(qlens_perplexity(m, NULL, ids, 1100, NULL, &ppl, &err) == QLENS_OK, "%s", err.msg);
    CHECK_EQ_INT(ppl.n_chunks, 2);
    CHECK_EQ_INT(ppl.n_scored, 2 * (512 - 1 - 256));
    qlens_free(ids);
    qlens_model_close(m);
}

typedef struct {
    int calls;
    int64_t seen[16];
    int stop_after;
} progress_log;

static int on_progress(void *user, int64_t done, int64_t total) {
    progress_log *l = user;
    if (l->calls < 16) l->seen[l->calls] = done * 100 + total;
    l->calls++;
    return l->stop_after > 0 && l->calls >= l->stop_after;
}

QL_TEST(public_api_progress_cancels_percentiles_lockstep_and_planner) {
    qlens_error err;
    qlens_model *m, *q;
    REQUIRE(qlens_model_open(ql_test_synth_model("qwen3"), &m, &err) == QLENS_OK);
    REQUIRE(qlens_model_open(ql_test_synth_model("qwen3"), &q, &err) == QLENS_OK);
    size_t n;
    int32_t *ids = wiki_tokens(t, m, &n);
    REQUIRE(ids);
    const char *dir = ql_test_tmpdir(t);
    char ref[512];
    snprintf(ref, sizeof ref, "%s/r.qlref", dir);
    qlens_eval_params p;
    qlens_eval_params_default(&p);
    p.n_ctx = 64;
    p.n_chunks = 4;
    progress_log log = {0};
    p.progress = on_progress;
    p.progress_user = &log;
    qlens_ppl ppl;
    REQUIRE_MSG(qlens_perplexity(m, &p, ids, n, ref, &ppl, &err) == QLENS_OK, "%s", err.msg);
    CHECK_EQ_INT(log.calls, 4);
    for (int i = 0; i < 4; i++) CHECK_EQ_INT(log.seen[i], (i + 1) * 100 + 4);
    /* a callback that says stop after the second chunk */
    log = (progress_log){.stop_after = 2};
    p.cache_type_k = "q8_0";
    qlens_kld k;
    CHECK(qlens_kld_against_file(q, &p, ref, &k, &err) == QLENS_ERR_CANCELLED);
    CHECK_EQ_INT(err.code, QLENS_ERR_CANCELLED);
    CHECK_EQ_INT(log.calls, 2);
    log = (progress_log){.stop_after = 1};
    CHECK(qlens_kld_lockstep(m, NULL, q, &p, ids, n, &k, &err) == QLENS_ERR_CANCELLED);
    CHECK_EQ_INT(log.calls, 1);
    p.progress = NULL;

    /* against the file and in lockstep: the same numbers */
    qlens_kld lock;
    REQUIRE_MSG(qlens_kld_against_file(q, &p, ref, &k, &err) == QLENS_OK, "%s", err.msg);
    REQUIRE_MSG(qlens_kld_lockstep(m, NULL, q, &p, ids, n, &lock, &err) == QLENS_OK, "%s", err.msg);
    CHECK_MSG(memcmp(&k, &lock, sizeof k) == 0, "lockstep KLD %.17g, file %.17g", lock.kld, k.kld);
    CHECK_EQ_INT(k.n_scored, 4 * 31);

    /* the percentiles, from the per-token KLD of the CLI's JSON of the same run, interpolated
       as llama-perplexity does (the fraction in f32) */
    char args[4096], path[1024];
    snprintf(path, sizeof path, "%s/k.json", dir);
    snprintf(args, sizeof args,
             "perplexity -m %s --kl-divergence-base %s --kl-divergence -ctk q8_0 --json %s",
             ql_test_synth_model("qwen3"), ref, path);
    REQUIRE(ql_test_run_qlens(args, NULL, NULL) == 0);
    size_t len;
    char *text = (char *)ql_test_read_file(path, &len);
    REQUIRE(text);
    char *kl = strstr(text, "\"kld\": [");
    REQUIRE(kl);
    float v[4 * 31];
    int nv = 0;
    for (char *c = kl + 8; nv < 4 * 31 && *c != ']'; c++) {
        v[nv++] = strtof(c, &c);
        if (*c == ']') break;
    }
    free(text);
    REQUIRE(nv == 4 * 31);
    for (int i = 1; i < nv; i++) /* sort */
        for (int j = i; j > 0 && v[j] < v[j - 1]; j--) {
            const float tmp = v[j];
            v[j] = v[j - 1], v[j - 1] = tmp;
        }
    const float fractions[] = {1.0f,  0.999f, 0.99f, 0.95f,  0.90f, 0.5f,
                               0.10f, 0.05f,  0.01f, 0.001f, 0.0f};
    const double got[] = {k.kld_max, k.kld_p999, k.kld_p99, k.kld_p95,  k.kld_p90, k.kld_median,
                          k.kld_p10, k.kld_p05,  k.kld_p01, k.kld_p001, k.kld_min};
    for (int i = 0; i < 11; i++) {
        float pos = fractions[i] * (float)(nv - 1);
        const int ip = (int)pos;
        pos -= (float)ip;
        const double want = (1 - pos) * v[ip] + pos * v[ip + 1 < nv ? ip + 1 : nv - 1];
        CHECK_MSG(fabs(got[i] - want) <= 1e-6 * fabs(want) + 1e-12, "percentile %g: %.9g vs %.9g",
                  (double)fractions[i], got[i], want);
    }
    CHECK(k.kld_min <= k.kld_median && k.kld_median <= k.kld_max);
    CHECK_NEAR(k.ppl_ratio, k.ppl_q / k.ppl_base, 1e-3 * k.ppl_ratio);

    /* the planner: every term, by hand (qwen3 synth: 4 layers, 2 KV heads of 64) */
    qlens_memory mem;
    REQUIRE(qlens_plan_memory(m, "q8_0", "q4_0", 1000, 0, &mem, &err) == QLENS_OK);
    /* q8_0 rows of 64: 2 x 34 bytes; q4_0: 2 x 18 */
    CHECK_EQ_INT(mem.kv_bytes, 4ull * 1000 * 2 * (68 + 36));
    CHECK_EQ_INT(mem.total_bytes, mem.weight_bytes + mem.kv_bytes + mem.work_bytes);
    qlens_model_info info;
    qlens_model_get_info(m, &info);
    CHECK_EQ_INT(mem.weight_bytes, info.weight_bytes);
    CHECK_EQ_INT(mem.n_ctx_train, info.n_ctx_train);
    int64_t max_ctx;
    int trained = -1;
    /* a budget for exactly 1000 tokens' cache, with the working buffers of a 512 micro-batch */
    qlens_memory at512;
    REQUIRE(qlens_plan_memory(m, "q8_0", "q4_0", 512, 0, &at512, &err) == QLENS_OK);
    const uint64_t budget = mem.weight_bytes + at512.work_bytes + mem.kv_bytes;
    REQUIRE(qlens_plan_max_ctx(m, "q8_0", "q4_0", budget, 0, &max_ctx, &trained, &err) == QLENS_OK);
    CHECK_EQ_INT(max_ctx, 1000);
    CHECK_EQ_INT(trained, 0);
    REQUIRE(qlens_plan_max_ctx(m, "q8_0", "q4_0", 1ull << 40, 0, &max_ctx, &trained, &err) ==
            QLENS_OK);
    CHECK_EQ_INT(max_ctx, info.n_ctx_train);
    CHECK_EQ_INT(trained, 1);
    CHECK(qlens_plan_memory(m, "q3_K", "f16", 10, 0, &mem, &err) == QLENS_ERR_ARG);
    qlens_free(ids);
    qlens_model_close(q);
    qlens_model_close(m);
}
