/*
 * cmd_tokenize.c - `qlens tokenize`: the token ids a GGUF's tokenizer gives a
 * text. Flags and output follow llama.cpp's llama-tokenize where they
 * overlap, so the two can be diffed: "%6d -> 'piece'" lines by default, a
 * Python-style list with --ids, escapes (\n, \t, \xNN ...) processed in the
 * prompt unless --no-escape, special tokens written in the text recognised
 * unless --no-parse-special, BOS added when the vocabulary asks for it unless
 * --no-bos.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../gguf/gguf.h"
#include "../tokenizer/tokenizer.h"
#include "cli.h"

static const char *opt_model, *opt_prompt, *opt_file;
static bool opt_stdin, opt_ids, opt_show_tokens, opt_show_count, opt_no_bos, opt_no_escape,
    opt_no_parse_special, opt_log_disable;

static const cli_opt tokenize_opts[] = {
    {.name = "--model",
     .alias = "-m",
     .kind = CLI_STRING,
     .dest = &opt_model,
     .metavar = "FILE",
     .help = "the GGUF whose tokenizer to use (a vocabulary-only GGUF is enough)"},
    {.name = "--prompt",
     .alias = "-p",
     .kind = CLI_STRING,
     .dest = &opt_prompt,
     .metavar = "TEXT",
     .help = "tokenize TEXT"},
    {.name = "--file",
     .alias = "-f",
     .kind = CLI_STRING,
     .dest = &opt_file,
     .metavar = "FILE",
     .help = "tokenize the contents of FILE"},
    {.name = "--stdin", .kind = CLI_FLAG, .dest = &opt_stdin, .help = "tokenize standard input"},
    {.name = "--ids",
     .kind = CLI_FLAG,
     .dest = &opt_ids,
     .help = "print only the ids, as [1, 2, 3]"},
    {.name = "--show-tokens",
     .kind = CLI_FLAG,
     .dest = &opt_show_tokens,
     .help = "with --ids, also print the tokens' pieces as a list ['a', 'b']"},
    {.name = "--show-count",
     .kind = CLI_FLAG,
     .dest = &opt_show_count,
     .help = "also print the number of tokens"},
    {.name = "--no-bos",
     .kind = CLI_FLAG,
     .dest = &opt_no_bos,
     .help = "do not add the BOS token (nor EOS) the vocabulary asks for"},
    {.name = "--no-escape",
     .kind = CLI_FLAG,
     .dest = &opt_no_escape,
     .help = "take \\n, \\t, \\xNN ... in the text literally"},
    {.name = "--no-parse-special",
     .kind = CLI_FLAG,
     .dest = &opt_no_parse_special,
     .help = "treat control tokens written in the text (<s>, <|endoftext|>) as plain text"},
    {.name = "--log-disable",
     .kind = CLI_FLAG,
     .dest = &opt_log_disable,
     .help = "accepted for llama-tokenize compatibility (qlens logs nothing here)"},
};

static int run_tokenize(int argc, char **argv);

const ql_command ql_cmd_tokenize = {
    .name = "tokenize",
    .summary = "turn text into the token ids llama.cpp would give it",
    .usage = "qlens tokenize -m MODEL.gguf (-p TEXT | -f FILE | --stdin) [--ids] [--show-tokens] "
             "[--show-count] "
             "[--no-bos] [--no-escape] [--no-parse-special]",
    .details =
        "Prints one line per token, \"%6d -> 'piece'\" (the piece's raw bytes), or with --ids\n"
        "a list [id, id, ...]. Like llama-tokenize, escapes in the text are processed\n"
        "whatever its source (-p, -f or --stdin) unless --no-escape is given.",
    .opts = tokenize_opts,
    .n_opts = sizeof tokenize_opts / sizeof tokenize_opts[0],
    .run = run_tokenize,
};

/* Reads a whole stream; returns malloc'd bytes or NULL with errno set. */
static char *read_stream(FILE *f, size_t *len) {
    size_t cap = 1 << 16, n = 0;
    char *buf = malloc(cap);
    if (!buf) return NULL;
    for (;;) {
        if (n == cap) {
            char *p = cap * 2 > cap ? realloc(buf, cap * 2) : NULL;
            if (!p) {
                free(buf);
                errno = ENOMEM;
                return NULL;
            }
            buf = p;
            cap *= 2;
        }
        size_t got = fread(buf + n, 1, cap - n, f);
        n += got;
        if (got == 0) break;
    }
    if (ferror(f)) {
        free(buf);
        if (!errno) errno = EIO;
        return NULL;
    }
    *len = n;
    return buf;
}

/* llama.cpp's escape processing: \n \r \t \' \" \\ and \xNN (two characters
 * that strtol reads whole as hex); any other backslash pair stays as it is. */
static size_t process_escapes(char *s, size_t n) {
    size_t w = 0;
    for (size_t r = 0; r < n; r++) {
        if (s[r] != '\\' || r + 1 >= n) {
            s[w++] = s[r];
            continue;
        }
        char c = s[++r];
        switch (c) {
        case 'n':
            s[w++] = '\n';
            continue;
        case 'r':
            s[w++] = '\r';
            continue;
        case 't':
            s[w++] = '\t';
            continue;
        case '\'':
            s[w++] = '\'';
            continue;
        case '"':
            s[w++] = '"';
            continue;
        case '\\':
            s[w++] = '\\';
            continue;
        case 'x':
            if (r + 2 < n) {
                char hex[3] = {s[r + 1], s[r + 2], 0};
                char *end;
                long value = strtol(hex, &end, 16);
                if (end == hex + 2) {
                    r += 2;
                    s[w++] = (char)value;
                    continue;
                }
            }
            break;
        default:
            break;
        }
        s[w++] = '\\';
        s[w++] = c;
    }
    return w;
}

static int run_tokenize(int argc, char **argv) {
    int np = 0;
    int rc = cli_parse(&ql_cmd_tokenize, argc, argv, NULL, 0, &np);
    if (rc) return rc < 0 ? QL_EXIT_OK : rc;
    if (!opt_model)
        return cli_usage("tokenize: -m MODEL.gguf is required; usage: %s", ql_cmd_tokenize.usage);
    int n_sources = (opt_prompt != NULL) + (opt_file != NULL) + opt_stdin;
    if (n_sources == 0)
        return cli_usage("tokenize: give the text with -p TEXT, -f FILE or --stdin");
    if (n_sources > 1) return cli_usage("tokenize: -p, -f and --stdin are mutually exclusive");

    char *text = NULL;
    size_t len = 0;
    if (opt_prompt) {
        len = strlen(opt_prompt);
        text = malloc(len + 1);
        if (text) memcpy(text, opt_prompt, len + 1);
    } else {
        FILE *f = opt_stdin ? stdin : fopen(opt_file, "rb");
        if (!f) {
            cli_error("cannot open %s: %s", opt_file, strerror(errno));
            return QL_EXIT_FAILURE;
        }
        errno = 0;
        text = read_stream(f, &len);
        int saved = errno;
        if (f != stdin) fclose(f);
        if (!text) {
            cli_error("cannot read %s: %s", opt_stdin ? "standard input" : opt_file,
                      strerror(saved));
            return QL_EXIT_FAILURE;
        }
    }
    if (!text) {
        cli_error("out of memory");
        return QL_EXIT_FAILURE;
    }
    if (!opt_no_escape) len = process_escapes(text, len);

    ql_error err;
    gguf_file *f;
    if (gguf_open(opt_model, &f, &err)) {
        free(text);
        return cli_fail(&err);
    }
    tok_vocab *vocab;
    if (tok_load(f, &vocab, &err)) {
        gguf_close(f);
        free(text);
        ql_error_prefix(&err, "%s", opt_model);
        return cli_fail(&err);
    }
    gguf_close(f);

    /* Like llama-tokenize, --no-bos turns off everything add_special adds. */
    bool add_special = tok_add_bos(vocab) && !opt_no_bos;
    int32_t *ids;
    size_t n_ids;
    ql_status st =
        tok_encode(vocab, text, len, add_special, !opt_no_parse_special, &ids, &n_ids, &err);
    free(text);
    if (st) {
        tok_free(vocab);
        return cli_fail(&err);
    }

    if (opt_ids) {
        putchar('[');
        for (size_t i = 0; i < n_ids; i++) printf(i ? ", %d" : "%d", ids[i]);
        fputs("]\n", stdout);
    } else {
        for (size_t i = 0; i < n_ids; i++) {
            size_t pl;
            const char *piece = tok_token_to_piece(vocab, ids[i], true, &pl);
            printf("%6d -> '", ids[i]);
            fwrite(piece, 1, pl, stdout);
            fputs("'\n", stdout);
        }
    }
    if (opt_ids && opt_show_tokens) {
        putchar('[');
        for (size_t i = 0; i < n_ids; i++) {
            size_t pl;
            const char *piece = tok_token_to_piece(vocab, ids[i], true, &pl);
            fputs(i ? ", '" : "'", stdout);
            for (size_t k = 0; k < pl; k++) {
                const unsigned char c = (unsigned char)piece[k];
                if (c == '\'' || c == '\\')
                    printf("\\%c", c);
                else if (c < 0x20 || c == 0x7f)
                    printf("\\x%02x", c);
                else
                    putchar(c);
            }
            putchar('\'');
        }
        fputs("]\n", stdout);
    }
    if (opt_show_count) printf("Total number of tokens: %zu\n", n_ids);
    free(ids);
    tok_free(vocab);
    if (fflush(stdout) != 0 || ferror(stdout)) {
        cli_error("cannot write to standard output: %s", strerror(errno ? errno : EIO));
        return QL_EXIT_FAILURE;
    }
    return QL_EXIT_OK;
}
