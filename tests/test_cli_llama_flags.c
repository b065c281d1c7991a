/*
 * test_cli_llama_flags.c - habits brought from llama.cpp: a pasted
 * llama-perplexity command line runs and gives the same numbers, each flag
 * that has no effect says so in one note, --ppl-output-type 1 prints
 * llama-perplexity's per-chunk lines, and llama-quantize's positional thread
 * count works.
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

static int count_lines(const char *s, const char *prefix) {
    int n = 0;
    for (const char *p = s; p && *p; p = strchr(p, '\n'), p = p ? p + 1 : NULL)
        n += strncmp(p, prefix, strlen(prefix)) == 0;
    return n;
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

QL_TEST(cli_pasted_llama_perplexity_command_line_runs) {
    const char *dir = ql_test_tmpdir(t);
    char args[4096], *plain, *out, *err;
    /* the micro-batch changes the arithmetic (as in llama.cpp), so the same one throughout */
    snprintf(args, sizeof args, "perplexity -m %s -f %s -c 64 --chunks 3 -t 2 -ub 32",
             ql_test_synth_model("llama"), wiki());
    REQUIRE(ql_test_run_qlens(args, &plain, NULL) == 0);
    /* llama-perplexity's flags, -ub twice (the last wins, as there) and -tb for the threads */
    snprintf(args, sizeof args,
             "perplexity -m %s -f %s -c 64 --chunks 3 -ngl 99 -fa on --no-mmap --mlock --seed 42 "
             "-o %s/ignored.txt --ppl-stride 0 --ppl-output-type 0 -b 64 -ub 16 -ub 32 -tb 1 "
             "--json %s/run.json",
             ql_test_synth_model("llama"), wiki(), dir, dir);
    REQUIRE_MSG(ql_test_run_qlens(args, &out, &err) == 0, "%s", err);
    CHECK_MSG(strcmp(out, plain) == 0, "numbers differ:\n%s\nagainst\n%s", out, plain);
    /* one note per flag without effect: -ngl 99, --no-mmap, --mlock, --seed, -o (-fa on is
       what runs) */
    CHECK_MSG(count_lines(err, "qlens: note: ") == 5, "%s", err);
    const char *notes[] = {"-ngl 99 has no effect", "--no-mmap has no effect",
                           "--mlock has no effect", "--seed has no effect", "has no effect: llama"};
    for (size_t i = 0; i < sizeof notes / sizeof notes[0]; i++)
        CHECK_MSG(strstr(err, notes[i]) != NULL, "'%s' not in:\n%s", notes[i], err);
    CHECK_MSG(strstr(err, "1 threads") != NULL, "-tb 1 did not set the threads:\n%s", err);
    char path[1024];
    snprintf(path, sizeof path, "%s/ignored.txt", dir);
    CHECK_MSG(ql_test_read_file(path, NULL) == NULL, "-o wrote %s", path);
    snprintf(path, sizeof path, "%s/run.json", dir);
    jc_node *doc = read_json(t, path);
    if (doc) {
        CHECK_EQ_INT(jc_num(jc_get(doc, "config"), "n_ubatch"), 32);
        jc_free(doc);
    }
    free(out), free(err);

    /* -fa off and the bare -fa of older llama.cpp, --gpu-layers, --log-disable */
    snprintf(args, sizeof args, "perplexity -m %s -fa -f %s -c 64 --chunks 3 -ub 32 --gpu-layers 0",
             ql_test_synth_model("llama"), wiki());
    REQUIRE_MSG(ql_test_run_qlens(args, &out, &err) == 0, "%s", err);
    CHECK(strcmp(out, plain) == 0);
    CHECK_MSG(count_lines(err, "qlens: note: ") == 0, "%s", err);
    free(out), free(err);
    snprintf(args, sizeof args, "perplexity -m %s -f %s -c 64 --chunks 3 --flash-attn=off",
             ql_test_synth_model("llama"), wiki());
    REQUIRE_MSG(ql_test_run_qlens(args, &out, &err) == 0, "%s", err);
    CHECK_MSG(count_lines(err, "qlens: note: -fa off has no effect") == 1, "%s", err);
    free(out), free(err);
    snprintf(args, sizeof args,
             "perplexity -m %s -f %s -c 64 --chunks 3 -ub 32 --log-disable -ngl 99 --no-mmap",
             ql_test_synth_model("llama"), wiki());
    REQUIRE_MSG(ql_test_run_qlens(args, &out, &err) == 0, "%s", err);
    CHECK(strcmp(out, plain) == 0);
    CHECK_MSG(err[0] == '\0', "--log-disable, yet stderr has:\n%s", err);
    free(out), free(err);
    free(plain);

    /* what qlens cannot do is a usage error, one line */
    const char *refused[][2] = {
        {"--ppl-stride 16", "strided perplexity is not implemented"},
        {"--ppl-output-type 2", "out of range"},
        {"-ngl many", "not a number of layers"},
        {"--seed x", "not an integer"},
        {"--flash-attn=maybe", "not one of on|off|auto"},
    };
    for (size_t i = 0; i < sizeof refused / sizeof refused[0]; i++) {
        snprintf(args, sizeof args, "perplexity -m %s -f %s %s", ql_test_synth_model("llama"),
                 wiki(), refused[i][0]);
        const int rc = ql_test_run_qlens(args, &out, &err);
        const char *nl = strchr(err, '\n');
        CHECK_MSG(rc == 2 && strncmp(err, "qlens: error: ", 14) == 0 && nl && !nl[1] &&
                      strstr(err, refused[i][1]),
                  "%s: exit %d, %s", refused[i][0], rc, err);
        free(out), free(err);
    }
}

QL_TEST(cli_ppl_output_type_1_prints_llama_perplexity_lines) {
    const char *dir = ql_test_tmpdir(t);
    char args[4096], *out, *err;
    /* -b 128 at -c 64: llama-perplexity evaluates two chunks per batch and prints the batch's
       first position on both lines */
    snprintf(args, sizeof args,
             "perplexity -m %s -f %s -c 64 --chunks 4 -b 128 --ppl-output-type 1 --json %s/p.json",
             ql_test_synth_model("qwen2"), wiki(), dir);
    REQUIRE_MSG(ql_test_run_qlens(args, &out, &err) == 0, "%s", err);
    char path[1024];
    snprintf(path, sizeof path, "%s/p.json", dir);
    jc_node *doc = read_json(t, path);
    REQUIRE(doc);
    const jc_node *nll = jc_get(jc_get(doc, "tokens"), "nll");
    const jc_node *chunks = jc_get(doc, "chunks");
    REQUIRE(nll && chunks && chunks->n == 4);
    const int per_chunk = 64 - 1 - 32;
    const long long want_pos[4] = {0, 0, 128, 128};
    const char *line = out;
    for (int c = 0; c < 4; c++) {
        long long pos;
        double ppl, mean, spread;
        REQUIRE_MSG(sscanf(line, "%lld %lf %lf %lf", &pos, &ppl, &mean, &spread) == 4, "%s", out);
        /* llama-perplexity's layout: "%8d  %.4lf  %4lf  %4lf" */
        CHECK_MSG(line[8] == ' ' && line[9] == ' ' && line[10] != ' ', "%s", line);
        CHECK_EQ_INT(pos, want_pos[c]);
        /* the columns recomputed from the per-token NLL of the JSON */
        double sum = 0, sum2 = 0;
        const int n = (c + 1) * per_chunk;
        for (int i = 0; i < n; i++) {
            const double v = jc_at(nll, (size_t)i)->number;
            sum += v;
            sum2 += v * v;
        }
        const double m = sum / n, var = sum2 / n - m * m;
        CHECK_NEAR(mean, m, 1e-5 * fabs(m));
        CHECK_NEAR(spread, sqrt(var / (n - 1)), 1e-5);
        CHECK_NEAR(ppl, jc_num(jc_at(chunks, (size_t)c), "ppl"), 1e-4 * ppl);
        line = strchr(line, '\n');
        REQUIRE(line);
        line++;
    }
    /* then an empty line and the estimate, as llama-perplexity ends */
    CHECK_MSG(strncmp(line, "\nFinal estimate: PPL = ", 23) == 0, "%s", out);
    jc_free(doc);
    free(out), free(err);
}

QL_TEST(cli_quantize_takes_llama_quantize_positional_threads) {
    const char *dir = ql_test_tmpdir(t);
    char args[4096], *out, *err, a[1024], b[1024];
    snprintf(a, sizeof a, "%s/a.gguf", dir);
    snprintf(b, sizeof b, "%s/b.gguf", dir);
    snprintf(args, sizeof args, "quantize %s %s Q8_0 3", ql_test_synth_model("qwen3"), a);
    REQUIRE_MSG(ql_test_run_qlens(args, &out, &err) == 0, "%s", err);
    CHECK_MSG(strstr(out, "as Q8_0 (file type 7), 3 threads") != NULL, "%s", out);
    free(out), free(err);
    snprintf(args, sizeof args, "quantize -t 1 %s %s q8_0", ql_test_synth_model("qwen3"), b);
    REQUIRE_MSG(ql_test_run_qlens(args, &out, &err) == 0, "%s", err);
    free(out), free(err);
    size_t na, nb;
    unsigned char *fa = ql_test_read_file(a, &na), *fb = ql_test_read_file(b, &nb);
    CHECK_MSG(fa && fb && na == nb && memcmp(fa, fb, na) == 0, "3 threads and 1 differ");
    free(fa), free(fb);
    const char *refused[][2] = {
        {"Q8_0 0", "out of range"},
        {"Q8_0 two", "not an integer"},
        {"Q8_0 2 -t 3", "disagree"},
        {"Q8_0 2 extra", "too many arguments"},
    };
    for (size_t i = 0; i < sizeof refused / sizeof refused[0]; i++) {
        snprintf(args, sizeof args, "quantize %s %s/c.gguf %s", ql_test_synth_model("qwen3"), dir,
                 refused[i][0]);
        const int rc = ql_test_run_qlens(args, &out, &err);
        CHECK_MSG(rc == 2 && strstr(err, refused[i][1]) && !strchr(err, '\n')[1], "%s: exit %d, %s",
                  refused[i][0], rc, err);
        free(out), free(err);
    }
}
