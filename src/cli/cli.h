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
    int64_t min, max;  /* CLI_INT */
    double dmin, dmax; /* CLI_DOUBLE */
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
 */
typedef struct {
    bool enabled;
    double start, last_draw;
    char label[64];
} cli_progress;

void cli_progress_begin(cli_progress *p, const char *label);
void cli_progress_update(cli_progress *p, double done, double total, const char *detail);
void cli_progress_end(cli_progress *p);
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
