/*
 * test_printable.c - what a terminal is shown of text from outside: every
 * byte it would act on as \xNN, everything else as it is.
 */
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/printable.h"
#include "test.h"

QL_TEST(printable_escapes_what_a_terminal_acts_on) {
    const struct {
        const char *in, *want;
    } cases[] = {
        {"plain/path.gguf", "plain/path.gguf"},
        {"two\nlines", "two\\x0alines"},
        {"\x1b[31mred\x1b[0m", "\\x1b[31mred\\x1b[0m"},
        {"bell\a del\x7f cr\r tab\t", "bell\\x07 del\\x7f cr\\x0d tab\\x09"},
        {"mod\xc3\xa8le \xe2\x96\x81 \xf0\x9f\x98\x80",
         "mod\xc3\xa8le \xe2\x96\x81 \xf0\x9f\x98\x80"},
        {"csi \xc2\x9b"
         "2J nbsp \xc2\xa0",
         "csi \\xc2\\x9b2J nbsp \xc2\xa0"},
        {"bad \xff\xfe utf8 \xc3(", "bad \\xff\\xfe utf8 \\xc3("},
        {"keep \\ backslash", "keep \\ backslash"},
    };
    char out[256];
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        ql_printable(cases[i].in, out, sizeof out);
        CHECK_MSG(strcmp(out, cases[i].want) == 0, "case %zu: got '%s', expected '%s'", i, out,
                  cases[i].want);
    }
    /* too long for the buffer: cut, marked, terminated, never split inside an escape */
    char small[12];
    ql_printable("abcdefghijklmnop", small, sizeof small);
    CHECK_MSG(strcmp(small, "abcdefgh...") == 0, "got '%s'", small);
    ql_printable("ab\ncdefghijklmnop", small, sizeof small);
    CHECK_MSG(strcmp(small, "ab\\x0acd...") == 0, "got '%s'", small);
}

static bool exists(const char *path) {
    struct stat sb;
    return stat(path, &sb) == 0;
}

/*
 * Names with a newline or an escape sequence, wherever qlens shows them:
 * errors stay one line, and no ESC reaches the terminal on either stream.
 */
QL_TEST(printable_hostile_names_in_messages) {
    const char *model = ql_test_synth_model("llama");
    if (!exists(model)) SKIP("synthetic models not built (make synth)");
    const char *dir = ql_test_tmpdir(t);
    char evil[1200], link_to_model[1200], args[4096];
    /* a directory whose name holds a newline and a "clear screen" sequence */
    snprintf(evil, sizeof evil, "%s/x\ny\x1b[2J", dir);
    REQUIRE(mkdir(evil, 0755) == 0);
    char abs_model[2048];
    REQUIRE(realpath(model, abs_model));
    snprintf(link_to_model, sizeof link_to_model, "%s/m\x1b]0;title\x07.gguf", dir);
    REQUIRE(symlink(abs_model, link_to_model) == 0);
    const char *W = ql_test_shared_path("data/wikitext-2-raw/wiki.test.raw");
    const char *failing[] = {
        "perplexity -m '%s/missing.gguf' -f '%s'",
        "perplexity -m '%s' -f '%s'",
        "info '%s'",
        "perplexity -m '%s/../x\ny\x1b[2J' -c 64 -f '%s'",
        "quantize --tensor-type 'a\x1b[1m(=q8_0' '%s' '%s/o.gguf' Q4_0",
        "sweep --ref '%s' --weights 'Q4\n\x1b[2J' -f '%s' -c 64 --out o",
        "perplexity --bo\x1b[5mgus '%s' '%s'",
        "'perpl\nexity' '%s' '%s'",
        "perplexity -m '%s' -f '%s' -ctk 'q\x1b[8m'",
    };
    for (size_t i = 0; i < sizeof failing / sizeof failing[0]; i++) {
        const char *a1 = i == 4 || i == 5 ? abs_model : evil;
        const char *a2 = i == 4 ? evil : W;
        snprintf(args, sizeof args, failing[i], a1, a2);
        char *out = NULL, *err = NULL;
        const int rc = ql_test_run_qlens(args, &out, &err);
        int lines = 0;
        for (const char *p = err; *p; p++) lines += *p == '\n';
        CHECK_MSG(rc == 1 || rc == 2, "case %zu: exit status %d", i, rc);
        CHECK_MSG(lines == 1 && strncmp(err, "qlens: error: ", 14) == 0,
                  "case %zu: not one error line: %s", i, err);
        CHECK_MSG(!strchr(err, '\x1b') && !strchr(out, '\x1b') && !strchr(err, '\a'),
                  "case %zu: a control character reached the terminal: %s", i, err);
        free(out), free(err);
    }
    /* a run that works shows the name in its progress lines and results, escaped */
    snprintf(args, sizeof args,
             "perplexity -m '%s' -f '%s' -c 64 --chunks 1 --kl-divergence-base '%s/r\x1b[1m.qlref'",
             link_to_model, W, dir);
    char *out = NULL, *err = NULL;
    CHECK_EQ_INT(ql_test_run_qlens(args, &out, &err), 0);
    CHECK_MSG(!strchr(err, '\x1b') && !strchr(out, '\x1b') && !strchr(err, '\a'),
              "a control character reached the terminal: %s%s", out, err);
    CHECK_MSG(strstr(err, "m\\x1b]0;title\\x07.gguf"), "the model's name is not shown escaped: %s",
              err);
    free(out), free(err);
    snprintf(args, sizeof args,
             "perplexity -m '%s' --kl-divergence-base '%s/r\x1b[1m.qlref' "
             "--kl-divergence",
             link_to_model, dir);
    CHECK_EQ_INT(ql_test_run_qlens(args, &out, &err), 0);
    CHECK_MSG(!strchr(err, '\x1b') && !strchr(out, '\x1b'), "a control character: %s%s", out, err);
    free(out), free(err);
    snprintf(args, sizeof args, "info '%s'", link_to_model);
    CHECK_EQ_INT(ql_test_run_qlens(args, &out, &err), 0);
    CHECK_MSG(!strchr(out, '\x1b') && !strchr(out, '\a') && strstr(out, "m\\x1b]0;title"),
              "info shows the path unescaped: %.200s", out);
    free(out), free(err);
}
