/*
 * cli.c - option parsing and error printing for every subcommand. Keeps the
 * behaviour uniform: one error line, the documented exit status, help text
 * generated from the same option table the parser reads.
 */
#include "cli.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "../core/outfile.h"
#include "../core/printable.h"
#include "../model/context.h"

/* One line on stderr, whatever the names in it hold (see core/printable.h). */
static void print_error_line(const char *fmt, va_list ap) {
    char msg[QL_ERROR_MSG_MAX * 2], shown[QL_ERROR_MSG_MAX * 4];
    vsnprintf(msg, sizeof msg, fmt, ap);
    fprintf(stderr, "qlens: error: %s\n", ql_printable(msg, shown, sizeof shown));
}

void cli_error(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    print_error_line(fmt, ap);
    va_end(ap);
}

static bool quiet;

void cli_set_quiet(bool q) {
    quiet = q;
}

bool cli_quiet(void) {
    return quiet;
}

void cli_note(const char *fmt, ...) {
    if (quiet) return;
    va_list ap;
    va_start(ap, fmt);
    fputs("qlens: note: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
}

const char *cli_shown(const char *s) {
    static char bufs[8][2048];
    static int next;
    return s ? ql_printable(s, bufs[next++ % 8], sizeof bufs[0]) : "(none)";
}

int cli_fail(const ql_error *err) {
    cli_error("%s", err->msg[0] ? err->msg : ql_status_name(err->code));
    return QL_EXIT_FAILURE;
}

int cli_usage(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    print_error_line(fmt, ap);
    va_end(ap);
    return QL_EXIT_USAGE;
}

bool cli_parse_bytes(const char *s, uint64_t *out) {
    if (!s || !*s) return false;
    errno = 0;
    char *end;
    double v = strtod(s, &end);
    if (errno || end == s || !(v >= 0) || !isfinite(v)) return false;
    static const struct {
        const char *suffix;
        double mult;
    } units[] = {
        {"", 1},
        {"B", 1},
        {"K", 1024.0},
        {"KiB", 1024.0},
        {"KB", 1e3},
        {"M", 1024.0 * 1024},
        {"MiB", 1024.0 * 1024},
        {"MB", 1e6},
        {"G", 1024.0 * 1024 * 1024},
        {"GiB", 1024.0 * 1024 * 1024},
        {"GB", 1e9},
        {"T", 1024.0 * 1024 * 1024 * 1024},
        {"TiB", 1024.0 * 1024 * 1024 * 1024},
        {"TB", 1e12},
    };
    while (*end == ' ') end++;
    for (size_t i = 0; i < sizeof units / sizeof units[0]; i++) {
        if (strcmp(end, units[i].suffix) == 0) {
            double bytes = v * units[i].mult;
            if (bytes >= 1.8e19) return false;
            *out = (uint64_t)llround(bytes);
            return true;
        }
    }
    return false;
}

void cli_format_bytes(uint64_t bytes, char *buf, int size) {
    static const char *units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
    double v = (double)bytes;
    int u = 0;
    while (v >= 1024.0 && u < 4) v /= 1024.0, u++;
    if (u == 0)
        snprintf(buf, (size_t)size, "%" PRIu64 " B", bytes);
    else
        snprintf(buf, (size_t)size, "%.2f %s", v, units[u]);
}

static const cli_opt *find_opt(const ql_command *cmd, const char *word, size_t len) {
    for (int i = 0; i < cmd->n_opts; i++) {
        const cli_opt *o = &cmd->opts[i];
        if ((strlen(o->name) == len && strncmp(o->name, word, len) == 0) ||
            (o->alias && strlen(o->alias) == len && strncmp(o->alias, word, len) == 0))
            return o;
    }
    return NULL;
}

static int set_value(const ql_command *cmd, const cli_opt *o, const char *value) {
    switch (o->kind) {
    case CLI_FLAG:
        *(bool *)o->dest = true;
        return 0;
    case CLI_STRING:
    case CLI_OPTIONAL:
        *(const char **)o->dest = value;
        return 0;
    case CLI_LIST: {
        cli_list *l = o->dest;
        const char **items = realloc(l->items, (size_t)(l->n + 1) * sizeof *items);
        if (!items) return cli_usage("out of memory parsing %s", o->name);
        items[l->n++] = value;
        l->items = items;
        return 0;
    }
    case CLI_INT: {
        errno = 0;
        char *end;
        long long v = strtoll(value, &end, 10);
        if (errno || end == value || *end)
            return cli_usage("%s %s: '%s' is not an integer", cmd->name, o->name, value);
        if (v < o->min || v > o->max)
            return cli_usage("%s %s: %lld is out of range %" PRId64 "..%" PRId64, cmd->name,
                             o->name, v, o->min, o->max);
        *(int64_t *)o->dest = v;
        return 0;
    }
    case CLI_DOUBLE: {
        errno = 0;
        char *end;
        double v = strtod(value, &end);
        if (errno || end == value || *end || !isfinite(v))
            return cli_usage("%s %s: '%s' is not a number", cmd->name, o->name, value);
        if (v < o->dmin || v > o->dmax)
            return cli_usage("%s %s: %g is out of range %g..%g", cmd->name, o->name, v, o->dmin,
                             o->dmax);
        *(double *)o->dest = v;
        return 0;
    }
    case CLI_BYTES: {
        uint64_t v;
        if (!cli_parse_bytes(value, &v))
            return cli_usage("%s %s: '%s' is not a size (examples: 8GiB, 512MiB, 1000000)",
                             cmd->name, o->name, value);
        *(uint64_t *)o->dest = v;
        return 0;
    }
    }
    return cli_usage("internal: bad option kind");
}

/* Whether word is one of the '|'-separated choices. */
static bool is_choice(const char *choices, const char *word) {
    const size_t n = strlen(word);
    for (const char *c = choices; c && *c;) {
        const char *bar = strchr(c, '|');
        const size_t len = bar ? (size_t)(bar - c) : strlen(c);
        if (len == n && strncmp(c, word, n) == 0) return n > 0;
        c += len + (bar != NULL);
    }
    return false;
}

/* The first of the '|'-separated choices, in a static buffer. */
static const char *first_choice(const char *choices) {
    static char first[32];
    const size_t len = strcspn(choices, "|");
    snprintf(first, sizeof first, "%.*s", (int)len, choices);
    return first;
}

int cli_parse(const ql_command *cmd, int argc, char **argv, const char **positional,
              int max_positional, int *n_positional) {
    int np = 0;
    bool options_done = false;
    for (int i = 1; i < argc; i++) {
        const char *w = argv[i];
        if (!options_done && strcmp(w, "--") == 0) {
            options_done = true;
            continue;
        }
        if (!options_done && w[0] == '-' && w[1] != '\0') {
            if (strcmp(w, "-h") == 0 || strcmp(w, "--help") == 0) {
                cli_print_help(cmd);
                return -1;
            }
            const char *eq = strchr(w, '=');
            size_t len = eq && w[1] == '-' ? (size_t)(eq - w) : strlen(w);
            const cli_opt *o = find_opt(cmd, w, len);
            if (!o) return cli_usage("%s: unknown option '%.*s'", cmd->name, (int)len, w);
            const char *value = NULL;
            if (o->kind == CLI_OPTIONAL) {
                if (eq && w[1] == '-')
                    value = eq + 1;
                else if (i + 1 < argc && is_choice(o->choices, argv[i + 1]))
                    value = argv[++i];
                else
                    value = first_choice(o->choices);
                if (!is_choice(o->choices, value))
                    return cli_usage("%s %s: '%s' is not one of %s", cmd->name, o->name, value,
                                     o->choices);
            } else if (o->kind != CLI_FLAG) {
                if (eq && w[1] == '-')
                    value = eq + 1;
                else if (i + 1 < argc)
                    value = argv[++i];
                else
                    return cli_usage("%s %s: missing value %s", cmd->name, o->name,
                                     o->metavar ? o->metavar : "");
            } else if (eq && w[1] == '-') {
                return cli_usage("%s %s: takes no value", cmd->name, o->name);
            }
            int rc = set_value(cmd, o, value);
            if (rc) return rc;
            continue;
        }
        if (np >= max_positional) {
            if (max_positional == 0) return cli_usage("%s: unexpected argument '%s'", cmd->name, w);
            return cli_usage("%s: too many arguments ('%s'); usage: %s", cmd->name, w, cmd->usage);
        }
        positional[np++] = w;
    }
    *n_positional = np;
    return 0;
}

void cli_print_help(const ql_command *cmd) {
    printf("usage: %s\n\n%s\n", cmd->usage, cmd->summary);
    if (cmd->n_opts > 0) printf("\noptions:\n");
    for (int i = 0; i < cmd->n_opts; i++) {
        const cli_opt *o = &cmd->opts[i];
        char left[96];
        char optional[48];
        snprintf(optional, sizeof optional, "[%s]", o->choices ? o->choices : "");
        snprintf(left, sizeof left, "%s%s%s%s%s", o->alias ? o->alias : "", o->alias ? ", " : "",
                 o->name, o->kind == CLI_FLAG ? "" : " ",
                 o->kind == CLI_FLAG       ? ""
                 : o->kind == CLI_OPTIONAL ? optional
                                           : (o->metavar ? o->metavar : "VALUE"));
        printf("  %-30s %s\n", left, o->help);
    }
    printf("  %-30s %s\n", "-h, --help", "show this help");
    if (cmd->details) printf("\n%s\n", cmd->details);
}

ql_status cli_read_file(const char *path, char **data, size_t *len, ql_error *err) {
    *data = NULL;
    *len = 0;
    FILE *f = path ? fopen(path, "rb") : stdin;
    const char *name = path ? path : "standard input";
    if (!f) return ql_fail(err, QL_ERR_IO, "%s: cannot open: %s", name, strerror(errno));
    /* what the command read, no output of it may replace */
    if (path) ql_input_note(path);
    size_t cap = 1 << 16, n = 0;
    char *buf = malloc(cap + 1);
    ql_status st = QL_OK;
    while (buf) {
        if (n == cap) {
            char *p = cap * 2 > cap ? realloc(buf, cap * 2 + 1) : NULL;
            if (!p) {
                free(buf);
                buf = NULL;
                break;
            }
            buf = p;
            cap *= 2;
        }
        errno = 0;
        size_t got = fread(buf + n, 1, cap - n, f);
        n += got;
        if (got == 0) break;
    }
    if (!buf)
        st = ql_fail(err, QL_ERR_NOMEM, "%s: out of memory reading it", name);
    else if (ferror(f))
        st = ql_fail(err, QL_ERR_IO, "%s: cannot read: %s", name,
                     errno == EISDIR ? "is a directory" : strerror(errno ? errno : EIO));
    if (path) fclose(f);
    if (st) {
        free(buf);
        return st;
    }
    buf[n] = '\0';
    *data = buf;
    *len = n;
    return QL_OK;
}

ql_status cli_kv_cache_type(const char *flag, const char *name, int *type, ql_error *err) {
    const int t = ql_type_from_name(name);
    if (t < 0 || !ql_kv_cache_type_ok((ql_type)t))
        return ql_fail(err, QL_ERR_ARG, "%s: unknown cache type '%s' (valid: %s)", flag, name,
                       ql_kv_cache_type_names());
    *type = t;
    return QL_OK;
}

double cli_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

void cli_progress_begin(cli_progress *p, const char *label) {
    memset(p, 0, sizeof *p);
    p->enabled = isatty(STDERR_FILENO) && !getenv("QLENS_NO_PROGRESS") && !cli_quiet();
    p->stdout_shared = p->enabled && isatty(STDOUT_FILENO);
    p->start = cli_now();
    snprintf(p->label, sizeof p->label, "%s", label);
}

void cli_format_duration(double s, char *buf, size_t size) {
    long t = (long)(s + 0.5);
    if (t >= 3600)
        snprintf(buf, size, "%ld:%02ld:%02ld", t / 3600, t / 60 % 60, t % 60);
    else
        snprintf(buf, size, "%ld:%02ld", t / 60, t % 60);
}

static int terminal_width(void) {
    struct winsize ws;
    if (ioctl(STDERR_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_col >= 20) return ws.ws_col;
    return 80;
}

/* The cursor's column on stdout's unfinished line (0 also right after a full row). */
static int64_t cursor_column(const cli_progress *p, int width) {
    return p->stdout_shared ? p->column % width : 0;
}

/*
 * Where the bar goes: on the row below when stdout's line is unfinished, else
 * on the current row. A line that exactly fills its rows leaves the cursor
 * waiting to wrap; it is moved to the next row first, where the next
 * character would have gone anyway.
 */
static bool bar_below(cli_progress *p, int width) {
    if (p->stdout_shared && p->column > 0 && p->column % width == 0 && !p->moved_down) {
        fputs("\r\n", stderr);
        p->moved_down = true;
    }
    return cursor_column(p, width) > 0;
}

void cli_progress_draw(cli_progress *p, double frac, double eta_s, const char *detail) {
    if (!p->enabled) return;
    p->last_draw = cli_now();
    if (frac > 1) frac = 1;
    if (!(frac >= 0)) frac = 0;
    char elapsed[32], eta[32] = "?";
    cli_format_duration(p->last_draw - p->start, elapsed, sizeof elapsed);
    if (eta_s >= 0) cli_format_duration(eta_s, eta, sizeof eta);
    char rest[400];
    snprintf(rest, sizeof rest, "%3.0f%% %s elapsed, ETA %s %s", 100 * frac, elapsed, eta,
             detail ? detail : "");
    /* one row, whatever the terminal's width (a wrapped bar could not be erased): the bar
       narrows to make room for the ETA, then the detail is cut */
    const int width = terminal_width();
    int bar_width = width - 1 - (int)strlen(p->label) - 4 - (int)strlen(rest);
    bar_width = bar_width > 30 ? 30 : bar_width < 10 ? 10 : bar_width;
    char bar[31];
    const int filled = (int)(frac * bar_width);
    for (int i = 0; i < bar_width; i++) bar[i] = i < filled ? '#' : '.';
    bar[bar_width] = '\0';
    char line[512];
    snprintf(line, sizeof line, "%s [%s] %s", p->label, bar, rest);
    if ((int)strlen(line) > width - 1) line[width - 1] = '\0';
    if (bar_below(p, width))
        fprintf(stderr, "\n%s\033[K\033[A\r\033[%lldC", line, (long long)cursor_column(p, width));
    else
        fprintf(stderr, "\r%s\033[K", line);
    p->shown = true;
    fflush(stderr);
}

void cli_progress_update(cli_progress *p, double done, double total, const char *detail) {
    if (!p->enabled || total <= 0) return;
    const double now = cli_now();
    if (done < total && now - p->last_draw < 0.2) return;
    const double eta = done > 0 ? (now - p->start) * (total - done) / done : -1;
    cli_progress_draw(p, done / total, eta, detail);
}

void cli_progress_end(cli_progress *p) {
    if (!p->enabled || !p->shown) return;
    const int width = terminal_width();
    const int64_t col = cursor_column(p, width);
    if (col > 0)
        fprintf(stderr, "\033[B\r\033[K\033[A\r\033[%lldC", (long long)col);
    else
        fputs("\r\033[K", stderr);
    p->shown = false;
    fflush(stderr);
}

void cli_progress_print_line(cli_progress *p, const char *fmt, ...) {
    cli_progress_end(p);
    char buf[1024];
    va_list ap;
    va_start(ap, fmt);
    const int n = vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    fputs(buf, stdout);
    fflush(stdout);
    if (n < 0) return;
    for (const char *c = buf; *c; c++) {
        if (*c == '\n' || *c == '\r') {
            p->column = 0;
        } else if (((unsigned char)*c & 0xC0) != 0x80) { /* a character, not a continuation byte */
            p->column++;
        }
        p->moved_down = false;
    }
}
