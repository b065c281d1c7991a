/*
 * test_results_json_facts.c - what every run's JSON says about the run: the
 * files it read (path and a sha256 that sha256sum agrees with), the engine,
 * the threads, the arithmetic variant, and where the time went.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "json_check.h"
#include "test.h"

static const char *wiki(void) {
    static char path[1024];
    snprintf(path, sizeof path, "%s/data/wikitext-2-raw/wiki.test.raw", ql_test_shared_dir());
    return path;
}

static jc_node *read_json(ql_test_ctx *t, const char *path) {
    size_t n;
    char *text = (char *)ql_test_read_file(path, &n);
    if (!text) {
        ql_test_failf(t, __FILE__, __LINE__, "cannot read %s", path);
        return NULL;
    }
    char why[256];
    jc_node *doc = jc_parse(text, n, why, sizeof why);
    if (!doc) ql_test_failf(t, __FILE__, __LINE__, "%s: %s", path, why);
    free(text);
    return doc;
}

/* sha256sum's digest of a file: the checksum a reader would compute. */
static bool sha256sum(const char *path, char hex[65]) {
    char cmd[2048];
    snprintf(cmd, sizeof cmd, "sha256sum '%s'", path);
    FILE *p = popen(cmd, "r");
    if (!p) return false;
    const bool ok = fscanf(p, "%64s", hex) == 1;
    return pclose(p) == 0 && ok;
}

static void check_input(ql_test_ctx *t, const jc_node *in, const char *path, const char *format) {
    CHECK_MSG(in && in->kind == JC_OBJECT, "no input for %s", path);
    if (!in || in->kind != JC_OBJECT) return;
    CHECK_MSG(strcmp(jc_str(in, "path"), path) == 0, "path %s, expected %s", jc_str(in, "path"),
              path);
    CHECK_MSG(strcmp(jc_str(in, "format"), format) == 0, "format %s", jc_str(in, "format"));
    char hex[65];
    REQUIRE(sha256sum(path, hex));
    const char *got = jc_str(in, "sha256");
    CHECK_MSG(got && strcmp(got, hex) == 0, "%s: sha256 %s, sha256sum says %s", path,
              got ? got : "null", hex);
}

/* What --numerics auto means on this CPU: half precision where it has AVX512-FP16. */
static const char *numerics_here(void) {
    FILE *f = fopen("/proc/cpuinfo", "r");
    char line[8192];
    bool fp16 = false;
    while (f && fgets(line, sizeof line, f) && !fp16)
        fp16 = strncmp(line, "flags", 5) == 0 && strstr(line, " avx512_fp16");
    if (f) fclose(f);
    return fp16 ? "fp16" : "f32";
}

static void check_run_facts(ql_test_ctx *t, const jc_node *doc, int threads, int64_t tokens) {
    CHECK(strcmp(jc_str(doc, "engine"), "qlens") == 0);
    const jc_node *config = jc_get(doc, "config") ? jc_get(doc, "config") : doc;
    CHECK_EQ_INT(jc_num(config, "n_threads"), threads);
    const char *numerics = jc_str(config, "numerics");
    CHECK_MSG(numerics && strcmp(numerics, numerics_here()) == 0, "numerics %s on a CPU for %s",
              numerics ? numerics : "(missing)", numerics_here());
    const jc_node *timing = jc_get(doc, "timing");
    REQUIRE(timing);
    const double load = jc_num(timing, "load_s"), eval = jc_num(timing, "eval_s");
    CHECK_MSG(load >= 0 && load < 600 && eval > 0 && eval < 600, "load %g s, eval %g s", load,
              eval);
    CHECK_EQ_INT(jc_num(timing, "tokens"), tokens);
    CHECK_NEAR(jc_num(timing, "tokens_per_s"), (double)tokens / eval, 1e-9 * tokens / eval);
}

QL_TEST(results_json_records_inputs_engine_threads_and_timing) {
    const char *dir = ql_test_tmpdir(t);
    char args[4096], *err, path[1024], ref[1024];
    snprintf(ref, sizeof ref, "%s/base.qlref", dir);
    /* perplexity, saving a reference: the text is its input */
    snprintf(args, sizeof args,
             "perplexity -m %s -f %s -c 64 --chunks 3 -t 2 --kl-divergence-base %s --json "
             "%s/ppl.json",
             ql_test_synth_model("qwen2"), wiki(), ref, dir);
    REQUIRE_MSG(ql_test_run_qlens(args, NULL, &err) == 0, "%s", err);
    free(err);
    snprintf(path, sizeof path, "%s/ppl.json", dir);
    jc_node *doc = read_json(t, path);
    REQUIRE(doc);
    check_run_facts(t, doc, 2, 3 * 64);
    check_input(t, jc_get(jc_get(doc, "inputs"), "text"), wiki(), "text");
    CHECK(jc_get(jc_get(doc, "inputs"), "reference")->kind == JC_NULL);
    jc_free(doc);

    /* KL divergence against the file: the reference file is the input, the tokens are in it */
    snprintf(args, sizeof args,
             "perplexity -m %s --kl-divergence-base %s --kl-divergence -ctk q8_0 -t 1 --json "
             "%s/kld.json",
             ql_test_synth_model("qwen2"), ref, dir);
    REQUIRE_MSG(ql_test_run_qlens(args, NULL, &err) == 0, "%s", err);
    free(err);
    snprintf(path, sizeof path, "%s/kld.json", dir);
    doc = read_json(t, path);
    REQUIRE(doc);
    check_run_facts(t, doc, 1, 3 * 64);
    check_input(t, jc_get(jc_get(doc, "inputs"), "reference"), ref, "qlens");
    CHECK(jc_get(jc_get(doc, "inputs"), "text")->kind == JC_NULL);
    jc_free(doc);

    /* lockstep: the reference model and the text */
    snprintf(args, sizeof args,
             "kld --ref %s -m %s -f %s -c 64 --chunks 2 -ctv q4_0 -t 2 --json %s/lock.json",
             ql_test_synth_model("qwen2"), ql_test_synth_model("qwen2"), wiki(), dir);
    REQUIRE_MSG(ql_test_run_qlens(args, NULL, &err) == 0, "%s", err);
    free(err);
    snprintf(path, sizeof path, "%s/lock.json", dir);
    doc = read_json(t, path);
    REQUIRE(doc);
    check_run_facts(t, doc, 2, 2 * 64);
    check_input(t, jc_get(jc_get(doc, "inputs"), "reference"), ql_test_synth_model("qwen2"),
                "gguf");
    check_input(t, jc_get(jc_get(doc, "inputs"), "text"), wiki(), "text");
    jc_free(doc);

    /* a sweep's run files */
    snprintf(args, sizeof args,
             "sweep --ref %s --weights Q8_0 --cache q8_0/q8_0 -f %s -c 64 --chunks 2 --out "
             "%s/sweep -t 2",
             ql_test_synth_model("qwen2"), wiki(), dir);
    REQUIRE_MSG(ql_test_run_qlens(args, NULL, &err) == 0, "%s", err);
    free(err);
    snprintf(path, sizeof path, "%s/sweep/runs/Q8_0__q8_0_q8_0.json", dir);
    doc = read_json(t, path);
    REQUIRE(doc);
    check_run_facts(t, doc, 2, 2 * 64);
    snprintf(ref, sizeof ref, "%s/sweep/reference.qlref", dir);
    check_input(t, jc_get(jc_get(doc, "inputs"), "reference"), ref, "qlens");
    check_input(t, jc_get(jc_get(doc, "inputs"), "text"), wiki(), "text");
    jc_free(doc);
}
