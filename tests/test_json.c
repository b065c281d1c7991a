/*
 * test_json.c - the JSON writer (src/core/json.c): exact layout, escaping,
 * invalid UTF-8, number formatting, misuse detection. Every document is also
 * run through the independent strict parser in json_check.c.
 */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/json.h"
#include "json_check.h"
#include "test.h"

typedef struct {
    char *text;
    size_t len;
    FILE *f;
    ql_json j;
} doc;

static void doc_begin(doc *d, bool pretty) {
    d->text = NULL;
    d->len = 0;
    d->f = open_memstream(&d->text, &d->len);
    ql_json_init(&d->j, d->f, pretty);
}

/* Finishes the document; returns what ql_json_finish said. */
static bool doc_end(doc *d) {
    bool ok = ql_json_finish(&d->j);
    fclose(d->f);
    return ok;
}

static void build_sample(ql_json *j) {
    ql_json_object_begin(j);
    ql_json_key(j, "a");
    ql_json_int(j, -3);
    ql_json_key(j, "list");
    ql_json_array_begin(j);
    ql_json_uint(j, 1);
    ql_json_str(j, "x");
    ql_json_object_begin(j);
    ql_json_object_end(j);
    ql_json_array_begin(j);
    ql_json_array_end(j);
    ql_json_array_end(j);
    ql_json_key(j, "dims");
    ql_json_array_begin_inline(j);
    ql_json_int(j, 256);
    ql_json_int(j, 50257);
    ql_json_array_end(j);
    ql_json_key(j, "ok");
    ql_json_bool(j, true);
    ql_json_key(j, "none");
    ql_json_null(j);
    ql_json_object_end(j);
}

QL_TEST(json_layout_compact_and_pretty) {
    doc d;
    doc_begin(&d, false);
    build_sample(&d.j);
    CHECK(doc_end(&d));
    const char *want_compact =
        "{\"a\":-3,\"list\":[1,\"x\",{},[]],\"dims\":[256,50257],\"ok\":true,\"none\":null}\n";
    CHECK_MSG(strcmp(d.text, want_compact) == 0, "compact:\n%s\nwanted:\n%s", d.text, want_compact);
    free(d.text);

    doc_begin(&d, true);
    build_sample(&d.j);
    CHECK(doc_end(&d));
    const char *want_pretty = "{\n"
                              "  \"a\": -3,\n"
                              "  \"list\": [\n"
                              "    1,\n"
                              "    \"x\",\n"
                              "    {},\n"
                              "    []\n"
                              "  ],\n"
                              "  \"dims\": [256, 50257],\n"
                              "  \"ok\": true,\n"
                              "  \"none\": null\n"
                              "}\n";
    CHECK_MSG(strcmp(d.text, want_pretty) == 0, "pretty:\n%s\nwanted:\n%s", d.text, want_pretty);
    jc_node *n = jc_parse(d.text, d.len, NULL, 0);
    CHECK(n != NULL);
    CHECK(jc_num(n, "a") == -3);
    CHECK(jc_get(n, "none") && jc_get(n, "none")->kind == JC_NULL);
    jc_free(n);
    free(d.text);
}

static char *string_json(const char *s, size_t len) {
    char *text = NULL;
    size_t n = 0;
    FILE *f = open_memstream(&text, &n);
    ql_json_write_string(f, s, len);
    fclose(f);
    return text;
}

QL_TEST(json_string_escaping) {
    static const struct {
        const char *in;
        size_t len;
        const char *want;
    } cases[] = {
        {"plain", 5, "\"plain\""},
        {"q\"b\\s/", 6, "\"q\\\"b\\\\s/\""},
        {"\b\f\n\r\t", 5, "\"\\b\\f\\n\\r\\t\""},
        {"\x01\x1f\x7f", 3, "\"\\u0001\\u001f\\u007f\""},
        {"nul\0in", 6, "\"nul\\u0000in\""},
        {"\xc3\xa9 \xe4\xb8\xad \xf0\x9f\x98\x80", 11,
         "\"\xc3\xa9 \xe4\xb8\xad \xf0\x9f\x98\x80\""},
        /* invalid UTF-8: each offending byte becomes U+FFFD (EF BF BD) */
        {"a\xff"
         "b",
         3,
         "\"a\xef\xbf\xbd"
         "b\""},
        {"\xc0\x80", 2, "\"\xef\xbf\xbd\xef\xbf\xbd\""},                 /* overlong NUL */
        {"\xed\xa0\x80", 3, "\"\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\""}, /* surrogate D800 */
        {"\xf4\x90\x80\x80", 4,
         "\"\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\""}, /* past U+10FFFF */
        {"x\xe4\xb8", 3, "\"x\xef\xbf\xbd\xef\xbf\xbd\""},        /* cut short */
        {"\x80", 1, "\"\xef\xbf\xbd\""},                          /* lone continuation */
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char *got = string_json(cases[i].in, cases[i].len);
        CHECK_MSG(strcmp(got, cases[i].want) == 0, "case %zu: got %s, wanted %s", i, got,
                  cases[i].want);
        char why[128];
        jc_node *n = jc_parse(got, strlen(got), why, sizeof why);
        CHECK_MSG(n != NULL, "case %zu does not parse: %s", i, why);
        jc_free(n);
        free(got);
    }
}

/* Deterministic random bytes: whatever goes in, valid JSON comes out, and valid UTF-8
   without control characters comes back unchanged. */
QL_TEST(json_string_random_bytes_always_valid) {
    uint64_t state = 12345;
    unsigned char buf[64];
    for (int iter = 0; iter < 20000; iter++) {
        size_t len = (size_t)(iter % 64);
        for (size_t i = 0; i < len; i++) {
            state = state * 6364136223846793005ull + 1442695040888963407ull;
            unsigned r = (unsigned)(state >> 33);
            /* bias towards bytes that form (or almost form) multi-byte sequences */
            buf[i] = (unsigned char)(r % 3 == 0 ? 0x80 + (r >> 8) % 0x80 : (r >> 8) & 0xff);
        }
        char *got = string_json((const char *)buf, len);
        char why[128];
        jc_node *n = jc_parse(got, strlen(got), why, sizeof why);
        REQUIRE_MSG(n != NULL, "iteration %d: invalid JSON (%s): %s", iter, why, got);
        jc_free(n);
        free(got);
    }
    const char *valid = "tokens \xe2\x96\x81the \xc4\xa0world \"q\" \\ / \xf0\x9f\xa6\x99";
    char *got = string_json(valid, strlen(valid));
    jc_node *n = jc_parse(got, strlen(got), NULL, 0);
    REQUIRE(n && n->kind == JC_STRING);
    CHECK(n->len == strlen(valid) && memcmp(n->str, valid, n->len) == 0);
    jc_free(n);
    free(got);
}

QL_TEST(json_numbers) {
    doc d;
    doc_begin(&d, false);
    ql_json_array_begin(&d.j);
    ql_json_double(&d.j, NAN);
    ql_json_double(&d.j, INFINITY);
    ql_json_double(&d.j, -INFINITY);
    ql_json_float(&d.j, NAN);
    ql_json_double(&d.j, 0.1);
    ql_json_double(&d.j, 1.0 / 3.0);
    ql_json_float(&d.j, 1e-6f);
    ql_json_float(&d.j, 10000.0f);
    ql_json_double(&d.j, -0.0);
    ql_json_double(&d.j, 1e300);
    ql_json_double(&d.j, 5e-324);
    ql_json_int(&d.j, INT64_MIN);
    ql_json_uint(&d.j, UINT64_MAX);
    ql_json_float(&d.j, 0.1f);
    ql_json_array_end(&d.j);
    CHECK(doc_end(&d));
    const char *want = "[null,null,null,null,0.1,0.3333333333333333,1e-06,10000,-0,1e+300,"
                       "5e-324,-9223372036854775808,18446744073709551615,0.1]\n";
    CHECK_MSG(strcmp(d.text, want) == 0, "got %s wanted %s", d.text, want);
    jc_node *n = jc_parse(d.text, d.len, NULL, 0);
    REQUIRE(n && n->n == 14);
    CHECK(jc_at(n, 5)->number == 1.0 / 3.0);
    CHECK((float)jc_at(n, 13)->number == 0.1f);
    jc_free(n);
    free(d.text);

    /* text formatting agrees with the JSON and reads back exactly */
    char buf[64];
    const double samples[] = {1e-6, 0.1, 123456.789, 1e15, 1e16, 3.141592653589793, -2.5e-8};
    for (size_t i = 0; i < sizeof samples / sizeof samples[0]; i++)
        CHECK_MSG(strtod(ql_format_double(samples[i], buf, sizeof buf), NULL) == samples[i],
                  "%.17g printed as %s", samples[i], buf);
    CHECK(strcmp(ql_format_float(1e-5f, buf, sizeof buf), "1e-05") == 0);
    CHECK(strcmp(ql_format_double(1e6, buf, sizeof buf), "1000000") == 0);
}

QL_TEST(json_misuse_is_reported) {
    doc d;
    doc_begin(&d, false);
    ql_json_object_begin(&d.j);
    ql_json_int(&d.j, 1); /* a value where a key is due */
    ql_json_object_end(&d.j);
    CHECK(!doc_end(&d));
    free(d.text);

    doc_begin(&d, false);
    ql_json_array_begin(&d.j);
    CHECK(!doc_end(&d)); /* unbalanced */
    free(d.text);

    doc_begin(&d, false);
    ql_json_array_begin(&d.j);
    ql_json_key(&d.j, "k"); /* a key inside an array */
    ql_json_int(&d.j, 1);
    ql_json_array_end(&d.j);
    CHECK(!doc_end(&d));
    free(d.text);

    doc_begin(&d, false);
    ql_json_int(&d.j, 1);
    ql_json_int(&d.j, 2); /* two top-level values */
    CHECK(!doc_end(&d));
    free(d.text);

    doc_begin(&d, false);
    ql_json_object_begin(&d.j);
    ql_json_key(&d.j, "k");
    ql_json_object_end(&d.j); /* a key without its value */
    CHECK(!doc_end(&d));
    free(d.text);

    doc_begin(&d, false);
    for (int i = 0; i < QL_JSON_MAX_DEPTH + 5; i++) ql_json_array_begin(&d.j);
    for (int i = 0; i < QL_JSON_MAX_DEPTH + 5; i++) ql_json_array_end(&d.j);
    CHECK(!doc_end(&d)); /* deeper than the limit */
    free(d.text);
}

QL_TEST(json_checker_rejects_invalid_documents) {
    /* the checker itself must be strict, or the tests that lean on it prove nothing */
    static const char *bad[] = {
        "",        "{",     "[1,]",          "{\"a\":1,}", "01",        "1.",          ".5",
        "1e",      "+1",    "nan",           "\"a\nb\"",   "\"\\x41\"", "\"\\ud800\"", "\"\xff\"",
        "[1] [2]", "{a:1}", "[\"a\" \"b\"]", "tru",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        jc_node *n = jc_parse(bad[i], strlen(bad[i]), NULL, 0);
        CHECK_MSG(n == NULL, "accepted invalid JSON: %s", bad[i]);
        jc_free(n);
    }
    static const char *good[] = {"0",
                                 "-0.5e+3",
                                 "[]",
                                 "{}",
                                 "\"\\ud83d\\ude00\"",
                                 " [ true , false ] ",
                                 "{\"a\":{\"b\":[null]}}"};
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
        jc_node *n = jc_parse(good[i], strlen(good[i]), NULL, 0);
        CHECK_MSG(n != NULL, "rejected valid JSON: %s", good[i]);
        jc_free(n);
    }
}
