/*
 * cli.h - what every subcommand shares: the command table entry, a small
 * declarative option parser, and the one way errors reach the user.
 *
 * Exit statuses (documented in README.md):
 *   0  success
 *   1  the command ran but failed (bad input file, I/O error, unsupported model)
 *   2  the command line is wrong (unknown command or flag, bad flag value)
 */
#ifndef QL_CLI_CLI_H
#define QL_CLI_CLI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../core/status.h"

enum { QL_EXIT_OK = 0, QL_EXIT_FAILURE = 1, QL_EXIT_USAGE = 2 };

typedef struct {
    const char *name;
    const char *summary; /* one line for `qlens --help` */
    const char *usage;   /* "qlens info [options] FILE.gguf" */
    const char *details; /* paragraph printed by `qlens help NAME` after the options; may be NULL */
    const struct cli_opt *opts;
    int n_opts;
    int (*run)(int argc, char **argv);
} ql_command;

typedef enum {
    CLI_FLAG,   /* bool, no value */
    CLI_STRING, /* const char * */
    CLI_INT,    /* int64_t with [min, max] */
    CLI_DOUBLE, /* double with [dmin, dmax] */
    CLI_BYTES,  /* uint64_t; accepts suffixes K, M, G, T, KiB, MiB, GiB, TiB, KB, MB, GB, TB */
    CLI_LIST,   /* repeatable string: cli_list */
    /* const char *: "--opt=VALUE", or the next word when it is one of `choices`, else the first
       choice (llama.cpp's -fa was a bare flag before it took on|off|auto) */
    CLI_OPTIONAL,
} cli_kind;

typedef struct {
    const char **items;
    int n;
} cli_list;

typedef struct cli_opt {
    const char *name;  /* "--ctx-size" */
    const char *alias; /* "-c" or NULL */
    cli_kind kind;
    void *dest;
    const char *metavar; /* "N" */
    const char *help;
    int64_t min, max;    /* CLI_INT */
    double dmin, dmax;   /* CLI_DOUBLE */
    const char *choices; /* CLI_OPTIONAL: "on|off|auto" */
} cli_opt;

/*
 * Parses argv[1..argc) (argv[0] is the subcommand name). Options may appear
 * anywhere; "--" ends options. Non-option words are collected in positional
 * (at most max_positional; more is a usage error). `-h/--help` prints the
 * command's help and returns -1 (caller exits 0). Returns 0 on success or
 * QL_EXIT_USAGE after printing one error line.
 */
int cli_parse(const ql_command *cmd, int argc, char **argv, const char **positional,
              int max_positional, int *n_positional);

void cli_print_help(const ql_command *cmd);

/*
 * Prints "qlens: error: <msg>" to stderr, as one line: control characters
 * in it (from a file name, say) are shown escaped (core/printable.h).
 */
void cli_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Prints the error line for a failed status and returns QL_EXIT_FAILURE. */
int cli_fail(const ql_error *err);
/* Prints "qlens: note: <msg>" to stderr (nothing after cli_set_quiet). */
void cli_note(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* --log-disable: no notes, progress or run descriptions on stderr; errors still print. */
void cli_set_quiet(bool quiet);
bool cli_quiet(void);
/* Prints a usage error line and returns QL_EXIT_USAGE. */
int cli_usage(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/*
 * s as it may be shown on a terminal (core/printable.h), for printing a
 * path or a name from outside in a message; one of 8 rotating buffers.
 */
const char *cli_shown(const char *s);

/* Parses "24GiB", "512M", "1000000" into bytes; false if malformed or overflowing. */
bool cli_parse_bytes(const char *s, uint64_t *out);
/* Formats bytes as "1.23 GiB" (or "512 B"). */
void cli_format_bytes(uint64_t bytes, char *buf, int size);

/* Reads a whole file (or standard input for NULL); malloc'd, NUL-terminated. */
ql_status cli_read_file(const char *path, char **data, size_t *len, ql_error *err);

/* Looks up a KV cache type by name; on failure the message lists the valid ones. */
ql_status cli_kv_cache_type(const char *flag, const char *name, int *type, ql_error *err);

/*
 * A progress line with an ETA on stderr, drawn only when stderr is a
 * terminal (so logs and pipes stay clean). update() may be called often; it
 * redraws at most a few times a second.
 *
 * Results printed on stdout while a bar is shown go through
 * cli_progress_print_line, which keeps them on the screen: when stdout is the
 * same terminal and its line is unfinished (llama-perplexity's running
 * "[1]5.43,[2]6.01," values), the bar is drawn on the row below it and the
 * cursor put back at the end of the values; otherwise the bar shares the
 * current row and is erased before anything is printed.
 */
typedef struct {
    bool enabled;
    double start, last_draw;
    char label[64];
    bool shown;         /* a bar is on the screen */
    bool stdout_shared; /* stdout is the same terminal: its unfinished line is tracked */
    bool moved_down;    /* at a full row's end, the cursor was put on the next row */
    int64_t column;     /* characters on stdout's unfinished line */
} cli_progress;

void cli_progress_begin(cli_progress *p, const char *label);
void cli_progress_update(cli_progress *p, double done, double total, const char *detail);
/* Draws now: frac of the work done and eta_s seconds left (negative: not known yet). */
void cli_progress_draw(cli_progress *p, double frac, double eta_s, const char *detail);
/* printf to stdout (flushed) without the bar hiding or overwriting it. */
void cli_progress_print_line(cli_progress *p, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* Erases the bar (the next update draws it again). */
void cli_progress_end(cli_progress *p);
/* "1:05" or "2:03:07" */
void cli_format_duration(double seconds, char *buf, size_t size);
double cli_now(void);

/* Command table entries, one per src/cli/cmd_*.c file. */
extern const ql_command ql_cmd_info;
extern const ql_command ql_cmd_perplexity;
extern const ql_command ql_cmd_kld;
extern const ql_command ql_cmd_sweep;
extern const ql_command ql_cmd_plan;
extern const ql_command ql_cmd_quantize;
extern const ql_command ql_cmd_tokenize;

#endif
