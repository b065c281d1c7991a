/*
 * test_tokenizer_golden.c - the tokenizer against llama.cpp's own output: every
 * case of its tokenizer test suite (the golden/tokenizer .inp and .out files, six
 * vocabularies) and the whole of wikitext-2's test split under a byte-level
 * BPE and a SentencePiece vocabulary.
 */
#include <stdlib.h>
#include <string.h>

#include "tok_helpers.h"

/* Parses whitespace-separated integers from [s, s+n) into ids. */
static size_t parse_ids(const char *s, size_t n, int32_t *ids, size_t max, char sep) {
    size_t count = 0, i = 0;
    while (i < n && count < max) {
        while (i < n && (s[i] == ' ' || s[i] == sep || s[i] == '\n' || s[i] == '\r')) i++;
        if (i >= n) break;
        char *end;
        long v = strtol(s + i, &end, 10);
        if (end == s + i) break;
        ids[count++] = (int32_t)v;
        i = (size_t)(end - s);
    }
    return count;
}

static void check_suite(ql_test_ctx *t, const char *name) {
    tt_vocab lv;
    tt_cases cases;
    if (!tt_load_golden(t, name, &lv)) return;
    if (!tt_read_cases(t, name, &cases)) {
        tt_unload(&lv);
        return;
    }
    char rel[256];
    size_t out_len = 0;
    snprintf(rel, sizeof rel, "golden/tokenizer/ggml-vocab-%s.gguf.out", name);
    char *out = (char *)ql_test_read_file(ql_test_shared_path(rel), &out_len);
    REQUIRE_MSG(out, "cannot read %s", rel);
    CHECK_MSG(cases.n > 40, "%s: only %d cases in the .inp file", name, cases.n);

    int line = 0, n_pass = 0;
    char *p = out;
    while (line < cases.n && p < out + out_len) {
        char *eol = memchr(p, '\n', (size_t)(out + out_len - p));
        size_t line_len = eol ? (size_t)(eol - p) : (size_t)(out + out_len - p);
        int32_t want[4096];
        size_t n_want = parse_ids(p, line_len, want, 4096, ' ');
        size_t n_got;
        int32_t *got =
            tt_encode(t, lv.vocab, cases.text[line], cases.len[line], false, false, &n_got);
        if (got && tt_same_ids(got, n_got, want, n_want)) {
            n_pass++;
        } else if (got) {
            ql_test_failf(t, __FILE__, __LINE__, "%s case %d '%.*s':\n    want %s\n    got  %s",
                          name, line, (int)(cases.len[line] > 60 ? 60 : cases.len[line]),
                          cases.text[line], tt_ids_str(want, n_want), tt_ids_str(got, n_got));
        }
        free(got);
        line++;
        p = eol ? eol + 1 : out + out_len;
    }
    CHECK_MSG(line == cases.n, "%s: %d cases but %d lines of ids", name, cases.n, line);
    CHECK_MSG(n_pass == cases.n, "%s: %d of %d cases identical", name, n_pass, cases.n);
    free(out);
    tt_free_cases(&cases);
    tt_unload(&lv);
}

QL_TEST(tokenizer_golden_gpt2) {
    check_suite(t, "gpt-2");
}

QL_TEST(tokenizer_golden_deepseek_coder) {
    check_suite(t, "deepseek-coder");
}

QL_TEST(tokenizer_golden_falcon) {
    check_suite(t, "falcon");
}

QL_TEST(tokenizer_golden_starcoder) {
    check_suite(t, "starcoder");
}

QL_TEST(tokenizer_golden_llama_spm) {
    check_suite(t, "llama-spm");
}

QL_TEST(tokenizer_golden_phi3) {
    check_suite(t, "phi-3");
}

static void check_wikitext(ql_test_ctx *t, const char *vocab_name, const char *ids_file) {
    tt_vocab lv;
    if (!tt_load_golden(t, vocab_name, &lv)) return;
    size_t text_len = 0, ids_len = 0;
    char *text = (char *)ql_test_read_file(ql_test_shared_path("data/wikitext-2-raw/wiki.test.raw"),
                                           &text_len);
    char rel[256];
    snprintf(rel, sizeof rel, "golden/tokenizer/%s", ids_file);
    char *ids_text = (char *)ql_test_read_file(ql_test_shared_path(rel), &ids_len);
    REQUIRE_MSG(text && ids_text, "cannot read wiki.test.raw or %s", ids_file);

    size_t cap = ids_len / 2 + 16;
    int32_t *want = malloc(cap * sizeof *want);
    REQUIRE(want != NULL);
    size_t n_want = parse_ids(ids_text, ids_len, want, cap, ',');
    CHECK_MSG(n_want > 200000, "%s holds only %zu ids", ids_file, n_want);

    int32_t *got;
    size_t n_got;
    ql_error err;
    REQUIRE_MSG(!tok_encode(lv.vocab, text, text_len, false, false, &got, &n_got, &err), "%s",
                err.msg);
    size_t first_diff = 0;
    while (first_diff < n_got && first_diff < n_want && got[first_diff] == want[first_diff])
        first_diff++;
    CHECK_MSG(n_got == n_want && first_diff == n_got,
              "%s: %zu tokens, golden %zu; first difference at token %zu (got %d, want %d)",
              vocab_name, n_got, n_want, first_diff, first_diff < n_got ? got[first_diff] : -1,
              first_diff < n_want ? want[first_diff] : -1);
    free(got);
    free(want);
    free(ids_text);
    free(text);
    tt_unload(&lv);
}

QL_TEST(tokenizer_wikitext_gpt2) {
    check_wikitext(t, "gpt-2", "wikitext-gpt2.ids");
}

QL_TEST(tokenizer_wikitext_spm) {
    check_wikitext(t, "llama-spm", "wikitext-spm.ids");
}
