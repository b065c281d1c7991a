/*
 * test_tokenizer_pretok.c - the pre-tokenizers' word splits against splits
 * computed independently with Python's regex module from llama.cpp's split
 * patterns (tokenizer_pretok_cases.h, made by scripts/gen_pretok_cases.py).
 * This covers the families without a golden vocabulary here (llama-3, qwen2,
 * default, deepseek-llm) as well as the others.
 */
#include <stdlib.h>
#include <string.h>

#include "test.h"
#include "tokenizer/pretok.h"
#include "tokenizer/unicode.h"
#include "tokenizer_pretok_cases.h"

typedef struct {
    size_t lengths[512];
    int n;
} word_list;

static bool collect_word(void *user, size_t start, size_t end) {
    word_list *w = user;
    if (w->n < 512) w->lengths[w->n++] = end - start;
    return true;
}

static bool stop_after_two(void *user, size_t start, size_t end) {
    word_list *w = user;
    w->lengths[w->n++] = end - start;
    return w->n < 2;
}

QL_TEST(tokenizer_pretok_families) {
    tok_unicode_init();
    int n_cases = (int)(sizeof pretok_cases / sizeof pretok_cases[0]);
    CHECK(n_cases >= 100);
    for (int i = 0; i < n_cases; i++) {
        const pretok_case *c = &pretok_cases[i];
        const pretok_config *cfg = pretok_find(c->family);
        REQUIRE_MSG(cfg, "unknown family %s", c->family);
        word_list got = {.n = 0};
        size_t len = strlen(c->text);
        CHECK(pretokenize(cfg->family, (const uint8_t *)c->text, len, collect_word, &got));

        char got_str[2048] = "";
        size_t used = 0;
        for (int k = 0; k < got.n && used + 24 < sizeof got_str; k++)
            used += (size_t)snprintf(got_str + used, sizeof got_str - used, "%s%zu", k ? "," : "",
                                     got.lengths[k]);
        CHECK_MSG(strcmp(got_str, c->word_lengths) == 0, "%s '%s':\n    want %s\n    got  %s",
                  c->family, c->text, c->word_lengths, got_str);
    }
}

QL_TEST(tokenizer_pretok_names) {
    static const char *const supported[] = {"gpt-2",  "llama-bpe", "llama3",         "qwen2",
                                            "smollm", "refact",    "deepseek-coder", "deepseek-llm",
                                            "falcon", "starcoder", "default"};
    for (size_t i = 0; i < sizeof supported / sizeof supported[0]; i++) {
        CHECK_MSG(pretok_find(supported[i]) != NULL, "%s unsupported", supported[i]);
        CHECK_MSG(strstr(pretok_names(), supported[i]) != NULL, "%s missing from the list",
                  supported[i]);
    }
    CHECK(pretok_find("no-such-thing") == NULL);
    CHECK(pretok_find("") == NULL);
    /* Names that share split rules keep their own vocabulary flags. */
    CHECK(pretok_find("llama-bpe")->ignore_merges && pretok_find("llama-bpe")->add_bos);
    CHECK(!pretok_find("dbrx")->ignore_merges &&
          pretok_find("dbrx")->family == pretok_find("llama3")->family);
    CHECK(!pretok_find("qwen2")->clean_spaces && pretok_find("gpt-2")->clean_spaces);
    CHECK(pretok_find("smollm")->family == pretok_find("starcoder")->family);
}

QL_TEST(tokenizer_pretok_stops_early) {
    tok_unicode_init();
    word_list w = {.n = 0};
    const char *text = "one two three four";
    CHECK(!pretokenize(pretok_find("gpt-2")->family, (const uint8_t *)text, strlen(text),
                       stop_after_two, &w));
    CHECK_EQ_INT(w.n, 2);
}
