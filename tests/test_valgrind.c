/*
 * test_valgrind.c - a small perplexity run (with a saved reference read back
 * and compared, quantized and rotated caches, JSON output) and small quantize
 * runs under valgrind's memcheck: no invalid reads or writes, no use of
 * uninitialised values, no definitely lost memory.
 *
 * valgrind emulates no AVX-512, so it cannot run a -march=native build on a
 * CPU that has it; these tests run the portable build (build/portable/qlens,
 * which `make test` builds when valgrind is installed; QLENS_VALGRIND_BIN
 * overrides it). The model is a small one built here, so that the run takes
 * seconds under valgrind's ~50x slowdown while still passing through every
 * stage: tokenizer, forward pass, KV cache, logits, statistics, writers.
 */
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include "model_builder.h"
#include "test.h"

static const char *valgrind_bin(void) {
    const char *env = getenv("QLENS_VALGRIND_BIN");
    return env && *env ? env : "build/portable/qlens";
}

/* Skips unless valgrind and a binary it can run are there. */
static bool ready(ql_test_ctx *t) {
    if (system("command -v valgrind >/dev/null 2>&1") != 0) {
        ql_test_skip(t, "valgrind is not installed");
        return false;
    }
    struct stat sb;
    if (stat(valgrind_bin(), &sb) != 0) {
        ql_test_skip(t, "%s is not built (make PORTABLE=1 %s)", valgrind_bin(), valgrind_bin());
        return false;
    }
    return true;
}

/*
 * Runs `valgrind BIN ARGS`: memcheck errors and definite leaks make valgrind
 * exit 99 and print a report, which the failure message shows.
 */
static void memcheck(ql_test_ctx *t, const char *dir, const char *args) {
    static int runs; /* one log per command, kept for reading */
    char log[1200], cmd[8192];
    snprintf(log, sizeof log, "%s/valgrind-%d.log", dir, ++runs);
    snprintf(cmd, sizeof cmd,
             "valgrind --tool=memcheck --error-exitcode=99 --leak-check=full "
             "--errors-for-leak-kinds=definite --show-leak-kinds=definite --track-origins=yes "
             "--log-file=%s %s %s >/dev/null 2>%s/stderr.txt </dev/null",
             log, valgrind_bin(), args, dir);
    const int rc = system(cmd);
    const int status = rc != -1 && WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
    char *report = (char *)ql_test_read_file(log, NULL);
    CHECK_MSG(status == 0, "valgrind qlens %s: exit status %d\n%s", args, status,
              report ? report : "(no valgrind log)");
    /* the summary line says so even when the exit status cannot (an error in a child) */
    CHECK_MSG(report &&
                  (strstr(report, "ERROR SUMMARY: 0 errors") || !strstr(report, "ERROR SUMMARY")),
              "valgrind reported errors:\n%s", report ? report : "");
    free(report);
    printf("valgrind qlens %s: clean\n", args);
}

static bool build_small_model(ql_test_ctx *t, const char *path) {
    /* a four-head, two-KV-head llama with rows of 256 (k-quant blocks fit) and the seed
     * corpus's 14-token byte-level BPE vocabulary */
    ql_test_model_shape shape = {
        "llama", 256, 4, 2, 64, 512, 2, "tests/fuzz/corpus/gguf/tiny-llama-bpe.gguf", 0};
    const bool ok = ql_test_build_model(path, &shape);
    CHECK_MSG(ok, "cannot build %s", path);
    return ok;
}

static bool write_text(ql_test_ctx *t, const char *path) {
    /* only characters the tiny vocabulary has, so every token is a real one */
    char text[4096];
    size_t n = 0;
    while (n + 40 < sizeof text)
        n += (size_t)snprintf(text + n, sizeof text - n, "Hello world, Hello1 w ll o, ");
    const bool ok = ql_test_write_file(path, text, n);
    CHECK(ok);
    return ok;
}

QL_TEST(valgrind_perplexity_is_memcheck_clean) {
    if (!ready(t)) return;
    const char *dir = ql_test_tmpdir(t);
    char d[512], model[600], text[600], args[4096];
    snprintf(d, sizeof d, "%s", dir);
    snprintf(model, sizeof model, "%s/small.gguf", d);
    snprintf(text, sizeof text, "%s/text.txt", d);
    if (!build_small_model(t, model) || !write_text(t, text)) return;
    snprintf(
        args, sizeof args,
        "perplexity -m %s -f %s -c 32 --chunks 2 -ub 16 -t 2 --kl-divergence-base %s/base.qlref "
        "--json %s/ppl.json",
        model, text, d, d);
    memcheck(t, d, args);
    snprintf(args, sizeof args,
             "perplexity -m %s --kl-divergence-base %s/base.qlref --kl-divergence -t 2 -ctk q8_0 "
             "-ctv q4_0 --kld-positions 2 --json %s/kld.json",
             model, d, d);
    memcheck(t, d, args);
}

QL_TEST(valgrind_quantize_is_memcheck_clean) {
    if (!ready(t)) return;
    const char *dir = ql_test_tmpdir(t);
    char d[512], model[600], args[4096];
    snprintf(d, sizeof d, "%s", dir);
    snprintf(model, sizeof model, "%s/small.gguf", d);
    if (!build_small_model(t, model)) return;
    /* a k-quant mixture (per-layer rules, q6_K output) and a legacy type */
    snprintf(args, sizeof args, "quantize -t 2 %s %s/q4km.gguf Q4_K_M", model, d);
    memcheck(t, d, args);
    /* requantizing a quantized file: dequantize, quantize again */
    snprintf(args, sizeof args, "quantize -t 2 --allow-requantize %s/q4km.gguf %s/q5_0.gguf Q5_0",
             d, d);
    memcheck(t, d, args);
}
