/*
 * plan_csv.c - see plan_csv.h. One pass over the bytes, records cut where
 * an unquoted line break ends them; each distinct model path found through
 * a hash table, so the work is linear in the rows.
 */
#include "plan_csv.h"

#include <math.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "../core/crc32.h"
#include "../gguf/gguf.h"
#include "../model/context.h"

enum { MAX_FIELDS = 256 };

typedef struct {
    const char *data;
    size_t len, pos;
    int64_t line; /* of the record being read, from 1 */
    char *buf;    /* the unquoted fields of one record, NUL-separated */
    size_t cap;
} csv_reader;

/*
 * The next record's fields (pointers into r->buf), or -1 at the end of the
 * data; -2 for a record with more than MAX_FIELDS fields, -3 out of memory.
 */
static int next_record(csv_reader *r, char **fields, int64_t *record_line) {
    if (r->pos >= r->len) return -1;
    *record_line = r->line;
    size_t out = 0, starts[MAX_FIELDS]; /* offsets: the buffer may move as it grows */
    int n = 0;
    bool quoted = false, field_start = true;
    size_t i = r->pos;
    for (;; i++) {
        /* room for this byte and a field's NUL */
        if (out + 2 > r->cap) {
            const size_t cap = r->cap * 2 > out + 64 ? r->cap * 2 : out + 64;
            char *grown = realloc(r->buf, cap);
            if (!grown) return -3;
            r->buf = grown;
            r->cap = cap;
        }
        if (field_start) {
            if (n == MAX_FIELDS) return -2;
            starts[n++] = out;
            field_start = false;
            if (i < r->len && r->data[i] == '"') {
                quoted = true;
                continue;
            }
        }
        if (i >= r->len) break;
        const char c = r->data[i];
        if (quoted) {
            if (c == '"' && i + 1 < r->len && r->data[i + 1] == '"') {
                r->buf[out++] = '"';
                i++;
            } else if (c == '"') {
                quoted = false;
            } else {
                if (c == '\n') r->line++;
                r->buf[out++] = c;
            }
            continue;
        }
        if (c == ',') {
            r->buf[out++] = '\0';
            field_start = true;
        } else if (c == '\n') {
            r->line++;
            i++;
            break;
        } else if (c == '\r' && i + 1 < r->len && r->data[i + 1] == '\n') {
            /* CRLF: the LF ends the record */
        } else {
            r->buf[out++] = c;
        }
    }
    r->buf[out] = '\0';
    r->pos = i;
    for (int k = 0; k < n; k++) fields[k] = r->buf + starts[k];
    return n;
}

static int column(char **names, int n, const char *name) {
    for (int i = 0; i < n; i++)
        if (strcmp(names[i], name) == 0) return i;
    return -1;
}

static bool parse_number(const char *s, double *out) {
    char *end;
    *out = strtod(s, &end);
    return end != s && *end == '\0' && isfinite(*out);
}

ql_status ql_plan_parse_csv(const char *data, size_t len, const char *name, ql_plan_entry **rows,
                            int64_t *n_rows, ql_error *err) {
    *rows = NULL;
    *n_rows = 0;
    csv_reader r = {.data = data, .len = len, .line = 1};
    char *fields[MAX_FIELDS];
    int64_t line;
    int nh = next_record(&r, fields, &line);
    ql_status st = QL_OK;
    if (nh == -1 || (nh == 1 && !fields[0][0])) {
        free(r.buf);
        return ql_fail(err, QL_ERR_FORMAT, "%s: empty", name);
    }
    if (nh < 0) {
        free(r.buf);
        return nh == -3 ? ql_fail(err, QL_ERR_NOMEM, "%s: out of memory", name)
                        : ql_fail(err, QL_ERR_FORMAT, "%s: line 1 has more than %d fields", name,
                                  MAX_FIELDS);
    }
    /* the header's names are copied: the next record reuses the buffer */
    char *names_buf = malloc(r.cap);
    char *names[MAX_FIELDS];
    if (!names_buf) {
        free(r.buf);
        return ql_fail(err, QL_ERR_NOMEM, "%s: out of memory", name);
    }
    memcpy(names_buf, r.buf, r.cap);
    for (int i = 0; i < nh; i++) names[i] = names_buf + (fields[i] - r.buf);
    const int cw = column(names, nh, "weights"), cp = column(names, nh, "weights_path"),
              ck = column(names, nh, "cache_type_k"), cv = column(names, nh, "cache_type_v"),
              ckld = column(names, nh, "kld"), cu = column(names, nh, "kld_unc");
    if (cw < 0 || cp < 0 || ck < 0 || cv < 0 || ckld < 0 || cu < 0)
        st = ql_fail(err, QL_ERR_FORMAT, "%s: not a qlens sweep results file", name);
    int64_t cap = 0, n = 0;
    ql_plan_entry *out = NULL;
    while (!st) {
        const int nf = next_record(&r, fields, &line);
        if (nf == -1) break;
        if (nf == -3) {
            st = ql_fail(err, QL_ERR_NOMEM, "%s: out of memory", name);
            break;
        }
        if (nf == 1 && !fields[0][0] && r.pos >= r.len) break; /* a last empty line */
        if (nf < nh) {
            st = ql_fail(err, QL_ERR_FORMAT, "%s: line %lld has %d fields, expected %d", name,
                         (long long)line, nf < 0 ? MAX_FIELDS + 1 : nf, nh);
            break;
        }
        if (n == cap) {
            const int64_t grown_cap = cap ? 2 * cap : 64;
            ql_plan_entry *grown = realloc(out, (size_t)grown_cap * sizeof *grown);
            if (!grown) {
                st = ql_fail(err, QL_ERR_NOMEM, "%s: out of memory", name);
                break;
            }
            out = grown;
            cap = grown_cap;
        }
        ql_plan_entry *e = &out[n];
        memset(e, 0, sizeof *e);
        const int k = ql_type_from_name(fields[ck]), v = ql_type_from_name(fields[cv]);
        if (strlen(fields[cw]) >= sizeof e->weights || strlen(fields[cp]) >= sizeof e->path ||
            !fields[cp][0] || k < 0 || v < 0 || !ql_kv_cache_type_ok((ql_type)k) ||
            !ql_kv_cache_type_ok((ql_type)v) || !parse_number(fields[ckld], &e->kld) ||
            !parse_number(fields[cu], &e->kld_unc)) {
            st = ql_fail(err, QL_ERR_FORMAT, "%s: line %lld is malformed", name, (long long)line);
            break;
        }
        memcpy(e->weights, fields[cw], strlen(fields[cw]) + 1);
        memcpy(e->path, fields[cp], strlen(fields[cp]) + 1);
        e->k = (ql_type)k;
        e->v = (ql_type)v;
        n++;
    }
    free(r.buf);
    free(names_buf);
    if (!st && n == 0) st = ql_fail(err, QL_ERR_FORMAT, "%s: no configurations", name);
    if (st) {
        free(out);
        return st;
    }
    *rows = out;
    *n_rows = n;
    return QL_OK;
}

static ql_status read_model(const char *path, ql_plan_model *m, ql_error *err) {
    gguf_file *f;
    ql_status st = gguf_open(path, &f, err);
    if (st) return st;
    st = ql_model_read_config(f, &m->cfg, err);
    m->weight_bytes = 0;
    for (int64_t i = 0; i < gguf_n_tensors(f); i++)
        m->weight_bytes += gguf_tensor_at(f, i)->n_bytes;
    gguf_close(f);
    return st;
}

ql_status ql_plan_read_models(const char *const *paths, int64_t n, ql_plan_model *out,
                              int64_t *n_opened, ql_error *err) {
    *n_opened = 0;
    /* open addressing over the distinct paths, at most half full */
    size_t slots = 16;
    while (slots < 2 * (size_t)n) slots *= 2;
    int64_t *table = malloc(slots * sizeof *table);
    if (!table) return ql_fail(err, QL_ERR_NOMEM, "out of memory");
    for (size_t i = 0; i < slots; i++) table[i] = -1;
    ql_status st = QL_OK;
    for (int64_t i = 0; i < n && !st; i++) {
        size_t h = (size_t)ql_fnv1a64(QL_FNV1A64_INIT, paths[i], strlen(paths[i])) & (slots - 1);
        while (table[h] >= 0 && strcmp(paths[table[h]], paths[i]) != 0) h = (h + 1) & (slots - 1);
        if (table[h] >= 0) {
            out[i] = out[table[h]];
            continue;
        }
        table[h] = i;
        st = read_model(paths[i], &out[i], err);
        ++*n_opened;
    }
    free(table);
    return st;
}
