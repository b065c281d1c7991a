/*
 * test_fuzz_regressions.c - the fuzz targets' inputs replayed by the
 * ordinary test build (and under the sanitizers by `make test SANITIZE=1`):
 * every seed in tests/fuzz/corpus/<target>/ and every input that once broke
 * a reader, kept in tests/fuzz/regressions/<target>/. A replayed input that
 * crashes, trips a sanitizer or breaks one of the target's promises fails
 * the test (fuzz_targets.c aborts), and the log names the file.
 *
 * The per-finding tests below also say what the reader must answer for
 * that input now, not just that it survives.
 */
#include <dirent.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "../src/core/regex.h"
#include "../src/eval/refstore.h"
#include "../src/gguf/gguf.h"
#include "../src/lab/journal.h"
#include "../src/model/model.h"
#include "../src/tokenizer/tokenizer.h"
#include "fuzz/fuzz_targets.h"
#include "test.h"

static int cmp_str(const void *a, const void *b) {
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Feeds every regular file of dir to the target in name order; returns how many. */
static int replay_dir(ql_test_ctx *t, const ql_fuzz_target *target, const char *dir) {
    DIR *d = opendir(dir);
    if (!d) return 0;
    char *names[4096];
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)) && n < 4096)
        if (e->d_name[0] != '.') names[n++] = strdup(e->d_name);
    closedir(d);
    qsort(names, (size_t)n, sizeof names[0], cmp_str);
    int replayed = 0;
    for (int i = 0; i < n; i++) {
        char path[2048];
        snprintf(path, sizeof path, "%s/%s", dir, names[i]);
        struct stat sb;
        size_t size;
        unsigned char *data;
        if (stat(path, &sb) == 0 && S_ISREG(sb.st_mode) &&
            (data = ql_test_read_file(path, &size))) {
            /* shown only if this input brings the test down */
            printf("replaying %s (%zu bytes) through %s\n", path, size, target->name);
            fflush(stdout);
            /* an exact-size copy, so the address sanitizer sees a read one byte past the end */
            unsigned char *exact = malloc(size ? size : 1);
            if (!exact) abort();
            memcpy(exact, data, size);
            target->run(exact, size);
            free(exact);
            free(data);
            replayed++;
        }
        free(names[i]);
    }
    t->checks++;
    return replayed;
}

QL_TEST(fuzz_corpora_and_regressions_replay_cleanly) {
    for (int i = 0; i < ql_fuzz_n_targets; i++) {
        const ql_fuzz_target *target = &ql_fuzz_targets[i];
        char dir[256];
        snprintf(dir, sizeof dir, "tests/fuzz/corpus/%s", target->name);
        const int seeds = replay_dir(t, target, dir);
        CHECK_MSG(seeds >= 2, "%s: %d seed inputs, expected a corpus", dir, seeds);
        snprintf(dir, sizeof dir, "tests/fuzz/regressions/%s", target->name);
        replay_dir(t, target, dir);
    }
}

static unsigned char *regression_input(ql_test_ctx *t, const char *target, const char *name,
                                       size_t *size) {
    char path[512];
    snprintf(path, sizeof path, "tests/fuzz/regressions/%s/%s", target, name);
    unsigned char *data = ql_test_read_file(path, size);
    CHECK_MSG(data != NULL, "cannot read %s", path);
    return data;
}

/*
 * Found by the gguf target: a model whose token_embd.weight had no rows (a
 * dimension mutated to 0) loaded, and every token of a text was then outside
 * its vocabulary. A model is now refused unless the embedding has one row per
 * token of its tokenizer, as llama.cpp requires.
 */
QL_TEST(fuzz_regression_gguf_model_with_no_vocabulary_rows) {
    size_t size;
    unsigned char *data = regression_input(t, "gguf", "model-with-no-vocabulary-rows.gguf", &size);
    if (!data) return;
    gguf_file *f;
    ql_error err;
    REQUIRE(gguf_open_memory(data, size, "no-rows.gguf", &f, &err) == QL_OK);
    ql_model *m = NULL;
    const ql_status st = ql_model_from_gguf(f, &m, &err);
    CHECK_MSG(st == QL_ERR_FORMAT && strstr(err.msg, "token_embd.weight has 0 rows"), "%d: %s", st,
              err.msg);
    if (st == QL_OK)
        ql_model_free(m);
    else
        gguf_close(f);
    free(data);
}

/*
 * Found by the tok_bpe target, a wrong promise rather than a wrong tokenizer:
 * falcon's vocabulary has no token for the byte 0x1d, and like llama.cpp
 * (llm_tokenizer_bpe_session drops a byte that is no token) qlens gives it
 * none, so a non-empty text can give no tokens. The target now promises at
 * most one token per byte instead.
 */
QL_TEST(fuzz_regression_tok_bpe_byte_without_token) {
    gguf_file *f;
    ql_error err;
    REQUIRE(gguf_open(ql_test_shared_path("golden/tokenizer/ggml-vocab-falcon.gguf"), &f, &err) ==
            QL_OK);
    tok_vocab *v;
    REQUIRE(tok_load(f, &v, &err) == QL_OK);
    gguf_close(f);
    int32_t *ids;
    size_t n;
    REQUIRE(tok_encode(v, "\x1d", 1, false, true, &ids, &n, &err) == QL_OK);
    CHECK_EQ_INT(n, 0);
    free(ids);
    REQUIRE(tok_encode(v,
                       "a\x1d"
                       "b",
                       3, false, false, &ids, &n, &err) == QL_OK);
    CHECK_MSG(n == 2 && ids[0] == 76 && ids[1] == 77, "a<0x1d>b: %zu tokens", n);
    free(ids);
    tok_free(v);
}

/*
 * Found by the tok_spm target, again a promise too tight: SentencePiece
 * (llama.cpp's too) writes spaces as U+2581 before cutting the text into
 * UTF-8 characters, so in "\xe1 ?" the lead byte 0xe1 claims the first two
 * bytes of the space's three, and the byte fallback spells all of them: one
 * input byte can become three tokens.
 */
QL_TEST(fuzz_regression_tok_spm_space_inside_malformed_utf8) {
    gguf_file *f;
    ql_error err;
    REQUIRE(gguf_open(ql_test_shared_path("golden/tokenizer/ggml-vocab-llama-spm.gguf"), &f,
                      &err) == QL_OK);
    tok_vocab *v;
    REQUIRE(tok_load(f, &v, &err) == QL_OK);
    gguf_close(f);
    size_t size;
    unsigned char *data = regression_input(t, "tok_spm", "space-inside-malformed-utf8", &size);
    REQUIRE(data && size == 8);
    int32_t *ids;
    size_t n;
    REQUIRE(tok_encode(v, (const char *)data + 1, size - 1, false, false, &ids, &n, &err) == QL_OK);
    /* "▁" <0xA2> <0xE1> <0xE2> <0x96> <0x81> "?" <0x99> "." "h": <0xNN> is id 3 + 0xNN */
    static const int32_t want[] = {29871,    3 + 0xa2, 3 + 0xe1, 3 + 0xe2, 3 + 0x96,
                                   3 + 0x81, 29973,    3 + 0x99, 29889,    29882};
    CHECK_EQ_INT(n, sizeof want / sizeof want[0]);
    for (size_t i = 0; i < n && i < sizeof want / sizeof want[0]; i++)
        CHECK_MSG(ids[i] == want[i], "token %zu: %d, expected %d", i, ids[i], want[i]);
    free(ids);
    free(data);
    tok_free(v);
}

/*
 * Found by the regex target: a --tensor-type pattern holding a line break
 * (and other control bytes) was quoted raw in its error, which became two
 * lines. The pattern is now quoted as a terminal may show it.
 */
QL_TEST(fuzz_regression_regex_error_quotes_the_pattern_on_one_line) {
    size_t size;
    unsigned char *data = regression_input(t, "regex", "pattern-with-line-break", &size);
    if (!data) return;
    char *pattern = strndup((const char *)data, size);
    REQUIRE(pattern && strchr(pattern, '\n'));
    ql_regex *re = NULL;
    ql_error err;
    CHECK(ql_regex_compile(pattern, &re, &err) == QL_ERR_ARG);
    CHECK_MSG(!strchr(err.msg, '\n') && !strchr(err.msg, '\x08') && strstr(err.msg, "\\x0a)(a"),
              "%s", err.msg);
    ql_regex_free(re);
    free(pattern);
    free(data);
}
