/*
 * test_regex.c - the tensor-name regex matcher against std::regex_search.
 *
 * Every expected answer in the table below was produced by libstdc++'s
 * std::regex (ECMAScript grammar) with std::regex_search - the matcher
 * llama-quantize applies to --tensor-type patterns - and is kept here as
 * data. Patterns std::regex rejects, and the features qlens refuses, are
 * checked to fail compilation with a message.
 */
#include <string.h>

#include "core/regex.h"
#include "test.h"

typedef struct {
    const char *pattern;
    const char *text;
    bool matches;
} regex_case;

static const regex_case search_cases[] = {
    /* literals: a match anywhere in the name */
    {"attn_v", "blk.0.attn_v.weight", true},
    {"attn_v", "blk.0.attn_q.weight", false},
    {"", "anything", true},
    {"", "", true},
    {"a", "", false},
    /* '.' is any byte but a line terminator; '\.' is a dot */
    {"blk.0", "blkx0", true},
    {"blk\\.0", "blkx0", false},
    {"blk\\.0", "blk.0.ffn_up.weight", true},
    {"a.c", "a\nc", false},
    {"a.c", "a\rc", false},
    {"a.c", "a\tc", true},
    /* repetition */
    {"ab*c", "ac", true},
    {"ab*c", "abbbc", true},
    {"ab+c", "ac", false},
    {"ab+c", "abbc", true},
    {"ab?c", "abc", true},
    {"ab?c", "abbc", false},
    {"^ab*?c$", "abbc", true},
    {"^ab+?c$", "ac", false},
    {"^ab??c$", "abc", true},
    {"^a{3}$", "aaa", true},
    {"^a{3}$", "aa", false},
    {"^a{3}$", "aaaa", false},
    {"^a{2,}$", "a", false},
    {"^a{2,}$", "aaaaa", true},
    {"^a{1,2}$", "aa", true},
    {"^a{1,2}$", "aaa", false},
    {"^a{0}b$", "b", true},
    {"^(ab){2}$", "abab", true},
    {"^(ab){2}$", "ab", false},
    {"^(a*)*$", "aaa", true},
    {"^(a|b)*c$", "ababbc", true},
    {"^(a?){3}a{3}$", "aaa", true},
    /* classes */
    {"blk\\.[0-3]\\.", "blk.2.attn_v.weight", true},
    {"blk\\.[0-3]\\.", "blk.12.attn_v.weight", false},
    {"blk\\.[^0-3]\\.", "blk.7.x", true},
    {"blk\\.[^0-3]\\.", "blk.2.x", false},
    {"[a-c]+", "xxbxx", true},
    {"^[abc]+$", "abcd", false},
    {"^[-a]+$", "a-a", true},
    {"^[a-]+$", "-a", true},
    {"^[\\d.]+$", "1.25", true},
    {"^[\\w]+$", "ffn_up", true},
    {"^[\\w]+$", "ffn.up", false},
    {"^[\\]]$", "]", true},
    {"^[\\-]$", "-", true},
    {"^[.]$", "x", false},
    {"^[.]$", ".", true},
    {"^[^]$", "x", true},
    {"[]", "abc", false},
    {"^a**$", "aaa", true},
    {"^a+*$", "", true},
    {"^a*?$", "aa", true},
    /* escapes */
    {"\\d+", "blk.17", true},
    {"^\\d+$", "17a", false},
    {"^\\D+$", "abc", true},
    {"^\\D+$", "ab1", false},
    {"^\\w+$", "attn_v", true},
    {"^\\W$", ".", true},
    {"^\\s$", " ", true},
    {"^\\s$", "x", false},
    {"^\\S+$", "xy", true},
    {"^\\t$", "\t", true},
    {"^\\x41$", "A", true},
    {"^\\.\\*\\+\\?\\(\\)\\[\\]\\{\\}\\|\\^\\$\\\\$", ".*+?()[]{}|^$\\", true},
    {"^\\/$", "/", true},
    /* anchors and word boundaries */
    {"^blk", "blk.0.attn_v.weight", true},
    {"^attn", "blk.0.attn_v.weight", false},
    {"weight$", "blk.0.attn_v.weight", true},
    {"attn_v$", "blk.0.attn_v.weight", false},
    {"^$", "", true},
    {"a^b", "a^b", false},
    {"\\bv\\b", "attn_v.weight", false},
    {"\\bweight\\b", "attn_v.weight", true},
    {"\\battn", "blk.0.attn_v", true},
    {"\\Bttn", "blk.0.attn_v", true},
    {"\\Battn", "blk.0.attn_v", false},
    {"_v\\b", "attn_v.weight", true},
    /* alternation and groups */
    {"attn_q|attn_k", "blk.3.attn_k.weight", true},
    {"attn_q|attn_k", "blk.3.attn_v.weight", false},
    {"^(blk\\.0|blk\\.3)\\.ffn_down", "blk.3.ffn_down.weight", true},
    {"^(blk\\.0|blk\\.3)\\.ffn_down", "blk.13.ffn_down.weight", false},
    {"^(?:a|b)c$", "bc", true},
    {"a|", "zzz", true},
    {"|a", "zzz", true},
    {"(a|ab)(c|bcd)(d*)$", "abcd", true},
    {"blk\\.(1[0-9]|[0-9])\\.attn_v", "blk.15.attn_v.weight", true},
    {"blk\\.(1[0-9]|[0-9])\\.attn_v", "blk.25.attn_v.weight", false},
    {"blk\\.([0-9]|1[0-9])\\.attn_v", "blk.5.attn_v.weight", true},
    {"ffn_(up|gate)_exps", "blk.7.ffn_gate_exps.weight", true},
    {"ffn_(up|gate)_exps", "blk.7.ffn_down_exps.weight", false},
    {"token_embd|output\\.weight", "output.weight", true},
    {"token_embd|output\\.weight", "output_norm.weight", false},
    /* literal ] and } outside classes */
    {"a]", "a]", true},
    {"a}", "a}", true},
};

QL_TEST(regex_search_agrees_with_std_regex) {
    int n = (int)(sizeof search_cases / sizeof search_cases[0]);
    for (int i = 0; i < n; i++) {
        const regex_case *c = &search_cases[i];
        ql_regex *re = NULL;
        ql_error err = {0};
        ql_status st = ql_regex_compile(c->pattern, &re, &err);
        CHECK_MSG(st == QL_OK, "'%s' should compile: %s", c->pattern, err.msg);
        if (st != QL_OK) continue;
        bool got = ql_regex_search(re, c->text);
        CHECK_MSG(got == c->matches, "regex '%s' on '%s': expected %s", c->pattern, c->text,
                  c->matches ? "a match" : "no match");
        CHECK(strcmp(ql_regex_pattern(re), c->pattern) == 0);
        ql_regex_free(re);
    }
}

QL_TEST(regex_rejects_malformed_and_unsupported_patterns) {
    /* malformed for std::regex too */
    static const char *const malformed[] = {
        "(", "a)", "[abc", "*a", "+", "a{2", "a{x}", "a{3,2}", "[z-a]", "\\", "^*", "[\\d-z]",
    };
    /* valid ECMAScript that qlens refuses instead of matching differently */
    static const char *const unsupported[] = {"(a)\\1",  "(?=a)", "(?!a)",
                                              "(?<n>a)", "\\q",   "a{1001}"};
    for (size_t i = 0; i < sizeof malformed / sizeof *malformed; i++) {
        ql_regex *re = NULL;
        ql_error err = {0};
        CHECK_MSG(ql_regex_compile(malformed[i], &re, &err) == QL_ERR_ARG,
                  "'%s' should be rejected", malformed[i]);
        CHECK(re == NULL);
        CHECK_MSG(strstr(err.msg, "regex '") == err.msg, "message: %s", err.msg);
    }
    for (size_t i = 0; i < sizeof unsupported / sizeof *unsupported; i++) {
        ql_regex *re = NULL;
        ql_error err = {0};
        CHECK_MSG(ql_regex_compile(unsupported[i], &re, &err) == QL_ERR_ARG,
                  "'%s' should be refused", unsupported[i]);
        CHECK(re == NULL);
    }
}

QL_TEST(regex_runs_in_linear_time_on_pathological_patterns) {
    /* (a*)*b against a long run of a's takes exponential time in a backtracking matcher */
    char text[4097];
    memset(text, 'a', 4096);
    text[4096] = 0;
    ql_regex *re = NULL;
    REQUIRE(ql_regex_compile("(a*)*b", &re, NULL) == QL_OK);
    CHECK(!ql_regex_search(re, text));
    ql_regex_free(re);
    REQUIRE(ql_regex_compile("^(a|aa)+$", &re, NULL) == QL_OK);
    CHECK(ql_regex_search(re, text));
    ql_regex_free(re);
    /* counted repetitions large enough to overflow the program are refused, not exploded */
    ql_error err;
    CHECK(ql_regex_compile("((a{1000}){1000}){1000}", &re, &err) == QL_ERR_ARG);
}
