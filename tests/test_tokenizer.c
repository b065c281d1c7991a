/*
 * test_tokenizer.c - the tokenizer's behaviour beyond the golden suites:
 * round trips, malformed input, special tokens, BOS/EOS, pieces and
 * detokenizing, merge rules on small hand-built vocabularies whose results
 * can be worked out by hand, load errors, the Unicode tables, and a 50 MB
 * single line.
 */
#include <stdlib.h>
#include <string.h>

#include "tok_helpers.h"
#include "tokenizer/unicode.h"

static const char *const golden_vocabs[] = {"gpt-2",     "deepseek-coder", "falcon",
                                            "starcoder", "llama-spm",      "phi-3"};

/* decode(encode(s)) == s for every golden test string, in every vocabulary:
 * all of them are valid UTF-8, which byte-level BPE and SentencePiece with
 * byte fallback can always represent. */
QL_TEST(tokenizer_roundtrip_golden_cases) {
    for (size_t k = 0; k < sizeof golden_vocabs / sizeof golden_vocabs[0]; k++) {
        tt_vocab lv;
        tt_cases cases;
        if (!tt_load_golden(t, golden_vocabs[k], &lv)) continue;
        if (!tt_read_cases(t, golden_vocabs[k], &cases)) {
            tt_unload(&lv);
            continue;
        }
        for (int i = 0; i < cases.n; i++) {
            size_t n;
            int32_t *ids = tt_encode(t, lv.vocab, cases.text[i], cases.len[i], false, false, &n);
            if (!ids) continue;
            char *back;
            size_t back_len;
            ql_error err;
            REQUIRE_MSG(
                !tok_decode(lv.vocab, ids, n, TOK_DECODE_NO_CLEANUP, &back, &back_len, &err), "%s",
                err.msg);
            CHECK_MSG(back_len == cases.len[i] && memcmp(back, cases.text[i], back_len) == 0,
                      "%s case %d: '%.*s' came back as '%s'", golden_vocabs[k], i,
                      (int)cases.len[i], cases.text[i], back);
            free(back);
            free(ids);
        }
        tt_free_cases(&cases);
        tt_unload(&lv);
    }
}

static void check_same_encoding(ql_test_ctx *t, const tok_vocab *v, const char *a, size_t na,
                                const char *b, size_t nb, const char *what) {
    size_t n1, n2;
    int32_t *x = tt_encode(t, v, a, na, false, false, &n1);
    int32_t *y = tt_encode(t, v, b, nb, false, false, &n2);
    if (x && y)
        CHECK_MSG(tt_same_ids(x, n1, y, n2), "%s: [%s] vs [%s]", what, tt_ids_str(x, n1),
                  tt_ids_str(y, n2));
    free(x);
    free(y);
}

/* Byte-level BPE decodes the text first: each malformed byte becomes U+FFFD,
 * an overlong form its code point, as in llama.cpp. */
QL_TEST(tokenizer_invalid_utf8_bpe) {
    tt_vocab lv;
    if (!tt_load_golden(t, "gpt-2", &lv)) return;
    const char *fffd = "\xEF\xBF\xBD";
    check_same_encoding(t, lv.vocab, "\xFF", 1, fffd, 3, "lone 0xFF");
    check_same_encoding(t, lv.vocab,
                        "a\x80"
                        "b",
                        3,
                        "a\xEF\xBF\xBD"
                        "b",
                        5, "lone continuation byte");
    check_same_encoding(t, lv.vocab, "x\xE2\x82", 3, "x\xEF\xBF\xBD\xEF\xBF\xBD", 7,
                        "truncated sequence: one U+FFFD per byte");
    check_same_encoding(t, lv.vocab,
                        "\xC3"
                        "A",
                        2,
                        "\xEF\xBF\xBD"
                        "A",
                        4, "bad continuation byte");
    check_same_encoding(t, lv.vocab, "\xC0\x80", 2, "\0", 1, "overlong NUL");
    check_same_encoding(t, lv.vocab, "\xF4\x90\x80\x80", 4, fffd, 3, "beyond U+10FFFF");
    size_t n;
    int32_t *ids = tt_encode(t, lv.vocab, "\xFF\xFE", 2, false, false, &n);
    if (ids) {
        char *back;
        size_t len;
        ql_error err;
        REQUIRE(!tok_decode(lv.vocab, ids, n, TOK_DECODE_NO_CLEANUP, &back, &len, &err));
        CHECK_MSG(len == 6 && memcmp(back, "\xEF\xBF\xBD\xEF\xBF\xBD", 6) == 0,
                  "malformed bytes decode back as U+FFFD U+FFFD, got %zu bytes", len);
        free(back);
    }
    free(ids);
    tt_unload(&lv);
}

/* SentencePiece splits by the first byte's length alone and falls back to
 * <0xNN> tokens, so malformed bytes survive as themselves. */
QL_TEST(tokenizer_invalid_utf8_spm) {
    tt_vocab lv;
    if (!tt_load_golden(t, "llama-spm", &lv)) return;
    size_t n;
    /* "▁" then 0xFF as byte token <0xFF> = 3 + 0xFF. */
    int32_t *ids = tt_encode(t, lv.vocab, "\xFF", 1, false, false, &n);
    const int32_t want_ff[] = {29871, 3 + 0xFF};
    if (ids) CHECK_MSG(tt_same_ids(ids, n, want_ff, 2), "0xFF: %s", tt_ids_str(ids, n));
    free(ids);
    /* 0xC3 claims two bytes, so "\xC3" "a" is one symbol that is no token:
     * both bytes fall back, the 'a' included. */
    ids = tt_encode(t, lv.vocab,
                    "\xC3"
                    "a",
                    2, false, false, &n);
    const int32_t want_c3[] = {29871, 3 + 0xC3, 3 + 'a'};
    if (ids) CHECK_MSG(tt_same_ids(ids, n, want_c3, 3), "C3 61: %s", tt_ids_str(ids, n));
    free(ids);

    const char mixed[] = "ok \x80\xC0\x80 \xE2\x82"
                         "x end\xF0";
    ids = tt_encode(t, lv.vocab, mixed, sizeof mixed - 1, false, false, &n);
    if (ids) {
        char *back;
        size_t len;
        ql_error err;
        REQUIRE(!tok_decode(lv.vocab, ids, n, 0, &back, &len, &err));
        CHECK_MSG(len == sizeof mixed - 1 && memcmp(back, mixed, len) == 0,
                  "malformed bytes round trip");
        free(back);
    }
    free(ids);
    /* Spaces become U+2581 before the text is split, so a sequence cut short
     * right before a space swallows part of the U+2581, and those bytes come
     * back as they are: the space does not survive (nor does it in llama.cpp). */
    ids = tt_encode(t, lv.vocab, "\xE2\x82 x", 4, false, false, &n);
    if (ids) {
        CHECK_MSG(n >= 6 && ids[1] == 3 + 0xE2 && ids[2] == 3 + 0x82 && ids[3] == 3 + 0xE2 &&
                      ids[4] == 3 + 0x96 && ids[5] == 3 + 0x81,
                  "E2 82 before a space: %s", tt_ids_str(ids, n));
        char *back;
        size_t len;
        ql_error err;
        REQUIRE(!tok_decode(lv.vocab, ids, n, 0, &back, &len, &err));
        CHECK_MSG(len == 6 && memcmp(back, "\xE2\x82\xE2\x96\x81x", 6) == 0, "decoded %zu bytes",
                  len);
        free(back);
    }
    free(ids);
    tt_unload(&lv);
}

QL_TEST(tokenizer_nul_bytes) {
    static const char *const names[] = {"gpt-2", "llama-spm"};
    for (int k = 0; k < 2; k++) {
        tt_vocab lv;
        if (!tt_load_golden(t, names[k], &lv)) continue;
        const char text[] = "a\0b\0\0 c";
        size_t n;
        int32_t *ids = tt_encode(t, lv.vocab, text, sizeof text - 1, false, false, &n);
        if (ids) {
            CHECK_MSG(n >= 4, "%s: NULs give tokens (%zu)", names[k], n);
            char *back;
            size_t len;
            ql_error err;
            REQUIRE(!tok_decode(lv.vocab, ids, n, TOK_DECODE_NO_CLEANUP, &back, &len, &err));
            CHECK_MSG(len == sizeof text - 1 && memcmp(back, text, len) == 0, "%s: NULs round trip",
                      names[k]);
            free(back);
        }
        free(ids);
        tt_unload(&lv);
    }
}

QL_TEST(tokenizer_empty_text) {
    tt_vocab lv;
    if (!tt_load_golden(t, "llama-spm", &lv)) return;
    size_t n;
    int32_t *ids = tt_encode(t, lv.vocab, "", 0, false, false, &n);
    CHECK_EQ_INT(n, 0);
    free(ids);
    ids = tt_encode(t, lv.vocab, NULL, 0, true, false, &n);
    const int32_t want[] = {1};
    if (ids) CHECK_MSG(tt_same_ids(ids, n, want, 1), "empty text with BOS: %s", tt_ids_str(ids, n));
    free(ids);
    tt_unload(&lv);
}

static void check_ids(ql_test_ctx *t, const tok_vocab *v, const char *text, bool add_special,
                      bool parse_special, const int32_t *want, size_t n_want, const char *what) {
    size_t n;
    int32_t *ids = tt_encode(t, v, text, strlen(text), add_special, parse_special, &n);
    if (ids)
        CHECK_MSG(tt_same_ids(ids, n, want, n_want), "%s: got [%s], want [%s]", what,
                  tt_ids_str(ids, n), tt_ids_str(want, n_want));
    free(ids);
}

/* Control tokens are cut out only with parse_special; user-defined ones always. */
QL_TEST(tokenizer_special_tokens) {
    tt_vocab gpt2, deepseek, phi3, starcoder;
    if (!tt_load_golden(t, "gpt-2", &gpt2)) return;
    const int32_t eot[] = {15496, 50256, 995};
    check_ids(t, gpt2.vocab, "Hello<|endoftext|> world", false, true, eot, 3,
              "gpt-2 parse_special");
    size_t n;
    int32_t *ids = tt_encode(t, gpt2.vocab, "<|endoftext|>", 13, false, false, &n);
    if (ids) {
        CHECK_MSG(n > 1, "without parse_special <|endoftext|> is plain text (%s)",
                  tt_ids_str(ids, n));
        for (size_t i = 0; i < n; i++) CHECK(ids[i] != 50256);
    }
    free(ids);
    tt_unload(&gpt2);

    /* deepseek-coder's user-defined single characters ("õ" is 32000). */
    if (tt_load_golden(t, "deepseek-coder", &deepseek)) {
        const int32_t o_tilde[] = {32000};
        check_ids(t, deepseek.vocab, "\xC3\xB5", false, false, o_tilde, 1,
                  "user-defined without parse_special");
        /* A fill-in-the-middle token is user-defined in the file but made a
         * control token by its name: plain text unless parse_special. */
        const char *fim = "<\xEF\xBD\x9C"
                          "fim\xE2\x96\x81hole\xEF\xBD\x9C>";
        const int32_t hole[] = {32015};
        check_ids(t, deepseek.vocab, fim, false, true, hole, 1, "fim hole with parse_special");
        ids = tt_encode(t, deepseek.vocab, fim, strlen(fim), false, false, &n);
        if (ids) CHECK_MSG(n > 1, "fim hole without parse_special: %s", tt_ids_str(ids, n));
        free(ids);
        CHECK(tok_token_attr(deepseek.vocab, 32015) & TOK_ATTR_CONTROL);
        tt_unload(&deepseek);
    }

    /* Phi-3's special tokens swallow the white space after them (rstrip):
     * the text after <|user|> is tokenized as if it started right there. */
    if (tt_load_golden(t, "phi-3", &phi3)) {
        size_t n_hi;
        int32_t *hi = tt_encode(t, phi3.vocab, "hi there", 8, false, false, &n_hi);
        int32_t want[64];
        want[0] = 32010;
        if (hi && n_hi < 63) {
            memcpy(want + 1, hi, n_hi * sizeof *hi);
            check_ids(t, phi3.vocab, "<|user|>  \n hi there", false, true, want, n_hi + 1,
                      "phi-3 rstrip");
        }
        free(hi);
        /* "</s>" is user-defined in the file, and an end-of-generation token,
         * which makes it a control token too. */
        const int32_t eos2[] = {2};
        check_ids(t, phi3.vocab, "</s>", false, true, eos2, 1, "phi-3 </s> with parse_special");
        ids = tt_encode(t, phi3.vocab, "</s>", 4, false, false, &n);
        if (ids) CHECK_MSG(n > 1, "phi-3 </s> without parse_special: %s", tt_ids_str(ids, n));
        free(ids);
        tt_unload(&phi3);
    }

    /* Special tokens at the start, twice in a row, and at the end. */
    if (tt_load_golden(t, "starcoder", &starcoder)) {
        ids = tt_encode(t, starcoder.vocab, "<fim_prefix><fim_prefix>x<fim_suffix>", 37, false,
                        true, &n);
        if (ids) {
            CHECK_MSG(n == 4 && ids[0] == 1 && ids[1] == 1 && ids[3] == 3, "starcoder specials: %s",
                      tt_ids_str(ids, n));
        }
        free(ids);
        tt_unload(&starcoder);
    }
}

QL_TEST(tokenizer_bos_eos) {
    tt_vocab spm, gpt2, deepseek;
    if (tt_load_golden(t, "llama-spm", &spm)) {
        CHECK_EQ_INT(tok_bos(spm.vocab), 1);
        CHECK_EQ_INT(tok_eos(spm.vocab), 2);
        CHECK_EQ_INT(tok_unk(spm.vocab), 0);
        CHECK(tok_add_bos(spm.vocab));
        CHECK(!tok_add_eos(spm.vocab));
        CHECK_EQ_INT(tok_n_vocab(spm.vocab), 32000);
        const int32_t want[] = {1, 15043, 3186};
        check_ids(t, spm.vocab, "Hello world", true, false, want, 3, "llama-spm with BOS");
        /* "<s>" in the text stays text unless parse_special. */
        const int32_t two_bos[] = {1, 1, 15043};
        check_ids(t, spm.vocab, "<s>Hello", true, true, two_bos, 3, "llama-spm <s> parsed");
        tt_unload(&spm);
    }
    if (tt_load_golden(t, "gpt-2", &gpt2)) {
        CHECK(!tok_add_bos(gpt2.vocab));
        CHECK_EQ_INT(tok_bos(gpt2.vocab), 50256);
        const int32_t want[] = {15496, 995};
        check_ids(t, gpt2.vocab, "Hello world", true, false, want, 2, "gpt-2 adds no BOS");
        tt_unload(&gpt2);
    }
    if (tt_load_golden(t, "deepseek-coder", &deepseek)) {
        CHECK(tok_add_bos(deepseek.vocab));
        size_t n;
        int32_t *ids = tt_encode(t, deepseek.vocab, "x", 1, true, false, &n);
        if (ids) CHECK_MSG(n == 2 && ids[0] == 32013, "deepseek-coder BOS: %s", tt_ids_str(ids, n));
        free(ids);
        tt_unload(&deepseek);
    }
}

static void check_piece(ql_test_ctx *t, const tok_vocab *v, int32_t id, bool special,
                        const char *want, size_t want_len) {
    size_t len;
    const char *p = tok_token_to_piece(v, id, special, &len);
    CHECK_MSG(p && len == want_len && memcmp(p, want, len) == 0, "piece of %d (special=%d): '%.*s'",
              id, special, p ? (int)len : 0, p ? p : "");
}

QL_TEST(tokenizer_pieces) {
    tt_vocab gpt2, spm;
    if (tt_load_golden(t, "gpt-2", &gpt2)) {
        check_piece(t, gpt2.vocab, 220, false, " ", 1);  /* "Ġ" */
        check_piece(t, gpt2.vocab, 198, false, "\n", 1); /* "Ċ" */
        check_piece(t, gpt2.vocab, 995, false, " world", 6);
        check_piece(t, gpt2.vocab, 50256, false, "", 0);
        check_piece(t, gpt2.vocab, 50256, true, "<|endoftext|>", 13);
        size_t len;
        CHECK(tok_token_to_piece(gpt2.vocab, 50257, true, &len) == NULL);
        CHECK(tok_token_to_piece(gpt2.vocab, -1, true, &len) == NULL);
        const char *text = tok_token_text(gpt2.vocab, 220, &len);
        CHECK(text && len == 2 && memcmp(text, "\xC4\xA0", 2) == 0);
        tt_unload(&gpt2);
    }
    if (tt_load_golden(t, "llama-spm", &spm)) {
        check_piece(t, spm.vocab, 29871, false, " ", 1);
        check_piece(t, spm.vocab, 13, false, "\n", 1); /* <0x0A> */
        check_piece(t, spm.vocab, 3 + 0xFF, false, "\xFF", 1);
        check_piece(t, spm.vocab, 15043, false, " Hello", 6);
        check_piece(t, spm.vocab, 1, false, "", 0);
        check_piece(t, spm.vocab, 1, true, "<s>", 3);
        check_piece(t, spm.vocab, 0, true, "<unk>", 5);
        tt_unload(&spm);
    }
}

static void check_decode(ql_test_ctx *t, const tok_vocab *v, const int32_t *ids, size_t n,
                         unsigned flags, const char *want) {
    char *text;
    size_t len;
    ql_error err;
    if (tok_decode(v, ids, n, flags, &text, &len, &err)) {
        ql_test_failf(t, __FILE__, __LINE__, "tok_decode: %s", err.msg);
        return;
    }
    CHECK_MSG(len == strlen(want) && strcmp(text, want) == 0, "decoded '%s', want '%s'", text,
              want);
    free(text);
}

QL_TEST(tokenizer_decode) {
    tt_vocab gpt2, spm;
    if (tt_load_golden(t, "gpt-2", &gpt2)) {
        /* Byte-level BPE vocabularies ask llama.cpp to clean up spaces. */
        const char *text = "Hello , world ! It ' s 'ere , you 're John 's , isn 't it ?";
        size_t n;
        int32_t *ids = tt_encode(t, gpt2.vocab, text, strlen(text), false, false, &n);
        if (ids) {
            check_decode(t, gpt2.vocab, ids, n, 0,
                         "Hello, world! It's 'ere, you're John's, isn 't it?");
            check_decode(t, gpt2.vocab, ids, n, TOK_DECODE_NO_CLEANUP, text);
        }
        free(ids);
        const int32_t with_special[] = {15496, 50256};
        check_decode(t, gpt2.vocab, with_special, 2, 0, "Hello");
        check_decode(t, gpt2.vocab, with_special, 2, TOK_DECODE_SPECIAL, "Hello<|endoftext|>");
        char *out;
        size_t len;
        ql_error err;
        const int32_t bad[] = {15496, 60000};
        CHECK(tok_decode(gpt2.vocab, bad, 2, 0, &out, &len, &err) == QL_ERR_ARG);
        tt_unload(&gpt2);
    }
    if (tt_load_golden(t, "llama-spm", &spm)) {
        /* The leading space SentencePiece adds is removed, unless a BOS that
         * is skipped comes first (as llama.cpp does). */
        const int32_t hello[] = {15043, 3186};
        check_decode(t, spm.vocab, hello, 2, 0, "Hello world");
        const int32_t bos_hello[] = {1, 15043, 3186, 2};
        check_decode(t, spm.vocab, bos_hello, 4, 0, " Hello world");
        check_decode(t, spm.vocab, bos_hello, 4, TOK_DECODE_SPECIAL, "<s> Hello world</s>");
        /* This vocabulary does not add EOS, so a trailing EOS is not skipped
         * (and renders as nothing without TOK_DECODE_SPECIAL). */
        check_decode(t, spm.vocab, bos_hello, 4, TOK_DECODE_SKIP_BOS_EOS, " Hello world");
        check_decode(t, spm.vocab, bos_hello, 4, TOK_DECODE_SKIP_BOS_EOS | TOK_DECODE_SPECIAL,
                     " Hello world</s>");
        tt_unload(&spm);
    }
}

/* ---- small hand-built vocabularies ---- */

static const char *tiny_path(ql_test_ctx *t, const char *file) {
    static char path[1024];
    snprintf(path, sizeof path, "%s/%s", ql_test_tmpdir(t), file);
    return path;
}

/* Byte-level BPE: "Ġ" is GPT-2's character for a space. */
static bool write_tiny_bpe(const char *path, const char *pre, const char *const *merges,
                           int n_merges) {
    static const char *const tokens[] = {
        "a",       "b", "c", "d", "\xC4\xA0", "ab", "abc", "bd", "\xC4\xA0\x61" /* Ġa */,
        "<|bos|>", "x", "y"};
    int32_t types[12];
    for (int i = 0; i < 12; i++) types[i] = 1;
    types[9] = 3;
    tt_gguf g;
    tt_gguf_init(&g);
    tt_gguf_str(&g, "tokenizer.ggml.model", "gpt2");
    tt_gguf_str(&g, "tokenizer.ggml.pre", pre);
    tt_gguf_str_array(&g, "tokenizer.ggml.tokens", tokens, 12);
    tt_gguf_i32_array(&g, "tokenizer.ggml.token_type", types, 12);
    tt_gguf_str_array(&g, "tokenizer.ggml.merges", merges, n_merges);
    tt_gguf_u32(&g, "tokenizer.ggml.bos_token_id", 9);
    return tt_gguf_write(&g, path);
}

enum { T_A, T_B, T_C, T_D, T_SPACE, T_AB, T_ABC, T_BD, T_SPACE_A };

QL_TEST(tokenizer_bpe_rules) {
    static const char *const merges[] = {"a b", "\xC4\xA0 a", "ab c", "c d", "\xC4\xA0 d", "a a"};
    const char *path = tiny_path(t, "tiny-bpe.gguf");
    REQUIRE(write_tiny_bpe(path, "gpt-2", merges, 6));
    tt_vocab lv;
    if (!tt_load_path(t, path, &lv)) return;
    const int32_t abc[] = {T_ABC};
    check_ids(t, lv.vocab, "abc", false, false, abc, 1, "ranks in order: a+b, then ab+c");
    /* "a a" has the higher (later) rank, so a+b wins inside "aab". */
    const int32_t aab[] = {T_A, T_AB};
    check_ids(t, lv.vocab, "aab", false, false, aab, 2, "lower rank first");
    const int32_t space_ab[] = {T_SPACE, T_AB};
    check_ids(t, lv.vocab, " ab", false, false, space_ab, 2, "a+b (rank 0) before Ġ+a (rank 1)");
    const int32_t space_a[] = {T_SPACE_A};
    check_ids(t, lv.vocab, " a", false, false, space_a, 1, "Ġ+a");
    /* "bd" is a token no merge makes: it stays two tokens. */
    const int32_t bd[] = {T_B, T_D};
    check_ids(t, lv.vocab, "bd", false, false, bd, 2, "no merge for b d");
    /* "cd" is made by a merge but is no token: llama.cpp then looks up each
     * byte of the symbol's text as a token of its own. */
    const int32_t cd[] = {T_C, T_D};
    check_ids(t, lv.vocab, "cd", false, false, cd, 2, "merged symbol that is no token");
    /* "Ġd" likewise, but "Ġ" is two bytes that are no tokens: the space is
     * lost, exactly as in llama.cpp. */
    const int32_t space_d[] = {T_D};
    check_ids(t, lv.vocab, " d", false, false, space_d, 1, "bytes of a non-token symbol");
    tt_unload(&lv);

    /* llama-3's pre-tokenizer sets ignore_merges: a word that is a token is
     * taken whole, merges or not; and it adds BOS. */
    const char *path3 = tiny_path(t, "tiny-bpe-llama3.gguf");
    REQUIRE(write_tiny_bpe(path3, "llama-bpe", merges, 6));
    if (!tt_load_path(t, path3, &lv)) return;
    const int32_t bd_whole[] = {9, T_BD};
    check_ids(t, lv.vocab, "bd", true, false, bd_whole, 2, "ignore_merges and BOS");
    tt_unload(&lv);
}

static bool write_tiny_spm(const char *path, float score_bc, bool space_prefix) {
    static const char *const tokens[] = {
        "<unk>",  "<s>", "</s>", "\xE2\x96\x81", "a",
        "b",      "c",   "ab",   "bc",           "\xE2\x96\x81\x61\x62" /* ▁ab */,
        "<0x78>", "d"};
    const int n = 12;
    float scores[12] = {0, 0, 0, -5, -3, -3, -3, -1, score_bc, -2, 0, -3};
    int32_t types[12] = {2, 3, 3, 1, 1, 1, 1, 1, 1, 1, 6, 1};
    tt_gguf g;
    tt_gguf_init(&g);
    tt_gguf_str(&g, "tokenizer.ggml.model", "llama");
    tt_gguf_str_array(&g, "tokenizer.ggml.tokens", tokens, n);
    tt_gguf_f32_array(&g, "tokenizer.ggml.scores", scores, n);
    tt_gguf_i32_array(&g, "tokenizer.ggml.token_type", types, n);
    tt_gguf_bool(&g, "tokenizer.ggml.add_space_prefix", space_prefix);
    return tt_gguf_write(&g, path);
}

enum { S_UNK, S_BOS, S_EOS, S_SPACE, S_A, S_B, S_C, S_AB, S_BC, S_SPACE_AB, S_BYTE_X };

QL_TEST(tokenizer_spm_rules) {
    const char *path = tiny_path(t, "tiny-spm.gguf");
    REQUIRE(write_tiny_spm(path, -1.0f, true));
    tt_vocab lv;
    if (!tt_load_path(t, path, &lv)) return;
    const int32_t ab[] = {S_SPACE_AB};
    check_ids(t, lv.vocab, "ab", false, false, ab, 1, "a+b then ▁+ab");
    /* "ab" and "bc" score the same: the leftmost pair merges first. */
    const int32_t abc[] = {S_SPACE_AB, S_C};
    check_ids(t, lv.vocab, "abc", false, false, abc, 2, "tie goes to the left");
    /* 'x' is no token but has a byte token; 'z' has neither and becomes the
     * unknown token (llama.cpp aborts there). */
    const int32_t xz[] = {S_SPACE, S_BYTE_X, S_UNK};
    check_ids(t, lv.vocab, "xz", false, false, xz, 3, "byte fallback");
    tt_unload(&lv);

    REQUIRE(write_tiny_spm(path, -0.5f, false));
    if (!tt_load_path(t, path, &lv)) return;
    const int32_t a_bc[] = {S_A, S_BC};
    check_ids(t, lv.vocab, "abc", false, false, a_bc, 2, "higher score first, no space prefix");
    const int32_t a_space_ab[] = {S_A, S_SPACE_AB};
    check_ids(t, lv.vocab, "a ab", false, false, a_space_ab, 2, "space written as ▁");
    tt_unload(&lv);
}

/* ---- load errors ---- */

static void check_load_error(ql_test_ctx *t, const char *path, ql_status want, const char *needle,
                             const char *needle2) {
    gguf_file *f;
    ql_error err;
    REQUIRE_MSG(!gguf_open(path, &f, &err), "gguf_open: %s", err.msg);
    tok_vocab *v = NULL;
    ql_status st = tok_load(f, &v, &err);
    CHECK_MSG(st == want, "tok_load status %s, want %s (%s)", ql_status_name(st),
              ql_status_name(want), st ? err.msg : "");
    CHECK(v == NULL);
    if (st) {
        CHECK_MSG(strstr(err.msg, needle) != NULL, "message '%s' lacks '%s'", err.msg, needle);
        if (needle2)
            CHECK_MSG(strstr(err.msg, needle2) != NULL, "message '%s' lacks '%s'", err.msg,
                      needle2);
    }
    tok_free(v);
    gguf_close(f);
}

QL_TEST(tokenizer_load_errors) {
    const char *path = tiny_path(t, "bad.gguf");
    tt_gguf g;
    static const char *const tokens[] = {"a", "b", "a"};
    static const char *const merges[] = {"a b"};

    tt_gguf_init(&g);
    tt_gguf_str(&g, "general.architecture", "llama");
    REQUIRE(tt_gguf_write(&g, path));
    check_load_error(t, path, QL_ERR_UNSUPPORTED, "no tokenizer", NULL);

    tt_gguf_init(&g);
    tt_gguf_str(&g, "tokenizer.ggml.model", "bert");
    tt_gguf_str_array(&g, "tokenizer.ggml.tokens", tokens, 2);
    REQUIRE(tt_gguf_write(&g, path));
    check_load_error(t, path, QL_ERR_UNSUPPORTED, "'bert'", "gpt2");

    tt_gguf_init(&g);
    tt_gguf_str(&g, "tokenizer.ggml.model", "gpt2");
    tt_gguf_str(&g, "tokenizer.ggml.pre", "no-such-pre");
    tt_gguf_str_array(&g, "tokenizer.ggml.tokens", tokens, 2);
    tt_gguf_str_array(&g, "tokenizer.ggml.merges", merges, 1);
    REQUIRE(tt_gguf_write(&g, path));
    check_load_error(t, path, QL_ERR_UNSUPPORTED, "'no-such-pre'", "llama-bpe");

    tt_gguf_init(&g);
    tt_gguf_str(&g, "tokenizer.ggml.model", "gpt2");
    tt_gguf_str_array(&g, "tokenizer.ggml.tokens", tokens, 2);
    REQUIRE(tt_gguf_write(&g, path));
    check_load_error(t, path, QL_ERR_FORMAT, "merges", NULL);

    tt_gguf_init(&g);
    tt_gguf_str(&g, "tokenizer.ggml.model", "gpt2");
    tt_gguf_str_array(&g, "tokenizer.ggml.tokens", tokens, 3);
    tt_gguf_str_array(&g, "tokenizer.ggml.merges", merges, 1);
    REQUIRE(tt_gguf_write(&g, path));
    check_load_error(t, path, QL_ERR_FORMAT, "duplicate token", NULL);

    /* SentencePiece adds BOS by default, and its default BOS id 1 does not
     * exist in a one-token vocabulary. */
    tt_gguf_init(&g);
    tt_gguf_str(&g, "tokenizer.ggml.model", "llama");
    tt_gguf_str_array(&g, "tokenizer.ggml.tokens", tokens, 1);
    REQUIRE(tt_gguf_write(&g, path));
    check_load_error(t, path, QL_ERR_FORMAT, "bos_token_id", NULL);

    const float scores[] = {0};
    tt_gguf_init(&g);
    tt_gguf_str(&g, "tokenizer.ggml.model", "llama");
    tt_gguf_str_array(&g, "tokenizer.ggml.tokens", tokens, 2);
    tt_gguf_f32_array(&g, "tokenizer.ggml.scores", scores, 1);
    REQUIRE(tt_gguf_write(&g, path));
    check_load_error(t, path, QL_ERR_FORMAT, "scores", NULL);

    tt_gguf_init(&g);
    tt_gguf_u32(&g, "tokenizer.ggml.model", 7);
    REQUIRE(tt_gguf_write(&g, path));
    check_load_error(t, path, QL_ERR_FORMAT, "not a string", NULL);
}

/* ---- Unicode ---- */

QL_TEST(tokenizer_unicode_classes) {
    tok_unicode_init();
    struct {
        uint32_t cp;
        unsigned flags;
    } cases[] = {
        {'A', TOK_UCP_LETTER},
        {'5', TOK_UCP_NUMBER},
        {0xBD, TOK_UCP_NUMBER}, /* ½ */
        {'_', TOK_UCP_PUNCTUATION},
        {'~', TOK_UCP_SYMBOL},
        {' ', TOK_UCP_SEPARATOR | TOK_UCP_WHITESPACE},
        {'\t', TOK_UCP_CONTROL | TOK_UCP_WHITESPACE},
        {0x0B, TOK_UCP_CONTROL | TOK_UCP_WHITESPACE},
        {0x1C, TOK_UCP_CONTROL}, /* not White_Space, unlike Python's str.isspace */
        {0x85, TOK_UCP_CONTROL | TOK_UCP_WHITESPACE},
        {0xA0, TOK_UCP_SEPARATOR | TOK_UCP_WHITESPACE},
        {0x3000, TOK_UCP_SEPARATOR | TOK_UCP_WHITESPACE},
        {0x200B, TOK_UCP_CONTROL}, /* zero width space is Cf */
        {0x0300, TOK_UCP_MARK},
        {0x4E00, TOK_UCP_LETTER},
        {0xAC00, TOK_UCP_LETTER},
        {0x1F600, TOK_UCP_SYMBOL},
        {0xE000, TOK_UCP_CONTROL},
        {0xD800, TOK_UCP_CONTROL},
        {0x2EBF0, TOK_UCP_LETTER}, /* CJK Extension I, Unicode 15.1 (as in llama.cpp) */
        {0x31EF, TOK_UCP_SYMBOL},  /* Unicode 15.1 */
        {0x0378, TOK_UCP_UNDEFINED},
        {0x10FFFF, TOK_UCP_UNDEFINED},
        {0x110000, TOK_UCP_UNDEFINED},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        CHECK_MSG(tok_ucp_flags(cases[i].cp) == cases[i].flags, "U+%04X: flags 0x%03X, want 0x%03X",
                  cases[i].cp, tok_ucp_flags(cases[i].cp), cases[i].flags);
    int n_space = 0;
    for (uint32_t cp = 0; cp < 0x110000; cp++)
        n_space += (tok_ucp_flags(cp) & TOK_UCP_WHITESPACE) != 0;
    CHECK_EQ_INT(n_space, 25); /* White_Space has 25 code points */
    CHECK(strlen(tok_unicode_version) >= 5);
}

QL_TEST(tokenizer_utf8_decoder) {
    struct {
        const char *bytes;
        size_t n;
        uint32_t cp;
        size_t next;
    } cases[] = {
        {"A", 1, 'A', 1},
        {"\xC3\xA9", 2, 0xE9, 2},
        {"\xE2\x96\x81", 3, 0x2581, 3},
        {"\xF0\x9F\xA6\x99", 4, 0x1F999, 4},
        {"\xC3", 1, 0xFFFD, 1},
        {"\xC3"
         "A",
         2, 0xFFFD, 1},
        {"\x80", 1, 0xFFFD, 1},
        {"\xE2\x96", 2, 0xFFFD, 1},
        {"\xC0\x80", 2, 0, 2},                /* overlong, accepted */
        {"\xED\xA0\x80", 3, 0xD800, 3},       /* surrogate, accepted */
        {"\xF4\x90\x80\x80", 4, 0x110000, 4}, /* beyond Unicode, accepted */
        {"\xF8\x88\x80\x80\x80", 5, 0xFFFD, 1},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        size_t next;
        uint32_t cp = tok_utf8_decode((const uint8_t *)cases[i].bytes, cases[i].n, 0, &next);
        CHECK_MSG(cp == cases[i].cp && next == cases[i].next, "case %zu: U+%04X next %zu", i, cp,
                  next);
    }
    uint8_t out[4];
    CHECK_EQ_INT(tok_utf8_encode(0x110000, out), 3);
    CHECK(memcmp(out, "\xEF\xBF\xBD", 3) == 0);
    CHECK_EQ_INT(tok_utf8_encode(0x1F999, out), 4);
    CHECK(memcmp(out, "\xF0\x9F\xA6\x99", 4) == 0);

    /* GPT-2's byte alphabet. */
    CHECK_EQ_INT(tok_byte_to_codepoint(' '), 0x120);  /* Ġ */
    CHECK_EQ_INT(tok_byte_to_codepoint('\n'), 0x10A); /* Ċ */
    CHECK_EQ_INT(tok_byte_to_codepoint(0), 0x100);
    CHECK_EQ_INT(tok_byte_to_codepoint(0x7F), 0x121);
    CHECK_EQ_INT(tok_byte_to_codepoint(0xA0), 0x142);
    CHECK_EQ_INT(tok_byte_to_codepoint(0xAD), 0x143);
    CHECK_EQ_INT(tok_byte_to_codepoint('A'), 'A');
    CHECK_EQ_INT(tok_byte_to_codepoint(0xFF), 0xFF);
    for (int b = 0; b < 256; b++)
        CHECK_EQ_INT(tok_codepoint_to_byte(tok_byte_to_codepoint((uint8_t)b)), b);
    CHECK_EQ_INT(tok_codepoint_to_byte(' '), -1);
    CHECK_EQ_INT(tok_codepoint_to_byte(0xAD), -1);
    CHECK_EQ_INT(tok_codepoint_to_byte(0x144), -1);
}

/* ---- a 50 MB single line ---- */

/* A paragraph of wikitext on one line, trimmed to start and end with a
 * non-space character. */
static char *wiki_paragraph(size_t *len) {
    size_t n;
    char *raw =
        (char *)ql_test_read_file(ql_test_shared_path("data/wikitext-2-raw/wiki.test.raw"), &n);
    if (!raw) return NULL;
    size_t start = 0, want = n < 4096 ? n : 4096;
    while (start < want && (raw[start] == ' ' || raw[start] == '\n')) start++;
    size_t w = 0;
    for (size_t i = start; i < want; i++) raw[w++] = raw[i] == '\n' ? ' ' : raw[i];
    while (w > 0 && raw[w - 1] == ' ') w--;
    raw[w] = 0;
    *len = w;
    return raw;
}

/* Text P, then " P" repeated to 50 MB on one line. No byte-level word and no
 * SentencePiece token crosses " " followed by P's first character, so the
 * tokens are P's followed by the tokens of " P" over and over (for
 * SentencePiece, P's tokens every time: the space becomes the ▁ it adds in
 * front). */
static void check_long_line(ql_test_ctx *t, const char *vocab_name) {
    tt_vocab lv;
    if (!tt_load_golden(t, vocab_name, &lv)) return;
    size_t plen;
    char *p = wiki_paragraph(&plen);
    REQUIRE(p != NULL && plen > 1000);
    size_t reps = (50u << 20) / (plen + 1) + 1;
    size_t total = plen + (reps - 1) * (plen + 1);
    char *text = malloc(total + 1);
    REQUIRE(text != NULL);
    memcpy(text, p, plen);
    for (size_t r = 1, w = plen; r < reps; r++, w += plen + 1) {
        text[w] = ' ';
        memcpy(text + w + 1, p, plen);
    }
    CHECK(total >= (50u << 20));

    size_t n_first, n_rest, n_all;
    int32_t *first = tt_encode(t, lv.vocab, p, plen, false, false, &n_first);
    int32_t *rest = tok_model_kind(lv.vocab) == TOK_MODEL_SPM
                        ? tt_encode(t, lv.vocab, p, plen, false, false, &n_rest)
                        : tt_encode(t, lv.vocab, text + plen, plen + 1, false, false, &n_rest);
    int32_t *all = tt_encode(t, lv.vocab, text, total, false, false, &n_all);
    REQUIRE(first && rest && all);
    CHECK_MSG(n_all == n_first + (reps - 1) * n_rest, "%s: %zu tokens, expected %zu", vocab_name,
              n_all, n_first + (reps - 1) * n_rest);
    if (n_all == n_first + (reps - 1) * n_rest) {
        bool same = memcmp(all, first, n_first * sizeof *all) == 0;
        for (size_t r = 0; same && r + 1 < reps; r++)
            same = memcmp(all + n_first + r * n_rest, rest, n_rest * sizeof *all) == 0;
        CHECK_MSG(same, "%s: the 50 MB line is not its paragraph's tokens repeated", vocab_name);
    }
    char *back;
    size_t back_len;
    ql_error err;
    REQUIRE(!tok_decode(lv.vocab, all, n_all, TOK_DECODE_NO_CLEANUP, &back, &back_len, &err));
    CHECK_MSG(back_len == total && memcmp(back, text, total) == 0, "%s: 50 MB round trip",
              vocab_name);
    free(back);
    free(first);
    free(rest);
    free(all);
    free(text);
    free(p);
    tt_unload(&lv);
}

QL_TEST(tokenizer_long_single_line_bpe) {
    check_long_line(t, "gpt-2");
}

QL_TEST(tokenizer_long_single_line_spm) {
    check_long_line(t, "llama-spm");
}
