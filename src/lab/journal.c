/*
 * journal.c - see journal.h.
 */
#include "journal.h"

#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../core/crc32.h"

#define JOURNAL_MAGIC "qlens-sweep-journal 1"
#define LINE_MAX_LEN  4096

struct ql_journal {
    char *path;
    int fd; /* -1 for a parsed-only journal */
    char **steps;
    int64_t n_steps, cap;
};

static ql_status add_step(ql_journal *j, const char *text, size_t len, ql_error *err) {
    if (j->n_steps == j->cap) {
        int64_t cap = j->cap ? j->cap * 2 : 16;
        char **s = realloc(j->steps, (size_t)cap * sizeof *s);
        if (!s) return ql_fail(err, QL_ERR_NOMEM, "out of memory reading the journal");
        j->steps = s;
        j->cap = cap;
    }
    char *copy = malloc(len + 1);
    if (!copy) return ql_fail(err, QL_ERR_NOMEM, "out of memory reading the journal");
    memcpy(copy, text, len);
    copy[len] = '\0';
    j->steps[j->n_steps++] = copy;
    return QL_OK;
}

/* "<crc8> <text>" with a valid CRC: returns the text's start and length, else NULL. */
static const char *check_line(const char *line, size_t len, size_t *text_len) {
    if (len < 10 || line[8] != ' ') return NULL;
    char hex[9];
    memcpy(hex, line, 8);
    hex[8] = '\0';
    char *end;
    unsigned long want = strtoul(hex, &end, 16);
    if (end != hex + 8) return NULL;
    const char *text = line + 9;
    *text_len = len - 9;
    if (ql_crc32(0, text, *text_len) != (uint32_t)want) return NULL;
    for (size_t i = 0; i < *text_len; i++)
        if ((unsigned char)text[i] < 0x20) return NULL;
    return text;
}

ql_status ql_journal_parse(const char *data, size_t len, const char *identity, ql_journal **out,
                           ql_error *err) {
    *out = NULL;
    ql_journal *j = calloc(1, sizeof *j);
    if (!j) return ql_fail(err, QL_ERR_NOMEM, "out of memory");
    j->fd = -1;
    size_t pos = 0;
    bool first = true;
    ql_status st = QL_OK;
    while (pos < len && !st) {
        const char *nl = memchr(data + pos, '\n', len - pos);
        if (!nl) break; /* a torn last line: its step was not finished */
        const size_t line_len = (size_t)(nl - (data + pos));
        size_t text_len;
        const char *text =
            line_len <= LINE_MAX_LEN ? check_line(data + pos, line_len, &text_len) : NULL;
        if (first) {
            const size_t magic_len = strlen(JOURNAL_MAGIC);
            if (!text || text_len <= magic_len || memcmp(text, JOURNAL_MAGIC, magic_len) != 0 ||
                text[magic_len] != ' ') {
                st = ql_fail(err, QL_ERR_FORMAT, "not a qlens sweep journal");
                break;
            }
            const char *id = text + magic_len + 1;
            const size_t id_len = text_len - magic_len - 1;
            if (id_len != strlen(identity) || memcmp(id, identity, id_len) != 0) {
                st = ql_fail(err, QL_ERR_MISMATCH,
                             "the directory holds a sweep with other parameters (use a new --out "
                             "directory or remove it)");
                break;
            }
            first = false;
        } else if (text) {
            st = add_step(j, text, text_len, err);
        }
        pos += line_len + 1;
    }
    if (!st && first)
        st = ql_fail(err, QL_ERR_FORMAT, "not a qlens sweep journal (no identity line)");
    if (st) {
        ql_journal_close(j);
        return st;
    }
    *out = j;
    return QL_OK;
}

static ql_status write_line(int fd, const char *path, const char *text, ql_error *err) {
    char line[LINE_MAX_LEN + 16];
    const size_t n = strlen(text);
    if (n > LINE_MAX_LEN) return ql_fail(err, QL_ERR_INTERNAL, "journal line too long");
    int len = snprintf(line, sizeof line, "%08x %s\n", ql_crc32(0, text, n), text);
    /* one write: a kill leaves either the whole line or a torn one that parsing drops */
    ssize_t k = write(fd, line, (size_t)len);
    if (k != len || fsync(fd) != 0)
        return ql_fail(err, QL_ERR_IO, "%s: cannot write: %s", path, strerror(errno ? errno : EIO));
    return QL_OK;
}

ql_status ql_journal_open(const char *path, const char *identity, ql_journal **out, ql_error *err) {
    *out = NULL;
    int fd = open(path, O_RDWR | O_CREAT | O_APPEND | O_CLOEXEC, 0666);
    if (fd < 0) return ql_fail(err, QL_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    struct stat sb;
    if (fstat(fd, &sb) != 0) {
        close(fd);
        return ql_fail(err, QL_ERR_IO, "%s: cannot stat", path);
    }
    ql_journal *j = NULL;
    ql_status st;
    if (sb.st_size == 0) {
        char id[LINE_MAX_LEN];
        snprintf(id, sizeof id, "%s %s", JOURNAL_MAGIC, identity);
        st = write_line(fd, path, id, err);
        if (!st) {
            j = calloc(1, sizeof *j);
            if (!j) st = ql_fail(err, QL_ERR_NOMEM, "out of memory");
        }
    } else {
        char *data = malloc((size_t)sb.st_size);
        st = data ? QL_OK : ql_fail(err, QL_ERR_NOMEM, "out of memory");
        if (!st && pread(fd, data, (size_t)sb.st_size, 0) != sb.st_size)
            st = ql_fail(err, QL_ERR_IO, "%s: cannot read", path);
        if (!st) st = ql_journal_parse(data, (size_t)sb.st_size, identity, &j, err);
        if (st) ql_error_prefix(err, "%s", path);
        /* a torn last line would glue onto the next record: end it */
        if (!st && data[sb.st_size - 1] != '\n' && write(fd, "\n", 1) != 1)
            st = ql_fail(err, QL_ERR_IO, "%s: cannot write", path);
        free(data);
    }
    if (st) {
        ql_journal_close(j);
        close(fd);
        return st;
    }
    j->fd = fd;
    j->path = strdup(path);
    *out = j;
    return QL_OK;
}

ql_status ql_journal_identity(const char *path, char *buf, size_t size, ql_error *err) {
    buf[0] = '\0';
    FILE *f = fopen(path, "rb");
    if (!f) {
        if (errno == ENOENT) return QL_OK;
        return ql_fail(err, QL_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    }
    char line[LINE_MAX_LEN + 16];
    const bool got = fgets(line, sizeof line, f) != NULL;
    fclose(f);
    if (!got) return QL_OK;
    size_t len = strcspn(line, "\n"), text_len;
    const char *text = check_line(line, len, &text_len);
    const size_t magic_len = strlen(JOURNAL_MAGIC);
    if (!text || text_len <= magic_len || memcmp(text, JOURNAL_MAGIC, magic_len) != 0 ||
        text[magic_len] != ' ')
        return ql_fail(err, QL_ERR_FORMAT, "%s: not a qlens sweep journal", path);
    snprintf(buf, size, "%.*s", (int)(text_len - magic_len - 1), text + magic_len + 1);
    return QL_OK;
}

void ql_journal_close(ql_journal *j) {
    if (!j) return;
    if (j->fd >= 0) close(j->fd);
    for (int64_t i = 0; i < j->n_steps; i++) free(j->steps[i]);
    free(j->steps);
    free(j->path);
    free(j);
}

bool ql_journal_has(const ql_journal *j, const char *step) {
    for (int64_t i = 0; i < j->n_steps; i++)
        if (strcmp(j->steps[i], step) == 0) return true;
    return false;
}

ql_status ql_journal_add(ql_journal *j, const char *step, ql_error *err) {
    if (j->fd < 0) return ql_fail(err, QL_ERR_INTERNAL, "journal opened read-only");
    ql_status st = write_line(j->fd, j->path, step, err);
    if (!st) st = add_step(j, step, strlen(step), err);
    return st;
}

int64_t ql_journal_steps(const ql_journal *j) {
    return j->n_steps;
}
