/*
 * test_determinism.c - results do not depend on the thread count: the same
 * command with -t 1, -t 2 and -t 3 writes byte-identical --json files (and
 * prints identical results), for perplexity, perplexity with a saved
 * reference, perplexity --kl-divergence and the lockstep kld command. Every
 * output element is reduced by one thread in a fixed order (see
 * docs/ARCHITECTURE.md); a reduction split by thread would show up here as a
 * difference in the last bits of a number.
 */
#include <stdlib.h>
#include <string.h>

#include "test.h"

static const char *wiki(void) {
    return ql_test_shared_path("data/wikitext-2-raw/wiki.test.raw");
}

static bool exists(const char *path) {
    FILE *f = fopen(path, "rb");
    if (f) fclose(f);
    return f != NULL;
}

/*
 * A run's JSON without what describes the run rather than its results: the
 * thread count and the timing object (one key per line, as qlens writes it).
 */
static unsigned char *without_run_facts(unsigned char *d, size_t *n) {
    if (!d) return NULL;
    size_t o = 0;
    int timing_depth = 0;
    for (size_t i = 0; i < *n;) {
        const unsigned char *nl = memchr(d + i, '\n', *n - i);
        const size_t len = nl ? (size_t)(nl - (d + i)) + 1 : *n - i;
        const char *line = (const char *)d + i;
        bool drop = timing_depth > 0;
        if (!drop && memmem(line, len, "\"timing\": {", 11))
            drop = true, timing_depth = 1;
        else if (timing_depth > 0 && memchr(line, '}', len))
            timing_depth = 0;
        if (memmem(line, len, "\"n_threads\":", 12)) drop = true;
        if (!drop) memmove(d + o, line, len), o += len;
        i += len;
    }
    *n = o;
    return d;
}

/* Whether two files hold the same bytes (JSON: run facts aside); says where they first differ. */
static bool same_file(ql_test_ctx *t, const char *a, const char *b) {
    size_t na, nb;
    unsigned char *da = ql_test_read_file(a, &na), *db = ql_test_read_file(b, &nb);
    if (strstr(a, ".json")) {
        da = without_run_facts(da, &na);
        db = without_run_facts(db, &nb);
    }
    bool same = da && db && na == nb && memcmp(da, db, na) == 0;
    if (!same && da && db) {
        size_t i = 0;
        while (i < na && i < nb && da[i] == db[i]) i++;
        const size_t from = i > 60 ? i - 60 : 0;
        printf("%s and %s differ at byte %zu (sizes %zu, %zu):\n  %.120s\n  %.120s\n", a, b, i, na,
               nb, (const char *)da + from, (const char *)db + from);
    }
    CHECK_MSG(da && db, "cannot read %s or %s", a, b);
    free(da);
    free(db);
    return same;
}

/*
 * Runs `qlens ARGS -t N --json DIR/NAME.json` for N = 1, 2, 3 and checks
 * that the JSON files and stdout are identical. ARGS may name a second
 * output as "%OUT%", which becomes DIR/NAME.out (extra_ext given) and is
 * compared too. Outputs go to the same paths in every run (paths are part of
 * what qlens prints) and are renamed to NAME-N.* afterwards.
 */
static void check_thread_counts(ql_test_ctx *t, const char *dir, const char *name, const char *args,
                                bool extra_output) {
    char *first_out = NULL;
    char json[1200], extra[1200], expanded[6144];
    snprintf(json, sizeof json, "%s/%s.json", dir, name);
    snprintf(extra, sizeof extra, "%s/%s.out", dir, name);
    const char *p = args, *hit;
    size_t o = 0;
    while ((hit = strstr(p, "%OUT%")) && o < sizeof expanded - 1400) {
        o +=
            (size_t)snprintf(expanded + o, sizeof expanded - o, "%.*s%s", (int)(hit - p), p, extra);
        p = hit + 5;
    }
    snprintf(expanded + o, sizeof expanded - o, "%s", p);
    for (int n = 1; n <= 3; n++) {
        char cmd[8192], json_n[1300], extra_n[1300];
        snprintf(cmd, sizeof cmd, "%s -t %d --json %s", expanded, n, json);
        snprintf(json_n, sizeof json_n, "%s/%s-%d.json", dir, name, n);
        snprintf(extra_n, sizeof extra_n, "%s/%s-%d.out", dir, name, n);
        char *out, *err;
        const int rc = ql_test_run_qlens(cmd, &out, &err);
        CHECK_MSG(rc == 0, "'%s': exit %d: %s", cmd, rc, err);
        free(err);
        CHECK(rename(json, json_n) == 0);
        if (extra_output) CHECK(rename(extra, extra_n) == 0);
        if (n == 1) {
            first_out = out;
            continue;
        }
        CHECK_MSG(strcmp(out, first_out) == 0,
                  "%s: stdout with -t %d differs from -t 1:\n%s\n---\n%s", name, n, out, first_out);
        free(out);
        char a[1300];
        snprintf(a, sizeof a, "%s/%s-1.json", dir, name);
        CHECK_MSG(same_file(t, a, json_n), "%s: --json with -t %d differs from -t 1", name, n);
        if (extra_output) {
            snprintf(a, sizeof a, "%s/%s-1.out", dir, name);
            CHECK_MSG(same_file(t, a, extra_n), "%s: %s with -t %d differs from -t 1", name, extra,
                      n);
        }
    }
    free(first_out);
}

QL_TEST(determinism_perplexity_json_for_any_thread_count) {
    if (!exists(ql_test_synth_model("llama")) || !exists(ql_test_synth_model("gemma3")))
        SKIP("synthetic models not built (make synth)");
    const char *dir = ql_test_tmpdir(t);
    char d[1024], args[4096];
    snprintf(d, sizeof d, "%s", dir);
    /* f16 cache; micro-batches of 16 so that each chunk takes several forward steps */
    snprintf(args, sizeof args, "perplexity -m %s -f %s -c 64 --chunks 3 -ub 16",
             ql_test_synth_model("llama"), wiki());
    check_thread_counts(t, d, "ppl-llama", args, false);
    /* sliding-window layers, SentencePiece text, quantized and rotated caches */
    snprintf(args, sizeof args, "perplexity -m %s -f %s -c 96 --chunks 2 -ctk q8_0 -ctv q4_0",
             ql_test_synth_model("gemma3"), wiki());
    check_thread_counts(t, d, "ppl-gemma3", args, false);
    /* a hybrid MoE: recurrent state across micro-batches of 16, routed and shared experts */
    if (!exists(ql_test_synth_model("qwen35moe"))) return;
    snprintf(args, sizeof args,
             "perplexity -m %s -f %s -c 64 --chunks 2 -ub 16 -ctk q8_0 -ctv q4_0",
             ql_test_synth_model("qwen35moe"), wiki());
    check_thread_counts(t, d, "ppl-qwen35moe", args, false);
}

QL_TEST(determinism_kl_divergence_json_for_any_thread_count) {
    if (!exists(ql_test_synth_model("qwen3"))) SKIP("synthetic models not built (make synth)");
    const char *dir = ql_test_tmpdir(t);
    char d[1024], args[4096];
    snprintf(d, sizeof d, "%s", dir);
    const char *model = ql_test_synth_model("qwen3");
    /* the reference file itself is identical too */
    snprintf(args, sizeof args,
             "perplexity -m %s -f %s -c 64 --chunks 3 --kl-divergence-base %%OUT%%", model, wiki());
    check_thread_counts(t, d, "base", args, true);
    /* and so is every number compared against it */
    char ref[1200];
    snprintf(ref, sizeof ref, "%s/base-1.out", d);
    snprintf(args, sizeof args,
             "perplexity -m %s --kl-divergence-base %s --kl-divergence -ctk q4_0 -ctv q4_0 "
             "--kld-positions 4",
             model, ref);
    check_thread_counts(t, d, "kld-file", args, false);
}

QL_TEST(determinism_kld_lockstep_json_for_any_thread_count) {
    if (!exists(ql_test_synth_model("qwen2"))) SKIP("synthetic models not built (make synth)");
    const char *dir = ql_test_tmpdir(t);
    char d[1024], args[4096];
    snprintf(d, sizeof d, "%s", dir);
    const char *model = ql_test_synth_model("qwen2");
    snprintf(args, sizeof args,
             "kld --ref %s -m %s -f %s -c 64 --chunks 3 -ctk q5_1 -ctv iq4_nl --kld-positions 3",
             model, model, wiki());
    check_thread_counts(t, d, "kld-lockstep", args, false);
}
