/*
 * test_tokenizer_cli.c - `qlens tokenize`: llama-tokenize's output formats and
 * flags, and one clear error line for every kind of bad input.
 */
#include <stdlib.h>
#include <string.h>

#include "tok_helpers.h"

static const char *vocab_path(const char *name) {
    static char bufs[4][1024];
    static int next;
    char *b = bufs[next++ % 4];
    char rel[256];
    snprintf(rel, sizeof rel, "golden/tokenizer/ggml-vocab-%s.gguf", name);
    snprintf(b, sizeof bufs[0], "'%s'", ql_test_shared_path(rel));
    return b;
}

/* Runs qlens with args and checks the exit status, stdout and (when given)
 * that stderr is exactly one "qlens: error: " line containing err_part. */
static void check_run(ql_test_ctx *t, const char *args, int want_rc, const char *want_out,
                      const char *err_part) {
    char *out = NULL, *err = NULL;
    int rc = ql_test_run_qlens(args, &out, &err);
    CHECK_MSG(rc == want_rc, "qlens %s: exit %d, want %d (stderr: %s)", args, rc, want_rc,
              err ? err : "");
    if (want_out)
        CHECK_MSG(out && strcmp(out, want_out) == 0, "qlens %s: stdout\n%s\nwant\n%s", args, out,
                  want_out);
    if (err_part) {
        CHECK_MSG(strncmp(err, "qlens: error: ", 14) == 0, "qlens %s: stderr '%s'", args, err);
        CHECK_MSG(strstr(err, err_part) != NULL, "qlens %s: stderr '%s' lacks '%s'", args, err,
                  err_part);
        char *nl = strchr(err, '\n');
        CHECK_MSG(nl && nl[1] == '\0', "qlens %s: stderr is not one line: '%s'", args, err);
        CHECK_MSG(out && out[0] == '\0', "qlens %s: stdout not empty on error: '%s'", args, out);
    }
    free(out);
    free(err);
}

QL_TEST(tokenizer_cli_formats) {
    char args[2048];
    const char *gpt2 = vocab_path("gpt-2"), *spm = vocab_path("llama-spm");
    snprintf(args, sizeof args, "tokenize -m %s -p 'Hello world'", gpt2);
    check_run(t, args, 0, " 15496 -> 'Hello'\n   995 -> ' world'\n", NULL);
    snprintf(args, sizeof args, "tokenize --model %s --prompt 'Hello world' --ids --show-count",
             gpt2);
    check_run(t, args, 0, "[15496, 995]\nTotal number of tokens: 2\n", NULL);
    /* SentencePiece adds BOS; the piece of a control token is its text. */
    snprintf(args, sizeof args, "tokenize -m %s -p 'Hello world'", spm);
    check_run(t, args, 0, "     1 -> '<s>'\n 15043 -> ' Hello'\n  3186 -> ' world'\n", NULL);
    snprintf(args, sizeof args, "tokenize -m %s -p 'Hello world' --ids --no-bos", spm);
    check_run(t, args, 0, "[15043, 3186]\n", NULL);
    snprintf(args, sizeof args, "tokenize -m %s -p '' --ids", spm);
    check_run(t, args, 0, "[1]\n", NULL);
}

QL_TEST(tokenizer_cli_escapes_and_specials) {
    char args[2048];
    const char *gpt2 = vocab_path("gpt-2");
    /* \n and \x41 are escapes; \q is not one and stays as it is. */
    snprintf(args, sizeof args, "tokenize -m %s -p 'a\\nb\\x41\\q' --ids", gpt2);
    check_run(t, args, 0, "[64, 198, 65, 32, 59, 80]\n", NULL);
    snprintf(args, sizeof args, "tokenize -m %s -p 'a\\nb' --ids --no-escape", gpt2);
    check_run(t, args, 0, "[64, 59, 46803]\n", NULL);
    /* Control tokens in the text are recognised unless --no-parse-special. */
    snprintf(args, sizeof args, "tokenize -m %s -p '<|endoftext|>' --ids", gpt2);
    check_run(t, args, 0, "[50256]\n", NULL);
    snprintf(args, sizeof args, "tokenize -m %s -p '<|endoftext|>' --ids --no-parse-special", gpt2);
    check_run(t, args, 0, "[27, 91, 437, 1659, 5239, 91, 29]\n", NULL);
}

QL_TEST(tokenizer_cli_file_and_stdin) {
    const char *dir = ql_test_tmpdir(t);
    char path[1024], args[4096];
    snprintf(path, sizeof path, "%s/text.txt", dir);
    const char text[] = "Hello world\n\xC3\x84pfel";
    REQUIRE(ql_test_write_file(path, text, sizeof text - 1));

    tt_vocab lv;
    if (!tt_load_golden(t, "gpt-2", &lv)) return;
    size_t n;
    int32_t *ids = tt_encode(t, lv.vocab, text, sizeof text - 1, false, true, &n);
    REQUIRE(ids != NULL);
    char want[1024] = "[";
    for (size_t i = 0; i < n; i++)
        snprintf(want + strlen(want), sizeof want - strlen(want), "%s%d", i ? ", " : "", ids[i]);
    strcat(want, "]\n");
    free(ids);
    tt_unload(&lv);

    snprintf(args, sizeof args, "tokenize -m %s -f '%s' --ids", vocab_path("gpt-2"), path);
    check_run(t, args, 0, want, NULL);

    /* --stdin: the runner feeds /dev/null, so pipe through a shell here. */
    char out_path[1024], cmd[8192];
    snprintf(out_path, sizeof out_path, "%s/stdin.out", dir);
    snprintf(cmd, sizeof cmd, "%s tokenize -m %s --stdin --ids < '%s' > '%s'", ql_test_qlens_bin(),
             vocab_path("gpt-2"), path, out_path);
    CHECK_EQ_INT(system(cmd), 0);
    char *got = (char *)ql_test_read_file(out_path, NULL);
    CHECK_MSG(got && strcmp(got, want) == 0, "--stdin printed '%s', want '%s'", got, want);
    free(got);
}

QL_TEST(tokenizer_cli_errors) {
    const char *dir = ql_test_tmpdir(t);
    char args[4096], no_tok[1024], bad_pre[1024];
    const char *gpt2 = vocab_path("gpt-2");

    snprintf(args, sizeof args, "tokenize -p x");
    check_run(t, args, 2, "", "-m MODEL.gguf is required");
    snprintf(args, sizeof args, "tokenize -m %s", gpt2);
    check_run(t, args, 2, "", "-p TEXT, -f FILE or --stdin");
    snprintf(args, sizeof args, "tokenize -m %s -p x -f y", gpt2);
    check_run(t, args, 2, "", "mutually exclusive");
    snprintf(args, sizeof args, "tokenize -m %s -p x --bogus", gpt2);
    check_run(t, args, 2, "", "unknown option");
    snprintf(args, sizeof args, "tokenize -m %s -p", gpt2);
    check_run(t, args, 2, "", "missing value");
    snprintf(args, sizeof args, "tokenize -m %s stray -p x", gpt2);
    check_run(t, args, 2, "", "unexpected argument");

    check_run(t, "tokenize -m /nonexistent/model.gguf -p x", 1, "", "/nonexistent/model.gguf");
    snprintf(args, sizeof args, "tokenize -m %s -f /nonexistent/text.txt", gpt2);
    check_run(t, args, 1, "", "/nonexistent/text.txt");
    snprintf(args, sizeof args, "tokenize -m '%s' -p x",
             ql_test_shared_path("golden/tokenizer/ggml-vocab-gpt-2.gguf.inp"));
    check_run(t, args, 1, "", "not a GGUF");

    tt_gguf g;
    snprintf(no_tok, sizeof no_tok, "%s/no-tokenizer.gguf", dir);
    tt_gguf_init(&g);
    tt_gguf_str(&g, "general.architecture", "llama");
    REQUIRE(tt_gguf_write(&g, no_tok));
    snprintf(args, sizeof args, "tokenize -m '%s' -p x", no_tok);
    check_run(t, args, 1, "", "no tokenizer");

    static const char *const tokens[] = {"a", "b"};
    static const char *const merges[] = {"a b"};
    snprintf(bad_pre, sizeof bad_pre, "%s/bad-pre.gguf", dir);
    tt_gguf_init(&g);
    tt_gguf_str(&g, "tokenizer.ggml.model", "gpt2");
    tt_gguf_str(&g, "tokenizer.ggml.pre", "mystery");
    tt_gguf_str_array(&g, "tokenizer.ggml.tokens", tokens, 2);
    tt_gguf_str_array(&g, "tokenizer.ggml.merges", merges, 1);
    REQUIRE(tt_gguf_write(&g, bad_pre));
    snprintf(args, sizeof args, "tokenize -m '%s' -p x", bad_pre);
    check_run(t, args, 1, "",
              "pre-tokenizer 'mystery' is not supported (supported: default, llama3");

    tt_gguf_init(&g);
    tt_gguf_str(&g, "tokenizer.ggml.model", "t5");
    tt_gguf_str_array(&g, "tokenizer.ggml.tokens", tokens, 2);
    REQUIRE(tt_gguf_write(&g, bad_pre));
    check_run(t, args, 1, "", "tokenizer model 't5' is not supported (supported: llama");

    check_run(t, "tokenize --help", 0, NULL, NULL);
}

/* --show-tokens with --ids: the ids, then their pieces as a list, escaped. */
QL_TEST(tokenize_cli_show_tokens) {
    char args[1024], *out, *err;
    snprintf(args, sizeof args, "tokenize -m %s -p 'Hello world' --ids --show-tokens --no-bos",
             ql_test_shared_path("golden/tokenizer/ggml-vocab-gpt-2.gguf"));
    REQUIRE_MSG(ql_test_run_qlens(args, &out, &err) == 0, "%s", err);
    /* gpt-2: "Hello" = 15496, " world" = 995 (golden .out of the same vocabulary) */
    CHECK_MSG(strcmp(out, "[15496, 995]\n['Hello', ' world']\n") == 0, "output: %s", out);
    free(out), free(err);
}
